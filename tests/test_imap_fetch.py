"""The fetches' fast paths (imaplib's literal blocks) read what imapclient reads; the
batched body fetch reads what one fetch per mail reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from loophelpers import mail
from nachfass_bot.adapters import imap
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.maildir import MaildirMailbox
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


def test_the_batched_body_fetch_equals_one_by_one_in_pieces(
    dovecot: MailAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fetch_messages`` brings each mail ``fetch_message`` brings, None for a mail gone
    (moved away) or never there, in pieces of at most so many mails and bytes (a bigger
    mail alone), by the fast path and by imapclient's alike."""
    small = [
        mail(sender=f"kunde{n}@firma.test", to=dovecot.user, subject=f"Frage {n}",
             body=f"Hallo {n}\n", date=datetime(2026, 1, 2, 3, 4, n, tzinfo=UTC))
        for n in range(5)
    ]  # fmt: skip
    big = mail(sender="gross@firma.test", to=dovecot.user, subject="Anhang", body="x" * 5000,
               date=datetime(2026, 1, 3, tzinfo=UTC))  # fmt: skip
    for raw in [small[0], small[1], big, small[2], small[3], small[4]]:
        dovecot.append("INBOX", raw)
    monkeypatch.setattr(imap, "_BODY_CHUNK_MAILS", 2)
    monkeypatch.setattr(imap, "_BODY_CHUNK_BYTES", 3000)
    pieces: list[list[int]] = []
    bodies = ImapMailbox._bodies

    def spy(self: ImapMailbox, uids: list[int]) -> dict[int, bytes]:
        pieces.append(list(uids))
        return bodies(self, uids)

    monkeypatch.setattr(ImapMailbox, "_bodies", spy)
    with ImapMailbox.connect(server_of(dovecot), dovecot.password, timeout=10) as mailbox:
        mailbox.move("INBOX", 4, "Junk")  # small[2]: gone before its body is read
        one_by_one = {uid: mailbox.fetch_message("INBOX", uid) for uid in (6, 1, 2, 3, 4, 5, 9)}
        batched = mailbox.fetch_messages("INBOX", [6, 1, 2, 3, 4, 5, 9])
        monkeypatch.setattr(imap, "_literal_blocks", lambda data: None)
        slow = mailbox.fetch_messages("INBOX", [6, 1, 2, 3, 4, 5, 9])
        assert mailbox.fetch_messages("INBOX", []) == {}

    assert batched == one_by_one == slow
    assert list(batched) == [6, 1, 2, 3, 4, 5, 9], "every UID asked for is a key"
    assert batched[4] is None and batched[9] is None
    assert [b.replace(b"\r\n", b"\n") for b in (batched[1], batched[3])] == [
        small[0].replace(b"\r\n", b"\n"),
        big.replace(b"\r\n", b"\n"),
    ]
    assert pieces[:3] == [[1, 2], [3], [5, 6]], "two mails a piece, the big one alone"


def test_the_maildir_body_fetch_equals_one_by_one(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path / "Maildir")
    for n in range(3):
        box.append("INBOX", b"Subject: %d\r\n\r\nText %d\r\n" % (n, n), datetime.now(UTC))
    box.move("INBOX", 2, "Junk")
    batched = box.fetch_messages("INBOX", [3, 1, 2, 7])
    assert batched == {uid: box.fetch_message("INBOX", uid) for uid in (3, 1, 2, 7)}
    assert batched[2] is None and batched[7] is None and batched[3] is not None


def server_of(account: MailAccount) -> ServerConfig:
    return ServerConfig(
        host=account.host, port=account.port, security="none", username=account.user,
        password_env=None, password_command=None, section="imap",
    )  # fmt: skip
