"""What ``list`` and ``show`` tell about a thread: plain dicts (also the ``--json``
output), read from the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nachfass_bot.adapters.store import FirstDraft, Store, stored_iso, to_iso
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import ACTIVE_DRAFT_STATES, State, TaskState, ThreadFacts
from nachfass_bot.domain.preferences import Preferences
from nachfass_bot.domain.schedule import next_due_at as schedule_due_at
from nachfass_bot.errors import UnknownThread


def next_due_at(
    window: SendingWindow, facts: ThreadFacts, preferences: Preferences, draft: FirstDraft | None
) -> datetime | None:
    """When the bot acts next on the thread: a waiting draft's send time, else the schedule.
    ``draft``: the thread's oldest active draft."""
    if facts.state is not State.OPEN:
        return None
    if draft is not None:
        return draft[1]
    try:
        playbook = preferences.playbook_of(facts.kind, facts.client_email)
        return schedule_due_at(facts, playbook, window)
    except (OverflowError, ValueError):
        # An absurd date in an old row: the next tick pauses the thread; until then
        # list and show still work and simply name no next step.
        return None


def thread_summaries(
    store: Store, window: SendingWindow, preferences: Preferences
) -> list[dict[str, Any]]:
    """``list``: :func:`summary_of` every thread, oldest first, from three queries
    (threads, payments, active drafts) whatever the number of threads."""
    drafts = store.first_drafts(ACTIVE_DRAFT_STATES)
    return [
        summary_of(facts, window, preferences, drafts.get(facts.id))
        for facts in store.thread_facts()
    ]


def thread_summary(
    store: Store, window: SendingWindow, thread_id: int, preferences: Preferences
) -> dict[str, Any]:
    """The JSON object of ``list`` for one thread (``show``, ``track``)."""
    found = store.thread_facts(thread_id)
    if not found:
        raise UnknownThread(thread_id)
    draft = store.first_drafts(ACTIVE_DRAFT_STATES, thread_id).get(thread_id)
    return summary_of(found[0], window, preferences, draft)


def summary_of(
    facts: ThreadFacts, window: SendingWindow, preferences: Preferences, draft: FirstDraft | None
) -> dict[str, Any]:
    """The JSON object of ``list`` and ``show``: plain str, int, bool and None values
    (``cli/jsonout.py`` encodes such rows in one pass)."""
    open_amount = facts.open_amount
    return {
        "id": facts.id,
        "kind": str(facts.kind),
        "state": str(facts.state),
        "step": facts.step,
        "client_email": facts.client_email,
        "client_name": facts.client_name,
        "du": facts.du,
        "subject": facts.subject,
        "started_at": stored_iso(facts.started_text, facts.started_at),
        "next_due_at": to_iso(next_due_at(window, facts, preferences, draft)),
        "answered_at": stored_iso(facts.answered_text, facts.answered_at),
        "answered_folder": facts.answered_folder,
        "paused_until": stored_iso(facts.paused_text, facts.paused_until),
        "draft_state": str(draft[0]) if draft is not None else None,
        "invoice_no": facts.invoice_no,
        "amount": str(facts.amount) if facts.amount is not None else None,
        "open_amount": str(open_amount) if open_amount is not None else None,
        "due_date": facts.due_date.isoformat() if facts.due_date else None,
        "source": str(facts.source),
    }


def thread_detail(
    store: Store, window: SendingWindow, thread_id: int, preferences: Preferences
) -> dict[str, Any]:
    """``show``: the summary plus the event log and open tasks."""
    from nachfass_bot.adapters.ledger import Ledger  # not for list (start-up time)

    detail = thread_summary(store, window, thread_id, preferences)
    detail["events"] = [
        {"at": to_iso(event.at), "kind": event.kind, "text": event.text}
        for event in store.events(thread_id)
    ]
    detail["payments"] = [
        {
            "paid_on": payment.paid_on.isoformat(),
            "amount": str(payment.amount),
            "source": str(payment.source),
        }
        for payment in Ledger(store).payments(thread_id)
    ]
    detail["tasks"] = [
        {"id": task.id, "due_at": to_iso(task.due_at), "text": task.text, "state": task.state}
        for task in store.tasks(TaskState.OPEN, thread_id)
    ]
    return detail
