"""Carrying out the owner's answers to drafts ("ok", "stop", "später 7", "bezahlt").

The poll queues every mail from the owner that answers a draft (seen-verdict
``command-pending``); here each one is read whole, checked (owner's address, the draft's
token, the draft still waiting) and applied in one transaction with its seen-mark, so a
command counts once even when it is seen again in another folder or after a restart.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from .approval import Command, CommandKind, find_token, parse_command, strip_quote, token_tag
from .calendar import SendingWindow
from .errors import MailboxError
from .headers import parse_inbound, plain_text
from .mailbox import Mailbox
from .models import CycleReport, Inbound, Kind, State
from .outbox import Outbox
from .store import Draft, Store
from .texts import Texts
from .views import local_text

log = logging.getLogger(__name__)


class OwnerCommands:
    """Applies queued owner commands against the store."""

    def __init__(
        self,
        *,
        store: Store,
        texts: Texts,
        outbox: Outbox,
        window: SendingWindow,
    ) -> None:
        self.store = store
        self.texts = texts
        self.outbox = outbox
        self.window = window

    def apply(self, mailbox: Mailbox, now: datetime, report: CycleReport) -> None:
        """Carry out every queued command; a mailbox error leaves it queued."""
        for key, folder, uid in self.store.seen_with_verdict("command-pending"):
            try:
                self._apply_one(mailbox, key, folder, uid, now, report)
            except MailboxError as exc:
                report.problems.append(str(exc))
                log.warning("owner command in %s uid %s not readable yet: %s", folder, uid, exc)

    def _apply_one(
        self, mailbox: Mailbox, key: str, folder: str, uid: int, now: datetime, report: CycleReport
    ) -> None:
        raw = mailbox.fetch_message(folder, uid) or b""
        inbound = parse_inbound(raw, folder=folder, uid=uid)
        body = plain_text(raw)
        draft = self._draft_for(inbound, body)
        with self.store.atomic():
            self.store.mark_seen(key, folder, uid, "command", now)
            if draft is None:
                self.store.add_event(
                    now, "Antwort ohne gültiges Entwurfs-Kennzeichen ignoriert", kind="warning"
                )
                return
            if draft.state != "pending":
                self.store.add_event(
                    now,
                    f"Antwort auf Entwurf {token_tag(draft.token)} ignoriert: "
                    f"bereits erledigt ({draft.state})",
                    thread_id=draft.thread_id,
                )
                return
            today = now.astimezone(self.window.zone).date()
            report.commands += 1
            self._dispatch(draft, parse_command(strip_quote(body), today=today), inbound, now)

    def _draft_for(self, inbound: Inbound, body: str) -> Draft | None:
        """The draft whose token the owner's mail carries (subject first, then body)."""
        if inbound.from_addr != self.outbox.owner_email:
            return None
        token = find_token(inbound.subject) or find_token(body)
        return self.store.draft_by_token(token) if token else None

    def _dispatch(self, draft: Draft, command: Command, inbound: Inbound, now: datetime) -> None:
        if command.kind is CommandKind.APPROVE:
            self._approve(draft, now)
        elif command.kind is CommandKind.STOP:
            self._close(
                draft, State.CLOSED, "Du hast „stop“ geantwortet → Vorgang geschlossen", now
            )
        elif command.kind is CommandKind.LATER and (command.days or command.until):
            self._postpone(draft, command.days, command.until, now)
        elif command.kind is CommandKind.PAID and self._is_invoice(draft.thread_id):
            self._close(draft, State.PAID, "Du hast „bezahlt“ geantwortet → Rechnung erledigt", now)
        else:
            self._not_understood(draft, command.text, inbound, now)

    def _approve(self, draft: Draft, now: datetime) -> None:
        send_after = self.window.next_slot(now)
        self.store.set_draft_state(
            draft.id, "approved", now, approved_at=now, send_after=send_after
        )
        self.store.add_event(
            now,
            f"Du hast den Entwurf für Schritt {draft.step_number} freigegeben → "
            f"Versand ab {local_text(send_after, self.window)}",
            thread_id=draft.thread_id,
            kind="approval",
        )

    def _close(self, draft: Draft, state: State, reason: str, now: datetime) -> None:
        self.store.set_draft_state(draft.id, "cancelled", now)
        self.store.update_thread(draft.thread_id, now, state=state)
        self.store.add_event(now, reason, thread_id=draft.thread_id, kind="approval")

    def _is_invoice(self, thread_id: int) -> bool:
        thread = self.store.thread(thread_id)
        return thread is not None and thread.kind is Kind.RECHNUNG

    def _postpone(self, draft: Draft, days: int | None, until: date | None, now: datetime) -> None:
        if until is not None:
            resume = datetime.combine(until, self.window.start, tzinfo=self.window.zone)
        else:
            resume = now + timedelta(days=days or 0)
        self.store.set_draft_state(draft.id, "cancelled", now)
        self.store.update_thread(draft.thread_id, now, paused_until=resume)
        self.store.add_event(
            now,
            f"Du hast „später“ geantwortet → Schritt {draft.step_number} wird ab "
            f"{local_text(resume, self.window)} neu entworfen",
            thread_id=draft.thread_id,
            kind="approval",
        )

    def _not_understood(self, draft: Draft, text: str, inbound: Inbound, now: datetime) -> None:
        excerpt = text.strip().splitlines()[0][:80] if text.strip() else ""
        mail = self.texts.render(
            "owner_not_understood",
            token_tag=token_tag(draft.token),
            draft_subject=draft.subject,
            answer_excerpt=excerpt,
        )
        self.store.add_event(
            now,
            "Deine Antwort auf den Entwurf wurde nicht verstanden → Entwurf wartet weiter",
            thread_id=draft.thread_id,
            kind="approval",
        )
        self.outbox.notify_owner(mail.subject, mail.body, now, draft.thread_id, inbound.message_id)
