"""Tests for nachfass_bot.domain.schedule: the default playbooks and next_step."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import Action, Client, Kind, State, Thread
from nachfass_bot.domain.schedule import (
    DEFAULT_PLAYBOOKS,
    Delay,
    DueStep,
    Playbook,
    Step,
    due_step,
    next_due_at,
    next_step,
    not_yet_due,
    playbook_for,
)

BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = SendingWindow()
CLIENT = Client(email="anna@beispiel-gmbh.de", name="Anna Beispiel")
# Tuesday 3 March 2026, 10:15 in Berlin.
SENT = datetime(2026, 3, 3, 10, 15, tzinfo=BERLIN).astimezone(UTC)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def make_thread(kind: Kind, **changes: object) -> Thread:
    thread = Thread(
        id=1,
        kind=kind,
        client=CLIENT,
        subject="Ihr Projekt",
        state=State.OPEN,
        step=0,
        started_at=SENT,
    )
    return replace(thread, **changes)  # type: ignore[arg-type]


def run_chain(thread: Thread, playbook: Playbook) -> list[DueStep]:
    """Do every step exactly when it is due, as an owner saying "ok" at once would."""
    done: list[DueStep] = []
    while (due := next_step(thread, playbook, WINDOW)) is not None:
        done.append(due)
        thread = replace(thread, step=thread.step + 1, last_step_at=due.due_at)
    return done


# --- default chains -----------------------------------------------------------------


def test_angebot_default_chain() -> None:
    chain = run_chain(make_thread(Kind.ANGEBOT), playbook_for(Kind.ANGEBOT))
    assert [(d.step.number, d.action, d.template) for d in chain] == [
        (1, Action.MAIL, "angebot_1"),
        (2, Action.MAIL, "angebot_2"),
        (3, Action.REST, None),
    ]
    assert [d.due_at for d in chain] == [
        berlin(2026, 3, 11, 10, 15),  # offer + 8 days
        berlin(2026, 3, 18, 10, 15),
        berlin(2026, 3, 25, 10, 15),
    ]
    assert [d.index for d in chain] == [0, 1, 2]
    assert all(d.due_at.tzinfo is UTC for d in chain)


def test_auftrag_default_chain_with_assistant() -> None:
    client = replace(CLIENT, assistant_email="empfang@beispiel-gmbh.de")
    chain = run_chain(make_thread(Kind.AUFTRAG, client=client), playbook_for(Kind.AUFTRAG))
    assert [(d.step.number, d.action, d.template) for d in chain] == [
        (0, Action.TASK, None),
        (1, Action.MAIL, "auftrag_1"),
        (2, Action.TASK, None),
        (3, Action.MAIL, "auftrag_3_assistent"),
        (4, Action.MAIL, "auftrag_4"),
        (5, Action.PARK, None),
    ]
    assert [d.due_at for d in chain] == [
        berlin(2026, 3, 4, 10, 15),  # documents + 1 business day
        berlin(2026, 3, 11, 10, 15),  # + 7 days: 8 days after the documents
        berlin(2026, 3, 16, 10, 15),  # + 3 business days (Thu, Fri, Mon)
        berlin(2026, 3, 23, 9, 0),  # + 5 days is Saturday: Monday 09:00
        berlin(2026, 3, 30, 9, 0),  # + 7 days, across the switch to summer time
        berlin(2026, 4, 6, 9, 0),  # PARK stays at the raw time, even on Ostermontag
    ]
    assert chain[4].due_at == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert chain[0].task is not None and "Anna Beispiel" in chain[0].task
    assert chain[2].task is not None and "Anna Beispiel" in chain[2].task
    assert chain[3].step.to_assistant
    assert chain[3].task is None


def test_rechnung_default_chain() -> None:
    thread = make_thread(Kind.RECHNUNG, due_date=date(2026, 3, 17))
    chain = run_chain(thread, playbook_for(Kind.RECHNUNG))
    assert [(d.step.number, d.action, d.template) for d in chain] == [
        (1, Action.MAIL, "rechnung_1"),
        (2, Action.MAIL, "rechnung_2"),
        (3, Action.MAIL, "rechnung_3"),
        (4, Action.TASK, None),
    ]
    assert [d.due_at for d in chain] == [
        berlin(2026, 3, 20, 9, 0),  # due date + 3 days, at the start of the window
        berlin(2026, 4, 7, 9, 0),  # + 14 days is Karfreitag; then weekend, Ostermontag
        berlin(2026, 4, 21, 9, 0),
        berlin(2026, 5, 5, 9, 0),
    ]
    assert chain[3].task is not None and "Mahnbescheid" in chain[3].task


def test_default_playbooks_cover_every_kind_and_end_with_the_next_number() -> None:
    assert set(DEFAULT_PLAYBOOKS) == set(Kind)
    ends = {kind: playbook[-1] for kind, playbook in DEFAULT_PLAYBOOKS.items()}
    assert (ends[Kind.ANGEBOT].number, ends[Kind.ANGEBOT].action) == (3, Action.REST)
    assert (ends[Kind.AUFTRAG].number, ends[Kind.AUFTRAG].action) == (5, Action.PARK)
    assert (ends[Kind.RECHNUNG].number, ends[Kind.RECHNUNG].action) == (4, Action.TASK)
    for playbook in DEFAULT_PLAYBOOKS.values():
        numbers = [step.number for step in playbook]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


# --- invoices -----------------------------------------------------------------------


def test_invoice_is_never_chased_before_due_date_plus_three_days() -> None:
    # Due Thursday 19 March 2026: + 3 days is Sunday, so Monday 09:00.
    thread = make_thread(Kind.RECHNUNG, due_date=date(2026, 3, 19))
    due = next_step(thread, playbook_for(Kind.RECHNUNG), WINDOW)
    assert due is not None
    assert due.due_at == berlin(2026, 3, 23, 9, 0)
    assert due.due_at >= berlin(2026, 3, 22, 0, 0)


def test_invoice_without_due_date_counts_from_the_invoice_mail() -> None:
    due = next_step(make_thread(Kind.RECHNUNG), playbook_for(Kind.RECHNUNG), WINDOW)
    assert due is not None
    assert due.due_at == berlin(2026, 3, 6, 10, 15)


def test_only_the_first_invoice_step_counts_from_the_due_date() -> None:
    thread = make_thread(
        Kind.RECHNUNG,
        due_date=date(2026, 3, 17),
        step=1,
        last_step_at=berlin(2026, 3, 24, 11, 0).astimezone(UTC),
    )
    due = next_step(thread, playbook_for(Kind.RECHNUNG), WINDOW)
    assert due is not None
    assert due.due_at == berlin(2026, 4, 7, 11, 0)  # Karfreitag + Ostermontag skipped


# --- assistant fallback -------------------------------------------------------------


def test_assistant_step_without_assistant_becomes_a_task() -> None:
    thread = make_thread(Kind.AUFTRAG, step=3, last_step_at=berlin(2026, 3, 16, 10, 15))
    due = next_step(thread, playbook_for(Kind.AUFTRAG), WINDOW)
    assert due is not None
    assert due.step.action is Action.MAIL
    assert due.action is Action.TASK
    assert due.template is None
    assert due.task is not None
    assert "gute Seele" in due.task
    assert "Anna Beispiel" in due.task
    assert due.due_at == berlin(2026, 3, 23, 9, 0)


def test_task_names_the_client_by_address_when_name_is_unknown() -> None:
    thread = make_thread(Kind.AUFTRAG, client=Client(email="info@firma.de"))
    due = next_step(thread, playbook_for(Kind.AUFTRAG), WINDOW)
    assert due is not None
    assert due.task is not None
    assert "info@firma.de" in due.task
    assert "{name}" not in due.task


# --- overrides ----------------------------------------------------------------------


def test_overrides_replace_delays_by_step_number() -> None:
    playbook = playbook_for(Kind.ANGEBOT, {1: Delay(10), 3: Delay(2, business_days=True)})
    assert [step.delay for step in playbook] == [
        Delay(10),
        Delay(7),
        Delay(2, business_days=True),
    ]
    due = next_step(make_thread(Kind.ANGEBOT), playbook, WINDOW)
    assert due is not None
    assert due.due_at == berlin(2026, 3, 13, 10, 15)


def test_overrides_use_the_domain_numbering_for_auftrag() -> None:
    playbook = playbook_for(Kind.AUFTRAG, {0: Delay(2, business_days=True)})
    due = next_step(make_thread(Kind.AUFTRAG), playbook, WINDOW)
    assert due is not None
    assert due.due_at == berlin(2026, 3, 5, 10, 15)


def test_override_of_unknown_step_is_rejected() -> None:
    with pytest.raises(ValueError, match="Schrittnummer"):
        playbook_for(Kind.ANGEBOT, {0: Delay(3)})


def test_defaults_are_not_changed_by_overrides() -> None:
    playbook_for(Kind.ANGEBOT, {1: Delay(10)})
    assert DEFAULT_PLAYBOOKS[Kind.ANGEBOT][0].delay == Delay(8)


def test_invalid_delays_and_steps_are_rejected() -> None:
    with pytest.raises(ValueError):
        Delay(-1)
    with pytest.raises(ValueError):
        Step(1, Action.MAIL, Delay(1), None)
    with pytest.raises(ValueError):
        Step(1, Action.TASK, Delay(1), None)
    with pytest.raises(ValueError):
        Step(1, Action.MAIL, Delay(1), "x", to_assistant=True)


# --- when nothing is due ------------------------------------------------------------


@pytest.mark.parametrize("state", [s for s in State if s is not State.OPEN])
def test_threads_that_are_not_open_have_no_next_step(state: State) -> None:
    thread = make_thread(Kind.ANGEBOT, state=state)
    assert next_step(thread, playbook_for(Kind.ANGEBOT), WINDOW) is None


def test_finished_playbook_has_no_next_step() -> None:
    thread = make_thread(Kind.ANGEBOT, step=3, last_step_at=SENT)
    assert next_step(thread, playbook_for(Kind.ANGEBOT), WINDOW) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"started_at": datetime(9999, 12, 30, 12, tzinfo=UTC)},
        {"kind": Kind.RECHNUNG, "due_date": date(9999, 12, 31)},
        {"step": 1, "last_step_at": datetime(9999, 12, 31, 23, tzinfo=UTC)},
    ],
)
def test_a_step_beyond_the_year_9999_is_never_due(changes: dict[str, object]) -> None:
    """A date typed as 9999-12-31 must not stop every cycle with an OverflowError."""
    thread = replace(make_thread(Kind.ANGEBOT), **changes)  # type: ignore[arg-type]
    assert next_step(thread, playbook_for(thread.kind), WINDOW) is None


def test_manual_mail_restarts_the_count() -> None:
    # The engine records the owner's manual mail as last_step_at; the delay counts from it.
    manual = berlin(2026, 3, 12, 14, 0).astimezone(UTC)
    thread = make_thread(Kind.ANGEBOT, step=1, last_step_at=manual)
    due = next_step(thread, playbook_for(Kind.ANGEBOT), WINDOW)
    assert due is not None
    assert due.due_at == berlin(2026, 3, 19, 14, 0)


def test_mail_late_in_the_day_is_moved_into_the_window() -> None:
    thread = make_thread(Kind.ANGEBOT, started_at=berlin(2026, 3, 3, 22, 30).astimezone(UTC))
    due = next_step(thread, playbook_for(Kind.ANGEBOT), WINDOW)
    assert due is not None
    assert due.due_at == berlin(2026, 3, 12, 9, 0)


# --- the cycle's shortcut --------------------------------------------------------------

_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "UTC")


@given(
    kind=st.sampled_from(Kind),
    step=st.integers(0, 6),
    started=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    last_step=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
    due_date=st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
    first_delay=st.none() | st.integers(0, 30),
    delays=st.dictionaries(
        st.integers(0, 5), st.builds(Delay, st.integers(0, 40), st.booleans()), max_size=3
    ),
    zone=st.sampled_from(_ZONES),
    days=st.sampled_from([frozenset({0, 1, 2, 3, 4}), frozenset({5}), frozenset(range(7))]),
    later=st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=90)),
)
@settings(max_examples=400, deadline=None)
def test_not_yet_due_never_holds_back_a_due_step(
    kind: Kind,
    step: int,
    started: datetime,
    last_step: timedelta | None,
    due_date: date | None,
    first_delay: int | None,
    delays: dict[int, Delay],
    zone: str,
    days: frozenset[int],
    later: timedelta,
) -> None:
    # The cycle skips a thread when not_yet_due says so: then due_step must agree that
    # nothing is due yet, whatever the delays, business days, window and time zone.
    started = started.replace(tzinfo=UTC)
    numbers = {s.number for s in DEFAULT_PLAYBOOKS[kind]}
    playbook = playbook_for(kind, {n: d for n, d in delays.items() if n in numbers})
    window = SendingWindow(timezone=zone, days=days)
    thread = make_thread(
        kind,
        step=step,
        started_at=started,
        last_step_at=None if last_step is None else started + last_step,
        due_date=due_date,
        first_delay_days=first_delay,
    )
    now = started + later
    if not_yet_due(thread, playbook, window, now):
        due = due_step(thread, window, playbook)
        assert due is not None and due.due_at > now


@given(
    kind=st.sampled_from(Kind),
    step=st.integers(0, 6),
    started=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    last_step=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
    due_date=st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
    first_delay=st.none() | st.integers(0, 30),
    pause=st.none() | st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=60)),
    assistant=st.booleans(),
    delays=st.dictionaries(
        st.integers(0, 5), st.builds(Delay, st.integers(0, 40), st.booleans()), max_size=3
    ),
    zone=st.sampled_from(_ZONES),
    days=st.sampled_from([frozenset({0, 1, 2, 3, 4}), frozenset({5}), frozenset(range(7))]),
)
@settings(max_examples=400, deadline=None)
def test_next_due_at_is_the_due_steps_time(
    kind: Kind,
    step: int,
    started: datetime,
    last_step: timedelta | None,
    due_date: date | None,
    first_delay: int | None,
    pause: timedelta | None,
    assistant: bool,
    delays: dict[int, Delay],
    zone: str,
    days: frozenset[int],
) -> None:
    # The cycle plans from flat rows: a thread is read whole only when next_due_at says
    # its step is due, so it must be due_step's time exactly (pause, assistant fallback,
    # business days, window and time zone included), None where due_step gives none.
    started = started.replace(tzinfo=UTC)
    numbers = {s.number for s in DEFAULT_PLAYBOOKS[kind]}
    playbook = playbook_for(kind, {n: d for n, d in delays.items() if n in numbers})
    window = SendingWindow(timezone=zone, days=days)
    thread = make_thread(
        kind,
        step=step,
        started_at=started,
        last_step_at=None if last_step is None else started + last_step,
        due_date=due_date,
        first_delay_days=first_delay,
        paused_until=None if pause is None else started + pause,
        client=replace(CLIENT, assistant_email="a@b.test" if assistant else None),
    )
    due = due_step(thread, window, playbook)
    assert next_due_at(thread, playbook, window) == (due.due_at if due is not None else None)
