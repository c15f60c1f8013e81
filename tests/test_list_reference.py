"""``list`` and ``show`` read flat thread facts (``Store.thread_facts``) and time the next
step with ``schedule.next_due_at``: their output is byte for byte what the path through
full ``Thread`` values and ``due_step`` gave. That path is kept here as the reference
and run over a store with every kind and state, odd step counters, pauses, payments,
drafts in every state (one covering further invoices), clients with settings of their
own, and dates around holidays, daylight-saving changes and Christmas."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loophelpers import cli
from nachfass_bot.adapters.ledger import Ledger
from nachfass_bot.adapters.mailbox import Mailbox
from nachfass_bot.adapters.store import Store, to_iso
from nachfass_bot.app.overview import thread_summaries
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.cli.views import output_console, threads_table
from nachfass_bot.config import load_config
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import (
    ACTIVE_DRAFT_STATES,
    Client,
    CycleReport,
    Draft,
    DraftState,
    Kind,
    PaymentSource,
    State,
    Thread,
)
from nachfass_bot.domain.preferences import Preferences
from nachfass_bot.domain.schedule import DueStep, due_step

# -- the reference: list's rows as they were computed from Thread values -------------------


def reference_rows(
    store: Store, window: SendingWindow, preferences: Preferences
) -> list[dict[str, Any]]:
    drafts = store.drafts_by_thread(ACTIVE_DRAFT_STATES)
    return [
        reference_summary(window, thread, preferences, drafts.get(thread.id, []))
        for thread in store.threads()
    ]


def reference_next_due_at(
    window: SendingWindow, thread: Thread, preferences: Preferences, drafts: Sequence[Draft]
) -> datetime | None:
    if thread.state is not State.OPEN:
        return None
    if drafts:
        return drafts[0].send_after
    try:
        due = due_step(preferences.refine(thread), window, preferences.playbook(thread))
    except (OverflowError, ValueError):
        return None
    return due.due_at if due else None


def reference_summary(
    window: SendingWindow, thread: Thread, preferences: Preferences, drafts: Sequence[Draft]
) -> dict[str, Any]:
    return {
        "id": thread.id,
        "kind": str(thread.kind),
        "state": str(thread.state),
        "step": thread.step,
        "client_email": thread.client.email,
        "client_name": thread.client.name,
        "du": thread.client.du,
        "subject": thread.subject,
        "started_at": to_iso(thread.started_at),
        "next_due_at": to_iso(reference_next_due_at(window, thread, preferences, drafts)),
        "answered_at": to_iso(thread.answered_at),
        "answered_folder": thread.answered_folder,
        "paused_until": to_iso(thread.paused_until),
        "draft_state": drafts[0].state if drafts else None,
        "invoice_no": thread.invoice_no,
        "amount": str(thread.amount) if thread.amount is not None else None,
        "open_amount": str(thread.open_amount) if thread.open_amount is not None else None,
        "due_date": thread.due_date.isoformat() if thread.due_date else None,
        "source": str(thread.source),
    }


# -- a varied store ---------------------------------------------------------------------

CONFIGS = {
    "by-weekdays": """
[sending]
bundesland = "BY"
days = "mo-fr"
hours = "09:00-17:00"
[schedule.angebot]
step_1 = "3 Werktage"
[schedule.auftrag]
step_4 = 2
[clients."kunde1@firma.test"]
du = true
assistant = "empfang@firma.test"
[clients."kunde1@firma.test".schedule.rechnung]
step_1 = "7 Tage"
[clients."Kunde2@Firma.test"]
anrede = "frau"
[clients."Kunde2@Firma.test".schedule.auftrag]
step_0 = "4 Werktage"
step_2 = 0
""",
    "be-three-days": """
[sending]
bundesland = "BE"
days = "mo,di,do"
hours = "08:00-12:30"
christmas_freeze = false
timezone = "Europe/Berlin"
[schedule.rechnung]
step_2 = "5 Werktage"
[clients."kunde3@firma.test"]
du = false
[clients."kunde3@firma.test".schedule.angebot]
step_2 = "1 Werktag"
""",
}

CLIENTS = [
    Client(email="kunde1@firma.test", name="Jonas Keller"),
    Client(email="kunde2@firma.test", name="Petra Lange", du=True),
    Client(email="kunde3@firma.test", assistant_email="assistenz@firma.test"),
    Client(email="kunde4@firma.test", name='Müller & Söhne "Bau"\n'),
    Client(email="kunde5@firma.test", name=None, du=True),
]


def write_config(directory: Path, extra: str) -> Path:
    path = directory / "config.toml"
    path.write_text(
        '[owner]\nname = "Anna Berger"\nemail = "anna@example.test"\nsignature = "Anna"\n'
        '[imap]\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\nusername = "anna"\n'
        'password_env = "NACHFASS_UNUSED"\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 1\nsecurity = "none"\nusername = "anna"\n'
        'password_env = "NACHFASS_UNUSED"\n'
        f'[store]\npath = "{directory / "nachfass.db"}"\n{extra}',
        encoding="utf-8",
    )
    return path


def moment(rng: random.Random) -> datetime:
    """Any minute from autumn 2025 to the end of 2026: DST changes, Christmas, the
    holidays of spring (Easter, Ascension, Corpus Christi) and autumn."""
    start = datetime(2025, 10, 1, tzinfo=UTC)
    return start + timedelta(minutes=rng.randrange(460 * 24 * 60))


def fill(store: Store, rng: random.Random, count: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    client_ids = [store.upsert_client(client, now) for client in CLIENTS]
    thread_ids = [add_thread(store, rng, number, client_ids, now) for number in range(count)]
    for number, thread_id in enumerate(thread_ids):
        for index in range(rng.choice((0, 0, 1, 2))):
            others = rng.sample(thread_ids, rng.choice((0, 0, 2)))
            add_draft(store, rng, thread_id, index, f"{number:08d}{index:04d}", others, now)
    # An old row with a step time at the very end of the calendar (test_isolation).
    store.update_thread(thread_ids[0], now, state="open", step=1, last_step_at=None)
    store.conn.execute(
        "UPDATE threads SET last_step_at = '9999-12-31T12:00:00+00:00' WHERE id = ?",
        [thread_ids[1]],
    )


def add_thread(
    store: Store, rng: random.Random, number: int, client_ids: list[int], now: datetime
) -> int:
    kind = rng.choice(list(Kind))
    started = moment(rng)
    invoice = kind is Kind.RECHNUNG
    thread_id = store.add_thread(
        kind=kind,
        client_id=rng.choice(client_ids),
        subject=rng.choice(("Angebot Website", "Rechnung 2026-014", 'Zitat "A"\tB', "Ä ö ü €")),
        started_at=started,
        now=now,
        invoice_no=f"2026-{number:03d}" if invoice and rng.random() < 0.8 else None,
        amount=Decimal(rng.choice(("1190.00", "800", "0.50", "12345.67"))) if invoice else None,
        due_date=(started + timedelta(days=rng.randrange(-5, 30))).date()
        if invoice and rng.random() < 0.8
        else None,
        first_delay_days=rng.choice((None, None, None, 0, 3, 10)),
    )
    fields: dict[str, Any] = {
        "state": rng.choice([*State, State.OPEN, State.OPEN, State.OPEN]),
        "step": rng.choice((0, 0, 1, 1, 2, 3, 4, 5, 6, 9, -1)),
    }
    if rng.random() < 0.5:
        fields["last_step_at"] = started + timedelta(hours=rng.randrange(-48, 40 * 24))
    if rng.random() < 0.25:
        fields["paused_until"] = moment(rng)
    if fields["state"] is State.ANSWERED or rng.random() < 0.1:
        fields["answered_at"] = started + timedelta(days=rng.randrange(1, 20))
        fields["answered_folder"] = rng.choice(("INBOX", "Spam", "INBOX/Kunden"))
    store.update_thread(thread_id, now, **fields)
    if invoice and rng.random() < 0.5:
        for amount in rng.sample(("100.00", "0.5", "2000", "1090.00", "33.333"), 2):
            Ledger(store).add_payment(
                thread_id, Decimal(amount), date(2026, 2, 1), PaymentSource.BANK, now
            )
    return thread_id


def add_draft(
    store: Store,
    rng: random.Random,
    thread_id: int,
    index: int,
    token: str,
    others: list[int],
    now: datetime,
) -> None:
    draft_id = store.add_draft(
        thread_id=thread_id, step_index=index, step_number=index + 1, token=token,
        recipient="kunde@firma.test", subject="S", body="B",
        draft_message_id=f"<d{token}@x.test>", client_message_id=f"<c{token}@x.test>",
        now=now, extra_thread_ids=[other for other in others if other != thread_id],
    )  # fmt: skip
    state = rng.choice(list(DraftState))
    send_after = to_iso(moment(rng)) if rng.random() < 0.6 else None
    store.conn.execute(
        "UPDATE drafts SET state = ?, send_after = ? WHERE id = ?",
        [str(state), send_after, draft_id],
    )


@pytest.fixture(params=sorted(CONFIGS))
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    config = write_config(tmp_path, CONFIGS[request.param])
    with closing(Store.open(tmp_path / "nachfass.db")) as store:
        fill(store, random.Random(request.param), 400)
    return config


def loaded(config_path: Path) -> tuple[Store, SendingWindow, Preferences]:
    config = load_config(config_path)
    return Store.open(config.store.path), config.sending.window(), config.preferences


# -- the comparisons ----------------------------------------------------------------------


def test_list_json_is_byte_for_byte_the_reference(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, window, preferences = loaded(seeded)
    with closing(store):
        expected = reference_rows(store, window, preferences)
        assert thread_summaries(store, window, preferences) == expected
    states = {row["state"] for row in expected}
    assert states == {str(state) for state in State}, "every state is in the store"
    assert {row["draft_state"] for row in expected} >= {None, *ACTIVE_DRAFT_STATES}
    assert sum(row["next_due_at"] is not None for row in expected) > 60
    assert any(row["open_amount"] not in (None, row["amount"]) for row in expected)

    capsys.readouterr()
    assert cli(seeded, "list", "--json") == 0
    assert capsys.readouterr().out == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"


def test_the_list_table_is_the_reference(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, window, preferences = loaded(seeded)
    with closing(store):
        expected = reference_rows(store, window, preferences)
    capsys.readouterr()
    output_console().print(threads_table(expected, window))
    table = capsys.readouterr().out
    assert cli(seeded, "list") == 0
    assert capsys.readouterr().out == table


def test_show_and_its_summary_are_the_reference(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, window, preferences = loaded(seeded)
    with closing(store):
        expected = reference_rows(store, window, preferences)
    for row in expected[::37]:
        capsys.readouterr()
        assert cli(seeded, "show", str(row["id"]), "--json") == 0
        shown = json.loads(capsys.readouterr().out)
        assert {key: shown[key] for key in row} == json.loads(json.dumps(row))


# -- the cycle's planning reads the same flat facts ---------------------------------------


def reference_due(
    store: Store, window: SendingWindow, preferences: Preferences, now: datetime
) -> tuple[list[tuple[int, DueStep]], set[int]]:
    """What ``Engine.due_threads`` gave when it read every open thread whole: the due
    threads with their steps, and the threads whose planning raised (paused)."""
    waiting = store.drafts_by_thread(ACTIVE_DRAFT_STATES)
    looking_back = store.lookbacks()
    due: list[tuple[int, DueStep]] = []
    broken: set[int] = set()
    for stored in store.threads([State.OPEN]):
        try:
            thread = preferences.refine(stored)
            if waiting.get(thread.id) or thread.id in looking_back:
                continue
            step = due_step(thread, window, preferences.playbook(thread))
        except Exception:
            broken.add(stored.id)
            continue
        if step is not None and step.due_at <= now:
            due.append((thread.id, step))
    return due, broken


def test_the_cycle_plans_what_reading_every_thread_whole_planned(
    seeded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``due_threads`` decides from flat rows which threads are not due and reads only
    the others whole: at any moment it finds exactly the due threads and steps (and
    pauses exactly the broken threads) that the full computation over every thread does."""
    monkeypatch.setenv("NACHFASS_UNUSED", "unused")
    config = load_config(seeded)
    store, window, preferences = loaded(seeded)
    with closing(store):
        engine = build_engine(config, store, build_texts(config), open_mailbox=_no_mailbox)
        store.add_lookback(store.threads([State.OPEN])[5].id)
        rng = random.Random(7)
        moments = sorted(moment(rng) for _ in range(30))
        found_due = found_broken = 0
        for now in [*moments, datetime(2027, 6, 1, tzinfo=UTC)]:
            expected, broken = reference_due(store, window, preferences, now)
            report = CycleReport()
            planned = engine.due_threads(now, report)
            assert [(thread.id, step) for thread, step in planned] == expected
            assert [thread.id for thread, _ in planned] == [
                thread.id for thread in store.threads_by_id([tid for tid, _ in expected])
            ]
            paused = {int(problem.split(":")[0].split()[1]) for problem in report.problems}
            assert paused == broken
            found_due += len(expected)
            found_broken += len(broken)
        assert found_due > 100 and found_broken >= 1, "the moments cover due and broken threads"


def _no_mailbox() -> Mailbox:
    raise AssertionError("planning reads no mailbox")


# -- times stored in another form than to_iso's ------------------------------------------

# Texts datetime.fromisoformat reads but to_iso writes otherwise (list prints to_iso's
# form), and texts in to_iso's form (list prints them as stored), around DST changes.
ODD_TIMES = [
    "2026-03-02T10:00:00.000000+00:00",
    "2026-03-02T11:00:00+01:00",
    "2026-03-02 10:00:00+00:00",
    "2026-03-02T10:00:00.500+00:00",
    "2026-03-02T10:00Z",
    "2026-03-02T10:00:00-00:00",
    "2026-03-29T01:30:00.000001+00:00",
    "2026-10-25T00:30:00+00:00",
    "2026-10-25T01:30:00.999999+00:00",
    "0999-01-01T00:00:00+00:00",
]


def test_list_prints_odd_stored_times_as_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, CONFIGS["by-weekdays"])
    with closing(Store.open(tmp_path / "nachfass.db")) as store:
        fill(store, random.Random(5), 40)
        for number, thread_id in enumerate(thread.id for thread in store.threads()):
            started, answered, paused = (
                ODD_TIMES[(number + k) % len(ODD_TIMES)] for k in (0, 3, 7)
            )
            store.conn.execute(
                "UPDATE threads SET state = 'open', step = 0, started_at = ?, answered_at = ?, "
                "paused_until = ?, last_step_at = NULL WHERE id = ?",
                [started, answered, paused if number % 2 else None, thread_id],
            )
    store, window, preferences = loaded(config)
    with closing(store):
        expected = reference_rows(store, window, preferences)
        assert thread_summaries(store, window, preferences) == expected
    printed = {row["started_at"] for row in expected} | {row["answered_at"] for row in expected}
    assert "2026-03-02T10:00:00+00:00" in printed and "2026-03-02T10:00:00.500000+00:00" in printed
    capsys.readouterr()
    assert cli(config, "list", "--json") == 0
    assert capsys.readouterr().out == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
