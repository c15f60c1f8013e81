"""A dropped IMAP connection is retried and the sync resumes without handling mail twice."""

from __future__ import annotations

import logging
import os
import pwd
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from loophelpers import cli, local, mail, mails_to, track, write_config
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.retry import RETRY_DELAY_ENV, backoff_delays, run_with_retry
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import load_config
from nachfass_bot.domain.models import Client, Kind, State
from nachfass_bot.errors import LoginFailed, MailboxError, StoreError
from nachfass_bot.mail.inbound import HEADER_FIELDS
from servers import INTERNAL_USER, CuttingProxy, DovecotServer, MailAccount, SmtpSink

OWNER_DOMAIN = "example.test"
MAILS = 1200  # three FETCH batches of at most 500 headers
# (client, Message-ID of the tracked offer, position of the client's answer in INBOX)
ANSWERS = (
    ("jonas.keller@keller-bau.test", "<angebot-1@berger-design.test>", 120),
    ("lena.hoffmann@hoffmann-events.test", "<angebot-2@berger-design.test>", 760),
    ("mia.schulz@schulz-kanzlei.test", "<angebot-3@berger-design.test>", 1150),
)
GARBAGE_AT = 300  # raw bytes that only look like a header
EMPTY_AT = 301  # a zero-byte message (IMAP APPEND refuses those: written to the Maildir)
GARBAGE = (
    b"From: \xff\xfe<<<@@@\r\n"
    b"Subject: =?utf-8?B?!!!kaputt?= \x80\x81\x82\r\n"
    b"Message-ID: <kaputt\r\n"
    b"Date: 99 Foo 9999 99:99:99 +9999\r\n"
    b"In-Reply-To: <<<>>>\r\n"
    b"\x93\x94 keine Kopfzeile\r\n"
    b"\r\n"
    b"\x80\x81\x82\xc3\x28\xa0\xa1 Datenm\xfcll\r\n"
)


# -- run_with_retry without a server -------------------------------------------------------


def test_retry_waits_longer_each_time_and_raises_the_last_error(caplog) -> None:
    waits: list[float] = []
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        raise MailboxError(f"Verbindung weg ({len(calls)})")

    with pytest.raises(MailboxError, match=r"\(4\)"):
        run_with_retry(action, sleep=waits.append)
    assert len(calls) == 4
    assert waits == [2.0, 4.0, 8.0]
    retries = [r for r in caplog.records if r.name == "nachfass_bot.adapters.retry"]
    assert [r.levelno for r in retries] == [logging.WARNING] * 3
    assert "attempt 1 of 4" in retries[0].getMessage()
    assert "attempt 3 of 4" in retries[2].getMessage()


def test_retry_returns_the_first_success() -> None:
    outcomes: list[object] = [MailboxError("weg"), MailboxError("weg"), "fertig"]

    def action() -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    waits: list[float] = []
    assert run_with_retry(action, first_delay=0.5, factor=3, sleep=waits.append) == "fertig"
    assert waits == [0.5, 1.5]


@pytest.mark.parametrize("error", [LoginFailed("Passwort falsch"), StoreError("Datenbank")])
def test_refused_login_and_other_errors_are_not_retried(error: Exception) -> None:
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        run_with_retry(action, sleep=lambda _s: pytest.fail("must not wait"))
    assert calls == [1]


def test_backoff_delays_are_capped() -> None:
    delays = backoff_delays(2.0, 2.0, maximum=10.0)
    assert [next(delays) for _ in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_wrong_password_raises_login_failed(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    config = load_config(write_config(tmp_path, dovecot, smtp_sink, monkeypatch))
    with pytest.raises(LoginFailed, match="Passwort falsch"):
        ImapMailbox.connect(config.imap, "falsch-geheim-123")


# -- a connection dropped in the middle of the second FETCH batch --------------------------


def test_connection_cut_mid_fetch_is_retried_and_every_mail_handled_once(
    tmp_path: Path,
    dovecot_server: DovecotServer,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    monkeypatch,
    capsys,
    caplog,
) -> None:
    direct = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    thread_ids = [
        track_offer(direct, capsys, f"Angebot {n}", client, offer_id)
        for n, (client, offer_id, _at) in enumerate(ANSWERS, start=1)
    ]
    seed_inbox(dovecot_server, dovecot)
    cut_at = bytes_into_second_batch(direct, dovecot)

    with CuttingProxy(dovecot.host, dovecot.port, cut_after_bytes=cut_at) as proxy:
        proxied = MailAccount(proxy.host, proxy.port, dovecot.user, dovecot.password)
        config = write_config(tmp_path, proxied, smtp_sink, monkeypatch)
        monkeypatch.setenv(RETRY_DELAY_ENV, "0")
        caplog.set_level(logging.INFO, logger="nachfass_bot")
        capsys.readouterr()
        assert cli(config, "tick", "--now", "2026-03-05T10:00") == 0
    assert "Durchlauf fertig" in capsys.readouterr().out

    assert proxy.connections[0].was_cut
    assert len(proxy.connections) == 2
    assert b"UID FETCH" in proxy.client_data(1)
    # The second attempt asks only for mail after the first batch (UIDs 1–500).
    assert b"SEARCH UID 501:*" in proxy.client_data(2)
    retries = [r.getMessage() for r in caplog.records if r.name == "nachfass_bot.adapters.retry"]
    assert len(retries) == 1
    assert "attempt 1 of 4 failed" in retries[0]

    db = StoreReader(tmp_path / "nachfass.db")
    assert db.value("SELECT count(*) FROM seen") == MAILS
    assert db.value("SELECT count(DISTINCT key) FROM seen") == MAILS, "one row per Message-ID"
    assert db.value("SELECT count(DISTINCT uid) FROM seen") == MAILS, "one row per UID"
    assert db.value("SELECT last_uid FROM folders WHERE name = 'INBOX'") == MAILS
    for thread_id in thread_ids:
        assert db.value("SELECT state FROM threads WHERE id = ?", thread_id) == "answered"
        answer_events = "SELECT count(*) FROM events WHERE thread_id = ? AND kind = 'answer'"
        assert db.value(answer_events, thread_id) == 1
    for uid in (GARBAGE_AT, EMPTY_AT):
        assert db.value("SELECT count(*) FROM seen WHERE uid = ?", uid) == 1, "skipped, not lost"


def track_offer(config: Path, capsys, subject: str, client: str, offer_id: str) -> int:
    return track(
        config, capsys,
        "--kind", "angebot",
        "--to", client,
        "--subject", subject,
        "--message-id", offer_id,
        "--sent-at", "2026-03-03T10:00",
    )  # fmt: skip


class StoreReader:
    """Read-only look into the bot's SQLite store."""

    def __init__(self, path: Path) -> None:
        self.uri = f"file:{path}?mode=ro"

    def value(self, sql: str, *args: object) -> object:
        with closing(sqlite3.connect(self.uri, uri=True)) as db:
            row = db.execute(sql, args).fetchone()
        return row[0] if row else None


def seed_inbox(server: DovecotServer, account: MailAccount) -> None:
    """MAILS mails in INBOX, UID n at position n: filler, three answers, garbage, empty."""
    answers = {at: (client, offer_id) for client, offer_id, at in ANSWERS}
    with account.client() as imap:
        imap.multiappend("INBOX", [_seed_mail(n, account, answers) for n in range(1, EMPTY_AT)])
        imap.select_folder("INBOX")
        _write_empty_maildir_mail(server, account)
        imap.noop()  # Dovecot gives the new file its UID now
        imap.multiappend(
            "INBOX", [_seed_mail(n, account, answers) for n in range(EMPTY_AT + 1, MAILS + 1)]
        )
        assert sorted(imap.search("ALL")) == list(range(1, MAILS + 1))


def _seed_mail(n: int, account: MailAccount, answers: dict[int, tuple[str, str]]) -> bytes:
    if n in answers:
        client, offer_id = answers[n]
        return mail(
            sender=client,
            to=account.user,
            subject="Re: Ihr Angebot",
            body="Danke, das Angebot passt. Wann können Sie anfangen?",
            date=local("2026-03-04T09:00") + timedelta(minutes=n),
            in_reply_to=offer_id,
        )
    if n == GARBAGE_AT:
        return GARBAGE
    return (
        f"From: Shop {n} <news-{n}@shop.test>\r\nTo: {account.user}\r\n"
        f"Subject: Angebot der Woche {n}\r\nDate: Wed, 04 Mar 2026 08:00:00 +0100\r\n"
        f"Message-ID: <news-{n}@shop.test>\r\n\r\nNur heute.\r\n"
    ).encode()


def _write_empty_maildir_mail(server: DovecotServer, account: MailAccount) -> None:
    assert server.workdir is not None
    new = server.workdir / "mail" / account.user / "Maildir" / "new"
    path = new / f"1772600000.M1P{os.getpid()}.nachfass-test"
    path.write_bytes(b"")
    internal = pwd.getpwnam(INTERNAL_USER)
    os.chown(path, internal.pw_uid, internal.pw_gid)
    path.chmod(0o600)


def bytes_into_second_batch(config_path: Path, account: MailAccount) -> int:
    """How many bytes the server sends until the middle of the second FETCH batch.

    Measured through a proxy that never cuts, with the commands the sync sends first.
    """
    config = load_config(config_path)
    with CuttingProxy(account.host, account.port, cut_after_bytes=None) as meter:
        server = replace(config.imap, port=meter.port)
        with ImapMailbox.connect(server, account.password) as mailbox:
            mailbox.list_folders()
            mailbox.folder_status("INBOX")
            batches = mailbox.fetch_headers("INBOX", 1, HEADER_FIELDS)
            next(batches)
            after_first = meter.connections[0].server_bytes
            next(batches)
            after_second = meter.connections[0].server_bytes
    return after_first + (after_second - after_first) // 2


# -- a connection dropped during a body fetch: the owner is alerted once ---------------------

BOUNCED = "m.sommer@kanzlei-sommer.test"
BOUNCED_OFFER = "<angebot-bounce@berger-design.test>"
ANSWERING = "p.wagner@wagner-druck.test"
ANSWERING_OFFER = "<angebot-answer@berger-design.test>"


def test_connection_cut_during_a_body_fetch_alerts_the_owner_once(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    """UID 1 is a bounce (alert), UID 2 a long client answer; the cut comes in the middle
    of UID 2's body. Handling UID 1 must not mail the owner before the batch commits."""
    direct = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    store = Store.open(tmp_path / "nachfass.db")
    try:
        bounced = add_offer(store, BOUNCED, BOUNCED_OFFER)
        answered = add_offer(store, ANSWERING, ANSWERING_OFFER)
    finally:
        store.close()
    dovecot.append("INBOX", bounce_for(BOUNCED, BOUNCED_OFFER, dovecot.user))
    dovecot.append("INBOX", long_answer(ANSWERING, ANSWERING_OFFER, dovecot.user))
    cut_at = bytes_into_second_body(direct, dovecot)

    with CuttingProxy(dovecot.host, dovecot.port, cut_after_bytes=cut_at) as proxy:
        proxied = MailAccount(proxy.host, proxy.port, dovecot.user, dovecot.password)
        config = load_config(write_config(tmp_path, proxied, smtp_sink, monkeypatch))
        store = Store.open(config.store.path)
        try:
            engine = build_engine(config, store, build_texts(config))
            with pytest.raises(MailboxError):
                engine.tick(local("2026-03-05T10:00"))
            assert proxy.connections[0].was_cut
            assert mails_to(smtp_sink, dovecot.user) == [], "nothing before the commit"
            engine.tick(local("2026-03-05T10:05"))  # the next cycle succeeds
            engine.tick(local("2026-03-05T10:10"))
            paused = store.thread(bounced)
            answer = store.thread(answered)
            tasks = store.tasks("open", bounced)
            answer_events = [e for e in store.events(answered) if e.kind == "answer"]
        finally:
            store.close()

    alerts = mails_to(smtp_sink, dovecot.user)
    assert [m["Subject"] for m in alerts if "kam nicht an" in m["Subject"]] == [
        alerts[0]["Subject"]
    ]
    assert len(alerts) == 1, "exactly one bounce alert, nothing else"
    assert paused is not None and paused.state is State.PAUSED
    assert len(tasks) == 1
    assert answer is not None and answer.state is State.ANSWERED
    assert len(answer_events) == 1


def add_offer(store: Store, client: str, offer_id: str) -> int:
    sent_at = local("2026-03-03T10:15")
    client_id = store.upsert_client(Client(email=client), sent_at)
    return store.add_thread(
        kind=Kind.ANGEBOT, client_id=client_id, subject="Angebot Logo", started_at=sent_at,
        now=sent_at, message_id=offer_id,
    )  # fmt: skip


def bounce_for(client: str, offer_id: str, owner: str) -> bytes:
    """A DSN (RFC 3464) for the offer to ``client``: 550 User unknown."""
    return (
        "From: MAILER-DAEMON@mail.berger-design.test (Mail Delivery System)\r\n"
        f"To: {owner}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Tue, 03 Mar 2026 10:16:02 +0100\r\n"
        "Message-ID: <bounce-cut@mail.berger-design.test>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n'
        "\r\n--B1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"<{client}>: host mx.kanzlei-sommer.test said: 550 5.1.1 User unknown\r\n"
        "\r\n--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.berger-design.test\r\n\r\n"
        f"Final-Recipient: rfc822; {client}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "\r\n--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {offer_id}\r\nSubject: Angebot Logo\r\n"
        "\r\n--B1--\r\n"
    ).encode()


def long_answer(client: str, offer_id: str, owner: str) -> bytes:
    """A client's answer with a long text, so that a cut lands inside its body."""
    lines = [
        f"Zeile {n}: Wir haben das Angebot im Team besprochen und sind dabei." for n in range(2000)
    ]
    return mail(
        sender=client,
        to=owner,
        subject="Re: Angebot Logo",
        body="Guten Tag,\n\nwir sind dabei!\n\n" + "\n".join(lines) + "\n",
        date=local("2026-03-04T09:00"),
        in_reply_to=offer_id,
    )


def bytes_into_second_body(config_path: Path, account: MailAccount) -> int:
    """How many bytes the server sends until the middle of the body of UID 2, measured
    through a proxy that never cuts with the commands a cycle sends first."""
    config = load_config(config_path)
    with CuttingProxy(account.host, account.port, cut_after_bytes=None) as meter:
        server = replace(config.imap, port=meter.port)
        with ImapMailbox.connect(server, account.password) as mailbox:
            mailbox.list_folders()
            mailbox.folder_status("INBOX")
            next(mailbox.fetch_headers("INBOX", 1, HEADER_FIELDS))
            mailbox.fetch_message("INBOX", 1)
            after_first = meter.connections[0].server_bytes
            mailbox.fetch_message("INBOX", 2)
            after_second = meter.connections[0].server_bytes
    assert after_second - after_first > 100_000, "the second body is long"
    return after_first + (after_second - after_first) // 2
