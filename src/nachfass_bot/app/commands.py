"""Carrying out the owner's answers to drafts ("ok", "stop", "später 7", "bezahlt").

The poll queues every mail from the owner that answers a draft (role ``command``,
verdict ``command-pending``), from whichever folder shows it first: Sent or an inbound
folder. Here each one is read whole, checked (owner's address, the draft's token, the
draft still waiting) and applied in one transaction with its seen-mark, so a command
counts once even when it is seen again in another folder or after a restart.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from nachfass_bot.adapters.ledger import Ledger
from nachfass_bot.adapters.mailbox import Mailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.inbox import BOUNCE_TASK_STEP
from nachfass_bot.app.outbox import Outbox, mail_ref
from nachfass_bot.app.payments import Payments, record_owner_payment
from nachfass_bot.app.threads import resume_thread
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.dates import date_window, german_date
from nachfass_bot.domain.models import (
    LISTENING_STATES,
    CommandKind,
    CycleReport,
    Draft,
    DraftState,
    EventKind,
    Inbound,
    Kind,
    Recognition,
    SeenRole,
    SettingKey,
    State,
    Task,
    VerdictKind,
    warned_key,
)
from nachfass_bot.errors import MailboxError, NachfassError
from nachfass_bot.mail.approval import (
    Command,
    ResumeRequest,
    check_reply,
    parse_command,
    parse_owner_request,
    parse_resume,
    token_tag,
)
from nachfass_bot.mail.headers import plain_text
from nachfass_bot.mail.inbound import parse_inbound
from nachfass_bot.texts.labels import STATE_LABELS, moment_text
from nachfass_bot.texts.render import RenderedMail, format_date_long

log = logging.getLogger(__name__)

STALE_DRAFT = timedelta(days=2)  # an approval after this renders the text again


class TrackerReplies(Protocol):
    """The owner's answer to a "Neu aufgenommen" mail (app/tracking.py)."""

    def apply_reply(
        self, recognitions: list[Recognition], body: str, inbound: Inbound, now: datetime
    ) -> bool: ...


class OwnerCommands:
    """Applies queued owner commands against the store."""

    def __init__(
        self,
        *,
        store: Store,
        outbox: Outbox,
        window: SendingWindow,
        fresh_text: Callable[[Draft, datetime], RenderedMail | None] | None = None,
        tracker: TrackerReplies | None = None,
        payments: Payments | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.window = window
        self.fresh_text = fresh_text
        self.tracker = tracker
        self.payments = payments
        self.ledger = Ledger(store)

    def apply(self, mailbox: Mailbox, now: datetime, report: CycleReport) -> None:
        """Carry out every queued command; a mailbox error leaves it queued."""
        for key, folder, uid in self.store.seen_with_verdict(VerdictKind.COMMAND_PENDING):
            try:
                self._apply_one(mailbox, key, folder, uid, now, report)
            except MailboxError as exc:
                report.problems.append(str(exc))
                log.warning("owner command in %s uid %s not readable yet: %s", folder, uid, exc)
            except NachfassError as exc:
                # E.g. a template broken since the draft was made: the command stays
                # queued (nothing was committed) and the rest of the cycle goes on.
                report.problems.append(str(exc))
                log.error("owner command in %s uid %s failed: %s", folder, uid, exc)

    def _apply_one(
        self, mailbox: Mailbox, key: str, folder: str, uid: int, now: datetime, report: CycleReport
    ) -> None:
        raw = mailbox.fetch_message(folder, uid)
        if raw is None:
            # Gone (deleted or moved) before it was read: the next copy of the mail, e.g.
            # the delivered one after the Sent one, takes the command on instead.
            self.store.forget_seen(key, SeenRole.COMMAND)
            log.warning("owner command in %s uid %s is gone; a later copy counts", folder, uid)
            return
        inbound = parse_inbound(raw, folder=folder, uid=uid)
        body = plain_text(raw)
        today = now.astimezone(self.window.zone).date()
        with self.store.atomic():
            self.store.mark_seen(key, SeenRole.COMMAND, folder, uid, VerdictKind.COMMAND, now)
            if inbound.from_addr != self.outbox.owner_email:
                return  # the poll queues only the owner's mail; never act on anyone else's
            check = check_reply(raw, self.outbox.owner_email)
            token = check.token
            draft = self.store.draft_by_token(token) if token else None
            if check.refusal:
                self.warn_rejected(draft, check.refusal, now)
            elif draft is not None:
                self._draft_command(draft, body, inbound, today, now, report)
            elif token and (task := self.store.task_by_token(token)) is not None:
                self._task_command(task, body, today, now, report)
            elif token and (listed := self.store.recognitions_by_token(token)) and self.tracker:
                if self.tracker.apply_reply(listed, body, inbound, now):
                    report.commands += 1
            elif token and self.payments and (asked := self.ledger.question_by_token(token)):
                if self.payments.apply_answer(asked, body, inbound, now):
                    report.commands += 1
            elif token or self._replies_to_draft(inbound):
                self.warn_rejected(
                    None, "das Kennzeichen des Entwurfs fehlt oder stimmt nicht", now
                )
            else:
                self._owner_request(inbound, body, today, now)

    def _draft_command(
        self,
        draft: Draft,
        body: str,
        inbound: Inbound,
        today: date,
        now: datetime,
        report: CycleReport,
    ) -> None:
        if draft.state is not DraftState.PENDING:
            # A second answer to the same draft (or a replay): the first one counted. The
            # same mail in a second folder never gets here (seen per role).
            self.store.add_event(
                now,
                f"Antwort auf Entwurf {token_tag(draft.token)} ignoriert: "
                f"bereits erledigt ({draft.state})",
                thread_id=draft.thread_id,
            )
            return
        report.commands += 1
        command = parse_command(body, today=today, draft_body=draft.body, token=draft.token)
        self._dispatch(draft, command, inbound, now)

    def _task_command(
        self, task: Task, body: str, today: date, now: datetime, report: CycleReport
    ) -> None:
        """ "erledigt" or "ok" in answer to a task reminder closes the task, "bezahlt" on an
        invoice's task also closes the invoice as paid; anything else gets a short
        "nicht verstanden" mail that lists the words."""
        resume = parse_resume(body) if task.step_index == BOUNCE_TASK_STEP else None
        if resume is not None:
            self._resume_after_bounce(task, resume, now, report)
            return
        command = parse_command(body, today=today)
        invoice = self._is_invoice(task.thread_id)
        paid = command.kind is CommandKind.PAID and invoice
        if command.kind not in (CommandKind.DONE, CommandKind.APPROVE) and not paid:
            words = "„erledigt“, „ok“" + (" oder „bezahlt“" if invoice else "")
            text = f"Antwort auf eine Aufgabe nicht verstanden (erwartet: {words})"
            self.store.add_event(now, text, thread_id=task.thread_id, kind=EventKind.WARNING)
            answer = hashlib.sha256(body.encode("utf-8", "replace")).hexdigest()[:16]
            self.outbox.notify_owner(
                "owner_alert", now, key=f"not-understood:task {task.id}:{answer}",
                headline="Antwort auf eine Aufgabe nicht verstanden",
                message=(
                    f"Deine Antwort zur Aufgabe „{task.text}“ habe ich nicht verstanden. "
                    f"Antworte bitte noch einmal auf die Aufgaben-Mail mit {words} in der "
                    f"ersten Zeile, oder schreib „nachfass-bot done {task.id}“."
                ),
                thread_id=task.thread_id, client_label=None,
            )  # fmt: skip
            return
        if self.store.finish_task(task.id) is not None:
            report.commands += 1
            self.store.add_event(now, f"Aufgabe erledigt: {task.text}", thread_id=task.thread_id)
        if paid:
            self.store.update_thread(task.thread_id, now, state=State.PAID)
            self.store.add_event(
                now, "Von Dir als bezahlt markiert (Antwort auf die Aufgabe)",
                thread_id=task.thread_id, kind=EventKind.OWNER,
            )  # fmt: skip

    def _resume_after_bounce(
        self, task: Task, resume: ResumeRequest, now: datetime, report: CycleReport
    ) -> None:
        """ "weiter" (the address was right) or "weiter neue@adresse.de" in answer to a
        bounce alert: the thread goes on, at the new address if one was given."""
        thread = self.store.thread(task.thread_id)
        if thread is None:
            return
        if resume.problem is not None:
            self.outbox.notify_owner(
                "owner_alert", now, key=f"not-understood:task {task.id}:{resume.problem}",
                headline="Adresse nicht verstanden",
                message=(
                    f"{resume.problem}. Der Vorgang bleibt pausiert. Antworte bitte noch "
                    "einmal auf die Mail „kam nicht an“ mit „weiter neue@adresse.de“."
                ),
                thread_id=thread.id, client_label=None,
            )  # fmt: skip
            return
        where = ""
        if resume.address and resume.address != thread.client.email:
            moved = replace(thread.client, email=resume.address, id=None)
            self.store.update_thread(thread.id, now, client_id=self.store.upsert_client(moved, now))
            where = f", ab jetzt an {resume.address}"
        resume_thread(self.store, thread.id, now)
        self.store.finish_task(task.id)
        report.commands += 1
        text = f"Von Dir fortgesetzt (Antwort „weiter“ auf die Meldung „kam nicht an“){where}"
        self.store.add_event(now, text, thread_id=thread.id, kind=EventKind.OWNER)
        self.outbox.notify_owner(
            "owner_alert", now, key=f"resumed:task {task.id}",
            headline=f"Vorgang {thread.id} geht weiter",
            message=(
                f"Vorgang {thread.id} geht weiter{where}. Der nächste Schritt kommt nach "
                "seiner Wartezeit; den Entwurf bekommst Du wie immer vorher zum Ok."
            ),
            thread_id=thread.id, client_label=None,
        )  # fmt: skip

    def _replies_to_draft(self, inbound: Inbound) -> bool:
        return any(self.store.draft_by_message_id(mid) for mid in inbound.in_reply_to)

    def warn_rejected(self, draft: Draft | None, why: str, now: datetime) -> None:
        """Nothing happens; the owner is warned once per draft (once in all for others)."""
        thread_id = draft.thread_id if draft else None
        self.store.add_event(
            now, f"Eine Antwort auf einen Entwurf habe ich abgelehnt: {why}. Nichts gesendet.",
            thread_id=thread_id, kind=EventKind.WARNING,
        )  # fmt: skip
        log.warning("rejected an owner command: %s", why)
        warned = warned_key(draft.id if draft else None)
        if self.store.setting(warned):
            return
        self.store.set_setting(warned, now.isoformat(), now)
        self.outbox.notify_owner(
            "owner_alert",
            now,
            key=warned,
            headline="Eine Antwort auf einen Entwurf wurde nicht ausgeführt",
            message=(
                f"Eine Mail mit Deiner Absenderadresse wollte einen Entwurf freigeben oder "
                f"ändern, aber {why}. Ich habe nichts gesendet. Warst Du das, antworte bitte "
                "direkt auf die Entwurfs-Mail. Warst Du es nicht, schreibt jemand in Deinem "
                "Namen: bitte prüfe Dein Postfach."
            ),
            thread_id=thread_id,
            client_label=None,
        )

    def _owner_request(self, inbound: Inbound, body: str, today: date, now: datetime) -> None:
        request = parse_owner_request(inbound.subject, body, today=today)
        if request is None:
            return  # a note the owner sent to herself
        if request.kind is CommandKind.VACATION and request.until is not None:
            self._vacation(request.until, mail_ref(inbound), now)
        elif request.kind is CommandKind.STATUS:
            self._status(mail_ref(inbound), now)
        elif request.kind is CommandKind.UNKNOWN:
            self._request_not_understood(request.text, mail_ref(inbound), now)

    def _vacation(self, until: date, ref: str, now: datetime) -> None:
        self.store.set_setting(SettingKey.VACATION_UNTIL, until.isoformat(), now)
        text = (
            f"Urlaub eingetragen bis einschließlich {format_date_long(until, self.window.zone)}: "
            "bis dahin geht keine Mail an Kunden raus, danach geht es normal weiter."
        )
        self.store.add_event(now, text, kind=EventKind.APPROVAL)
        self.outbox.notify_owner(
            "owner_alert", now, key=f"vacation:{ref}", headline="Urlaub eingetragen",
            message=text, thread_id=None, client_label=None,
        )  # fmt: skip

    def _request_not_understood(self, line: str, ref: str, now: datetime) -> None:
        """ "urlaub bis …" with a day that is impossible, past or too far away
        (docs/DESIGN.md, "Input at the door"): nothing changes, the owner is told."""
        first, last = date_window(now.astimezone(self.window.zone).date())
        text = (
            f"„{line[:80]}“ habe ich nicht verstanden: das Datum gibt es nicht, es liegt in "
            f"der Vergangenheit oder nicht zwischen {german_date(first)} und "
            f"{german_date(last)}. Es wurde nichts eingetragen. Schreib zum Beispiel "
            "„urlaub bis 06.01.“ an Deine eigene Adresse."
        )
        self.store.add_event(now, text, kind=EventKind.WARNING)
        self.outbox.notify_owner(
            "owner_alert", now, key=f"not-understood:request:{ref}",
            headline="Nicht verstanden", message=text, thread_id=None, client_label=None,
        )  # fmt: skip

    def _status(self, ref: str, now: datetime) -> None:
        threads = [
            {
                "id": thread.id,
                "label": thread.client.name or thread.client.email,
                "subject": thread.subject,
                "state": STATE_LABELS[thread.state],
                "step": thread.step,
            }
            for thread in self.store.threads(sorted(LISTENING_STATES))
        ]
        self.outbox.notify_owner(
            "owner_status", now, key=f"status:{ref}", threads=threads,
            vacation=self._vacation_text(),
        )  # fmt: skip

    def _vacation_text(self) -> str | None:
        until = self.store.setting(SettingKey.VACATION_UNTIL)
        if until is None:
            return None
        return format_date_long(date.fromisoformat(until), self.window.zone)

    def _dispatch(self, draft: Draft, command: Command, inbound: Inbound, now: datetime) -> None:
        if command.kind is CommandKind.APPROVE:
            self._approve(draft, now)
        elif command.kind is CommandKind.STOP:
            self._close(
                draft, State.CLOSED, "Du hast „stop“ geantwortet; der Vorgang ist geschlossen.", now
            )
        elif command.kind is CommandKind.LATER and (command.days or command.until):
            self._postpone(draft, command.days, command.until, now)
        elif command.kind is CommandKind.EDIT:
            self._approve(draft, now, body=command.text)
        elif command.kind is CommandKind.PAID and command.amount is not None:
            self._partly_paid(draft, command.amount, inbound, now)
        elif command.kind is CommandKind.PAID and self._is_invoice(draft.thread_id):
            self._close(
                draft, State.PAID, "Du hast „bezahlt“ geantwortet; die Rechnung ist erledigt.", now
            )
        else:
            self._not_understood(draft, command, inbound, now)

    def _approve(self, draft: Draft, now: datetime, body: str | None = None) -> None:
        """Send at the next allowed time; ``body`` is the owner's own text, if any
        (subject and threading stay)."""
        send_after = self.window.next_slot(now)
        changes: dict[str, object] = {"approved_at": now, "send_after": send_after}
        what = "freigegeben"
        if body is not None:
            changes["body"] = "\n".join(line.rstrip() for line in body.strip().splitlines()) + "\n"
            what = "durch Deinen Text ersetzt"
        else:
            changes.update(self._refreshed(draft, now))
            if "body" in changes:
                what = "freigegeben (Daten darin auf heute aktualisiert, er war älter)"
        self.store.set_draft_state(draft.id, DraftState.APPROVED, now, **changes)
        self.store.add_event(
            now,
            f"Du hast den Entwurf für Schritt {draft.step_number} {what}; er geht frühestens "
            f"am {moment_text(send_after, self.window)} raus.",
            thread_id=draft.thread_id,
            kind=EventKind.APPROVAL,
        )

    def _refreshed(self, draft: Draft, now: datetime) -> dict[str, object]:
        """An older draft gets today's dates (a payment date must not lie in the past), and
        a draft made before a payment came names the open remainder, not the old amount;
        the owner's wording is the template's, so only such facts can differ."""
        if self.fresh_text is None:
            return {}
        paid_since = self.ledger.paid_since(draft.thread_ids, draft.created_at)
        if now - draft.created_at < STALE_DRAFT and not paid_since:
            return {}
        try:
            fresh = self.fresh_text(draft, now)
        except NachfassError as exc:
            log.warning("draft %s kept its text, rendering it again failed: %s", draft.id, exc)
            return {}
        if fresh is None or (fresh.subject, fresh.body) == (draft.subject, draft.body):
            return {}
        return {"subject": fresh.subject, "body": fresh.body}

    def _close(self, draft: Draft, state: State, reason: str, now: datetime) -> None:
        """Close every thread the draft speaks for (one mail may cover several invoices)."""
        self.store.set_draft_state(draft.id, DraftState.CANCELLED, now)
        for thread_id in draft.thread_ids:
            self.store.update_thread(thread_id, now, state=state)
            self.store.add_event(now, reason, thread_id=thread_id, kind=EventKind.APPROVAL)

    def _partly_paid(self, draft: Draft, amount: Decimal, inbound: Inbound, now: datetime) -> None:
        """ "bezahlt 500": the amount is recorded for the draft's (first) invoice. The draft
        asked for the old amount, so it is cancelled; the same step is drafted again in
        this cycle's decide, naming the open remainder (or not at all, once paid)."""
        thread = self.store.thread(draft.thread_id)
        if thread is None or thread.kind is not Kind.RECHNUNG:
            self._not_understood(draft, Command(CommandKind.UNKNOWN, text="bezahlt"), inbound, now)
            return
        self.store.set_draft_state(draft.id, DraftState.CANCELLED, now)
        today = now.astimezone(self.window.zone).date()
        remainder = record_owner_payment(
            self.store, thread, amount, today, now, "Du hast „bezahlt“ mit Betrag geantwortet"
        )
        if remainder > 0:
            self.store.add_event(
                now,
                f"Entwurf für Schritt {draft.step_number} verworfen: er kommt neu, mit dem "
                "offenen Rest",
                thread_id=thread.id,
                kind=EventKind.APPROVAL,
            )

    def _is_invoice(self, thread_id: int) -> bool:
        thread = self.store.thread(thread_id)
        return thread is not None and thread.kind is Kind.RECHNUNG

    def _postpone(self, draft: Draft, days: int | None, until: date | None, now: datetime) -> None:
        if until is not None:
            resume = datetime.combine(until, self.window.start, tzinfo=self.window.zone)
        else:
            resume = now + timedelta(days=days or 0)
        self.store.set_draft_state(draft.id, DraftState.CANCELLED, now)
        self.store.update_thread(draft.thread_id, now, paused_until=resume)
        self.store.add_event(
            now,
            f"Du hast „später“ geantwortet; Schritt {draft.step_number} entwerfe ich am "
            f"{moment_text(resume, self.window)} neu.",
            thread_id=draft.thread_id,
            kind=EventKind.APPROVAL,
        )

    def _not_understood(
        self, draft: Draft, command: Command, inbound: Inbound, now: datetime
    ) -> None:
        text = command.text
        excerpt = text.strip().splitlines()[0][:80] if text.strip() else ""
        self.store.add_event(
            now,
            "Deine Antwort auf den Entwurf wurde nicht verstanden"
            + (" (Text nicht sicher vom Zitat zu trennen)" if command.unclear_cut else "")
            + "; der Entwurf wartet weiter.",
            thread_id=draft.thread_id,
            kind=EventKind.APPROVAL,
        )
        self.outbox.notify_owner(
            "owner_not_understood",
            now,
            key=f"not-understood:draft {draft.id}:{mail_ref(inbound)}",
            in_reply_to=inbound.message_id,
            thread_id=draft.thread_id,
            token_tag=token_tag(draft.token),
            draft_subject=draft.subject,
            answer_excerpt=excerpt,
            unclear_cut=command.unclear_cut,
        )
