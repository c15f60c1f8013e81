"""No input can stall the cycle: one broken thread is paused with one alert and the others
go on (docs/DESIGN.md, "The cycle"); the owner's absurd dates are answered with "nicht
verstanden" (docs/DESIGN.md, "Input at the door")."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from loophelpers import cli_json, local, mail, mails_to, owner_reply, write_config
from nachfass_bot.adapters.store import Store
from nachfass_bot.app import engine as engine_module
from nachfass_bot.app.engine import Engine
from nachfass_bot.app.guard import MailInTransaction
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import load_config
from nachfass_bot.domain.models import Client, DraftState, EventKind, Kind, SettingKey, State
from servers import MailAccount, SmtpSink

CLIENTS = ("a.albers@albers-bau.test", "b.brandt@brandt-druck.test", "c.claus@claus-recht.test")
SENT = "2026-03-03T10:15"
DUE = "2026-03-11T10:30"  # offer + 8 days, a Wednesday


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "nachfass.db")
    yield opened
    opened.close()


@pytest.fixture
def engine(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, store: Store, monkeypatch
) -> Engine:
    config = load_config(write_config(tmp_path, dovecot, smtp_sink, monkeypatch))
    return build_engine(config, store, build_texts(config))


def add_offers(store: Store) -> list[int]:
    sent_at = local(SENT)
    ids = []
    for number, email in enumerate(CLIENTS, start=1):
        client_id = store.upsert_client(Client(email=email), sent_at)
        thread_id = store.add_thread(
            kind=Kind.ANGEBOT, client_id=client_id, subject=f"Angebot {number}",
            started_at=sent_at, now=sent_at, message_id=f"<offer-{number}@berger.test>",
        )  # fmt: skip
        ids.append(thread_id)
    return ids


def drafts_to_owner(sink: SmtpSink, owner: str) -> list[str]:
    return [str(m["Subject"]) for m in mails_to(sink, owner) if "Entwurf" in str(m["Subject"])]


def error_alerts(sink: SmtpSink, owner: str) -> list[str]:
    return [str(m["Subject"]) for m in mails_to(sink, owner) if "angehalten" in str(m["Subject"])]


def corrupt(store_path: Path, thread_id: int) -> None:
    """What an old database could hold: a step time at the very end of the calendar,
    written behind the store's back."""
    with closing(sqlite3.connect(store_path)) as db, db:
        db.execute(
            "UPDATE threads SET last_step_at = '9999-12-31T12:00:00+00:00' WHERE id = ?",
            [thread_id],
        )


def test_a_thread_that_breaks_while_deciding_is_paused_once_and_the_others_get_drafts(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    first, broken, third = add_offers(store)
    real_due_step = engine_module.due_step

    def due_step_breaking_one(thread, *args, **kwargs):
        if thread.id == broken:
            raise OverflowError("date value out of range")
        return real_due_step(thread, *args, **kwargs)

    monkeypatch.setattr(engine_module, "due_step", due_step_breaking_one)

    report = engine.tick(local(DUE))

    assert report.drafts == 2
    assert len(drafts_to_owner(smtp_sink, dovecot.user)) == 2
    assert {d.thread_id for d in store.drafts([DraftState.PENDING])} == {first, third}
    assert store.thread(broken).state is State.PAUSED
    assert [p for p in report.problems if f"Vorgang {broken}" in p]
    errors = [e for e in store.events(broken) if e.kind == EventKind.ERROR]
    assert len(errors) == 1
    assert "OverflowError" in errors[0].text and "resume" in errors[0].text
    (alert,) = [m for m in mails_to(smtp_sink, dovecot.user) if "angehalten" in m["Subject"]]
    assert alert["Subject"] == f"nachfass-bot: Vorgang {broken} angehalten: interner Fehler"
    assert f"nachfass-bot resume {broken}" in " ".join(alert.get_content().split())

    second = engine.tick(local("2026-03-11T10:35"))
    assert second.problems == []
    assert len(error_alerts(smtp_sink, dovecot.user)) == 1, "one alert per thread"
    assert len([e for e in store.events(broken) if e.kind == EventKind.ERROR]) == 1


def test_a_thread_that_breaks_while_sending_is_paused_and_the_others_are_sent(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    first, broken, third = add_offers(store)
    engine.tick(local(DUE))
    for draft in store.drafts([DraftState.PENDING]):
        store.set_draft_state(draft.id, DraftState.APPROVED, local(DUE), send_after=local(DUE))

    real_send = engine.outbox.send_client_mail

    def send_or_break(mailbox, sent_folder, thread, draft, now, report) -> None:
        if thread.id == broken:
            raise KeyError("a value only this thread lacks")
        real_send(mailbox, sent_folder, thread, draft, now, report)

    monkeypatch.setattr(engine.outbox, "send_client_mail", send_or_break)
    report = engine.tick(local("2026-03-11T11:00"))

    assert report.sent == 2
    assert [m["To"] for m in mails_to(smtp_sink, CLIENTS[0])] == [CLIENTS[0]]
    assert [m["To"] for m in mails_to(smtp_sink, CLIENTS[2])] == [CLIENTS[2]]
    assert mails_to(smtp_sink, CLIENTS[1]) == []
    assert store.thread(broken).state is State.PAUSED
    assert [d.state for d in store.drafts(list(DraftState), broken)] == [DraftState.CANCELLED]
    assert store.thread(first).state is State.OPEN and store.thread(third).state is State.OPEN

    engine.tick(local("2026-03-11T11:05"))
    assert mails_to(smtp_sink, CLIENTS[1]) == []
    assert len(error_alerts(smtp_sink, dovecot.user)) == 1


def test_a_thread_whose_draft_cannot_be_mailed_to_the_owner_is_paused(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    _first, broken, _third = add_offers(store)
    real_context = engine._draft_context

    def context_or_break(thread, draft, now):
        if thread.id == broken:
            raise ValueError("broken")
        return real_context(thread, draft, now)

    monkeypatch.setattr(engine, "_draft_context", context_or_break)
    engine.tick(local(DUE))

    assert len(drafts_to_owner(smtp_sink, dovecot.user)) == 2
    assert store.thread(broken).state is State.PAUSED
    assert store.drafts([DraftState.NEW]) == [], "the broken draft is not tried every cycle"
    assert len(error_alerts(smtp_sink, dovecot.user)) == 1


def test_a_guard_violation_or_a_database_error_still_ends_the_cycle(
    engine: Engine, store: Store, monkeypatch
) -> None:
    """Neither is the thread's fault: a bug must fail the tests, a store problem must
    reach the command line as a store error instead of pausing thread after thread."""
    thread_ids = add_offers(store)
    for error in (MailInTransaction("SMTP send"), sqlite3.OperationalError("disk I/O error")):

        def fail(*_args, error: Exception = error) -> None:
            raise error

        monkeypatch.setattr(engine, "_do_step", fail)
        with pytest.raises(type(error)):
            engine.tick(local(DUE))
        assert {store.thread(i).state for i in thread_ids} == {State.OPEN}


# -- the owner's absurd dates ---------------------------------------------------------------


def test_later_to_the_year_9999_gets_not_understood_and_the_draft_waits(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    add_offers(store)
    engine.tick(local(DUE))
    draft_mail = mails_to(smtp_sink, dovecot.user)[0]
    dovecot.append(
        "INBOX", owner_reply(dovecot, draft_mail, "später 31.12.9999", local("2026-03-11T10:40"))
    )

    report = engine.tick(local("2026-03-11T10:45"))
    engine.tick(local("2026-03-11T10:50"))

    assert report.problems == []
    answers = [m for m in mails_to(smtp_sink, dovecot.user) if "nicht verstanden" in m["Subject"]]
    assert len(answers) == 1
    assert "später 31.12.9999" in answers[0].get_content()
    assert len(store.drafts([DraftState.PENDING])) == 3, "the draft keeps waiting"
    assert all(thread.paused_until is None for thread in store.threads())


def test_vacation_until_the_year_9999_gets_not_understood(
    engine: Engine, store: Store, dovecot: MailAccount, smtp_sink: SmtpSink
) -> None:
    add_offers(store)
    request = mail(
        sender=dovecot.user, to=dovecot.user, subject="urlaub bis 31.12.9999", body="",
        date=local("2026-03-09T08:00"),
    )  # fmt: skip
    dovecot.append("INBOX", request)

    engine.tick(local("2026-03-09T09:00"))
    engine.tick(local("2026-03-09T09:05"))

    answers = [m for m in mails_to(smtp_sink, dovecot.user) if "Nicht verstanden" in m["Subject"]]
    assert len(answers) == 1
    text = answers[0].get_content()
    assert "urlaub bis 31.12.9999" in text
    assert "nichts eingetragen" in text
    assert store.setting(SettingKey.VACATION_UNTIL) is None
    engine.tick(local(DUE))
    assert len(drafts_to_owner(smtp_sink, dovecot.user)) == 3, "no vacation: drafts as usual"


def test_an_out_of_office_return_date_in_the_year_9999_counts_as_none(
    engine: Engine, store: Store, dovecot: MailAccount
) -> None:
    first = add_offers(store)[0]
    auto_reply = mail(
        sender=CLIENTS[0], to=dovecot.user, subject="Abwesenheitsnotiz: Angebot 1",
        body="Ich bin bis zum 20.12. nicht im Büro und lese keine Mails.",
        date=datetime.fromisoformat("9999-12-01T09:00+00:00"),
        in_reply_to="<offer-1@berger.test>", extra={"Auto-Submitted": "auto-replied"},
    )  # fmt: skip
    dovecot.append("INBOX", auto_reply)

    engine.tick(local("2026-03-05T10:00"))

    thread = store.thread(first)
    assert thread.state is State.OPEN
    assert thread.paused_until is not None
    assert thread.paused_until.year == 2026, "waits the days for an auto-reply without a date"
    engine.tick(local("2026-03-20T10:00"))  # the cycle runs on


def test_list_and_show_still_work_on_a_corrupt_thread_before_the_next_tick(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    with closing(Store.open(tmp_path / "nachfass.db")) as store:
        _, broken, _ = add_offers(store)
    corrupt(tmp_path / "nachfass.db", broken)

    listed = cli_json(config, capsys, "list")
    shown = cli_json(config, capsys, "show", str(broken))

    assert [row["id"] for row in listed] == [1, 2, 3]
    assert [row["next_due_at"] is None for row in listed] == [False, True, False]
    assert shown["id"] == broken and shown["next_due_at"] is None
