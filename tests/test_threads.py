"""The owner's word on threads and tasks (app.threads), on an in-memory store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from loophelpers import advance_draft
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.threads import (
    NewThread,
    close_thread,
    finish_task,
    mark_paid,
    pause_thread,
    resume_thread,
    track_thread,
)
from nachfass_bot.domain.models import Kind, State
from nachfass_bot.errors import IncompleteInvoice, NotAnInvoice, UnknownTask, UnknownThread

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SENT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store.memory()
    yield opened
    opened.close()


def offer(**values: object) -> NewThread:
    fields: dict[str, object] = {
        "kind": Kind.ANGEBOT,
        "email": "m.sommer@kanzlei-sommer.test",
        "subject": "Angebot Logo",
        "name": "Miriam Sommer",
        "started_at": SENT,
    }
    return NewThread(**{**fields, **values})


def invoice(**values: object) -> NewThread:
    fields: dict[str, object] = {
        "kind": Kind.RECHNUNG,
        "invoice_no": "2026-014",
        "amount": Decimal("1190.00"),
        "due_date": date(2026, 3, 16),
    }
    return offer(**{**fields, **values})


def add_draft(store: Store, thread_id: int, step_index: int, state: str) -> int:
    draft_id = store.add_draft(
        thread_id=thread_id, step_index=step_index, step_number=step_index + 1,
        token=f"{step_index:020d}", recipient="m.sommer@kanzlei-sommer.test", subject="Nachfrage",
        body="Text\n", draft_message_id=f"<d{step_index}@x>",
        client_message_id=f"<c{step_index}@x>", now=SENT,
    )  # fmt: skip
    advance_draft(store, draft_id, state, SENT)
    return draft_id


def draft_states(store: Store, thread_id: int) -> list[str]:
    states = ["new", "pending", "approved", "sending", "sent", "cancelled"]
    return sorted(draft.state for draft in store.drafts(states, thread_id))


# -- track --------------------------------------------------------------------------------


def test_track_stores_client_thread_original_mail_and_event(store: Store) -> None:
    thread = track_thread(
        store, offer(du=True, anrede="frau", b2c=True, message_id="<offer@berger.test>"), NOW
    )

    assert (thread.kind, thread.state, thread.step) == (Kind.ANGEBOT, State.OPEN, 0)
    assert thread.started_at == SENT
    assert thread.client.name == "Miriam Sommer"
    assert (thread.client.du, thread.client.anrede, thread.client.customer_type) == (
        True,
        "frau",
        "b2c",
    )
    assert thread.message_ids == frozenset({"<offer@berger.test>"})
    assert [(e.at, e.text) for e in store.events(thread.id)] == [(NOW, "Angebot aufgenommen")]


def test_track_without_a_send_time_starts_now(store: Store) -> None:
    assert track_thread(store, offer(started_at=None), NOW).started_at == NOW


def test_track_a_second_thread_updates_the_client(store: Store) -> None:
    first = track_thread(store, offer(), NOW)
    second = track_thread(store, invoice(name="Dr. Miriam Sommer"), NOW)

    assert second.client.id == first.client.id
    assert store.thread(first.id).client.name == "Dr. Miriam Sommer"
    assert (second.invoice_no, second.amount, second.due_date) == (
        "2026-014",
        Decimal("1190.00"),
        date(2026, 3, 16),
    )


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        (
            {"invoice_no": None, "amount": None, "due_date": None},
            ("invoice_no", "amount", "due_date"),
        ),
        ({"invoice_no": ""}, ("invoice_no",)),
        ({"due_date": None}, ("due_date",)),
    ],
)
def test_an_invoice_without_number_amount_or_due_date_is_refused(
    values: dict[str, object], missing: tuple[str, ...]
) -> None:
    with pytest.raises(IncompleteInvoice, match="Für eine Rechnung fehlt") as caught:
        invoice(**values)
    assert caught.value.missing == missing


def test_an_amount_of_zero_counts_as_given() -> None:
    assert invoice(amount=Decimal("0.00")).amount == Decimal("0.00")


def test_other_kinds_need_no_invoice_values() -> None:
    assert offer(kind=Kind.AUFTRAG, expenses=Decimal("250.00")).expenses == Decimal("250.00")


# -- paid, close, pause, resume -------------------------------------------------------------


def test_paid_closes_an_invoice_and_cancels_its_waiting_drafts(store: Store) -> None:
    thread_id = track_thread(store, invoice(), SENT).id
    add_draft(store, thread_id, 0, "pending")

    assert mark_paid(store, thread_id, NOW).state is State.PAID
    assert draft_states(store, thread_id) == ["cancelled"]
    event = store.events(thread_id)[-1]
    assert (event.at, event.kind, event.text) == (NOW, "owner", "Von Dir als bezahlt geschlossen")


def test_paid_on_an_offer_raises_and_changes_nothing(store: Store) -> None:
    thread_id = track_thread(store, offer(), SENT).id
    add_draft(store, thread_id, 0, "pending")

    with pytest.raises(NotAnInvoice, match="Vorgang 1 ist keine Rechnung"):
        mark_paid(store, thread_id, NOW)
    assert store.thread(thread_id).state is State.OPEN
    assert draft_states(store, thread_id) == ["pending"]
    assert len(store.events(thread_id)) == 1


@pytest.mark.parametrize(
    ("change", "state"), [(close_thread, State.CLOSED), (pause_thread, State.PAUSED)]
)
def test_close_and_pause_cancel_every_cancellable_draft(store: Store, change, state) -> None:
    thread_id = track_thread(store, offer(), SENT).id
    for index, draft_state in enumerate(["new", "pending", "approved", "sending", "sent"]):
        add_draft(store, thread_id, index, draft_state)

    assert change(store, thread_id, NOW).state is state
    # A draft being sent or sent already is past recalling.
    assert draft_states(store, thread_id) == ["cancelled"] * 3 + ["sending", "sent"]
    assert store.events(thread_id)[-1].kind == "owner"


def test_resume_restarts_the_wait_and_ends_a_later_pause(store: Store) -> None:
    thread_id = track_thread(store, offer(), SENT).id
    store.update_thread(thread_id, SENT, paused_until=NOW + timedelta(days=7))
    pause_thread(store, thread_id, SENT + timedelta(days=1))

    thread = resume_thread(store, thread_id, NOW)

    assert (thread.state, thread.last_step_at, thread.paused_until) == (State.OPEN, NOW, None)
    assert store.events(thread_id)[-1].text.startswith("Von Dir fortgesetzt")


@pytest.mark.parametrize("change", [mark_paid, close_thread, pause_thread, resume_thread])
def test_an_unknown_thread_raises(store: Store, change) -> None:
    with pytest.raises(UnknownThread, match="Einen Vorgang 7 gibt es nicht"):
        change(store, 7, NOW)
    assert store.events() == []


# -- done ---------------------------------------------------------------------------------


def test_finish_task_marks_it_done_once(store: Store) -> None:
    thread_id = track_thread(store, offer(kind=Kind.AUFTRAG), SENT).id
    store.add_task(thread_id=thread_id, step_index=0, text="Anrufen", due_at=SENT, now=SENT)
    task_id = store.tasks("open", thread_id)[0].id

    assert finish_task(store, task_id, NOW).text == "Anrufen"
    assert store.tasks("open", thread_id) == []
    assert store.events(thread_id)[-1].text == "Aufgabe erledigt: Anrufen"
    with pytest.raises(UnknownTask, match=f"Eine offene Aufgabe {task_id} gibt es nicht"):
        finish_task(store, task_id, NOW)


def test_finish_a_missing_task_raises(store: Store) -> None:
    with pytest.raises(UnknownTask):
        finish_task(store, 42, NOW)
    assert store.events() == []
