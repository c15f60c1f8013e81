"""Everything the bot mails: notices and drafts to the owner, approved mails to clients.

A client mail moves ``approved → sending → sent``; ``sending`` is committed with the
Message-ID fixed before SMTP starts, so a crash between the server's "250" and the next
commit can never lead to a second send: a draft left in ``sending`` (or cut off by a
broken connection) becomes ``unclear`` — the step counts as done and the owner is asked
to check — and is never retried.

Every mail to the owner — notices (alerts, warnings, answers to her commands), the drafts
she is asked to approve, the weekly digest — goes through the notice outbox the same way,
so that no mail is sent while a transaction is open, a batch that rolls back sends
nothing, and a crash never sends one twice: :meth:`Outbox.notify_owner` (a rendered
notice), :meth:`Outbox.queue_draft` and :meth:`Outbox.queue` write a ``pending`` row in the
caller's transaction, keyed by the decision it reports (a decision made twice queues one
mail); :meth:`Outbox.send_notices`, called with no transaction open, commits ``sending``
before SMTP and ``sent`` after it. A 4xx is tried again later (up to
:data:`MAX_TEMPORARY_ATTEMPTS` times), a 5xx ends in ``failed``, a connection that broke
after DATA began in ``unclear``. A notice found in ``sending`` when a cycle starts was cut
off by a crash: it becomes ``unclear`` and is logged, never sent again — a missing mail is
in the event log, a doubled one would be noise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from nachfass_bot.adapters.mailbox import Mailbox
from nachfass_bot.adapters.smtp import Transport
from nachfass_bot.adapters.store import Store
from nachfass_bot.config import OwnerConfig
from nachfass_bot.domain.models import (
    CycleReport,
    Draft,
    DraftState,
    EventKind,
    Inbound,
    MessageRole,
    Notice,
    NoticeState,
    SentCopy,
    SettingKey,
    State,
    Thread,
    smtp_attempts_key,
)
from nachfass_bot.errors import DeliveryError, MailboxError, NachfassError
from nachfass_bot.texts.compose import address, build_mail, new_message_id, to_bytes
from nachfass_bot.texts.render import RenderedMail, Texts

log = logging.getLogger(__name__)

MAX_TEMPORARY_ATTEMPTS = 5  # 4xx answers before a draft or a notice counts as failed
RETRY_BASE = timedelta(minutes=5)
# How long to look for the copy a provider files in Sent itself before APPENDing one:
# Gmail and Microsoft 365 file it within a second of the SMTP "250" (observed).
SENT_COPY_WAIT = 2.0
SENT_COPY_POLL = 0.5


class Outbox:
    """Sends through one transport and records every Message-ID it used."""

    def __init__(
        self,
        *,
        owner: OwnerConfig,
        store: Store,
        transport: Transport,
        texts: Texts,
        sent_copy: SentCopy = SentCopy.AUTO,
        sent_copy_wait: float = SENT_COPY_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sent_copy = sent_copy
        self.sent_copy_wait = sent_copy_wait
        self.sleep = sleep
        self.owner = owner
        self.owner_email = owner.email.lower()
        self.store = store
        self.transport = transport
        self.texts = texts

    def notify_owner(
        self,
        template: str,
        now: datetime,
        *,
        key: str,
        in_reply_to: str | None = None,
        **context: Any,
    ) -> None:
        """Render an owner template and queue it in the notice outbox, in the caller's
        transaction; :meth:`send_notices` mails it after the commit. ``key`` names the
        decision (kind, thread or draft, mail): a second notice with the same key is
        dropped. A broken template is logged and recorded, never raised: a notice must
        not stop the cycle that found, say, the client's answer."""
        thread_id = context.get("thread_id")
        try:
            mail = self.texts.render(template, **context)
        except NachfassError as exc:
            log.warning("notice %s to the owner not delivered: %s", template, exc)
            self.store.add_event(
                now,
                f"Hinweis an dich nicht zugestellt: {exc}",
                thread_id=thread_id,
                kind=EventKind.ERROR,
            )
            return
        self.queue(key, mail.subject, mail.body, now, thread_id=thread_id, in_reply_to=in_reply_to)

    def queue(
        self,
        key: str,
        subject: str,
        body: str,
        now: datetime,
        *,
        thread_id: int | None = None,
        in_reply_to: str | None = None,
        html: str | None = None,
        message_id: str | None = None,
    ) -> bool:
        """Queue a mail to the owner in the caller's transaction (see the module
        docstring); False when ``key`` was queued before. Its Message-ID is recorded as
        the bot's own, so the copy that lands in INBOX is never judged."""
        message_id = message_id or new_message_id(self.owner_email)
        with self.store.atomic():
            queued = self.store.add_notice(
                key=key, subject=subject, body=body, message_id=message_id, now=now,
                thread_id=thread_id, in_reply_to=in_reply_to, html=html,
            )  # fmt: skip
            if queued:  # known as our own before it can land in INBOX
                self.store.record_message_id(
                    message_id, MessageRole.NOTICE, now, thread_id=thread_id
                )
            else:
                log.info("notice %s already queued; not queued twice", key)
        return queued

    def queue_draft(self, draft: Draft, mail: RenderedMail, now: datetime) -> None:
        """Queue the mail that asks the owner to approve ``draft``, in the caller's
        transaction (the one that makes the draft ``pending``). It goes out under the
        draft's own Message-ID, recorded with the draft, so the owner's answer finds the
        draft; key ``draft:<id>``: one mail per draft, also across a crash."""
        queued = self.store.add_notice(
            key=f"draft:{draft.id}", subject=mail.subject, body=mail.body,
            message_id=draft.draft_message_id, now=now, thread_id=draft.thread_id,
        )  # fmt: skip
        if not queued:
            log.info("the mail for draft %s was queued before; not queued twice", draft.id)

    def send_notices(self, now: datetime, key_prefix: str = "") -> dict[str, DeliveryError]:
        """Mail every pending notice that is due (only keys starting with
        ``key_prefix``), each at most once (see the module docstring). Call with no
        transaction open; a refused send never raises: the refusals of this call are
        returned by notice key."""
        refused: dict[str, DeliveryError] = {}
        for notice in self.store.notices([NoticeState.PENDING]):
            if not notice.key.startswith(key_prefix):
                continue
            if notice.send_after is not None and notice.send_after > now:
                continue
            error = self._send_notice(notice, now)
            if error is None:
                continue
            refused[notice.key] = error
            if _tried_again(notice, error):
                break  # the server refuses for now: the others wait for the next call
        return refused

    def _send_notice(self, notice: Notice, now: datetime) -> DeliveryError | None:
        """Send one notice; the server's refusal, if any."""
        if not self.store.claim_notice(notice.id, now):  # `sending`, committed first
            log.info("notice %s is no longer pending: another process sends it", notice.key)
            return None
        try:
            self.transport.send(self._notice_message(notice, now))
        except DeliveryError as exc:
            self._notice_refused(notice, exc, now)
            return exc
        self.store.set_notice_state(notice.id, NoticeState.SENT, now, sent_at=now)
        return None

    def _notice_message(self, notice: Notice, now: datetime) -> EmailMessage:
        """A mail from the owner's address to itself; ``Auto-Submitted`` (RFC 3834) keeps
        vacation responders quiet."""
        owner = address(self.owner_email, self.owner.name)
        return build_mail(
            sender=owner,
            recipient=owner,
            subject=notice.subject,
            body=notice.body,
            html=notice.html,
            message_id=notice.message_id,
            now=now,
            references=[notice.in_reply_to] if notice.in_reply_to else (),
            extra_headers=[("Auto-Submitted", "auto-generated")],
        )

    def _notice_refused(self, notice: Notice, exc: DeliveryError, now: datetime) -> None:
        """A 4xx waits and is tried again (5, 10, 20, 40 minutes); a 5xx, the fifth
        refusal or a connection broken after DATA began ends the notice."""
        attempts = notice.attempts + 1
        if _tried_again(notice, exc):
            retry_at = now + RETRY_BASE * 2 ** (attempts - 1)
            self.store.set_notice_state(
                notice.id, NoticeState.PENDING, now, attempts=attempts, send_after=retry_at
            )
            log.warning("notice %s refused for now (%s), next try at %s", notice.key, exc, retry_at)
        elif exc.uncertain:
            text = _unclear_notice(notice, str(exc))
            self._end_notice(notice, NoticeState.UNCLEAR, text, now, attempts=attempts)
        else:
            text = f"Hinweis „{notice.subject}“ an dich nicht zugestellt: {exc}"
            self._end_notice(notice, NoticeState.FAILED, text, now, attempts=attempts)

    def settle_interrupted_notices(self, now: datetime) -> None:
        """Notices left in ``sending`` by a crash may have gone out: each becomes
        ``unclear`` and is logged, and is never sent again."""
        for notice in self.store.notices([NoticeState.SENDING]):
            why = "das Programm wurde während des Versands beendet"
            self._end_notice(notice, NoticeState.UNCLEAR, _unclear_notice(notice, why), now)

    def _end_notice(
        self, notice: Notice, state: NoticeState, text: str, now: datetime, **fields: Any
    ) -> None:
        """A notice that is never sent (again): its end state, and why in the event log."""
        log.warning("notice %s ends %s, never sent again", notice.key, state)
        with self.store.atomic():
            self.store.set_notice_state(notice.id, state, now, **fields)
            self.store.add_event(now, text, thread_id=notice.thread_id, kind=EventKind.ERROR)

    def send_client_mail(
        self,
        mailbox: Mailbox,
        sent_folder: str | None,
        thread: Thread,
        draft: Draft,
        now: datetime,
        report: CycleReport,
    ) -> None:
        """Send one approved draft exactly once and file a copy in the Sent folder."""
        message = self.client_message(thread, draft, now)
        self.store.set_draft_state(draft.id, DraftState.SENDING, now)
        try:
            self.transport.send(message)
        except DeliveryError as exc:
            if exc.uncertain:
                self.settle_unclear(draft, str(exc), now)
            else:
                with self.store.atomic():  # the refusal and the owner's alert, together
                    self._delivery_failed(draft, exc, now)
            report.problems.append(str(exc))
            return
        with self.store.atomic():
            self._mark_done(draft, DraftState.SENT, now)
            self.store.add_event(
                now,
                f"Schritt {draft.step_number}: Mail „{draft.subject}“ "
                f"an {draft.recipient} gesendet",
                thread_id=thread.id,
                kind=EventKind.SENT,
            )
        report.sent += 1
        self._copy_to_sent(mailbox, sent_folder, message, thread.id, now)

    def settle_interrupted(self, mailbox: Mailbox, sent_folder: str | None, now: datetime) -> None:
        """Drafts left in ``sending`` by a crash: if the mail is in the Sent folder (by its
        Message-ID, fixed before SMTP started) it went out; else it may have, so it is never
        sent again and the owner is asked to check."""
        for draft in self.store.drafts([DraftState.SENDING]):
            if sent_folder and mailbox.contains_message_id(sent_folder, draft.client_message_id):
                with self.store.atomic():
                    self._mark_done(draft, DraftState.SENT, now)
                    self.store.add_event(
                        now,
                        f"Schritt {draft.step_number}: Die Mail „{draft.subject}“ ging vor dem "
                        "Abbruch raus (im Gesendet-Ordner gefunden); ich sende sie nicht noch "
                        "einmal.",
                        thread_id=draft.thread_id,
                        kind=EventKind.SENT,
                    )
                continue
            self.settle_unclear(draft, "das Programm wurde während des Versands beendet", now)

    def settle_unclear(self, draft: Draft, why: str, now: datetime) -> None:
        """The mail may have gone out: count the step as done and ask the owner to check."""
        text = (
            f"Ob die Mail „{draft.subject}“ an {draft.recipient} angekommen ist, ist unklar "
            f"({why}). Ich schicke sie nicht noch einmal, damit sie nicht doppelt ankommt. "
            "Bitte sieh in Deinem Gesendet-Ordner nach und schicke sie bei Bedarf selbst."
        )
        with self.store.atomic():
            self._mark_done(draft, DraftState.UNCLEAR, now)
            self._alert_send_problem(draft, "unclear", "unklar", text, now)

    def _mark_done(self, draft: Draft, state: DraftState, now: datetime) -> None:
        """The step counts as done for every thread the mail spoke for."""
        self.store.set_draft_state(draft.id, state, now, sent_at=now)
        self.store.record_message_id(
            draft.client_message_id, MessageRole.SENT, now, thread_id=draft.thread_id
        )
        for thread_id in draft.thread_ids:
            self.store.update_thread(thread_id, now, step=draft.step_index + 1, last_step_at=now)

    def client_message(self, thread: Thread, draft: Draft, now: datetime) -> EmailMessage:
        """The client mail of ``draft``, threaded under the conversation (RFC 5322 §3.6.4)."""
        name = thread.client.name if draft.recipient == thread.client.email else None
        return build_mail(
            sender=address(self.owner_email, self.owner.name),
            recipient=address(draft.recipient, name),
            subject=draft.subject,
            body=draft.body,
            message_id=draft.client_message_id,
            now=now,
            references=self.store.thread_references(thread.id),
        )

    def _delivery_failed(self, draft: Draft, exc: DeliveryError, now: datetime) -> None:
        """The server refused before accepting: nothing went out, so a retry is safe.
        Runs in the caller's transaction.

        A 4xx waits and is tried again (5, 10, 20, 40 minutes); after the fifth refusal,
        or at once for a 5xx, the draft is ``failed`` and the owner learns it by mail."""
        attempts_key = smtp_attempts_key(draft.id)
        attempts = int(self.store.setting(attempts_key) or 0) + 1
        self.store.set_setting(attempts_key, str(attempts), now)
        if not exc.permanent and attempts < MAX_TEMPORARY_ATTEMPTS:
            retry_at = now + RETRY_BASE * 2 ** (attempts - 1)
            self.store.set_draft_state(draft.id, DraftState.APPROVED, now, send_after=retry_at)
            self.store.add_event(
                now,
                f"Der Server hat den Versand von Schritt {draft.step_number} vorübergehend "
                f"abgelehnt ({exc}); ich versuche es ab {retry_at.astimezone(UTC):%H:%M} UTC "
                "noch einmal.",
                thread_id=draft.thread_id,
                kind=EventKind.ERROR,
            )
            return
        self.store.set_draft_state(draft.id, DraftState.FAILED, now)
        for thread_id in draft.thread_ids:  # no step is tried again until the owner says so
            self.store.update_thread(thread_id, now, state=State.PAUSED)
        commands = " und ".join(f"„nachfass-bot resume {n}“" for n in draft.thread_ids)
        text = (
            f"Die Mail „{draft.subject}“ an {draft.recipient} konnte nicht gesendet werden "
            f"({exc}). Ich habe den Vorgang pausiert. Bitte prüfe Adresse und Postausgang; "
            f"mit {commands} geht es weiter, und ich entwerfe den "
            "Schritt nach seiner Wartezeit neu."
        )
        self._alert_send_problem(draft, "failed", "gescheitert", text, now)

    def _alert_send_problem(
        self, draft: Draft, key: str, outcome: str, text: str, now: datetime
    ) -> None:
        """The timeline entry and the owner's alert (once per draft) for a client mail that
        did not go out, or may not have."""
        self.store.add_event(now, text, thread_id=draft.thread_id, kind=EventKind.ERROR)
        self.notify_owner(
            "owner_alert",
            now,
            key=f"{key}:draft {draft.id}",
            headline=f"Versand an {draft.recipient} {outcome}",
            message=text,
            thread_id=draft.thread_id,
            client_label=draft.recipient,
        )

    def _copy_to_sent(
        self,
        mailbox: Mailbox,
        sent_folder: str | None,
        message: EmailMessage,
        thread_id: int,
        now: datetime,
    ) -> None:
        """One copy in Sent: none where the provider files SMTP mail itself
        (``sent_copy = "server"``), at once where it never does (``"bot"``); else look
        for the provider's copy first, then APPEND.
        A failure is only logged: the mail went out."""
        if self.sent_copy is SentCopy.SERVER:
            return
        if sent_folder is None:
            self.store.add_event(
                now, "Kein Gesendet-Ordner gefunden: keine Kopie abgelegt", thread_id=thread_id
            )
            return
        try:
            if self.sent_copy is SentCopy.AUTO and self._filed_by_server(
                mailbox, sent_folder, str(message["Message-ID"]), now
            ):
                return
            mailbox.append(sent_folder, to_bytes(message), now)
        except MailboxError as exc:
            self.store.add_event(
                now, f"Kopie nicht im Ordner {sent_folder} abgelegt: {exc}", thread_id=thread_id
            )

    def _filed_by_server(
        self, mailbox: Mailbox, folder: str, message_id: str, now: datetime
    ) -> bool:
        """Whether the provider filed the mail in ``folder`` itself, by its Message-ID.

        The first client mail of a store waits up to ``sent_copy_wait`` seconds for the
        provider's copy, and the answer is remembered; a provider that did not file that
        one is looked at once, without waiting, from then on."""
        learned = self.store.setting(SettingKey.SENT_COPY_BY)
        polls = 0 if learned == "bot" else round(self.sent_copy_wait / SENT_COPY_POLL)
        found = self._look_for(mailbox, folder, message_id, polls)
        if learned is None:
            self.store.set_setting(SettingKey.SENT_COPY_BY, "server" if found else "bot", now)
        return found

    def _look_for(self, mailbox: Mailbox, folder: str, message_id: str, polls: int) -> bool:
        for attempt in range(polls + 1):
            if mailbox.contains_message_id(folder, message_id):
                return True
            if attempt < polls:
                self.sleep(SENT_COPY_POLL)
        return False


def _tried_again(notice: Notice, exc: DeliveryError) -> bool:
    """A temporary refusal before the fifth: the notice waits and is tried again."""
    temporary = not (exc.uncertain or exc.permanent)
    return temporary and notice.attempts + 1 < MAX_TEMPORARY_ATTEMPTS


def _unclear_notice(notice: Notice, why: str) -> str:
    return (
        f"Ob der Hinweis „{notice.subject}“ bei dir angekommen ist, ist unklar ({why}); "
        "er wird nicht noch einmal gesendet"
    )


def mail_ref(inbound: Inbound) -> str:
    """A mail in a notice key: its Message-ID, else where it was found."""
    return inbound.message_id or f"{inbound.folder}/{inbound.uid}"
