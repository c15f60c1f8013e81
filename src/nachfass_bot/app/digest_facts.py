"""The facts of one week for the digest, read from the store (and only read).

The week is the seven days before ``now``. What happened in it comes from the drafts
(sent), the event log (answers found, auto-replies, bounces) and the threads (rested or
parked); what stands now from the open drafts, tasks and invoices; what comes next from
the schedule. :mod:`nachfass_bot.texts.digest` turns the facts into the mail.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from nachfass_bot.adapters.ledger import Ledger
from nachfass_bot.adapters.mailbox import JUNK_NAMES, matches_known
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.engine import sending_window
from nachfass_bot.config import Config
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import (
    ACTIVE_DRAFT_STATES,
    LISTENING_STATES,
    Action,
    DraftState,
    EventKind,
    Kind,
    PaymentSource,
    State,
    TaskState,
    Thread,
)
from nachfass_bot.domain.payments import MatchKind
from nachfass_bot.domain.preferences import Preferences
from nachfass_bot.domain.schedule import due_step
from nachfass_bot.texts.digest import (
    RISK_DAYS,
    AnswerItem,
    CreditItem,
    DraftItem,
    InvoiceItem,
    NoticeItem,
    PaymentItem,
    RestItem,
    SentItem,
    TaskItem,
    UpcomingItem,
    WeekFacts,
)
from nachfass_bot.texts.labels import client_label

WEEK = timedelta(days=7)
# An invoice in these states is money still to come (an answer is not a payment).
OPEN_INVOICE_STATES = frozenset({State.OPEN, State.ANSWERED, State.PAUSED, State.PARKED})
# Parts of folder names that mark a junk folder when the server's flags are not at hand.
_JUNK_WORDS = ("spam", "junk", "unerwünscht", "bulk")


def gather_week(store: Store, config: Config, now: datetime) -> WeekFacts:
    """Read everything the digest for the week before ``now`` says."""
    start = now - WEEK
    threads = {thread.id: thread for thread in store.threads()}
    junk = {config.mailbox.junk_folder} if config.mailbox.junk_folder else set()
    window = sending_window(config)
    return WeekFacts(
        start=start,
        end=now,
        timezone=config.sending.timezone,
        owner_name=config.owner.name,
        sent=tuple(sent_items(store, threads, start, now)),
        answers=tuple(answer_items(store, threads, start, now, junk)),
        drafts=tuple(draft_items(store, threads, now)),
        tasks=tuple(task_items(store, threads, now)),
        upcoming=tuple(upcoming_items(store, window, config.preferences, now, threads)),
        invoices=tuple(invoice_items(threads.values(), now)),
        notices=tuple(notice_items(store, threads, start, now)),
        resting=tuple(rest_items(threads.values(), start, now, window)),
        payments=tuple(payment_items(store, start, now)),
        unmatched=tuple(unmatched_items(store, start, now)),
    )


def payment_items(store: Store, start: datetime, end: datetime) -> list[PaymentItem]:
    """Money recorded for invoices in the week ("Zahlungen diese Woche")."""
    return [
        PaymentItem(
            thread_id=row.payment.thread_id,
            client=row.client,
            invoice_no=row.invoice_no or "ohne Nummer",
            amount=row.payment.amount,
            paid_on=row.payment.paid_on,
            from_bank=row.payment.source is PaymentSource.BANK,
        )
        for row in Ledger(store).payments_between(start, end)
    ]


def unmatched_items(store: Store, start: datetime, end: datetime) -> list[CreditItem]:
    """Credits imported in the week that pay no invoice, and those the owner said "nein"
    to; open questions are listed once answered."""
    return [
        CreditItem(
            booked=stored.booking.booked, amount=stored.booking.amount, payer=stored.booking.payer
        )
        for stored in Ledger(store).bookings_between(start, end, [MatchKind.UNMATCHED])
    ]


def is_junk_folder(folder: str, configured: Collection[str] = ()) -> bool:
    """True for the configured junk folder and the usual junk names (Spam, Junk-E-Mail,
    Unerwünscht, ``[Gmail]/Spam`` …). The store keeps the folder name only, not the
    server's ``\\Junk`` flag, so a junk folder with an unusual name needs the config."""
    if matches_known(folder, (*configured, *JUNK_NAMES)):  # INBOX.Spam too
        return True
    return any(word in folder.lower() for word in _JUNK_WORDS)


def sent_items(
    store: Store, threads: dict[int, Thread], start: datetime, end: datetime
) -> list[SentItem]:
    """Client mails sent in the week; ``unclear`` ones may or may not have gone out."""
    items = []
    for draft in store.drafts_sent_between(start, end):  # the week's, in SQL
        assert draft.sent_at is not None  # the query asked for a sent_at in the week
        thread = threads.get(draft.thread_id)
        items.append(
            SentItem(
                thread_id=draft.thread_id,
                client=client_label(thread),
                subject=thread.subject if thread else draft.subject,
                step_number=draft.step_number,
                recipient=draft.recipient,
                at=draft.sent_at,
                unclear=draft.state is DraftState.UNCLEAR,
            )
        )
    return items


def answer_items(
    store: Store,
    threads: dict[int, Thread],
    start: datetime,
    end: datetime,
    junk: Collection[str],
) -> list[AnswerItem]:
    """Threads whose answer was found in the week, with the folder it lay in."""
    items: dict[int, AnswerItem] = {}
    for event in store.events_between(start, end, [EventKind.ANSWER]):
        thread = threads.get(event.thread_id) if event.thread_id is not None else None
        if thread is None:
            continue
        folder = thread.answered_folder or "INBOX"
        items[thread.id] = AnswerItem(
            thread_id=thread.id,
            client=client_label(thread),
            subject=thread.subject,
            at=thread.answered_at or event.at,
            folder=folder,
            in_spam=is_junk_folder(folder, junk),
        )
    return sorted(items.values(), key=lambda item: (not item.in_spam, item.at))


def draft_items(store: Store, threads: dict[int, Thread], end: datetime) -> list[DraftItem]:
    """Drafts waiting for the owner's yes, oldest first."""
    items = []
    for draft in store.drafts([DraftState.NEW, DraftState.PENDING]):
        if draft.created_at > end:  # a digest for an earlier week (``--now``)
            continue
        thread = threads.get(draft.thread_id)
        items.append(
            DraftItem(
                thread_id=draft.thread_id,
                client=client_label(thread),
                subject=thread.subject if thread else draft.subject,
                step_number=draft.step_number,
                created_at=draft.created_at,
            )
        )
    return sorted(items, key=lambda item: (item.created_at, item.thread_id))


def task_items(store: Store, threads: dict[int, Thread], end: datetime) -> list[TaskItem]:
    """Open tasks of threads that still wait for the client (an answer makes a call moot)."""
    items = []
    for task in store.tasks(TaskState.OPEN):
        thread = threads.get(task.thread_id)
        if thread is None or thread.state not in LISTENING_STATES or task.due_at > end:
            continue
        items.append(
            TaskItem(
                thread_id=thread.id,
                client=client_label(thread),
                subject=thread.subject,
                text=task.text,
                due_at=task.due_at,
            )
        )
    return items


def upcoming_items(
    store: Store,
    window: SendingWindow,
    preferences: Preferences,
    now: datetime,
    threads: dict[int, Thread] | None = None,
) -> list[UpcomingItem]:
    """What the bot does in the coming seven days (or has overdue), thread by thread;
    ``threads``: every thread by id, when the caller has read them already."""
    items = []
    active = store.drafts_by_thread(ACTIVE_DRAFT_STATES)  # one query, not one per thread
    known = threads.values() if threads is not None else store.threads([State.OPEN])
    for stored in (thread for thread in known if thread.state is State.OPEN):
        thread = preferences.refine(stored)
        drafts = active.get(thread.id)
        if drafts:
            draft = drafts[0]
            if draft.state is DraftState.APPROVED and (draft.send_after or now) < now + WEEK:
                items.append(_upcoming(thread, "send", draft.step_number, draft.send_after or now))
            continue
        due = due_step(thread, window, preferences.playbook(thread))
        if due is None or due.due_at >= now + WEEK:
            continue
        action = {Action.MAIL: "mail", Action.TASK: "task", Action.REST: "rest"}.get(
            due.action, "park"
        )
        items.append(
            _upcoming(
                thread, action, due.step.number, due.due_at, template=due.template, task=due.task
            )
        )
    return items


def _upcoming(
    thread: Thread,
    action: str,
    step_number: int,
    due_at: datetime,
    *,
    template: str | None = None,
    task: str | None = None,
) -> UpcomingItem:
    return UpcomingItem(
        thread_id=thread.id,
        client=client_label(thread),
        subject=thread.subject,
        action=action,
        step_number=step_number,
        due_at=due_at,
        template=template,
        task=task,
    )


def invoice_items(threads: Collection[Thread], now: datetime) -> list[InvoiceItem]:
    """Invoices still open, and every invoice sent within the risk view's 90 days."""
    since = now - timedelta(days=RISK_DAYS)
    items = []
    for thread in threads:
        if thread.kind is not Kind.RECHNUNG or thread.amount is None or thread.started_at > now:
            continue
        is_open = thread.state in OPEN_INVOICE_STATES
        if not is_open and thread.started_at < since:
            continue
        items.append(
            InvoiceItem(
                thread_id=thread.id,
                client_key=thread.client.email.lower(),
                client=client_label(thread),
                invoice_no=thread.invoice_no or "ohne Nummer",
                amount=thread.amount,
                open_amount=thread.open_amount,
                due_date=thread.due_date,
                billed_at=thread.started_at,
                open=is_open,
            )
        )
    return items


def notice_items(
    store: Store, threads: dict[int, Thread], start: datetime, end: datetime
) -> list[NoticeItem]:
    """Auto-replies and bounces of the week, from the event log."""
    return [
        NoticeItem(
            thread_id=event.thread_id,
            client=client_label(threads.get(event.thread_id) if event.thread_id else None),
            kind=event.kind,
            at=event.at,
            text=event.text,
        )
        for event in store.events_between(start, end, [EventKind.AUTO_REPLY, EventKind.BOUNCE])
    ]


def rest_items(
    threads: Collection[Thread], start: datetime, end: datetime, window: SendingWindow
) -> list[RestItem]:
    """Threads that went to rest or were parked in the week; in the first digest of a
    month also every thread parked before (docs/DESIGN.md, "Weekly digest")."""
    monthly = end.astimezone(window.zone).day <= 7
    items = []
    for thread in threads:
        if thread.state not in (State.RESTING, State.PARKED):
            continue
        since = thread.last_step_at or thread.started_at
        new = start <= since < end
        parked = thread.state is State.PARKED
        if not (new or (parked and monthly and since < start)):
            continue
        items.append(
            RestItem(
                thread_id=thread.id,
                client=client_label(thread),
                subject=thread.subject,
                parked=parked,
                since=since,
                reminder=not new,
            )
        )
    return sorted(items, key=lambda item: (item.reminder, item.since))
