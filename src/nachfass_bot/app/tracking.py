"""Threads started from the Sent folder and from copies to the tracking address
(docs/DESIGN.md, "Tracking from the Sent folder").

The cycle hands every new mail of the owner's Sent folder, and every copy of the owner's
mail that reached INBOX through the tracking address, to :class:`SentTracker`:

1. before the batch's transaction, :meth:`SentTracker.wants_body` picks by header alone
   the mails worth downloading (the owner's, new since tracking began, not yet known);
2. in the transaction, :meth:`SentTracker.consider` reads the whole mail
   (:class:`~nachfass_bot.app.recognise.SentReader`) and records a recognition: a new
   thread at once (``auto``; the first client mail waits one business day for a veto),
   or a proposal (``ask``, or an invoice whose facts were not readable);
3. after the poll, :meth:`SentTracker.confirm` queues one mail to the owner listing what
   this cycle recognised, numbered, under a fresh token;
4. the owner's answer to it reaches :meth:`SentTracker.apply_reply` through the
   commands step: ``nein 2``, ``du 1``, ``rechnung 1 fällig 31.03.``, ``ok``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime

from nachfass_bot.adapters.store import Store
from nachfass_bot.app.guard import MailInTransaction
from nachfass_bot.app.outbox import Outbox, mail_ref
from nachfass_bot.app.recognise import INVOICE_FIELD_LABELS, Proposal, SentReader, as_copy_to
from nachfass_bot.app.threads import store_new_thread
from nachfass_bot.config import Config
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import (
    CANCELLABLE_DRAFT_STATES,
    Client,
    DraftState,
    EventKind,
    Inbound,
    Kind,
    MessageRole,
    Recognition,
    RecognitionState,
    SettingKey,
    Source,
    State,
    TrackingMode,
)
from nachfass_bot.domain.preferences import Preferences
from nachfass_bot.domain.schedule import due_step
from nachfass_bot.mail.approval import new_token, token_tag
from nachfass_bot.mail.confirmreply import ConfirmAction, ConfirmCommand, parse_confirm_reply
from nachfass_bot.mail.headers import addresses, all_raw_headers, parse_header_block
from nachfass_bot.texts.labels import KIND_LABELS
from nachfass_bot.texts.render import format_money

log = logging.getLogger(__name__)

VETO_BUSINESS_DAYS = 1  # the owner's time to say "nein" before a client hears from us
# Where a delivering server names the envelope recipient of a copy (RFC 9228, Postfix,
# Exim, qmail); a Bcc copy shows the tracking address only there.
ENVELOPE_FIELDS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
_FIRST_STEP_NAMES = {
    Kind.ANGEBOT: "Erste Nachfrage",
    Kind.AUFTRAG: "Erste Nachfrage",
    Kind.RECHNUNG: "Erste Nachfrage zur Zahlung",
}


@dataclass(frozen=True)
class _Copy:
    """A mail as the tracker reads it: the raw bytes and where they came from."""

    mail: Inbound
    raw: bytes
    source: Source


class SentTracker:
    """Recognises offers, order documents and invoices the owner sent."""

    def __init__(
        self, *, config: Config, store: Store, outbox: Outbox, window: SendingWindow
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.window = window
        self.mode = config.tracking.sent
        self.reader = SentReader.from_config(config)
        self.preferences: Preferences = config.preferences
        self.owner_email = self.reader.owner_email
        self._since: datetime | None = None  # read by begin(), once per poll
        self._view: tuple[set[str], dict[str, Client]] | None = None

    @property
    def enabled(self) -> bool:
        return self.mode is not TrackingMode.OFF

    # -- 1. before the transaction: which mails to download --------------------------------

    def begin(self, now: datetime) -> None:
        """Remember when tracking began: older sent mail is history, left to ``scan``."""
        self._view = None
        if not self.enabled:
            return
        since = self.store.setting(SettingKey.TRACKING_SINCE)
        if since is None:
            since = now.isoformat()
            self.store.set_setting(SettingKey.TRACKING_SINCE, since, now)
        self._since = datetime.fromisoformat(since)

    def wants_body(self, mail: Inbound, header: bytes, *, in_sent: bool) -> bool:
        """By header alone: may this mail start a thread? The owner's mail, sent since
        tracking began, not the bot's and not known yet; in INBOX only a copy to the
        tracking address."""
        if not self.enabled or mail.from_addr != self.owner_email or not mail.message_id:
            return False
        if mail.is_list_mail or (mail.auto_submitted or "no").lower() != "no":
            return False
        if not in_sent and not self._envelope_copies(header, mail):
            return False
        if not self._since_tracking(mail):
            return False
        return not self._known(mail.message_id)

    def _since_tracking(self, mail: Inbound) -> bool:
        moment = mail.received or mail.date
        return self._since is not None and moment is not None and moment >= self._since

    def _known(self, message_id: str) -> bool:
        """Recognised before, a thread's original, or the bot's own mail (one query)."""
        return self.store.is_known_message(message_id, _KNOWN_ROLES)

    def _envelope_copies(self, header: bytes, mail: Inbound) -> tuple[str, ...]:
        """The tracking address (with its tags) among the copy's envelope recipients."""
        parsed = parse_header_block(header)
        if parsed is None:
            return ()
        found = [
            address
            for name in ENVELOPE_FIELDS
            for value in all_raw_headers(parsed, name)
            for address in addresses(value)
        ]
        return tuple(a for a in (*found, *mail.to_addrs) if self._is_tracking_address(a))

    def _is_tracking_address(self, address: str) -> bool:
        base = self.reader.tracking_address
        local, _, domain = address.lower().rpartition("@")
        base_local, _, base_domain = base.rpartition("@")
        if domain != base_domain:
            return False
        return local == base_local or (
            local.startswith(base_local) and local[len(base_local)] in "+-._"
        )

    # -- 2. in the transaction: recognise --------------------------------------------------

    def consider(
        self, mail: Inbound, header: bytes, raw: bytes, now: datetime, *, in_sent: bool
    ) -> None:
        """Recognise one downloaded mail of the owner's; INBOX copies carry their envelope
        recipients as Bcc so that they read like the Sent copy."""
        if in_sent:
            copy = _Copy(mail, raw, Source.SENT)
        else:
            envelope = self._envelope_copies(header, mail)
            if not envelope:  # downloaded for another reason: a copy, but not to us
                return
            copy = _Copy(mail, as_copy_to(raw, envelope), Source.BCC)
        try:
            with self.store.atomic():  # a savepoint: a failure leaves no half a thread
                self._recognise(copy, now)
        except MailInTransaction:
            raise
        except Exception as exc:
            self._view = None  # the savepoint rolled back what this mail added to it
            if Store.is_database_error(exc):
                raise  # the store's problem: the batch is retried by the next cycle
            # One mail that trips the recognition must not stop the sync for all others.
            log.exception("sent mail %s/%s not recognised", mail.folder, mail.uid)
            self.store.add_event(
                now,
                f"Gesendete Mail „{mail.subject[:60]}“ (Ordner {mail.folder}) nicht "
                f"ausgewertet: {type(exc).__name__}",
                kind=EventKind.ERROR,
            )

    def _recognise(self, copy: _Copy, now: datetime) -> None:
        mid = copy.mail.message_id
        if mid is None or self._known(mid):
            return
        finding = self.reader.read(
            copy.raw,
            now=now,
            received=copy.mail.received,
            tracked_message_ids=self._known_threads()[0],
            clients=self._known_threads()[1],
        )
        if finding.proposal is None:
            log.info("sent mail %s/%s: %s", copy.mail.folder, copy.mail.uid, finding.reason)
            return
        source = Source.BCC if finding.requested or copy.source is Source.BCC else Source.SENT
        proposal = finding.proposal
        if self.mode is TrackingMode.AUTO and not proposal.missing:
            self._track(proposal, source, finding.reason, now)
        else:
            self.store.add_recognition(
                message_id=proposal.message_id,
                state=RecognitionState.PROPOSED,
                source=source,
                reason=finding.reason,
                now=now,
                proposal=proposal.to_json(),
            )

    def _track(self, proposal: Proposal, source: Source, reason: str, now: datetime) -> int:
        not_before = self.window.add_business_days(now, VETO_BUSINESS_DAYS)
        with self.store.atomic():
            thread_id = store_new_thread(self.store, proposal.new_thread(source, not_before), now)
            self._remember(proposal)
            self.store.add_event(now, reason, thread_id=thread_id)
            added = self.store.add_recognition(
                message_id=proposal.message_id,
                state=RecognitionState.TRACKED,
                source=source,
                reason=reason,
                now=now,
                thread_id=thread_id,
                proposal=proposal.to_json(),
            )
            if not added:  # recognised as a proposal before: it is a thread now
                recognition = self.store.recognition(proposal.message_id)
                assert recognition is not None
                self.store.update_recognition(
                    recognition.id, now, state=RecognitionState.TRACKED, thread_id=thread_id,
                    proposal=proposal.to_json(),
                )  # fmt: skip
        return thread_id

    def known_threads(self) -> tuple[set[str], dict[str, Client]]:
        """The Message-IDs of every thread's conversation and the clients by address, in
        one read of the threads: what a reply in a tracked thread and a known client's
        Du or Sie are recognised by."""
        tracked: set[str] = set()
        clients: dict[str, Client] = {}
        for thread in self.store.threads():
            tracked.update(thread.message_ids)
            clients[thread.client.email] = thread.client
        return tracked, clients

    def _known_threads(self) -> tuple[set[str], dict[str, Client]]:
        """:meth:`known_threads`, read once per poll (:meth:`begin` forgets it) and kept
        up to date as this poll tracks mail: not one read of every thread per sent mail."""
        if self._view is None:
            self._view = self.known_threads()
        return self._view

    def _remember(self, proposal: Proposal) -> None:
        """A thread this poll tracked, in the view a later sent mail is judged by."""
        if self._view is None:
            return
        tracked, clients = self._view
        tracked.add(proposal.message_id)
        clients[proposal.email] = proposal.new_thread(Source.SENT).client()

    # -- 3. after the poll: one confirmation --------------------------------------------------

    def confirm(self, now: datetime) -> None:
        """Queue one mail listing every recognition no earlier mail listed."""
        with self.store.atomic():
            fresh = self.store.unconfirmed_recognitions()
            if not fresh:
                return
            token = new_token()
            for position, recognition in enumerate(fresh, start=1):
                self.store.update_recognition(recognition.id, now, token=token, position=position)
            entries = [self._entry(r, position) for position, r in enumerate(fresh, start=1)]
            self.outbox.notify_owner(
                "owner_tracked",
                now,
                key=f"tracked:{token}",
                token_tag=token_tag(token),
                entries=entries,
                ask=self.mode is TrackingMode.ASK,
                veto_until=self.window.add_business_days(now, VETO_BUSINESS_DAYS),
                thread_id=None,
            )

    def _entry(self, recognition: Recognition, position: int) -> dict[str, object]:
        proposal = Proposal.from_json(recognition.proposal or "{}")
        thread = self.store.thread(recognition.thread_id) if recognition.thread_id else None
        first = None
        if thread is not None:
            refined = self.preferences.refine(thread)
            due = due_step(refined, self.window, self.preferences.playbook(refined))
            first = due.due_at if due is not None else None
        return {
            "number": position,
            "tracked": recognition.state is RecognitionState.TRACKED,
            "kind_label": KIND_LABELS[proposal.kind],
            "client": proposal.name or proposal.email,
            "email": proposal.email,
            "subject": proposal.subject,
            "sent_on": proposal.started_at,
            "invoice_no": proposal.invoice_no,
            "amount": proposal.amount,
            "due_date": proposal.due_date,
            "due_from_terms": proposal.due_from_terms,
            "terms_days": proposal.terms_days,
            "missing": [INVOICE_FIELD_LABELS[name] for name in proposal.missing],
            "first_step": _FIRST_STEP_NAMES[proposal.kind],
            "first_step_at": first and short_day(first, self.window),
            "du": proposal.du,
            "guessed_du": proposal.guessed_du,
            "reason": recognition.reason,
        }

    # -- 4. the owner's answer --------------------------------------------------------------

    def apply_reply(
        self, recognitions: list[Recognition], body: str, inbound: Inbound, now: datetime
    ) -> bool:
        """Carry out the owner's answer to a confirmation mail (in the commands step's
        transaction) and answer it; True when anything changed."""
        today = now.astimezone(self.window.zone).date()
        notice = self.store.notice(f"tracked:{recognitions[0].token}")
        reply = parse_confirm_reply(
            body, today=today, notice_body=notice.body if notice else "",
            token=recognitions[0].token or "",
        )  # fmt: skip
        by_number = {r.position: r for r in recognitions if r.position is not None}
        done: list[str] = []
        problems = [f"„{line[:80]}“ habe ich nicht verstanden" for line in reply.not_understood]
        for command in reply.commands:
            targets = [by_number.get(n) for n in command.positions] or list(by_number.values())
            for number, target in zip(command.positions or by_number, targets, strict=True):
                if target is None:
                    problems.append(f"Nummer {number} steht nicht in der Liste")
                    continue
                outcome = self._apply(command, self._current(target), now)
                (done if outcome.ok else problems).append(f"Nummer {number}: {outcome.text}")
        done.extend(self._track_completed(recognitions, now))
        self.outbox.notify_owner(
            "owner_tracked_reply", now, key=f"tracked-reply:{mail_ref(inbound)}",
            in_reply_to=inbound.message_id, done=done, problems=problems,
            token_tag=token_tag(recognitions[0].token or ""), thread_id=None,
        )  # fmt: skip
        return bool(done)

    def _current(self, recognition: Recognition) -> Recognition:
        fresh = self.store.recognition(recognition.message_id)
        return fresh or recognition

    def _apply(self, command: ConfirmCommand, target: Recognition, now: datetime) -> _Outcome:
        if target.state is RecognitionState.DROPPED:
            return _Outcome(False, "schon verworfen")
        if command.action is ConfirmAction.DROP:
            return self._drop(target, now)
        if command.action is ConfirmAction.ACCEPT:
            return self._accept(target, now)
        return self._correct(command, target, now)

    def _drop(self, target: Recognition, now: datetime) -> _Outcome:
        self.store.update_recognition(target.id, now, state=RecognitionState.DROPPED)
        if target.thread_id is None:
            return _Outcome(True, "wird nicht verfolgt")
        self.store.update_thread(target.thread_id, now, state=State.CLOSED)
        for draft in self.store.drafts(CANCELLABLE_DRAFT_STATES, target.thread_id):
            self.store.set_draft_state(draft.id, DraftState.CANCELLED, now)
        self.store.add_event(
            now, "Von Dir verworfen („nein“ auf die Aufnahme-Mail) → Vorgang geschlossen",
            thread_id=target.thread_id, kind=EventKind.OWNER,
        )  # fmt: skip
        return _Outcome(True, f"Vorgang {target.thread_id} verworfen, ich fasse nicht nach")

    def _accept(self, target: Recognition, now: datetime) -> _Outcome:
        if target.state is RecognitionState.TRACKED:
            return _Outcome(True, f"bleibt aufgenommen (Vorgang {target.thread_id})")
        proposal = Proposal.from_json(target.proposal or "{}")
        if proposal.missing:
            return _Outcome(False, _missing_text(proposal, target.position))
        thread_id = self._track_accepted(proposal, target, now)
        return _Outcome(True, f"aufgenommen als Vorgang {thread_id}")

    def _track_accepted(self, proposal: Proposal, target: Recognition, now: datetime) -> int:
        thread_id = store_new_thread(self.store, proposal.new_thread(target.source), now)
        self._remember(proposal)
        self.store.add_event(now, target.reason, thread_id=thread_id)
        self.store.update_recognition(
            target.id, now, state=RecognitionState.TRACKED, thread_id=thread_id
        )
        return thread_id

    def _correct(self, command: ConfirmCommand, target: Recognition, now: datetime) -> _Outcome:
        proposal = Proposal.from_json(target.proposal or "{}")
        corrected = _corrected(proposal, command)
        thread = self.store.thread(target.thread_id) if target.thread_id else None
        if thread is not None and thread.step > 0 and corrected.kind is not thread.kind:
            return _Outcome(False, "die Art lässt sich nach dem ersten Schritt nicht mehr ändern")
        if thread is not None and corrected.missing:
            return _Outcome(False, _missing_text(corrected, target.position))
        self.store.update_recognition(target.id, now, proposal=corrected.to_json())
        if thread is not None:
            self._update_thread(thread.id, thread.client, corrected, now)
        return _Outcome(True, _correction_text(command))

    def _update_thread(self, thread_id: int, client: Client, new: Proposal, now: datetime) -> None:
        self.store.upsert_client(replace(client, du=new.du, anrede=new.anrede), now)
        self.store.update_thread(
            thread_id, now, kind=new.kind,
            invoice_no=new.invoice_no if new.kind is Kind.RECHNUNG else None,
            amount=new.amount if new.kind is Kind.RECHNUNG else None,
            due_date=new.due_date if new.kind is Kind.RECHNUNG else None,
        )  # fmt: skip
        self.store.add_event(
            now, f"Von Dir korrigiert: {KIND_LABELS[new.kind]}, {'Du' if new.du else 'Sie'}",
            thread_id=thread_id, kind=EventKind.OWNER,
        )  # fmt: skip

    def _track_completed(self, recognitions: list[Recognition], now: datetime) -> list[str]:
        """``auto``: a proposal that a correction made complete becomes a thread."""
        if self.mode is not TrackingMode.AUTO:
            return []
        done = []
        for old in recognitions:
            target = self._current(old)
            if target.state is not RecognitionState.PROPOSED:
                continue
            proposal = Proposal.from_json(target.proposal or "{}")
            if not proposal.missing:
                thread_id = self._track_accepted(proposal, target, now)
                done.append(f"Nummer {target.position}: aufgenommen als Vorgang {thread_id}")
        return done


# A sent mail with one of these Message-IDs starts no thread: a thread's original, or the
# bot's own mail.
_KNOWN_ROLES = (MessageRole.ORIGINAL, MessageRole.SENT, MessageRole.DRAFT, MessageRole.NOTICE)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    text: str


def _corrected(proposal: Proposal, command: ConfirmCommand) -> Proposal:
    if command.action is ConfirmAction.DU:
        return replace(proposal, du=True, guessed_du=False)
    if command.action is ConfirmAction.SIE:
        return replace(proposal, du=False, guessed_du=False)
    assert command.kind is not None
    return replace(
        proposal,
        kind=command.kind,
        invoice_no=command.invoice_no or proposal.invoice_no,
        amount=command.amount if command.amount is not None else proposal.amount,
        due_date=command.due_date or proposal.due_date,
        due_from_terms=proposal.due_from_terms and command.due_date is None,
    )


def _correction_text(command: ConfirmCommand) -> str:
    if command.action is ConfirmAction.DU:
        return "Anrede jetzt „Du“"
    if command.action is ConfirmAction.SIE:
        return "Anrede jetzt „Sie“"
    assert command.kind is not None
    text = f"jetzt {KIND_LABELS[command.kind]}"
    if command.invoice_no:
        text += f", Nr. {command.invoice_no}"
    if command.amount is not None:
        text += f", {format_money(command.amount)}"
    if command.due_date is not None:
        text += f", fällig {command.due_date:%d.%m.%Y}"
    return text


def _missing_text(proposal: Proposal, position: int | None) -> str:
    missing = ", ".join(INVOICE_FIELD_LABELS[name] for name in proposal.missing)
    return (
        f"für eine Rechnung fehlt noch: {missing} – schreib z. B. „rechnung {position} "
        "nr 2026-014 betrag 1.190,00 fällig 31.03.“"
    )


_WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


def short_day(moment: datetime | date, window: SendingWindow) -> str:
    """``Mi 11.03.`` in the owner's time zone."""
    day = moment.astimezone(window.zone).date() if isinstance(moment, datetime) else moment
    return f"{_WEEKDAYS[day.weekday()]} {day:%d.%m.}"
