"""The test mail servers are real: Dovecot speaks IMAP, the SMTP sink delivers into it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest
from imapclient.exceptions import LoginError
from imapclient.imapclient import DRAFTS, JUNK, SEEN, SENT, TRASH

from servers import LAYOUTS, DovecotServer, MailAccount, SmtpSink, pid_alive, render_config

UMLAUT_SUBJECT = "Rückfrage zur Rechnung Nr. 2026-017 – Größe, Maße, Grüße"


def make_mail(to: str, subject: str = "Angebot Website-Relaunch") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Kundin <kundin@kunde.example>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="kunde.example")
    mail.set_content("Hallo,\n\ndas Angebot passt, wir melden uns nächste Woche.\n")
    return mail


def subject_of(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])


def send(sink: SmtpSink, mail: EmailMessage, **kwargs: str) -> None:
    asyncio.run(
        aiosmtplib.send(mail, hostname=sink.host, port=sink.port, start_tls=False, **kwargs)
    )


def test_login_needs_the_right_password(dovecot: MailAccount) -> None:
    with dovecot.client() as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0

    wrong = MailAccount(dovecot.host, dovecot.port, dovecot.user, dovecot.password + "x")
    with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
        wrong.client()


def test_special_use_folders_are_advertised_and_subscribed(dovecot: MailAccount) -> None:
    with dovecot.client() as imap:
        assert imap.has_capability("SPECIAL-USE")
        found = {flag: imap.find_special_folder(flag) for flag in (JUNK, SENT, DRAFTS, TRASH)}
        subscribed = {name for _flags, _sep, name in imap.list_sub_folders()}
        flags_by_name = {name: flags for flags, _sep, name in imap.list_folders()}

    assert found == {JUNK: "Junk", SENT: "Sent", DRAFTS: "Drafts", TRASH: "Trash"}
    assert {"Junk", "Sent", "Drafts", "Trash"} <= subscribed
    assert JUNK in flags_by_name["Junk"]
    assert SENT in flags_by_name["Sent"]


def test_append_to_junk_keeps_umlaut_subject_flags_and_date(dovecot: MailAccount) -> None:
    mail = make_mail(dovecot.user, UMLAUT_SUBJECT)
    raw = mail.as_bytes()
    assert b"=?utf-8?" in raw  # RFC 2047 encoded-word on the wire, not raw UTF-8
    received = datetime(2026, 1, 12, 9, 30, tzinfo=UTC)

    dovecot.append("Junk", raw, flags=[SEEN], msg_time=received)

    stored = dovecot.messages("Junk")
    assert len(stored) == 1
    assert subject_of(stored[0]) == UMLAUT_SUBJECT
    assert dovecot.messages("INBOX") == []
    with dovecot.client() as imap:
        imap.select_folder("Junk", readonly=True)
        [info] = imap.fetch(imap.search("ALL"), ["FLAGS", "INTERNALDATE"]).values()
    assert SEEN in info[b"FLAGS"]
    assert info[b"INTERNALDATE"].astimezone(UTC) == received


def test_delete_all_empties_a_folder(dovecot: MailAccount) -> None:
    dovecot.append("Sent", make_mail("kundin@kunde.example").as_bytes())
    dovecot.append("Sent", make_mail("kundin@kunde.example").as_bytes())

    dovecot.delete_all("Sent")

    assert dovecot.messages("Sent") == []


def test_mail_to_the_owner_lands_in_inbox_and_sink(
    dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    to_owner = make_mail(dovecot.user, "Entwurf: Erinnerung an Kundin")
    to_client = make_mail("kundin@kunde.example", "Erinnerung")

    send(smtp_sink, to_owner, sender="bot@example.test")
    send(smtp_sink, to_client, sender="bot@example.test")

    assert [(m.mail_from, m.rcpt_tos) for m in smtp_sink.messages] == [
        ("bot@example.test", [dovecot.user]),
        ("bot@example.test", ["kundin@kunde.example"]),
    ]
    assert smtp_sink.messages[0].message["Subject"] == "Entwurf: Erinnerung an Kundin"
    inbox = dovecot.messages("INBOX")
    assert len(inbox) == 1
    assert to_owner["Message-ID"].encode() in inbox[0]


def test_fail_next_451_fails_one_send_then_succeeds(
    dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    smtp_sink.fail_next(451, "4.3.0 Mailbox temporarily unavailable")

    with pytest.raises(aiosmtplib.SMTPResponseException) as failed:
        send(smtp_sink, make_mail(dovecot.user))
    send(smtp_sink, make_mail(dovecot.user))

    assert failed.value.code == 451
    assert len(smtp_sink.messages) == 1
    assert len(dovecot.messages("INBOX")) == 1


def test_fail_next_550_at_rcpt_refuses_the_recipient(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(550, "5.1.1 User unknown", stage="RCPT")

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        send(smtp_sink, make_mail("weg@kunde.example"))

    assert refused.value.recipients[0].code == 550
    assert smtp_sink.messages == []


def test_sink_can_require_auth_over_plain_loopback() -> None:
    sink = SmtpSink(require_auth=("bot", "geheim"))
    sink.start()
    try:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as no_auth:
            send(sink, make_mail("kundin@kunde.example"))
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            send(sink, make_mail("kundin@kunde.example"), username="bot", password="falsch")
        send(sink, make_mail("kundin@kunde.example"), username="bot", password="geheim")
    finally:
        sink.stop()

    assert no_auth.value.code == 530
    assert sink.auth_logins == ["bot"]
    assert len(sink.messages) == 1


def test_stop_ends_every_dovecot_process(dovecot_binary: str) -> None:
    server = DovecotServer()
    server.start()
    try:
        pids = server.process_ids()
        workdir = server.workdir
        assert server.master_pid in pids
        assert len(pids) > 1  # master plus its log, config, auth, … children
        with server.client() as imap:
            imap.noop()
    finally:
        server.stop()

    assert [pid for pid in pids if pid_alive(pid)] == []
    assert workdir is not None and not workdir.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=1).close()


def test_dovecot_24_config_uses_24_syntax(tmp_path: Path) -> None:
    config = render_config((2, 4), tmp_path, 10143)
    lines = config.splitlines()

    assert lines[:2] == ["dovecot_config_version = 2.4.0", "dovecot_storage_version = 2.4.0"]
    assert "auth_allow_cleartext = yes" in lines
    assert "mail_driver = maildir" in lines
    assert f"  passwd_file_path = {tmp_path}/passwd/%{{user}}" in lines
    assert "passdb users {" in lines and "userdb users {" in lines
    for old in ("mail_location", "disable_plaintext_auth", "args =", "%u", "passdb {"):
        assert old not in config


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("version", [(2, 3), (2, 4)])
def test_every_layout_renders_both_dovecot_generations(
    tmp_path: Path, layout: str, version: tuple[int, int]
) -> None:
    """Each layout writes its namespace and mailboxes the same way in 2.3 and 2.4 (short
    names inside the blocks); only the header differs. The installed generation is
    started for real by the layout tests; the other one is checked here by its syntax."""
    chosen = LAYOUTS[layout]
    config = render_config(version, tmp_path, 10143, chosen)
    lines = config.splitlines()

    first = "dovecot_config_version = 2.4.0" if version >= (2, 4) else "disable_plaintext_auth = no"
    assert lines[0] == first
    assert f"  separator = {chosen.separator}" in lines
    assert (f"  prefix = {chosen.prefix}" in lines) == bool(chosen.prefix)
    for name, _role, special in chosen.folders:
        block = lines.index(f'  mailbox "{name}" {{')
        assert lines[block + 1].startswith("    special_use = \\") == special
    if version >= (2, 4):
        for old in ("mail_location", "disable_plaintext_auth", "%u"):
            assert old not in config


@pytest.mark.parametrize("version", [(2, 3), (2, 4)])
def test_oauth2_renders_for_both_dovecot_generations(
    tmp_path: Path, version: tuple[int, int]
) -> None:
    """2.3 checks tokens in an ``oauth2`` passdb whose settings are an args file; 2.4 has
    no passdb for tokens but an ``oauth2 { }`` filter with the same setting names. Both
    offer XOAUTH2 and OAUTHBEARER beside PLAIN and LOGIN. (The installed generation is
    started for real by tests/test_oauth.py.)"""
    url = "http://127.0.0.1:8080/introspect"
    config = render_config(version, tmp_path, 10143, introspection_url=url)
    lines = config.splitlines()

    assert "auth_mechanisms = plain login xoauth2 oauthbearer" in lines
    if version >= (2, 4):
        start = lines.index("oauth2 {")
        block = lines[start + 1 : lines.index("}", start)]
        assert f"  introspection_url = {url}" in block
        assert "  introspection_mode = post" in block
        assert "driver = oauth2" not in config and "args =" not in config
    else:
        assert "  driver = oauth2" in lines and "  mechanisms = xoauth2 oauthbearer" in lines
        assert "  mechanisms = plain login" in lines  # passwords keep their own passdb
        settings = (tmp_path / "dovecot-oauth2.conf.ext").read_text()
        assert f"introspection_url = {url}" in settings.splitlines()
    plain = render_config(version, tmp_path, 10143)
    assert "oauth2 {" not in plain and "driver = oauth2" not in plain
    assert "auth_mechanisms = plain login" in plain.splitlines()
