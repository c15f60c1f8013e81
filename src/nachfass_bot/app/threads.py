"""The owner's word on threads and tasks: track a new thread, mark it paid, close, pause,
resume it, finish a task (docs/DESIGN.md, "Thread states").

Plain functions over a Store; each takes ``now`` from its caller and does its writes in
one transaction. A request that cannot be carried out raises a NachfassError subclass
whose German message the CLI prints as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from nachfass_bot.adapters.store import Store
from nachfass_bot.app.inbox import answer_from_synced_mail
from nachfass_bot.app.payments import record_owner_payment
from nachfass_bot.domain.dates import check_date, check_moment
from nachfass_bot.domain.models import (
    CANCELLABLE_DRAFT_STATES,
    Client,
    DraftState,
    EventKind,
    Kind,
    Source,
    State,
    Task,
    Thread,
)
from nachfass_bot.domain.money import parse_amount
from nachfass_bot.errors import (
    IncompleteInvoice,
    InvalidField,
    InvalidInput,
    NotAnInvoice,
    UnknownTask,
    UnknownThread,
)
from nachfass_bot.mail.address import parse_address
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
    source: Source = Source.CLI
    first_delay_days: int | None = None  # "+10tage" on the tracking address
    not_before: datetime | None = None  # no step before this (the owner's time to veto)

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


@dataclass(frozen=True)
class ThreadEntry:
    """A new thread as a person wrote it: the options of ``track`` or one row of an
    import file. Values are text as typed; only the dates come read already, because
    their written form is the caller's (ISO options, German cells). A naive ``sent_at``
    is the owner's local time."""

    kind: str
    email: str
    subject: str
    name: str | None = None
    du: bool = False
    anrede: str | None = None
    b2c: bool = False
    assistant: str | None = None
    sent_at: datetime | None = None
    message_id: str | None = None
    invoice_no: str | None = None
    amount: str | None = None
    due: date | None = None
    expenses: str | None = None


_T = TypeVar("_T")
_ANREDEN = ("frau", "herr")


def read_entry(entry: ThreadEntry, now: datetime, zone: ZoneInfo) -> NewThread:
    """The one check of a new thread's values (docs/DESIGN.md, "Input at the door"),
    shared by ``track`` and ``import``: kind, addresses (:func:`parse_address`), amounts
    (:func:`parse_amount`), dates in the window around ``now``, an invoice's number,
    amount and due date.

    The first refused value raises InvalidField naming its field (``kind``, ``email``,
    ``amount``, ``due``, ``sent_at``, ``assistant``, ``expenses``, ``anrede``), a
    missing invoice value IncompleteInvoice. Amount and due date belong to an invoice;
    other kinds ignore them, unread."""
    kind = _field("kind", lambda: _kind(entry.kind))
    amount = due = None
    if kind is Kind.RECHNUNG:
        amount = _field("amount", lambda: _amount(entry.amount))
        due = _field("due", lambda: _day(entry.due, now))
    started_at = _field("sent_at", lambda: _moment(entry.sent_at, now, zone))
    email = _field("email", lambda: parse_address(entry.email))
    assistant = _field("assistant", lambda: _address(entry.assistant))
    anrede = _field("anrede", lambda: _anrede(entry.anrede))
    return NewThread(
        kind=kind,
        email=email,
        subject=entry.subject,
        name=entry.name or None,
        du=entry.du,
        anrede=anrede,
        b2c=entry.b2c,
        assistant_email=assistant,
        started_at=started_at,
        message_id=_message_id(entry.message_id),
        invoice_no=entry.invoice_no or None,
        amount=amount,
        due_date=due,
        expenses=_field("expenses", lambda: _amount(entry.expenses)),
    )


def _field(name: str, check: Callable[[], _T]) -> _T:
    """Run one check; a refusal names the field it concerns."""
    try:
        return check()
    except InvalidField:
        raise
    except InvalidInput as exc:
        raise InvalidField(name, str(exc)) from None


def _kind(text: str) -> Kind:
    value = text.strip().lower()
    if value not in {kind.value for kind in Kind}:
        choices = ", ".join(kind.value for kind in Kind)
        raise InvalidInput(f"„{text}“ ist keine Art von Vorgang: {choices}")
    return Kind(value)


def _amount(text: str | None) -> Decimal | None:
    return parse_amount(text) if text else None


def _day(day: date | None, now: datetime) -> date | None:
    return check_date(day, now.date()) if day is not None else None


def _moment(moment: datetime | None, now: datetime, zone: ZoneInfo) -> datetime | None:
    """Checked as written (see :func:`check_moment`), then placed in the owner's zone."""
    if moment is None:
        return None
    check_moment(moment, now)
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def _address(text: str | None) -> str | None:
    return parse_address(text) if text else None


def _anrede(text: str | None) -> str | None:
    if not text:
        return None
    value = text.strip().lower()
    if value not in _ANREDEN:
        raise InvalidInput(f"„{text}“ ist keine Anrede: frau oder herr (oder leer lassen)")
    return value


def _message_id(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    value = value.strip()
    return value if value.startswith("<") else f"<{value}>"


def track_thread(store: Store, new: NewThread, now: datetime) -> Thread:
    """Store the client (or update them) and a new open thread with its first event; an
    answer synced before the thread existed makes it ``answered`` at once.

    A sending time or due date outside the date window around ``now`` raises
    DateOutOfRange before anything is stored (docs/DESIGN.md, "Input at the door")."""
    if new.started_at is not None:
        check_moment(new.started_at, now)
    if new.due_date is not None:
        check_date(new.due_date, now.date())
    thread_id = store_new_thread(store, new, now)  # one transaction
    return _existing(store, thread_id)


def store_new_thread(store: Store, new: NewThread, now: datetime) -> int:
    """The writes of :func:`track_thread` in one transaction, or in the caller's (an
    import stores a whole file in one): the client, the thread, its first event, and
    the look back for an answer synced before it existed. Returns the thread's id."""
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
            source=new.source,
            first_delay_days=new.first_delay_days,
        )
        if new.not_before is not None:
            store.update_thread(thread_id, now, paused_until=new.not_before)
        store.add_event(
            now,
            f"{KIND_LABELS[new.kind]} aufgenommen{_SOURCE_NOTES[new.source]}",
            thread_id=thread_id,
        )
        answer_from_synced_mail(store, thread_id, now)
    return thread_id


_SOURCE_NOTES = {
    Source.SENT: " (im Ordner Gesendet erkannt)",
    Source.BCC: " (Kopie an die Nachfass-Adresse)",
    Source.CLI: "",
    Source.SCAN: " (mit „scan“ im Ordner Gesendet gefunden)",
    Source.IMPORT: " (aus einer Liste importiert)",
}


def mark_paid(store: Store, thread_id: int, now: datetime, amount: Decimal | None = None) -> Thread:
    """Close an invoice as paid; NotAnInvoice for any other kind of thread. With
    ``amount`` (``paid ID --amount 500,00``) that much is recorded as received: less than
    open is a partial payment (the thread stays as it is, later mails name the open
    remainder), the rest or more closes it as paid."""
    thread = _existing(store, thread_id)
    if thread.kind is not Kind.RECHNUNG:
        raise NotAnInvoice(thread_id)
    if amount is not None:
        record_owner_payment(store, thread, amount, now.date(), now, "Von Dir eingetragen")
        return _existing(store, thread_id)
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
