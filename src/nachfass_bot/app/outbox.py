"""Everything the bot mails: notices and drafts to the owner, approved mails to clients.

A client mail moves ``approved → sending → sent``; ``sending`` is committed with the
Message-ID fixed before SMTP starts, so a crash between the server's "250" and the next
commit can never lead to a second send: a draft left in ``sending`` (or cut off by a
broken connection) becomes ``unclear`` — the step counts as done and the owner is asked
to check — and is never retried.
"""

from __future__ import annotations

import logging
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
    MessageRole,
    Thread,
    smtp_attempts_key,
)
from nachfass_bot.errors import DeliveryError, MailboxError, NachfassError
from nachfass_bot.texts.compose import address, build_mail, new_message_id, to_bytes
from nachfass_bot.texts.render import Texts

log = logging.getLogger(__name__)

MAX_TEMPORARY_ATTEMPTS = 5  # 4xx answers before a draft counts as failed
RETRY_BASE = timedelta(minutes=5)


class Outbox:
    """Sends through one transport and records every Message-ID it used."""

    def __init__(
        self, *, owner: OwnerConfig, store: Store, transport: Transport, texts: Texts
    ) -> None:
        self.owner = owner
        self.owner_email = owner.email.lower()
        self.store = store
        self.transport = transport
        self.texts = texts

    def mail_owner(
        self,
        subject: str,
        body: str,
        now: datetime,
        *,
        role: MessageRole | None = MessageRole.NOTICE,
        thread_id: int | None = None,
        message_id: str | None = None,
        in_reply_to: str | None = None,
    ) -> None:
        """A mail from the bot to the owner's own address; raises DeliveryError."""
        owner = address(self.owner_email, self.owner.name)
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

    def notify_owner(
        self, template: str, now: datetime, *, in_reply_to: str | None = None, **context: Any
    ) -> None:
        """Render an owner template and mail it. A broken template or a refused send is
        logged and recorded, never raised: a notice must not stop the cycle that found,
        say, the client's answer."""
        thread_id = context.get("thread_id")
        try:
            mail = self.texts.render(template, **context)
            self.mail_owner(
                mail.subject, mail.body, now, thread_id=thread_id, in_reply_to=in_reply_to
            )
        except NachfassError as exc:
            log.warning("notice %s to the owner not delivered: %s", template, exc)
            self.store.add_event(
                now,
                f"Hinweis an dich nicht zugestellt: {exc}",
                thread_id=thread_id,
                kind=EventKind.ERROR,
            )

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
                        f"Schritt {draft.step_number}: Mail „{draft.subject}“ wurde vor dem "
                        "Abbruch gesendet (im Gesendet-Ordner gefunden) → nicht erneut gesendet",
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
            self.store.add_event(now, text, thread_id=draft.thread_id, kind=EventKind.ERROR)
        self.notify_owner(
            "owner_alert",
            now,
            headline=f"Versand an {draft.recipient} unklar",
            message=text,
            thread_id=draft.thread_id,
            client_label=draft.recipient,
        )

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
                f"Versand von Schritt {draft.step_number} vorübergehend abgelehnt ({exc}) → "
                f"neuer Versuch ab {retry_at.astimezone(UTC):%H:%M} UTC",
                thread_id=draft.thread_id,
                kind=EventKind.ERROR,
            )
            return
        self.store.set_draft_state(draft.id, DraftState.FAILED, now)
        text = (
            f"Die Mail „{draft.subject}“ an {draft.recipient} konnte nicht gesendet werden "
            f"({exc}). Bitte prüfe Adresse und Postausgang und schicke sie bei Bedarf selbst."
        )
        self.store.add_event(now, text, thread_id=draft.thread_id, kind=EventKind.ERROR)
        self.notify_owner(
            "owner_alert",
            now,
            headline=f"Versand an {draft.recipient} gescheitert",
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
        if sent_folder is None:
            self.store.add_event(
                now, "Kein Gesendet-Ordner gefunden: keine Kopie abgelegt", thread_id=thread_id
            )
            return
        try:
            mailbox.append(sent_folder, to_bytes(message), now)
        except MailboxError as exc:
            self.store.add_event(
                now, f"Kopie nicht im Ordner {sent_folder} abgelegt: {exc}", thread_id=thread_id
            )
