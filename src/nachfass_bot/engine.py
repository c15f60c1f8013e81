"""One cycle of the bot: poll → decide → drafts → approvals → send.

The engine wires the pure domain (schedule, matching, approval, texts) to the adapters
(mailbox, outbox, store). It takes ``now`` from its caller and never reads the clock,
so a test or the demo can run weeks of schedule in seconds.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from .approval import find_token, new_token, token_tag
from .calendar import SendingWindow
from .commands import OwnerCommands
from .compose import new_message_id
from .config import Config
from .errors import DeliveryError, NachfassError
from .headers import parse_inbound
from .mailbox import FolderSet, Mailbox, choose_folders
from .matching import Match, match_inbound
from .models import LISTENING_STATES, Action, CycleReport, Inbound, State, Thread
from .outbox import Outbox
from .schedule import DueStep, due_step, playbook_for
from .smtp import Transport
from .store import ACTIVE_DRAFT_STATES, CANCELLABLE_DRAFT_STATES, Draft, Store
from .sync import sync_folder
from .texts import Texts, salutation
from .views import KIND_LABELS, local_text

log = logging.getLogger(__name__)

REMINDER_DEADLINE_DAYS = 10  # a payment reminder asks for payment within this many days


@dataclass(frozen=True)
class _Known:
    """What a sync compares each mail with; reloaded after a mail changed it."""

    own_ids: frozenset[str]
    threads: tuple[Thread, ...]


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
        self.open_mailbox = open_mailbox
        self.window = sending_window(config)
        self.outbox = Outbox(owner=config.owner, store=store, transport=transport, texts=texts)
        self.commands = OwnerCommands(
            store=store, texts=texts, outbox=self.outbox, window=self.window
        )
        self.owner_email = self.outbox.owner_email

    # -- the cycle ----------------------------------------------------------------------

    def tick(self, now: datetime) -> CycleReport:
        """Run one whole cycle at ``now``; a MailboxError ends the cycle (the caller
        logs it), everything done so far is committed."""
        report = CycleReport()
        self.outbox.settle_interrupted(now)
        with closing(self.open_mailbox()) as mailbox:
            folders = self._folders(mailbox)
            self.poll(mailbox, folders, now, report)
            self.advance(now, report)
            self.mail_new_drafts(now, report)
            self.commands.apply(mailbox, now, report)
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
        """Sync the inbound folders (answers apply at once, the owner's commands are
        queued) and the Sent folder (the owner's own mails to clients restart the clock)."""
        for folder in folders.inbound:
            handle = partial(
                self._inbound_batch, folder=folder, is_junk=folder == folders.junk, now=now,
                report=report,
            )  # fmt: skip
            sync_folder(mailbox, self.store, folder, now, handle)
        if folders.sent and folders.sent not in folders.inbound:
            handle = partial(self._sent_batch, folder=folders.sent, now=now)
            sync_folder(mailbox, self.store, folders.sent, now, handle)

    def _known(self) -> _Known:
        return _Known(
            own_ids=frozenset(self.store.own_message_ids()),
            threads=tuple(self.store.threads(sorted(LISTENING_STATES))),
        )

    def _inbound_batch(
        self,
        batch: list[tuple[int, bytes]],
        folder: str,
        is_junk: bool,
        now: datetime,
        report: CycleReport,
    ) -> None:
        known = self._known()
        for uid, raw in batch:
            inbound = parse_inbound(raw, folder=folder, uid=uid, is_junk_folder=is_junk)
            key = _seen_key(inbound, raw)
            if not self.store.is_seen(key):
                verdict = self._judge_inbound(inbound, known, now, report)
                self.store.mark_seen(key, folder, uid, verdict, now)
                if verdict == "answer":
                    known = self._known()

    def _judge_inbound(
        self, inbound: Inbound, known: _Known, now: datetime, report: CycleReport
    ) -> str:
        """Decide what one inbound mail is; returns the seen-verdict."""
        if inbound.message_id in known.own_ids:
            return "own"
        answered_draft = self._answered_draft(inbound)
        if inbound.from_addr == self.owner_email:
            return "command-pending" if answered_draft else "owner"
        if answered_draft:
            self._warn_foreign_command(inbound, answered_draft, now)
        matches = match_inbound(
            inbound, known.threads, owner_email=self.owner_email, own_message_ids=known.own_ids
        )
        for match in matches:
            self._record_answer(match, inbound, now, report)
        return "answer" if matches else "unrelated"

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
        if inbound.is_junk_folder:
            self._alert_spam_answer(thread, inbound, now)

    def _alert_spam_answer(self, thread: Thread, inbound: Inbound, now: datetime) -> None:
        label = _client_label(thread)
        mail = self.texts.render(
            "owner_alert",
            headline=f"Antwort von {label} lag im Spam-Ordner",
            message=(
                f"{label} hat auf „{thread.subject}“ geantwortet, aber die Mail lag im Ordner "
                f"„{inbound.folder}“. Ich fasse dort nicht mehr nach. Bitte lies die Antwort "
                "und prüfe Deinen Spam-Filter, damit die nächste Mail im Posteingang landet."
            ),
            thread_id=thread.id,
            client_label=label,
        )
        self.outbox.notify_owner(mail.subject, mail.body, now, thread.id)

    def _cancel_drafts(self, thread_id: int, now: datetime, why: str) -> None:
        for draft in self.store.drafts(CANCELLABLE_DRAFT_STATES, thread_id):
            self.store.set_draft_state(draft.id, "cancelled", now)
            self.store.add_event(
                now,
                f"Entwurf für Schritt {draft.step_number} verworfen: {why}",
                thread_id=thread_id,
                kind="draft",
            )

    def _sent_batch(self, batch: list[tuple[int, bytes]], folder: str, now: datetime) -> None:
        """The owner's own mails to a client restart the count of that client's threads."""
        known = self._known()
        for uid, raw in batch:
            mail = parse_inbound(raw, folder=folder, uid=uid)
            key = _seen_key(mail, raw)
            if self.store.is_seen(key):
                continue
            verdict = "own"
            if mail.message_id not in known.own_ids and mail.from_addr == self.owner_email:
                verdict = "owner-sent"
                for thread in _written_to(mail, known.threads):
                    self._restart_clock(thread, mail, now)
            self.store.mark_seen(key, folder, uid, verdict, now)

    def _restart_clock(self, thread: Thread, mail: Inbound, now: datetime) -> None:
        written_at = min(mail.date, now) if mail.date else now
        if written_at <= (thread.last_step_at or thread.started_at):
            return
        self.store.update_thread(thread.id, now, last_step_at=written_at)
        if mail.message_id:
            self.store.record_message_id(
                mail.message_id, "owner", now, thread_id=thread.id, folder=mail.folder
            )
        self.store.add_event(
            now,
            f"Du hast {_client_label(thread)} am {local_text(written_at, self.window)} selbst "
            "geschrieben (Ordner Gesendet) → die Frist bis zum nächsten Schritt beginnt neu",
            thread_id=thread.id,
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
            if due.index + 1 >= len(playbook_for(thread.kind)):
                self.store.update_thread(thread.id, now, state=State.PARKED)
                self.store.add_event(
                    now,
                    "Letzter Schritt erledigt → Vorgang beiseitegelegt, die Entscheidung liegt "
                    "bei dir; eine Antwort des Kunden wird weiter erkannt",
                    thread_id=thread.id,
                )
        mail = self.texts.render(
            "owner_task",
            task=text,
            client_label=_client_label(thread),
            thread_id=thread.id,
            kind_label=KIND_LABELS[thread.kind],
            subject=thread.subject,
        )
        self.outbox.notify_owner(mail.subject, mail.body, now, thread.id)

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
                self.outbox.mail_owner(
                    mail.subject, mail.body, now, role=None, message_id=draft.draft_message_id
                )
            except DeliveryError as exc:
                report.problems.append(str(exc))
                self.store.add_event(
                    now, f"Entwurf nicht zugestellt: {exc}", thread_id=thread.id, kind="error"
                )
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

    # -- send ---------------------------------------------------------------------------

    def send_approved(
        self, mailbox: Mailbox, folders: FolderSet, now: datetime, report: CycleReport
    ) -> None:
        """Send approved drafts whose time has come, after one last look for answers."""
        if not self.window.is_open(now) or not self._ready_drafts(now):
            return
        # The last look: an answer that arrived since the poll cancels the draft.
        self.poll(mailbox, folders, now, report)
        self.commands.apply(mailbox, now, report)
        for draft in self._ready_drafts(now):
            thread = self.store.thread(draft.thread_id)
            if thread is None or thread.state is not State.OPEN:
                self.store.set_draft_state(draft.id, "cancelled", now)
                continue
            self.outbox.send_client_mail(mailbox, folders.sent, thread, draft, now, report)

    def _ready_drafts(self, now: datetime) -> list[Draft]:
        return [
            draft
            for draft in self.store.drafts(["approved"])
            if draft.send_after is None or draft.send_after <= now
        ]


def _seen_key(inbound: Inbound, raw: bytes) -> str:
    """Message-ID identifies a mail across folders and rescans; else a hash of its header."""
    if inbound.message_id:
        return inbound.message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _written_to(mail: Inbound, threads: tuple[Thread, ...]) -> list[Thread]:
    """Open threads whose client (or assistant) the owner's mail was addressed to."""
    recipients = set(mail.to_addrs)
    return [
        thread
        for thread in threads
        if thread.state is State.OPEN
        and ({thread.client.email, thread.client.assistant_email} & recipients)
    ]


def _client_label(thread: Thread) -> str:
    return thread.client.name or thread.client.email


def _rest_reason(thread: Thread, state: State) -> str:
    if state is State.RESTING:
        return "Keine Antwort auf das Angebot → Vorgang ruht, Schweigen gilt als Absage"
    return f"Keine Antwort von {_client_label(thread)} → Vorgang beiseitegelegt, wir warten"
