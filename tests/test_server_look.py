"""The server's first look (docs/DESIGN.md, "The cycle"): a big sync reads only the mails
a search on the server names, and a thread created afterwards looks back on the server.

The threshold (``SERVER_LOOK_FROM``, 2,000 mails) is lowered to 1 here, so that a few
mails in a real Dovecot take the path a big first sync takes.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from loophelpers import cli, cli_json, local, mail, track, write_config
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.app import sync as sync_module
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import load_config
from nachfass_bot.mail.prefilter import probe_program
from servers import MailAccount, SmtpSink

TESTS = Path(__file__).parent
CLIENT = "jonas@keller-bau.test"
OFFER_ID = "<angebot-7@berger-design.test>"


@pytest.fixture
def config(tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch) -> Path:
    monkeypatch.setattr(sync_module, "SERVER_LOOK_FROM", 1)
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


def newsletter(number: int, owner: str, date: datetime) -> bytes:
    return mail(
        sender=f"news@shop{number}.test", to=owner, subject=f"Angebot der Woche {number}",
        body="Rabatt!\n", date=date,
    )  # fmt: skip


def answer(owner: str, date: datetime, *, in_reply_to: str | None = OFFER_ID) -> bytes:
    return mail(
        sender=f"Jonas Keller <{CLIENT}>", to=owner, subject="Re: Angebot Umbau",
        body="Hallo Frau Berger,\n\npasst, wir machen das so.\n\nJonas Keller\n",
        date=date, in_reply_to=in_reply_to,
    )  # fmt: skip


def fetched_uids(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """``(folder, UID)`` of every header the bot fetches from now on."""
    fetched: list[tuple[str, int]] = []
    original = ImapMailbox.fetch_headers

    def spy(self, folder, first_uid, fields, batch_size=500, **kw):  # type: ignore[no-untyped-def]
        for batch in original(self, folder, first_uid, fields, batch_size, **kw):
            fetched.extend((folder, header[0]) for header in batch)
            yield batch

    monkeypatch.setattr(ImapMailbox, "fetch_headers", spy)
    return fetched


def state_of(config: Path, capsys: pytest.CaptureFixture[str], thread_id: int) -> str:
    [row] = [row for row in cli_json(config, capsys, "list") if row["id"] == thread_id]
    return str(row["state"])


def store_of(config: Path) -> Store:
    return Store.open(config.parent / "nachfass.db")


def drafts_mailed(sink: SmtpSink) -> list[str]:
    return [str(m.message["Subject"]) for m in sink.messages if "[NF-" in str(m.message["Subject"])]


def test_a_big_sync_reads_only_what_the_server_names_and_still_sees_the_answer(
    config: Path, dovecot: MailAccount, capsys, monkeypatch
) -> None:
    owner = dovecot.user
    thread_id = track(config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject",
                      "Angebot Umbau", "--message-id", OFFER_ID,
                      "--sent-at", "2026-03-02T10:00")  # fmt: skip
    for number in range(12):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    dovecot.append("INBOX", answer(owner, local("2026-03-04T09:00")))
    fetched = fetched_uids(monkeypatch)

    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0

    assert state_of(config, capsys, thread_id) == "answered"
    # the probe reads the last mail's header (the answer), then the sync the answer
    assert [uid for folder, uid in fetched if folder == "INBOX"] == [13, 13], "no newsletter"
    with closing(store_of(config)) as store:
        state = store.folder_state("INBOX")
        assert state is not None and state[1] == 13, "the next sync starts after them"
        assert store.unread_ranges() == [("INBOX", state[0], 1, 13)]
        indexed = [row[0] for row in store.db.execute("SELECT from_addr FROM synced_mail")]
        assert indexed == [CLIENT], "no newsletter in the index"


def test_a_thread_tracked_after_the_sync_looks_back_on_the_server(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    owner = dovecot.user
    for number in range(5):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    # The client answered a mail the bot did not know of: no candidate at that sync.
    dovecot.append("INBOX", answer(owner, local("2026-03-04T09:00"), in_reply_to=None))
    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0

    thread_id = track(config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject",
                      "Angebot Umbau", "--sent-at", "2026-02-02T10:00")  # fmt: skip
    assert state_of(config, capsys, thread_id) == "open", "the index has a gap there"
    with closing(store_of(config)) as store:
        assert store.lookbacks() == {thread_id}

    assert cli(config, "tick", "--now", "2026-03-04T12:10") == 0

    assert state_of(config, capsys, thread_id) == "answered"
    assert drafts_mailed(smtp_sink) == [], "its first step was due, but the answer came first"
    with closing(store_of(config)) as store:
        assert store.lookbacks() == set()
        notes = [e.text for e in store.events(thread_id) if "bevor der Vorgang" in e.text]
        assert len(notes) == 1


def test_a_thread_nobody_answered_gets_its_step_once_it_looked_back(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys
) -> None:
    owner = dovecot.user
    for number in range(5):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0
    thread_id = track(config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject",
                      "Angebot Umbau", "--sent-at", "2026-02-02T10:00")  # fmt: skip
    with closing(store_of(config)) as store:
        engine = build_engine(load_config(config), store, build_texts(load_config(config)))
        due = [thread.id for thread, _ in engine.due_threads(local("2026-03-04T12:10"))]
        assert due == [], "no step before the look back"

    assert cli(config, "tick", "--now", "2026-03-04T12:10") == 0

    assert state_of(config, capsys, thread_id) == "open"
    assert len(drafts_mailed(smtp_sink)) == 1


def test_a_thread_tracked_while_the_server_searches_still_finds_its_answer(
    config: Path, dovecot: MailAccount, smtp_sink: SmtpSink, capsys, monkeypatch
) -> None:
    owner = dovecot.user
    for number in range(5):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    dovecot.append("INBOX", answer(owner, local("2026-03-04T09:00"), in_reply_to=None))
    original = ImapMailbox.search_uids
    tracked: list[int] = []

    def search_while_tracking(self, folder, program, first_uid, last_uid):  # type: ignore[no-untyped-def]
        if not tracked:  # the owner runs "track" in another process meanwhile
            tracked.append(1)
            assert cli(config, "track", "--kind", "angebot", "--to", CLIENT, "--subject",
                       "Angebot Umbau", "--sent-at", "2026-02-02T10:00") == 0  # fmt: skip
        return original(self, folder, program, first_uid, last_uid)

    monkeypatch.setattr(ImapMailbox, "search_uids", search_while_tracking)
    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0
    assert cli(config, "tick", "--now", "2026-03-04T12:10") == 0

    [row] = cli_json(config, capsys, "list")
    assert row["state"] == "answered", "the client answered before the thread was tracked"
    assert drafts_mailed(smtp_sink) == []


def test_an_auto_reply_the_sync_judged_is_no_answer_for_a_later_thread(
    config: Path, dovecot: MailAccount, capsys
) -> None:
    owner = dovecot.user
    track(config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject", "Angebot Umbau",
          "--message-id", OFFER_ID, "--sent-at", "2026-02-02T10:00")  # fmt: skip
    for number in range(5):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    vacation = mail(
        sender=f"Jonas Keller <{CLIENT}>", to=owner, subject="Urlaub bis 20.03.",
        body="Guten Tag,\n\nich bin im Urlaub und ab dem 20.03.2026 wieder im Büro.\n"
        "Ihre Nachricht wird nicht weitergeleitet.\n\nJonas Keller\n",
        date=local("2026-03-03T09:00"),
    )  # fmt: skip
    dovecot.append("INBOX", vacation)
    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0  # judged: an auto-reply
    later = track(config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject",
                  "Angebot Dach", "--sent-at", "2026-03-01T10:00")  # fmt: skip
    assert state_of(config, capsys, later) == "open", "the index holds no answer"

    assert cli(config, "tick", "--now", "2026-03-04T12:10") == 0

    assert state_of(config, capsys, later) == "open", "an out-of-office note is no answer"


def notification(number: int, owner: str, date: datetime) -> bytes:
    """A shop's or service's notice: an auto-reply's sign, no list field, nothing known."""
    return mail(
        sender=f"noreply@service{number}.test", to=owner, subject=f"Bestellung {number} versandt",
        body="Ihr Paket ist unterwegs.\n", date=date, extra={"Auto-Submitted": "auto-generated"},
    )  # fmt: skip


def test_a_big_sync_reads_no_notification_but_every_bounce(
    config: Path, dovecot: MailAccount, capsys, monkeypatch
) -> None:
    """A mixed inbox: notifications and an auto-reply of strangers are no hits, while a
    bounce that names a client only in its text is read whole and pauses the thread;
    the stranger's auto-reply, once she is a client, is still no answer."""
    owner = dovecot.user
    bounced = track(config, capsys, "--kind", "angebot", "--to", "s.adler@adler-it.com",
                    "--subject", "Angebot Netzwerk", "--sent-at", "2026-02-02T10:00")  # fmt: skip
    for number in range(4):
        dovecot.append("INBOX", notification(number, owner, local("2026-03-03T08:00")))
    dovecot.append("INBOX", mail(
        sender="Lena Hoffmann <lena@hoffmann-studio.test>", to=owner, subject="Re: Termin",
        body="Ich bin bis Freitag nicht im Büro.\n", date=local("2026-03-03T09:00"),
        extra={"Auto-Submitted": "auto-replied"},
    ))  # fmt: skip
    dovecot.append("INBOX", (TESTS / "corpus" / "postfix_dsn_adler.eml").read_bytes())
    fetched = fetched_uids(monkeypatch)

    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0

    assert [uid for folder, uid in fetched if folder == "INBOX"] == [6, 6], "the bounce only"
    assert state_of(config, capsys, bounced) == "paused"
    later = track(config, capsys, "--kind", "angebot", "--to", "lena@hoffmann-studio.test",
                  "--subject", "Termin", "--sent-at", "2026-03-01T10:00")  # fmt: skip
    assert cli(config, "tick", "--now", "2026-03-04T12:10") == 0
    assert state_of(config, capsys, later) == "open", "an auto-reply is no answer"
    with closing(store_of(config)) as store:
        assert store.lookbacks() == set(), "it looked back"


def test_the_look_back_reads_only_mail_that_may_answer_the_queued_threads(
    config: Path, dovecot: MailAccount, capsys, monkeypatch
) -> None:
    owner = dovecot.user
    for number in range(5):
        dovecot.append("INBOX", mail(
            sender=f"news@shop{number}.test", to=owner, subject=f"Office-Stühle {number}",
            body="Rabatt!\n", date=local("2026-03-03T08:00"),
        ))  # fmt: skip
    dovecot.append("INBOX", answer(owner, local("2026-03-04T09:00"), in_reply_to=None))
    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0
    thread_id = track(config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject",
                      "Angebot Umbau", "--sent-at", "2026-02-02T10:00")  # fmt: skip
    fetched = fetched_uids(monkeypatch)

    assert cli(config, "tick", "--now", "2026-03-04T12:10") == 0

    assert state_of(config, capsys, thread_id) == "answered"
    assert fetched == [("INBOX", 6)], "no newsletter read again"


def test_the_look_back_finds_a_reply_by_its_reference_from_another_address(
    config: Path, dovecot: MailAccount, capsys
) -> None:
    owner = dovecot.user
    for number in range(5):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    dovecot.append("INBOX", mail(
        sender="Jonas privat <jonas.k@freemail.test>", to=owner, subject="Re: Angebot Umbau",
        body="Passt so.\n", date=local("2026-03-04T09:00"), in_reply_to=OFFER_ID.upper(),
    ))  # fmt: skip
    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0
    thread_id = track(config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject",
                      "Angebot Umbau", "--message-id", OFFER_ID,
                      "--sent-at", "2026-02-02T10:00")  # fmt: skip

    assert cli(config, "tick", "--now", "2026-03-04T12:10") == 0

    assert state_of(config, capsys, thread_id) == "answered"


def test_a_server_that_rejects_the_search_has_every_header_read(
    config: Path, dovecot: MailAccount, capsys, monkeypatch
) -> None:
    from nachfass_bot.app import inbox as inbox_module

    owner = dovecot.user
    thread_id = track(config, capsys, "--kind", "angebot", "--to", CLIENT, "--subject",
                      "Angebot Umbau", "--sent-at", "2026-03-02T10:00")  # fmt: skip
    for number in range(5):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    dovecot.append("INBOX", answer(owner, local("2026-03-04T09:00"), in_reply_to=None))
    # RFC 7162 §4 asks servers for 8,192 octets a line; a program may be far longer
    monkeypatch.setattr(inbox_module, "search_programs", lambda wanted: ["XNOSUCHKEY"])

    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0

    assert state_of(config, capsys, thread_id) == "answered"


def test_a_server_whose_search_finds_no_part_of_a_word_has_every_header_read(
    config: Path, dovecot: MailAccount, capsys, monkeypatch
) -> None:
    """A word index (a full-text plugin) would find "Abwesenheitsnotiz" for "abwesen"
    no more than the piece the probe asks for: such a folder is read whole."""
    from nachfass_bot.app import inbox as inbox_module

    owner = dovecot.user
    for number in range(5):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    # what a word index answers the probe: nothing, as if the piece were not there
    monkeypatch.setattr(inbox_module, "probe_program", lambda header: 'SUBJECT "zq-nowhere"')
    fetched = fetched_uids(monkeypatch)

    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0

    assert [uid for folder, uid in fetched if folder == "INBOX"] == [5, 1, 2, 3, 4, 5], (
        "the probe's look at the last mail, then every header"
    )
    with closing(store_of(config)) as store:
        assert store.unread_ranges() == []


def test_the_probe_asks_for_pieces_from_inside_words() -> None:
    header = (
        b"From: Petra Sommer <petra.sommer@sommer-druck.test>\r\n"
        b"Subject: =?utf-8?q?R=C3=BCckfrage_Angebot?=\r\n"
        b"Message-ID: <20260302.4711@mail.sommer-druck.test>\r\n\r\n"
    )
    assert probe_program(header) == 'FROM "omme" SUBJECT "kfrag" HEADER Message-ID "026030"'
    assert probe_program(b"From: a@b.de\r\nSubject: Hi\r\n\r\n") is None


def test_more_searches_than_reading_every_header_costs_are_not_asked(
    config: Path, dovecot: MailAccount, capsys, monkeypatch
) -> None:
    """Thousands of tracked clients make many programs of 200 FROM keys each; past a
    few, reading every header is cheaper than the server's searches."""
    from nachfass_bot.app import inbox as inbox_module

    owner = dovecot.user
    for number in range(5):
        dovecot.append("INBOX", newsletter(number, owner, local("2026-03-03T08:00")))
    asked: list[str] = []
    real_search = ImapMailbox.search_uids
    monkeypatch.setattr(
        ImapMailbox, "search_uids",
        lambda self, folder, program, low, high: asked.append(program)
        or real_search(self, folder, program, low, high),
    )  # fmt: skip
    three = ['FROM "a@x.test"', 'FROM "b@x.test"', 'FROM "c@x.test"']
    monkeypatch.setattr(inbox_module, "search_programs", lambda wanted: three)
    fetched = fetched_uids(monkeypatch)

    assert cli(config, "tick", "--now", "2026-03-04T12:00") == 0

    assert not set(three) & set(asked)
    assert [uid for folder, uid in fetched if folder == "INBOX"][-5:] == [1, 2, 3, 4, 5]
    with closing(store_of(config)) as store:
        assert store.unread_ranges() == []
