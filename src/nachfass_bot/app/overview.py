"""What ``list`` and ``show`` tell about a thread: plain dicts (also the ``--json``
output), read from the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from nachfass_bot.adapters.ledger import Ledger
from nachfass_bot.adapters.store import Store, to_iso
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import ACTIVE_DRAFT_STATES, Draft, State, TaskState, Thread
from nachfass_bot.domain.preferences import Preferences
from nachfass_bot.domain.schedule import due_step


def next_due_at(
    window: SendingWindow, thread: Thread, preferences: Preferences, drafts: Sequence[Draft]
) -> datetime | None:
    """When the bot acts next on the thread: a waiting draft's send time, else the schedule.
    ``drafts``: the thread's active drafts, oldest first."""
    if thread.state is not State.OPEN:
        return None
    if drafts:
        return drafts[0].send_after
    try:
        due = due_step(preferences.refine(thread), window, preferences.playbook(thread))
    except (OverflowError, ValueError):
        # An absurd date in an old row: the next tick pauses the thread; until then
        # list and show still work and simply name no next step.
        return None
    return due.due_at if due else None


def thread_summaries(
    store: Store, window: SendingWindow, preferences: Preferences
) -> list[dict[str, Any]]:
    """``list``: :func:`thread_summary` of every thread, oldest first, from two queries
    (threads, active drafts) whatever the number of threads."""
    drafts = store.drafts_by_thread(ACTIVE_DRAFT_STATES)
    return [
        thread_summary(store, window, thread, preferences, drafts.get(thread.id, []))
        for thread in store.threads()
    ]


def thread_summary(
    store: Store,
    window: SendingWindow,
    thread: Thread,
    preferences: Preferences,
    drafts: Sequence[Draft] | None = None,
) -> dict[str, Any]:
    """The JSON object of ``list`` and ``show``; ``drafts``, the thread's active drafts,
    are read from the store when not given."""
    if drafts is None:
        drafts = store.drafts(ACTIVE_DRAFT_STATES, thread.id)
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
        "next_due_at": to_iso(next_due_at(window, thread, preferences, drafts)),
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


def thread_detail(
    store: Store, window: SendingWindow, thread: Thread, preferences: Preferences
) -> dict[str, Any]:
    """``show``: the summary plus the event log and open tasks."""
    detail = thread_summary(store, window, thread, preferences)
    detail["events"] = [
        {"at": to_iso(event.at), "kind": event.kind, "text": event.text}
        for event in store.events(thread.id)
    ]
    detail["payments"] = [
        {
            "paid_on": payment.paid_on.isoformat(),
            "amount": str(payment.amount),
            "source": str(payment.source),
        }
        for payment in Ledger(store).payments(thread.id)
    ]
    detail["tasks"] = [
        {"id": task.id, "due_at": to_iso(task.due_at), "text": task.text, "state": task.state}
        for task in store.tasks(TaskState.OPEN, thread.id)
    ]
    return detail
