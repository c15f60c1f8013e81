"""The header fetch's fast path (imaplib's literal blocks) reads what imapclient reads."""

from __future__ import annotations

from datetime import UTC, datetime

from loophelpers import mail
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.config import ServerConfig
from nachfass_bot.mail.inbound import HEADER_FIELDS
from servers import MailAccount


def test_the_fast_header_fetch_equals_imapclients(dovecot: MailAccount) -> None:
    dovecot.append(
        "INBOX",
        mail(sender="kunde@firma.test", to=dovecot.user, subject="Grüße", body="Hallo\n",
             date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), in_reply_to="<a@b.test>"),
    )  # fmt: skip
    dovecot.append("INBOX", b"X-Other: 1\r\n\r\nno fields asked for\r\n")
    dovecot.append(
        "INBOX", b"Subject: nur\r\n\r\nText\r\n", msg_time=datetime(2025, 7, 1, tzinfo=UTC)
    )
    server = ServerConfig(
        host=dovecot.host, port=dovecot.port, security="none", username=dovecot.user,
        password_env=None, password_command=None, section="imap",
    )  # fmt: skip
    with ImapMailbox.connect(server, dovecot.password, timeout=10) as mailbox:
        fast = [h for batch in mailbox.fetch_headers("INBOX", 1, HEADER_FIELDS) for h in batch]
        mailbox._fetch_literals = lambda uids, request: None  # type: ignore[method-assign]
        slow = [h for batch in mailbox.fetch_headers("INBOX", 1, HEADER_FIELDS) for h in batch]
    assert fast == slow
    assert [h.received for h in fast][::2] == [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2025, 7, 1, tzinfo=UTC),
    ]
