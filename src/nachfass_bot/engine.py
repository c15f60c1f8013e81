"""One cycle of the bot: poll → decide → drafts → approvals → send.

The engine wires the pure domain (schedule, matching, approval, texts) to the adapters
(mailbox, transport, store). It takes ``now`` from its caller and never reads the clock,
so a test or the demo can run weeks of schedule in seconds.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from .approval import (
    Command,
    CommandKind,
    find_token,
    new_token,
    parse_command,
    strip_quote,
    token_tag,
)
from .calendar import SendingWindow
from .compose import address, build_mail, new_message_id
from .config import Config
from .errors import DeliveryError, MailboxError, NachfassError
from .headers import parse_inbound, plain_text
from .mailbox import FolderSet, Mailbox, choose_folders
from .matching import Match, match_inbound
from .models import LISTENING_STATES, Action, Inbound, Kind, State, Thread
from .schedule import DueStep, next_step, playbook_for
from .smtp import Transport
from .store import Draft, Store
from .texts import Texts, salutation

log = logging.getLogger(__name__)

KIND_LABELS = {Kind.ANGEBOT: "Angebot", Kind.AUFTRAG: "Auftrag", Kind.RECHNUNG: "Rechnung"}
ACTIVE_DRAFT_STATES = ("new", "pending", "approved", "sending")
CANCELLABLE_DRAFT_STATES = ("new", "pending", "approved")
REMINDER_DEADLINE_DAYS = 10  # a payment reminder asks for payment within this many days


@dataclass
class CycleReport:
    """What one cycle did, for the CLI and the demo."""

    answers: int = 0
    drafts: int = 0
    tasks: int = 0
    commands: int = 0
    sent: int = 0
    problems: list[str] = field(default_factory=list)


def sending_window(config: Config) -> SendingWindow:
    """The configured sending window as a domain value."""
    sending = config.sending
    return SendingWindow(
        timezone=sending.timezone,
        days=sending.days,
        start=sending.start,
        end=sending.end,
        bundesland=sending.bundesland,
        christmas_freeze=sending.christmas_freeze,
    )


def due_step(thread: Thread, window: SendingWindow) -> DueStep | None:
    """The thread's next step with the owner's pause ("später") applied."""
    due = next_step(thread, playbook_for(thread.kind), window)
    if due is None or thread.paused_until is None or due.due_at >= thread.paused_until:
        return due
    return DueStep(
        index=due.index,
        step=due.step,
        action=due.action,
        template=due.template,
        task=due.task,
        due_at=window.next_slot(thread.paused_until),
    )


class Engine:
    """Runs cycles against one mailbox, one transport and one store."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        texts: Texts,
        transport: Transport,
        open_mailbox: Callable[[], Mailbox],
    ) -> None:
        self.config = config
        self.store = store
        self.texts = texts
        self.transport = transport
        self.open_mailbox = open_mailbox
        self.window = sending_window(config)
        self.owner_email = config.owner.email.lower()

    # -- the cycle ----------------------------------------------------------------------

    def tick(self, now: datetime) -> CycleReport:
        """Run one whole cycle at ``now``; mailbox errors end the cycle, not the program."""
        report = CycleReport()
        with closing(self.open_mailbox()) as mailbox:
            folders = self._folders(mailbox)
            self.poll(mailbox, folders, now, report)
            self.advance(now, report)
            self.mail_new_drafts(now, report)
            self.apply_commands(mailbox, now, report)
            self.send_approved(mailbox, folders, now, report)
        return report

    def _folders(self, mailbox: Mailbox) -> FolderSet:
        box = self.config.mailbox
        return choose_folders(
            mailbox.list_folders(),
            junk_override=box.junk_folder,
            sent_override=box.sent_folder,
            extra=box.extra_folders,
        )

    # -- poll -------------------------------------------------------------------------

    def poll(
        self, mailbox: Mailbox, folders: FolderSet, now: datetime, report: CycleReport
    ) -> None:
        """Sync every inbound folder by UID: answers are applied at once, the owner's
        commands are queued in the store (verdict ``command-pending``) so none is lost."""
        for folder in folders.inbound:
            self._sync_folder(mailbox, folder, folder == folders.junk, now, report)

    def _sync_folder(
        self, mailbox: Mailbox, folder: str, is_junk: bool, now: datetime, report: CycleReport
    ) -> None:
        """Read the headers of every UID above the stored one (RFC 3501 §2.3.1.1): a new
        UIDVALIDITY voids the stored UIDs and the folder is read again from the start;
        mail seen before is recognised by its Message-ID and not counted twice."""
        status = mailbox.folder_status(folder)
        stored = self.store.folder_state(folder)
        last_uid = 0
        if stored and stored[0] == status.uidvalidity:
            last_uid = stored[1]
        elif stored:
            self.store.add_event(
                now,
                f"Ordner {folder}: UIDVALIDITY hat sich geändert → Ordner wird neu gelesen",
                kind="sync",
            )
        if last_uid + 1 < status.uidnext:
            for batch in mailbox.fetch_headers(folder, last_uid + 1):
                with self.store.atomic():
                    for uid, raw in batch:
                        self._handle_header(raw, folder, uid, is_junk, now, report)
                    if batch:
                        last_uid = batch[-1][0]
                        self.store.save_folder_state(folder, status.uidvalidity, last_uid, now)
        if stored is None or stored[0] != status.uidvalidity:
            self.store.save_folder_state(folder, status.uidvalidity, last_uid, now)

    def _handle_header(
        self, raw: bytes, folder: str, uid: int, is_junk: bool, now: datetime, report: CycleReport
    ) -> None:
        inbound = parse_inbound(raw, folder=folder, uid=uid, is_junk_folder=is_junk)
        key = _seen_key(inbound, raw)
        if self.store.is_seen(key):
            return
        own_ids = self.store.own_message_ids()
        if inbound.message_id in own_ids:
            self.store.mark_seen(key, folder, uid, "own", now)
            return
        if inbound.from_addr == self.owner_email:
            verdict = "command-pending" if self._answered_draft(inbound) else "owner"
            self.store.mark_seen(key, folder, uid, verdict, now)
            return
        answered_draft = self._answered_draft(inbound)
        if answered_draft:
            self._warn_foreign_command(inbound, answered_draft, now)
        threads = self.store.threads(sorted(LISTENING_STATES))
        matches = match_inbound(
            inbound, threads, owner_email=self.owner_email, own_message_ids=own_ids
        )
        for match in matches:
            self._record_answer(match, inbound, now, report)
        self.store.mark_seen(key, folder, uid, "answer" if matches else "unrelated", now)

    def _answered_draft(self, inbound: Inbound) -> Draft | None:
        """The draft this mail answers, by the token in its subject or by In-Reply-To."""
        token = find_token(inbound.subject)
        if token:
            return self.store.draft_by_token(token)
        for message_id in inbound.in_reply_to:
            draft = self.store.draft_by_message_id(message_id)
            if draft:
                return draft
        return None

    def _warn_foreign_command(self, inbound: Inbound, draft: Draft, now: datetime) -> None:
        self.store.add_event(
            now,
            f"Antwort auf einen Entwurf von fremder Adresse {inbound.from_addr or '(unbekannt)'} "
            f"im Ordner {inbound.folder} ignoriert → nichts gesendet",
            thread_id=draft.thread_id,
            kind="warning",
        )
        log.warning("ignored a draft reply from a foreign address in %s", inbound.folder)

    def _record_answer(
        self, match: Match, inbound: Inbound, now: datetime, report: CycleReport
    ) -> None:
        thread = self.store.thread(match.thread_id)
        if thread is None or thread.state not in LISTENING_STATES:
            return
        answered_at = min(inbound.date, now) if inbound.date else now
        self.store.update_thread(
            thread.id,
            now,
            state=State.ANSWERED,
            answered_at=answered_at,
            answered_folder=inbound.folder,
        )
        if inbound.message_id:
            self.store.record_message_id(
                inbound.message_id, "answer", now, thread_id=thread.id, folder=inbound.folder
            )
        self.store.add_event(now, match.reason, thread_id=thread.id, kind="answer")
        self._cancel_drafts(thread.id, now, "Kunde hat geantwortet")
        report.answers += 1
        log.info("thread %s answered (%s, folder %s)", thread.id, match.rule, inbound.folder)

    def _cancel_drafts(self, thread_id: int, now: datetime, why: str) -> None:
        for draft in self.store.drafts(CANCELLABLE_DRAFT_STATES, thread_id):
            self.store.set_draft_state(draft.id, "cancelled", now)
            self.store.add_event(
                now,
                f"Entwurf für Schritt {draft.step_number} verworfen: {why}",
                thread_id=thread_id,
                kind="draft",
            )

    # -- decide -------------------------------------------------------------------------

    def advance(self, now: datetime, report: CycleReport) -> None:
        """Do every step that is due: draft a mail, record a task, rest or park."""
        for thread in self.store.threads([State.OPEN]):
            if self.store.drafts(ACTIVE_DRAFT_STATES, thread.id):
                continue
            due = due_step(thread, self.window)
            if due is None or due.due_at > now:
                continue
            try:
                self._do_step(thread, due, now, report)
            except NachfassError as exc:
                report.problems.append(str(exc))
                self.store.add_event(now, str(exc), thread_id=thread.id, kind="error")

    def _do_step(self, thread: Thread, due: DueStep, now: datetime, report: CycleReport) -> None:
        if due.action is Action.MAIL:
            self._create_draft(thread, due, now)
            report.drafts += 1
        elif due.action is Action.TASK:
            self._create_task(thread, due, now)
            report.tasks += 1
        else:
            state = State.RESTING if due.action is Action.REST else State.PARKED
            with self.store.atomic():
                self.store.update_thread(
                    thread.id, now, state=state, step=due.index + 1, last_step_at=now
                )
                self.store.add_event(now, _rest_reason(thread, state), thread_id=thread.id)

    def _create_draft(self, thread: Thread, due: DueStep, now: datetime) -> None:
        assert due.template is not None
        to_assistant = due.step.to_assistant and thread.client.assistant_email is not None
        recipient = thread.client.assistant_email if to_assistant else thread.client.email
        assert recipient is not None
        mail = self.texts.render(due.template, **self.client_context(thread, now))
        with self.store.atomic():
            self.store.add_draft(
                thread_id=thread.id,
                step_index=due.index,
                step_number=due.step.number,
                token=new_token(),
                recipient=recipient,
                subject=mail.subject,
                body=mail.body,
                draft_message_id=new_message_id(self.owner_email),
                client_message_id=new_message_id(self.owner_email),
                now=now,
            )
            self.store.add_event(
                now,
                f"Schritt {due.step.number} fällig → Entwurf an {recipient} erstellt, "
                "wartet auf deine Freigabe",
                thread_id=thread.id,
                kind="draft",
            )

    def _create_task(self, thread: Thread, due: DueStep, now: datetime) -> None:
        text = due.task or "Bitte um den Vorgang kümmern."
        with self.store.atomic():
            self.store.add_task(
                thread_id=thread.id, step_index=due.index, text=text, due_at=now, now=now
            )
            self.store.update_thread(thread.id, now, step=due.index + 1, last_step_at=now)
            self.store.add_event(
                now, f"Schritt {due.step.number}: Aufgabe für dich – {text}", thread_id=thread.id
            )
        mail = self.texts.render(
            "owner_task",
            task=text,
            client_label=_client_label(thread),
            thread_id=thread.id,
            kind_label=KIND_LABELS[thread.kind],
            subject=thread.subject,
        )
        self._mail_owner(mail.subject, mail.body, now, role="notice", thread_id=thread.id)

    def client_context(self, thread: Thread, now: datetime) -> dict[str, Any]:
        """Everything a client template may use (see templates/de)."""
        local_today = now.astimezone(self.window.zone).date()
        owner = self.config.owner
        return {
            "anrede": salutation(thread.client.name, thread.client.du),
            "assistant_anrede": salutation(None, thread.client.du),
            "assistant_name": None,
            "du": thread.client.du,
            "client_name": thread.client.name,
            "subject": thread.subject,
            "started_at": thread.started_at,
            "owner_name": owner.name,
            "signature": owner.signature,
            "invoice_no": thread.invoice_no,
            "amount": thread.amount,
            "due_date": thread.due_date,
            "new_due_date": local_today + timedelta(days=REMINDER_DEADLINE_DAYS),
        }

    # -- drafts to the owner --------------------------------------------------------------

    def mail_new_drafts(self, now: datetime, report: CycleReport) -> None:
        """Mail every ``new`` draft to the owner; a failure leaves it ``new`` for next time."""
        for draft in self.store.drafts(["new"]):
            thread = self.store.thread(draft.thread_id)
            if thread is None:
                continue
            mail = self.texts.render("owner_draft", **self._draft_context(thread, draft, now))
            try:
                self._mail_owner(
                    mail.subject, mail.body, now, role=None, message_id=draft.draft_message_id
                )
            except DeliveryError as exc:
                report.problems.append(str(exc))
                self.store.add_event(now, f"Entwurf nicht zugestellt: {exc}", kind="error")
                continue
            self.store.set_draft_state(draft.id, "pending", now)

    def _draft_context(self, thread: Thread, draft: Draft, now: datetime) -> dict[str, Any]:
        return {
            "token_tag": token_tag(draft.token),
            "client_label": _client_label(thread),
            "client_email": draft.recipient,
            "thread_id": thread.id,
            "kind_label": KIND_LABELS[thread.kind],
            "step_number": draft.step_number,
            "draft_subject": draft.subject,
            "draft_body": draft.body,
            "send_after": self.window.next_slot(now),
        }

    def _mail_owner(
        self,
        subject: str,
        body: str,
        now: datetime,
        *,
        role: str | None,
        thread_id: int | None = None,
        message_id: str | None = None,
        in_reply_to: str | None = None,
    ) -> None:
        owner = address(self.owner_email, self.config.owner.name)
        mid = message_id or new_message_id(self.owner_email)
        if role:
            self.store.record_message_id(mid, role, now, thread_id=thread_id)
        message = build_mail(
            sender=owner,
            recipient=owner,
            subject=subject,
            body=body,
            message_id=mid,
            now=now,
            references=[in_reply_to] if in_reply_to else (),
            extra_headers=[("Auto-Submitted", "auto-generated")],
        )
        self.transport.send(message)

    # -- approvals ------------------------------------------------------------------------

    def apply_commands(self, mailbox: Mailbox, now: datetime, report: CycleReport) -> None:
        """Carry out the owner's queued answers to drafts; each mail counts once.

        A mailbox error leaves the command queued for the next cycle."""
        for key, folder, uid in self.store.seen_with_verdict("command-pending"):
            try:
                self._apply_command(mailbox, key, folder, uid, now, report)
            except MailboxError as exc:
                report.problems.append(str(exc))
                log.warning("owner command in %s uid %s not readable yet: %s", folder, uid, exc)

    def _apply_command(
        self, mailbox: Mailbox, key: str, folder: str, uid: int, now: datetime, report: CycleReport
    ) -> None:
        raw = mailbox.fetch_message(folder, uid) or b""
        inbound = parse_inbound(raw, folder=folder, uid=uid)
        body = plain_text(raw)
        token = find_token(inbound.subject) or find_token(body)
        from_owner = inbound.from_addr == self.owner_email
        draft = self.store.draft_by_token(token) if token and from_owner else None
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
            parsed = parse_command(strip_quote(body), today=now.astimezone(self.window.zone).date())
            report.commands += 1
            self._dispatch(draft, parsed, inbound, now)

    def _dispatch(self, draft: Draft, command: Command, inbound: Inbound, now: datetime) -> None:
        kind, days, until, text = command.kind, command.days, command.until, command.text
        thread_id = draft.thread_id
        if kind is CommandKind.APPROVE:
            send_after = self.window.next_slot(now)
            self.store.set_draft_state(
                draft.id, "approved", now, approved_at=now, send_after=send_after
            )
            self.store.add_event(
                now,
                f"Du hast den Entwurf für Schritt {draft.step_number} freigegeben → "
                f"Versand ab {_local(send_after, self.window)}",
                thread_id=thread_id,
                kind="approval",
            )
        elif kind is CommandKind.STOP:
            self.store.set_draft_state(draft.id, "cancelled", now)
            self.store.update_thread(thread_id, now, state=State.CLOSED)
            self.store.add_event(
                now, "Du hast „stop“ geantwortet → Vorgang geschlossen", thread_id=thread_id
            )
        elif kind is CommandKind.LATER and (days or until):
            self._postpone(draft, days, until, now)
        elif kind is CommandKind.PAID and self._is_invoice(thread_id):
            self.store.set_draft_state(draft.id, "cancelled", now)
            self.store.update_thread(thread_id, now, state=State.PAID)
            self.store.add_event(
                now, "Du hast „bezahlt“ geantwortet → Rechnung erledigt", thread_id=thread_id
            )
        else:
            self._not_understood(draft, text, inbound, now)

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
            f"Du hast „später“ geantwortet → Schritt {draft.step_number} wird am "
            f"{_local(resume, self.window)} neu entworfen",
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
        self._mail_owner(
            mail.subject,
            mail.body,
            now,
            role="notice",
            thread_id=draft.thread_id,
            in_reply_to=inbound.message_id,
        )

    # -- send ---------------------------------------------------------------------------

    def send_approved(
        self, mailbox: Mailbox, folders: FolderSet, now: datetime, report: CycleReport
    ) -> None:
        """Send approved drafts whose time has come, after one last look for answers."""
        if not self.window.is_open(now) or not self._ready_drafts(now):
            return
        # The last look: an answer that arrived since the poll cancels the draft.
        self.poll(mailbox, folders, now, report)
        self.apply_commands(mailbox, now, report)
        for draft in self._ready_drafts(now):
            thread = self.store.thread(draft.thread_id)
            if thread is None or thread.state is not State.OPEN:
                self.store.set_draft_state(draft.id, "cancelled", now)
                continue
            self._send_draft(mailbox, folders, thread, draft, now, report)

    def _ready_drafts(self, now: datetime) -> list[Draft]:
        return [
            draft
            for draft in self.store.drafts(["approved"])
            if draft.send_after is None or draft.send_after <= now
        ]

    def _send_draft(
        self,
        mailbox: Mailbox,
        folders: FolderSet,
        thread: Thread,
        draft: Draft,
        now: datetime,
        report: CycleReport,
    ) -> None:
        message = self._client_message(thread, draft, now)
        # Committed before SMTP starts: a crash after this point never sends again.
        self.store.set_draft_state(draft.id, "sending", now)
        try:
            self.transport.send(message)
        except DeliveryError as exc:
            self._delivery_failed(draft, exc, now, report)
            return
        with self.store.atomic():
            self.store.set_draft_state(draft.id, "sent", now, sent_at=now)
            self.store.record_message_id(draft.client_message_id, "sent", now, thread_id=thread.id)
            self.store.update_thread(thread.id, now, step=draft.step_index + 1, last_step_at=now)
            self.store.add_event(
                now,
                f"Schritt {draft.step_number}: Mail „{draft.subject}“ "
                f"an {draft.recipient} gesendet",
                thread_id=thread.id,
                kind="sent",
            )
        report.sent += 1
        self._copy_to_sent(mailbox, folders, message, thread.id, now)

    def _client_message(self, thread: Thread, draft: Draft, now: datetime) -> EmailMessage:
        owner = self.config.owner
        name = thread.client.name if draft.recipient == thread.client.email else None
        return build_mail(
            sender=address(owner.email, owner.name),
            recipient=address(draft.recipient, name),
            subject=draft.subject,
            body=draft.body,
            message_id=draft.client_message_id,
            now=now,
            references=self.store.thread_references(thread.id),
        )

    def _delivery_failed(
        self, draft: Draft, exc: DeliveryError, now: datetime, report: CycleReport
    ) -> None:
        report.problems.append(str(exc))
        state = "failed" if exc.permanent else "approved"
        self.store.set_draft_state(draft.id, state, now)
        outcome = "endgültig gescheitert" if exc.permanent else "wird später erneut versucht"
        self.store.add_event(
            now,
            f"Versand von Schritt {draft.step_number} {outcome}: {exc}",
            thread_id=draft.thread_id,
            kind="error",
        )

    def _copy_to_sent(
        self,
        mailbox: Mailbox,
        folders: FolderSet,
        message: EmailMessage,
        thread_id: int,
        now: datetime,
    ) -> None:
        if folders.sent is None:
            self.store.add_event(now, "Kein Gesendet-Ordner gefunden: keine Kopie abgelegt")
            return
        try:
            mailbox.append(folders.sent, message.as_bytes(policy=SMTP), now)
        except MailboxError as exc:
            self.store.add_event(
                now, f"Kopie nicht im Ordner {folders.sent} abgelegt: {exc}", thread_id=thread_id
            )


def _seen_key(inbound: Inbound, raw: bytes) -> str:
    """Message-ID identifies a mail across folders and rescans; else a hash of its header."""
    if inbound.message_id:
        return inbound.message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _client_label(thread: Thread) -> str:
    return thread.client.name or thread.client.email


def _local(moment: datetime, window: SendingWindow) -> str:
    return moment.astimezone(window.zone).strftime("%d.%m.%Y %H:%M")


def _rest_reason(thread: Thread, state: State) -> str:
    if state is State.RESTING:
        return "Keine Antwort auf das Angebot → Vorgang ruht, Schweigen gilt als Absage"
    return f"Keine Antwort von {_client_label(thread)} → Vorgang beiseitegelegt, wir warten"
