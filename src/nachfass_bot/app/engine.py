"""One cycle of the bot: poll → decide → drafts → approvals → send.

The engine wires the pure domain (schedule, matching, approval, texts) to the adapters
(mailbox, outbox, store). It takes ``now`` from its caller and never reads the clock,
so a test or the demo can run weeks of schedule in seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from nachfass_bot.adapters.mailbox import FolderSet, Mailbox, choose_folders
from nachfass_bot.adapters.smtp import Transport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.commands import OwnerCommands
from nachfass_bot.app.guard import GuardedMailbox, GuardedTransport, MailInTransaction
from nachfass_bot.app.inbox import InboxReader
from nachfass_bot.app.lookback import look_back_on_server
from nachfass_bot.app.outbox import SENT_COPY_WAIT, Outbox
from nachfass_bot.app.payments import Payments
from nachfass_bot.app.tracking import SentTracker
from nachfass_bot.config import Config, MailboxConfig
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import (
    ACTIVE_DRAFT_STATES,
    CANCELLABLE_DRAFT_STATES,
    Action,
    CycleReport,
    Draft,
    DraftState,
    EventKind,
    Kind,
    SettingKey,
    State,
    Thread,
)
from nachfass_bot.domain.schedule import (
    DueStep,
    due_step,
    next_due_at,
    next_step,
    not_yet_due,
)
from nachfass_bot.errors import NachfassError
from nachfass_bot.mail.approval import new_token, token_tag
from nachfass_bot.texts.compose import new_message_id
from nachfass_bot.texts.labels import KIND_LABELS, client_label, moment_text
from nachfass_bot.texts.mailcontext import client_context, template_for
from nachfass_bot.texts.render import RenderedMail, Texts

log = logging.getLogger(__name__)

REMINDER_DEADLINE_DAYS = 10  # a payment reminder asks for payment within this many days

# What the cycle was doing when one thread failed (the log's words), and how the event
# and the owner's alert say it: "Interner Fehler <stage> (…)".
PLANNING, MAILING_DRAFT, SENDING = "planning", "mailing the draft", "sending"
_STAGE_TEXTS = {
    PLANNING: "beim Planen des nächsten Schritts",
    MAILING_DRAFT: "beim Zustellen des Entwurfs an Dich",
    SENDING: "beim Versand an den Kunden",
}


def sending_window(config: Config) -> SendingWindow:
    """The configured sending window as a domain value."""
    return config.sending.window()


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
        sent_copy_wait: float = SENT_COPY_WAIT,
    ) -> None:
        self.config = config
        self.store = store
        self.texts = texts
        self.open_mailbox = open_mailbox
        self.window = sending_window(config)
        guarded = GuardedTransport(transport, store)  # no SMTP inside a transaction
        self.transport = guarded
        self.outbox = Outbox(
            owner=config.owner,
            store=store,
            transport=guarded,
            texts=texts,
            sent_copy=config.mailbox.sent_copy,
            sent_copy_wait=sent_copy_wait,
        )
        self.tracker = SentTracker(
            config=config, store=store, outbox=self.outbox, window=self.window
        )
        self.payments = Payments(
            store=store, outbox=self.outbox, window=self.window, bank=config.bank
        )
        self.commands = OwnerCommands(
            store=store,
            outbox=self.outbox,
            window=self.window,
            fresh_text=self.fresh_text,
            tracker=self.tracker,
            payments=self.payments,
        )
        self.owner_email = self.outbox.owner_email
        self.preferences = config.preferences
        self.inbox = InboxReader(
            store=store,
            outbox=self.outbox,
            window=self.window,
            auto_reply_wait_days=config.preferences.schedule.auto_reply_wait_days,
            move_spam_replies=config.mailbox.move_spam_replies,
            warn_rejected=self.commands.warn_rejected,
            tracker=self.tracker,
        )

    # -- the cycle ----------------------------------------------------------------------

    def tick(self, now: datetime, report: CycleReport | None = None) -> CycleReport:
        """Run one whole cycle at ``now``; a MailboxError ends the cycle (the caller
        retries or logs it), everything done so far is committed. Pass the same
        ``report`` to a retry so that it counts what the failed attempt already did.

        Notices to the owner decided on the way are sent after the decisions and at the
        end, never inside a transaction (:mod:`nachfass_bot.app.outbox`); no IMAP or SMTP
        call happens inside one (:mod:`nachfass_bot.app.guard`)."""
        report = report if report is not None else CycleReport()
        with self.transport.session():  # the cycle's mails share one SMTP connection
            return self._tick(now, report)

    def _tick(self, now: datetime, report: CycleReport) -> CycleReport:
        self.outbox.settle_interrupted_notices(now)
        with closing(GuardedMailbox(self.open_mailbox(), self.store)) as mailbox:
            folders = self.folders(mailbox)
            self.outbox.settle_interrupted(mailbox, folders.sent, now)
            self.poll(mailbox, folders, now, report)
            # The owner's word first: "urlaub bis …" must hold before anything is drafted.
            self.commands.apply(mailbox, now, report)
            # Statements in [bank] import_dir: a paid invoice must not get its next step.
            self.payments.import_folder(now, report)
            self.advance(now, report)
            self.mail_new_drafts(now, report)
            self.outbox.send_notices(now)  # alerts, tasks and drafts, as they were decided
            self.send_approved(mailbox, folders, now, report)
        self.outbox.send_notices(now)
        return report

    def folders(self, mailbox: Mailbox) -> FolderSet:
        return watched_folders(self.config.mailbox, mailbox)

    # -- poll -------------------------------------------------------------------------

    def poll(
        self, mailbox: Mailbox, folders: FolderSet, now: datetime, report: CycleReport
    ) -> None:
        """Read what is new in the watched folders (see :mod:`nachfass_bot.app.inbox`);
        what the Sent folder started is confirmed to the owner in one mail."""
        self.inbox.poll(mailbox, folders, now, report)
        look_back_on_server(mailbox, self.store, folders, self.owner_email, now)
        self.tracker.confirm(now)

    # -- decide -------------------------------------------------------------------------

    def advance(self, now: datetime, report: CycleReport) -> None:
        """Do every step that is due: draft a mail, record a task, rest or park.

        Payment mails of one client due at the same step go out as one mail."""
        due_now = self.due_threads(now, report)
        groups = _group_invoices(due_now)
        vacation = self.on_vacation(now)
        for thread, due in due_now:
            if thread.id not in groups or (vacation and due.action is Action.MAIL):
                continue
            with self._isolated(thread.id, PLANNING, now, report):
                try:
                    self._do_step(thread, due, groups[thread.id], now, report)
                except NachfassError as exc:
                    report.problems.append(str(exc))
                    self.store.add_event(now, str(exc), thread_id=thread.id, kind=EventKind.ERROR)

    def due_threads(
        self, now: datetime, report: CycleReport | None = None
    ) -> list[tuple[Thread, DueStep]]:
        """Open threads without a waiting draft whose next step is due at ``now``; a
        thread whose due time cannot be computed is paused (:meth:`quarantine`)."""
        report = report if report is not None else CycleReport()
        result = []
        waiting = self.store.drafts_by_thread(ACTIVE_DRAFT_STATES)  # one query for all
        looking_back = self.store.lookbacks()  # an answer may wait on the server
        due_ids: list[int] = []
        # Flat rows decide (docs/DESIGN.md, "The cycle"): a step's time depends only on
        # the facts next_due_at reads, and only the due threads are read whole.
        for facts in self.store.thread_facts(states=[State.OPEN]):
            with self._isolated(facts.id, PLANNING, now, report):
                if waiting.get(facts.id) or facts.id in looking_back:
                    continue
                playbook = self.preferences.playbook_of(facts.kind, facts.client_email)
                if not_yet_due(facts, playbook, self.window, now):
                    continue  # most threads of a cycle: no calendar arithmetic for them
                due_at = next_due_at(facts, playbook, self.window)
                if due_at is not None and due_at <= now:
                    due_ids.append(facts.id)
        for stored in self.store.threads_by_id(due_ids):
            with self._isolated(stored.id, PLANNING, now, report):
                thread = self.preferences.refine(stored)
                playbook = self.preferences.playbook(thread)
                due = due_step(thread, self.window, playbook)
                if due is not None and due.due_at <= now:
                    result.append((thread, due))
        return result

    # -- one thread must not stop the others ------------------------------------------------

    @contextmanager
    def _isolated(
        self, thread_id: int, stage: str, now: datetime, report: CycleReport
    ) -> Iterator[None]:
        """Run one thread's part of a cycle step. An unexpected exception pauses that thread
        (:meth:`quarantine`) and the cycle goes on with the others. Our own errors
        (NachfassError: a refused send, a broken template, a lost connection) keep the
        handling of the code around; a database error (the store's, not the thread's) and
        MailInTransaction (a bug) are never caught here."""
        try:
            yield
        except (NachfassError, MailInTransaction):
            raise
        except Exception as exc:
            if Store.is_database_error(exc):
                raise  # the store's problem, not this thread's: the cycle ends
            self.quarantine(thread_id, stage, exc, now, report)

    def quarantine(
        self, thread_id: int, stage: str, exc: Exception, now: datetime, report: CycleReport
    ) -> None:
        """Pause a thread whose handling raised ``exc``, cancel its waiting drafts (the next
        cycle does not trip over them again), record why, and alert the owner once per
        thread (notice key ``thread-error:thread N``); docs/DESIGN.md, "The cycle"."""
        log.error("thread %s paused: %s failed", thread_id, stage, exc_info=exc)
        where = _STAGE_TEXTS[stage]
        reason = f"Interner Fehler {where} ({type(exc).__name__})"
        report.problems.append(f"Vorgang {thread_id}: {reason} → angehalten")
        with self.store.atomic():
            self.store.update_thread(thread_id, now, state=State.PAUSED)
            for draft in self.store.drafts(CANCELLABLE_DRAFT_STATES, thread_id):
                self.store.set_draft_state(draft.id, DraftState.CANCELLED, now)
            self.store.add_event(
                now,
                f"{reason}. Ich habe den Vorgang angehalten, die anderen laufen weiter; "
                f"fortsetzen mit „nachfass-bot resume {thread_id}“.",
                thread_id=thread_id,
                kind=EventKind.ERROR,
            )
            self.outbox.notify_owner(
                "owner_alert",
                now,
                key=f"thread-error:thread {thread_id}",
                headline=f"Vorgang {thread_id} angehalten: interner Fehler",
                message=(
                    f"Bei Vorgang {thread_id} ist {where} ein interner Fehler aufgetreten "
                    f"({type(exc).__name__}). Ich habe den Vorgang angehalten, damit alle "
                    "anderen weiterlaufen; wartende Entwürfe dazu habe ich verworfen. Bitte "
                    "sieh ihn Dir an und setze ihn mit „nachfass-bot resume "
                    f"{thread_id}“ fort, wenn alles stimmt."
                ),
                thread_id=thread_id,
                client_label=None,
            )

    def _do_step(
        self,
        thread: Thread,
        due: DueStep,
        companions: list[Thread],
        now: datetime,
        report: CycleReport,
    ) -> None:
        if due.action is Action.MAIL:
            self._create_draft([thread, *companions], due, now)
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

    def step_at(self, thread: Thread, index: int) -> DueStep | None:
        """Step ``index`` of the thread's playbook as if it were due now (texts, previews)."""
        playbook = self.preferences.playbook(thread)
        if not 0 <= index < len(playbook):
            return None
        return next_step(replace(thread, step=index, state=State.OPEN), playbook, self.window)

    def fresh_text(self, draft: Draft, now: datetime) -> RenderedMail | None:
        """The draft's text rendered again at ``now`` (dates such as the new payment date
        move with it); None when it cannot be rendered any more."""
        stored = [self.store.thread(thread_id) for thread_id in draft.thread_ids]
        threads = [self.preferences.refine(thread) for thread in stored if thread is not None]
        due = self.step_at(threads[0], draft.step_index) if threads else None
        if due is None or due.action is not Action.MAIL:
            return None
        return self.render_client_mail(threads, due, now)[1]

    def render_client_mail(
        self, threads: list[Thread], due: DueStep, now: datetime
    ) -> tuple[str, RenderedMail]:
        """The recipient and the rendered mail of a due MAIL step."""
        thread = threads[0]
        assert due.template is not None
        to_assistant = due.step.to_assistant and thread.client.assistant_email is not None
        recipient = thread.client.assistant_email if to_assistant else thread.client.email
        assert recipient is not None
        context = client_context(
            threads,
            step_index=due.index,
            now=now,
            window=self.window,
            owner=self.config.owner,
            payment=self.preferences.payment,
            earlier=self.store.drafts((DraftState.SENT, DraftState.UNCLEAR), thread_id=thread.id),
        )
        return recipient, self.texts.render(template_for(thread, due.template), **context)

    def _create_draft(self, threads: list[Thread], due: DueStep, now: datetime) -> None:
        thread = threads[0]
        recipient, mail = self.render_client_mail(threads, due, now)
        auto = self.preferences.auto_sends(thread, due.step.number)
        with self.store.atomic():
            draft_id = self.store.add_draft(
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
                extra_thread_ids=[other.id for other in threads[1:]],
            )
            covered = "" if len(threads) == 1 else f" (mit {len(threads) - 1} weiteren Rechnungen)"
            if auto:
                send_after = self.window.next_slot(now)
                self.store.set_draft_state(
                    draft_id, DraftState.APPROVED, now, approved_at=now, send_after=send_after
                )
                text = (
                    f"Schritt {due.step.number} ist fällig: Die Mail an {recipient}{covered} ist "
                    f"ohne Rückfrage freigegeben (auto_send) und geht frühestens am "
                    f"{moment_text(send_after, self.window)} raus."
                )
            else:
                text = (
                    f"Schritt {due.step.number} ist fällig: Der Entwurf an {recipient}{covered} "
                    "wartet auf Deine Freigabe."
                )
            for covered_thread in threads:
                self.store.add_event(now, text, thread_id=covered_thread.id, kind=EventKind.DRAFT)

    def _create_task(self, thread: Thread, due: DueStep, now: datetime) -> None:
        text = due.task or "Bitte um den Vorgang kümmern."
        with self.store.atomic():
            token = new_token()
            self.store.add_task(
                thread_id=thread.id, step_index=due.index, text=text, due_at=now, now=now,
                token=token,
            )  # fmt: skip
            self.store.update_thread(thread.id, now, step=due.index + 1, last_step_at=now)
            self.store.add_event(
                now,
                f"Schritt {due.step.number}: eine Aufgabe für Dich – {text}",
                thread_id=thread.id,
            )
            if due.index + 1 >= len(self.preferences.playbook(thread)):
                self.store.update_thread(thread.id, now, state=State.PARKED)
                self.store.add_event(
                    now,
                    "Das war der letzte Schritt: Der Vorgang ist beiseitegelegt, die Entscheidung "
                    "liegt bei Dir. Eine Antwort des Kunden erkenne ich weiterhin.",
                    thread_id=thread.id,
                )
            task = self.store.task_by_token(token)
            self.outbox.notify_owner(
                "owner_task",
                now,
                key=f"task:thread {thread.id}:step {due.index}",
                task=text,
                task_label=due.task_label or "bitte kümmern",
                task_id=task.id if task is not None else None,
                client_label=client_label(thread),
                thread_id=thread.id,
                kind_label=KIND_LABELS[thread.kind],
                subject=thread.subject,
                token_tag=token_tag(token),
            )

    # -- drafts to the owner --------------------------------------------------------------

    def mail_new_drafts(self, now: datetime, report: CycleReport) -> None:
        """Queue every ``new`` draft's mail to the owner in the notice outbox, in the
        transaction that makes the draft ``pending``; :meth:`Outbox.send_notices` sends it
        after the commit, at most once even across a crash, with the notices' retries.
        A draft whose ``owner_draft`` template breaks stays ``new`` for next time."""
        for draft in self.store.drafts([DraftState.NEW]):
            with self._isolated(draft.thread_id, MAILING_DRAFT, now, report):
                self._mail_draft(draft, now, report)

    def _mail_draft(self, draft: Draft, now: datetime, report: CycleReport) -> None:
        thread = self.store.thread(draft.thread_id)
        if thread is None:
            return
        try:
            mail = self.texts.render("owner_draft", **self._draft_context(thread, draft, now))
        except NachfassError as exc:  # a broken owner_draft template
            report.problems.append(str(exc))
            self.store.add_event(
                now,
                f"Entwurf nicht zugestellt: {exc}",
                thread_id=thread.id,
                kind=EventKind.ERROR,
            )
            return
        with self.store.atomic():
            self.outbox.queue_draft(draft, mail, now)
            self.store.set_draft_state(draft.id, DraftState.PENDING, now)

    def _draft_context(self, thread: Thread, draft: Draft, now: datetime) -> dict[str, Any]:
        return {
            "token_tag": token_tag(draft.token),
            "client_label": client_label(thread),
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
        if not self.window.is_open(now) or self.on_vacation(now) or not self._ready_drafts(now):
            return
        # The last look: an answer that arrived since the poll cancels the draft.
        self.poll(mailbox, folders, now, report)
        self.commands.apply(mailbox, now, report)
        budget = self.config.sending.max_per_hour - self.store.client_mails_since(
            now - timedelta(hours=1)
        )
        for draft in self._ready_drafts(now):
            if budget <= 0:
                log.info("hourly cap of %s client mails reached", self.config.sending.max_per_hour)
                break
            with self._isolated(draft.thread_id, SENDING, now, report):
                budget -= self._send_one(mailbox, folders, draft, now, report)

    def _send_one(
        self, mailbox: Mailbox, folders: FolderSet, draft: Draft, now: datetime, report: CycleReport
    ) -> int:
        """Send one approved draft if its thread still wants it; 1 when it went out."""
        thread = self.store.thread(draft.thread_id)
        if thread is None or thread.state is not State.OPEN:
            self.store.set_draft_state(draft.id, DraftState.CANCELLED, now)
            return 0
        if thread.paused_until is not None and thread.paused_until > now:
            return 0  # an out-of-office note: the approved mail waits for the return
        self.outbox.send_client_mail(mailbox, folders.sent, thread, draft, now, report)
        return 1

    def on_vacation(self, now: datetime) -> bool:
        """The owner wrote "urlaub bis …": no client mail through that day."""
        until = self.store.setting(SettingKey.VACATION_UNTIL)
        return until is not None and now.astimezone(self.window.zone).date() <= date.fromisoformat(
            until
        )

    def _ready_drafts(self, now: datetime) -> list[Draft]:
        return [
            draft
            for draft in self.store.drafts([DraftState.APPROVED])
            if draft.send_after is None or draft.send_after <= now
        ]


def _group_invoices(due_now: list[tuple[Thread, DueStep]]) -> dict[int, list[Thread]]:
    """Lead thread id → the other threads its mail covers. Payment mails of one client at
    the same step become one mail (docs/DESIGN.md, "Playbooks"); every
    other due thread leads a mail of its own."""
    groups: dict[int, list[Thread]] = {}
    leaders: dict[tuple[str, int], int] = {}
    for thread, due in due_now:
        if thread.kind is Kind.RECHNUNG and due.action is Action.MAIL:
            key = (thread.client.email, due.index)
            if key in leaders:
                groups[leaders[key]].append(thread)
                continue
            leaders[key] = thread.id
        groups[thread.id] = []
    return groups


def _rest_reason(thread: Thread, state: State) -> str:
    if state is State.RESTING:
        return "Auf das Angebot kam keine Antwort: Der Vorgang ruht, Schweigen gilt als Absage."
    return (
        f"Von {client_label(thread)} kam keine Antwort: Der Vorgang ist beiseitegelegt, bis "
        "eine Antwort kommt."
    )


def watched_folders(box: MailboxConfig, mailbox: Mailbox) -> FolderSet:
    """The folders the cycle reads and writes, as this server names them (config first,
    then SPECIAL-USE, then known names; docs/DESIGN.md, "Folders and providers")."""
    return choose_folders(
        mailbox.list_folders(),
        junk_override=box.junk_folder,
        sent_override=box.sent_folder,
        extra=box.extra_folders,
        namespace=mailbox.namespace(),
    )
