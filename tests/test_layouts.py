"""The core loop against every server layout (issue 12): Dovecot's own, Cyrus/Courier
(``INBOX.`` prefix, ``.`` delimiter, German names, no SPECIAL-USE), Gmail (``[Gmail]/…``,
All Mail, Sent copies filed by the server) and Outlook (German names in modified UTF-7,
Sent copies filed by the server). Only these tests run per layout: each layout's Dovecot
lives for the session (``conftest.laid_out``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mail, mails_to, owner_reply, track, write_config
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.mailbox import Namespace
from nachfass_bot.app.inbox import seen_key
from nachfass_bot.config import ServerConfig
from nachfass_bot.mail.inbound import parse_inbound
from servers import CuttingProxy, MailAccount, SmtpSink

CLIENT = "jonas.keller@keller-bau.test"
OFFER_ID = "<angebot-2026-03@berger-design.test>"

# What an owner of each layout writes into [mailbox]: Gmail's All Mail watched (so an
# archived answer counts too), Outlook's provider files SMTP mail in Sent itself (as its
# preset says) and a folder with an umlaut watched (modified UTF-7 on the wire).
MAILBOX_SETTINGS = {
    "dovecot": "",
    "cyrus": "",
    "gmail": '\n[mailbox]\nextra_folders = ["[Gmail]/Alle Nachrichten"]\n',
    "outlook": '\n[mailbox]\nextra_folders = ["Aufträge"]\nsent_copy = "server"\n',
}


@pytest.fixture
def config(tmp_path: Path, laid_out: MailAccount, laid_out_sink: SmtpSink, monkeypatch) -> Path:
    more = MAILBOX_SETTINGS[laid_out.layout.name]
    return write_config(tmp_path, laid_out, laid_out_sink, monkeypatch, more)


def track_offer(config: Path, capsys) -> int:
    return track(
        config,
        capsys,
        "--kind", "angebot",
        "--to", CLIENT,
        "--name", "Jonas Keller",
        "--subject", "Angebot Gestaltung Geschäftsräume",
        "--message-id", OFFER_ID,
        "--sent-at", "2026-03-03T10:15",
    )  # fmt: skip


def copies_of(account: MailAccount, role: str, message_id: str) -> int:
    needle = f"Message-ID: {message_id}".encode().lower()
    return sum(needle in raw.lower() for raw in account.messages(account.folder(role)))


def test_offer_draft_ok_sends_one_client_mail_with_one_sent_copy(
    config: Path, laid_out: MailAccount, laid_out_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)
    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0
    drafts = mails_to(laid_out_sink, laid_out.user)
    assert len(drafts) == 1
    draft: EmailMessage = drafts[0]

    reply = owner_reply(laid_out, draft, "Ok!", local("2026-03-11T10:45"))
    laid_out.append(laid_out.folder("sent"), reply)  # the owner's mail program files it
    laid_out.append("INBOX", reply)  # and the delivered copy arrives
    assert cli(config, "tick", "--now", "2026-03-11T11:00") == 0
    assert cli(config, "tick", "--now", "2026-03-12T11:00") == 0

    sent = mails_to(laid_out_sink, CLIENT)
    assert len(sent) == 1, "one client mail, whatever the layout"
    message_id = str(sent[0]["Message-ID"])
    assert copies_of(laid_out, "sent", message_id) == 1, "exactly one copy in Sent"
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert (shown["state"], shown["step"]) == ("open", 1)


def test_answer_in_junk_stops_the_thread(
    config: Path, laid_out: MailAccount, laid_out_sink: SmtpSink, capsys
) -> None:
    thread_id = track_offer(config, capsys)
    answer = mail(
        sender=f"Jonas Keller <{CLIENT}>",
        to=laid_out.user,
        subject="AW: Angebot Gestaltung Geschäftsräume",
        body="Hallo Frau Berger,\n\ndas passt, lassen Sie uns telefonieren.\n",
        date=local("2026-03-06T09:12"),
        in_reply_to=OFFER_ID,
    )
    laid_out.append(laid_out.folder("junk"), answer)

    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0

    assert mails_to(laid_out_sink, CLIENT) == []
    assert not any("[NF-" in str(m.message["Subject"]) for m in laid_out_sink.messages)
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["state"] == "answered"
    assert shown["answered_folder"] == laid_out.folder("junk")


def test_owners_own_mail_restarts_the_clock(
    config: Path, laid_out: MailAccount, laid_out_sink: SmtpSink, capsys
) -> None:
    """Gmail shows the owner's mail in All Mail too, and All Mail is read before Sent:
    it still restarts the count when its Sent copy is read."""
    thread_id = track_offer(config, capsys)
    own = mail(
        sender=f"Anna Berger <{laid_out.user}>",
        to=f"Jonas Keller <{CLIENT}>",
        subject="Re: Angebot Gestaltung Geschäftsräume",
        body="Hallo Herr Keller,\n\nkurze Ergänzung: die Farbmuster sind da.\n",
        date=local("2026-03-09T15:00"),
        in_reply_to=OFFER_ID,
    )
    laid_out.append(laid_out.folder("sent"), own)

    assert cli(config, "tick", "--now", "2026-03-11T10:30") == 0
    assert mails_to(laid_out_sink, laid_out.user) == [], "no draft: the owner wrote herself"
    shown = cli_json(config, capsys, "show", str(thread_id))
    assert shown["state"] == "open"
    assert any("selbst geschrieben" in event["text"] for event in shown["events"])

    assert cli(config, "tick", "--now", "2026-03-18T10:30") == 0
    assert len(mails_to(laid_out_sink, laid_out.user)) == 1, "due again some days after it"


# -- the IMAP adapter on the wire, per layout ---------------------------------------------


@contextmanager
def recorded(account: MailAccount) -> Iterator[tuple[ImapMailbox, CuttingProxy]]:
    """An ImapMailbox on ``account`` through a proxy that records what the bot sends."""
    with CuttingProxy(account.host, account.port, cut_after_bytes=None) as proxy:
        server = ServerConfig(
            host=proxy.host,
            port=proxy.port,
            security="none",
            username=account.user,
            password_env=None,
            password_command=None,
            section="imap",
        )
        with ImapMailbox.connect(server, account.password, timeout=10) as mailbox:
            yield mailbox, proxy


def commands(proxy: CuttingProxy) -> list[str]:
    """The IMAP commands of the first connection, without tags."""
    lines = proxy.client_data(1).decode("ascii", "replace").splitlines()
    return [line.split(" ", 1)[1] for line in lines if " " in line and line[:1].isalnum()]


def test_append_leaves_the_mailbox_selected_read_only_first(layout_servers) -> None:
    """Courier refuses APPEND to the mailbox selected read-only: the adapter UNSELECTs
    (or CLOSEs) it first, so the Sent copy is filed there as well."""
    account = layout_servers.account("cyrus")
    sent = account.folder("sent")
    raw = mail(
        sender=account.user, to=CLIENT, subject="x", body="x\n", date=local("2026-03-03T10:00")
    )
    with recorded(account) as (mailbox, proxy):
        assert not mailbox.contains_message_id(sent, "<none@berger-design.test>")
        mailbox.append(sent, raw, local("2026-03-03T10:00"))
        assert mailbox.contains_message_id(sent, _message_id(raw))
    sent_commands = commands(proxy)
    examine = next(i for i, c in enumerate(sent_commands) if c.upper().startswith("EXAMINE"))
    append = next(i for i, c in enumerate(sent_commands) if c.upper().startswith("APPEND"))
    between = [c.split(" ")[0].upper() for c in sent_commands[examine:append]]
    assert "UNSELECT" in between or "CLOSE" in between, sent_commands


@pytest.mark.parametrize(
    ("layout", "namespace"),
    [("cyrus", Namespace("INBOX.", ".")), ("outlook", Namespace("", "/"))],
)
def test_namespace_and_modified_utf7_names_on_the_wire(layout_servers, layout, namespace) -> None:
    account = layout_servers.account(layout)
    with recorded(account) as (mailbox, proxy):
        assert mailbox.namespace() == namespace
        names = {info.name for info in mailbox.list_folders()}
        assert account.folder("drafts") in names  # "Entwürfe", decoded
        mailbox.folder_status(account.folder("drafts"))
    assert b"Entw&APw-rfe" in proxy.client_data(1), "modified UTF-7 on the wire"


def _message_id(raw: bytes) -> str:
    header = raw.split(b"\r\n\r\n", 1)[0].decode()
    return next(
        line.split(":", 1)[1].strip()
        for line in header.splitlines()
        if line.lower().startswith("message-id:")
    )


# -- Gmail's extension, where offered (X-GM-EXT-1) ------------------------------------------


class _GmailClient:
    """Just enough of an IMAPClient to answer a header fetch the way Gmail does."""

    normalise_times = True

    def __init__(self, gmail_ids: dict[int, int], offered: bool) -> None:
        self.gmail_ids = gmail_ids
        self.offered = offered
        self.requested: list[list[str]] = []

    def has_capability(self, name: str) -> bool:
        return self.offered and name == "X-GM-EXT-1"

    def select_folder(self, folder: str, readonly: bool = False) -> dict[bytes, int]:
        return {b"UIDVALIDITY": 1, b"UIDNEXT": 10}

    def search(self, criteria: list[str]) -> list[int]:
        return sorted(self.gmail_ids)

    def fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, object]]:
        self.requested.append(items)
        header = b"Subject: Rechnung\r\nFrom: kunde@example.test\r\n\r\n"
        answer: dict[int, dict[bytes, object]] = {}
        for uid in uids:
            answer[uid] = {b"BODY[HEADER.FIELDS (SUBJECT FROM)]": header}
            if "X-GM-MSGID" in items:
                answer[uid][b"X-GM-MSGID"] = self.gmail_ids[uid]
        return answer


@pytest.mark.parametrize("offered", [True, False])
def test_gmail_message_ids_tell_copies_apart_where_offered(offered: bool) -> None:
    """Two mails without Message-ID and with the same header fields: with X-GM-EXT-1 the
    copies of one (UIDs 1 and 3) share a key and the other (UID 2) has its own; without
    the extension nothing is asked for that the server does not offer."""
    client = _GmailClient({1: 1001, 2: 1002, 3: 1001}, offered)
    mailbox = ImapMailbox(client)  # type: ignore[arg-type]
    batch = next(mailbox.fetch_headers("[Gmail]/Alle Nachrichten", 1, ["SUBJECT", "FROM"]))
    keys = [seen_key(parse_inbound(h.header, folder="x", uid=h.uid), h.header) for h in batch]

    assert ("X-GM-MSGID" in client.requested[0]) == offered
    if offered:
        assert keys[0] == keys[2] != keys[1]
    else:
        assert keys[0] == keys[1] == keys[2]


def test_check_finds_cyrus_folders_and_names_them_as_listed(
    tmp_path: Path, layout_servers, monkeypatch, capsys
) -> None:
    """The case of the issue: ``INBOX.Gesendet`` and ``INBOX.Spam`` without SPECIAL-USE are
    found, and a configured name without the prefix is accepted."""
    account = layout_servers.account("cyrus")
    sink = SmtpSink(deliver_to=account)
    sink.start()
    try:
        config = write_config(
            tmp_path, account, sink, monkeypatch, '\n[mailbox]\nsent_folder = "Gesendet"\n'
        )
        capsys.readouterr()
        code = cli(config, "check")
        out = capsys.readouterr().out
    finally:
        sink.stop()
    assert code == 0, out
    assert "„INBOX.Spam“ wird auf Antworten geprüft" in out
    assert "„INBOX.Gesendet“: Deine eigenen Mails" in out
