"""The owner's word on threads and tasks: track a new thread, mark it paid, close, pause,
resume it, finish a task (docs/DESIGN.md, "Thread states").

Plain functions over a Store; each takes ``now`` from its caller and does its writes in
one transaction. A request that cannot be carried out raises a NachfassError subclass
whose German message the CLI prints as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from nachfass_bot.adapters.store import Store
from nachfass_bot.app.inbox import answer_from_synced_mail
from nachfass_bot.domain.dates import check_date, check_moment
from nachfass_bot.domain.models import (
    CANCELLABLE_DRAFT_STATES,
    Client,
    DraftState,
    EventKind,
    Kind,
    State,
    Task,
    Thread,
)
from nachfass_bot.errors import (
    IncompleteInvoice,
    NotAnInvoice,
    UnknownTask,
    UnknownThread,
)
from nachfass_bot.texts.labels import KIND_LABELS

# What the owner's word did to a thread, by the state it leaves: the event says
# "Von Dir …", the CLI "Vorgang 3 …".
OUTCOMES: dict[State, str] = {
    State.PAID: "als bezahlt geschlossen",
    State.CLOSED: "geschlossen",
    State.PAUSED: "pausiert: keine Schritte, bis Du ihn fortsetzt",
    State.OPEN: "fortgesetzt: die Frist zum nächsten Schritt beginnt jetzt",
}

# An invoice's texts name its number, amount and due date.
_INVOICE_FIELDS = {"invoice_no": "Rechnungsnummer", "amount": "Betrag", "due_date": "Zahlungsziel"}


@dataclass(frozen=True)
class NewThread:
    """A mail the owner sent and wants followed up; an invoice without number, amount or
    due date raises IncompleteInvoice when it is built."""

    kind: Kind
    email: str
    subject: str
    name: str | None = None
    du: bool = False
    anrede: str | None = None  # "frau" | "herr"
    b2c: bool = False
    assistant_email: str | None = None
    started_at: datetime | None = None  # when the mail went out; None: now
    message_id: str | None = None
    invoice_no: str | None = None
    amount: Decimal | None = None
    due_date: date | None = None
    expenses: Decimal | None = None  # auftrag: preparatory work so far

    def __post_init__(self) -> None:
        if self.kind is not Kind.RECHNUNG:
            return
        values = {"invoice_no": self.invoice_no, "amount": self.amount, "due_date": self.due_date}
        # An amount of 0.00 is given; an empty invoice number is not.
        missing = tuple(field for field, value in values.items() if value is None or value == "")
        if missing:
            labels = ", ".join(_INVOICE_FIELDS[field] for field in missing)
            raise IncompleteInvoice(f"Für eine Rechnung fehlt: {labels}", missing)

    def client(self) -> Client:
        return Client(
            email=self.email,
            name=self.name,
            du=self.du,
            assistant_email=self.assistant_email,
            anrede=self.anrede,
            customer_type="b2c" if self.b2c else "b2b",
        )


def track_thread(store: Store, new: NewThread, now: datetime) -> Thread:
    """Store the client (or update them) and a new open thread with its first event; an
    answer synced before the thread existed makes it ``answered`` at once.

    A sending time or due date outside the date window around ``now`` raises
    DateOutOfRange before anything is stored (docs/DESIGN.md, "Input at the door")."""
    if new.started_at is not None:
        check_moment(new.started_at, now)
    if new.due_date is not None:
        check_date(new.due_date, now.date())
    with store.atomic():
        client_id = store.upsert_client(new.client(), now)
        thread_id = store.add_thread(
            kind=new.kind,
            client_id=client_id,
            subject=new.subject,
            started_at=new.started_at or now,
            now=now,
            message_id=new.message_id,
            invoice_no=new.invoice_no,
            amount=new.amount,
            due_date=new.due_date,
            expenses=new.expenses,
        )
        store.add_event(now, f"{KIND_LABELS[new.kind]} aufgenommen", thread_id=thread_id)
        answer_from_synced_mail(store, thread_id, now)
    return _existing(store, thread_id)


def mark_paid(store: Store, thread_id: int, now: datetime) -> Thread:
    """Close an invoice as paid; NotAnInvoice for any other kind of thread."""
    thread = _existing(store, thread_id)
    if thread.kind is not Kind.RECHNUNG:
        raise NotAnInvoice(thread_id)
    return _set_state(store, thread_id, State.PAID, now)


def close_thread(store: Store, thread_id: int, now: datetime) -> Thread:
    """Close a thread: no more steps, waiting drafts are cancelled."""
    _existing(store, thread_id)
    return _set_state(store, thread_id, State.CLOSED, now)


def pause_thread(store: Store, thread_id: int, now: datetime) -> Thread:
    """Hold a thread until the owner resumes it; waiting drafts are cancelled."""
    _existing(store, thread_id)
    return _set_state(store, thread_id, State.PAUSED, now)


def resume_thread(store: Store, thread_id: int, now: datetime) -> Thread:
    """Open a thread again: the wait for the next step starts at ``now``, a "später"
    pause ends, and waiting drafts are cancelled (the next step is drafted anew)."""
    _existing(store, thread_id)
    return _set_state(store, thread_id, State.OPEN, now, last_step_at=now, paused_until=None)


def finish_task(store: Store, task_id: int, now: datetime) -> Task:
    """Mark an open task done; UnknownTask when there is no such open task."""
    with store.atomic():
        task = store.finish_task(task_id)
        if task is None:
            raise UnknownTask(task_id)
        store.add_event(now, f"Aufgabe erledigt: {task.text}", thread_id=task.thread_id)
    return task


def _existing(store: Store, thread_id: int) -> Thread:
    thread = store.thread(thread_id)
    if thread is None:
        raise UnknownThread(thread_id)
    return thread


def _set_state(store: Store, thread_id: int, state: State, now: datetime, **fields: Any) -> Thread:
    with store.atomic():
        store.update_thread(thread_id, now, state=state, **fields)
        for draft in store.drafts(CANCELLABLE_DRAFT_STATES, thread_id):
            store.set_draft_state(draft.id, DraftState.CANCELLED, now)
        store.add_event(
            now, f"Von Dir {OUTCOMES[state]}", thread_id=thread_id, kind=EventKind.OWNER
        )
    return _existing(store, thread_id)
