"""``nachfass-bot preview``: a client mail exactly as it would go out, nothing sent."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTPUTF8

from nachfass_bot.app.engine import Engine
from nachfass_bot.domain.models import ACTIVE_DRAFT_STATES, Action, Draft, DraftState
from nachfass_bot.domain.schedule import DueStep
from nachfass_bot.errors import NachfassError
from nachfass_bot.texts.compose import new_message_id


def preview_message(engine: Engine, thread_id: int, step: int | None, now: datetime) -> str:
    """Headers and body of the thread's next (or ``step``) client mail, as text.

    A waiting draft is shown as it stands (with the owner's edits); otherwise the step's
    template is rendered now. Nothing is stored or sent.
    """
    stored = engine.store.thread(thread_id)
    if stored is None:
        raise NachfassError(f"Einen Vorgang {thread_id} gibt es nicht.")
    thread = engine.preferences.refine(stored)
    due = _step(engine, thread_id, step, now)
    if due.action is not Action.MAIL:
        return f"Schritt {due.step.number} ist keine Mail, sondern eine Aufgabe: {due.task}"
    draft = _waiting_draft(engine, thread_id, due.index)
    if draft is None:
        recipient, mail = engine.render_client_mail([thread], due, now)
        draft = Draft(
            id=0,
            thread_id=thread_id,
            step_index=due.index,
            step_number=due.step.number,
            token="",
            state=DraftState.NEW,
            recipient=recipient,
            subject=mail.subject,
            body=mail.body,
            draft_message_id="",
            client_message_id=new_message_id(engine.owner_email),
            created_at=now,
            approved_at=None,
            send_after=None,
            sent_at=None,
        )
    return _as_text(engine.outbox.client_message(thread, draft, now))


def _step(engine: Engine, thread_id: int, number: int | None, now: datetime) -> DueStep:
    stored = engine.store.thread(thread_id)
    assert stored is not None
    thread = engine.preferences.refine(stored)
    numbers = [step.number for step in engine.preferences.playbook(thread)]
    index = thread.step
    if number is not None:
        if number not in numbers:
            known = ", ".join(str(n) for n in numbers)
            raise NachfassError(f"Schritt {number} gibt es hier nicht (es gibt {known}).")
        index = numbers.index(number)
    due = engine.step_at(thread, index)
    if due is None:
        raise NachfassError(f"Vorgang {thread_id} hat keinen weiteren Schritt.")
    return due


def _waiting_draft(engine: Engine, thread_id: int, index: int) -> Draft | None:
    for draft in engine.store.drafts(ACTIVE_DRAFT_STATES, thread_id):
        if draft.step_index == index:
            return draft
    return None


def _as_text(message: EmailMessage) -> str:
    """The header block readable (UTF-8, no encoded words) and the decoded body."""
    head = message.as_string(policy=SMTPUTF8).split("\n\n", 1)[0].replace("\r", "")
    body = message.get_content()
    return f"{head}\n\n{body}"
