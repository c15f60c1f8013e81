"""Payments seen on bank statements (docs/DESIGN.md, "Bank statements").

A statement file — dropped into ``[bank] import_dir`` and imported by the cycle, or given
to ``nachfass-bot bank import`` — becomes bookings (``adapters/bank``). Each booking is
stored once by its key; :func:`~nachfass_bot.domain.payments.match_credit` decides what it
means for the open invoices, and :class:`Payments` records the effect in the same
transaction: a paid invoice goes to ``paid`` and its waiting drafts are cancelled, a
partial payment leaves the open remainder that later mails ask for, a credit without an
invoice number that fits one client becomes a question to the owner (answered ja / nein
by reply, with the checks of a draft approval), an overpayment and a reversal are told to
the owner. Notices go through the outbox and are sent after the commit.

:meth:`Payments.apply_bookings` takes bookings whatever brought them: a FinTS fetch would
call it as the file import does. A broken file is reported once and remembered by its
SHA-256; one bad file or booking never stops the cycle. Nothing is written to the bank.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from nachfass_bot.adapters.bank.statements import read_statement
from nachfass_bot.adapters.ledger import FileState, Ledger
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.guard import MailInTransaction
from nachfass_bot.app.outbox import Outbox, mail_ref
from nachfass_bot.config import BankConfig
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.dates import german_date
from nachfass_bot.domain.models import (
    CANCELLABLE_DRAFT_STATES,
    CommandKind,
    CycleReport,
    DraftState,
    EventKind,
    Inbound,
    Kind,
    PaymentQuestion,
    PaymentSource,
    QuestionState,
    State,
    Thread,
)
from nachfass_bot.domain.payments import Booking, MatchKind, OpenInvoice, PaymentMatch, match_credit
from nachfass_bot.errors import BankFileError
from nachfass_bot.mail.approval import new_token, parse_command, token_tag
from nachfass_bot.texts.render import format_money

log = logging.getLogger(__name__)

# Invoice threads a credit can still pay: every state but paid and closed.
PAYABLE_STATES = (State.OPEN, State.ANSWERED, State.PAUSED, State.RESTING, State.PARKED)
# An invoice may be dated and mailed some days apart: a booking up to this long before
# the mail was sent can still pay it (never one weeks before: that is another invoice).
ISSUE_SLACK = timedelta(days=7)


@dataclass
class FileResult:
    """What one statement file brought: ``state`` is ``imported``, ``known`` (the same
    file before) or ``broken`` (``problem`` says why, in German)."""

    name: str
    state: str
    bookings: int = 0
    new: int = 0
    kinds: dict[MatchKind, int] = field(default_factory=dict)
    problem: str | None = None
    first_report: bool = False  # broken, and reported now for the first time


class Payments:
    """Imports statements and records what their credits pay."""

    def __init__(
        self, *, store: Store, outbox: Outbox, window: SendingWindow, bank: BankConfig
    ) -> None:
        self.store = store
        self.ledger = Ledger(store)
        self.outbox = outbox
        self.window = window
        self.bank = bank

    # -- files --------------------------------------------------------------------------

    def import_folder(self, now: datetime, report: CycleReport) -> None:
        """The cycle's import: every file in ``import_dir`` not imported before. A broken
        file is reported once (event and notice); nothing here stops the cycle."""
        folder = self.bank.import_dir
        if folder is None or not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                result = self.import_file(path, now, notify=True)
            except MailInTransaction:
                raise
            except Exception as exc:
                if Store.is_database_error(exc):
                    raise
                log.exception("statement file not imported")
                report.problems.append(f"Kontoauszug {path.name}: interner Fehler")
                continue
            if result.first_report:
                report.problems.append(result.problem or path.name)

    def import_files(self, paths: Iterable[Path], now: datetime) -> list[FileResult]:
        """``bank import FILE…``: each file in its own transaction; a broken one is
        reported to the caller (and remembered), not mailed."""
        results = []
        for path in paths:
            results.append(self.import_file(path, now, notify=False))
        return results

    def import_file(self, path: Path, now: datetime, *, notify: bool) -> FileResult:
        """Import one file unless it was imported (or found broken) before, by SHA-256."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            problem = f"Kontoauszug {path.name}: lässt sich nicht lesen ({exc.strerror or exc})"
            digest = "unreadable:" + hashlib.sha256(str(path).encode()).hexdigest()
            return self._broken(path.name, digest, problem, now, notify=notify)
        digest = hashlib.sha256(data).hexdigest()
        known = self.ledger.file_state(digest)
        if known is not None:
            return FileResult(path.name, "known" if known == FileState.IMPORTED else known)
        try:
            bookings = read_statement(data, path.name, csv_mapping=self.bank.csv)
        except BankFileError as exc:
            return self._broken(path.name, digest, str(exc), now, notify=notify)
        with self.store.atomic():
            result = self.apply_bookings(bookings, path.name, now)
            self.ledger.record_file(
                digest, path.name, FileState.IMPORTED, now, bookings=len(bookings)
            )
        log.info(
            "statement file %s… imported: %d bookings, %d new",
            digest[:12], result.bookings, result.new,
        )  # fmt: skip
        return result

    def _broken(
        self, name: str, digest: str, problem: str, now: datetime, *, notify: bool
    ) -> FileResult:
        if self.ledger.file_state(digest) == FileState.BROKEN:
            return FileResult(name, FileState.BROKEN, problem=problem)
        log.warning("statement file %s… not readable; remembered, not read again", digest[:12])
        with self.store.atomic():
            self.ledger.record_file(digest, name, FileState.BROKEN, now, problem=problem)
            self.store.add_event(now, f"{problem} → nicht eingelesen", kind=EventKind.ERROR)
            if notify:
                self.outbox.notify_owner(
                    "owner_alert", now, key=f"bank-file:{digest}",
                    headline=f"Kontoauszug {name} nicht lesbar",
                    message=(
                        f"{problem}. Ich habe die Datei nicht eingelesen und melde sie nur "
                        "dieses eine Mal. Bitte lade den Auszug noch einmal aus dem "
                        "Online-Banking (am besten als CAMT.053) und lege ihn neu in den Ordner."
                    ),
                    thread_id=None, client_label=None,
                )  # fmt: skip
        return FileResult(name, FileState.BROKEN, problem=problem, first_report=True)

    # -- bookings -------------------------------------------------------------------------

    def apply_bookings(self, bookings: Sequence[Booking], source: str, now: datetime) -> FileResult:
        """Store each new booking once and record what it pays, in the caller's
        transaction (each booking in a savepoint: one that fails is skipped with an
        error event). ``source`` names where the bookings came from (a file name)."""
        result = FileResult(source, FileState.IMPORTED, bookings=len(bookings))
        for booking in bookings:
            try:
                with self.store.atomic():
                    match = self._apply_booking(booking, source, now)
            except MailInTransaction:
                raise
            except Exception as exc:
                if Store.is_database_error(exc):
                    raise
                log.exception("booking %s not applied", booking.key[:20])
                self.store.add_event(
                    now,
                    f"Buchung vom {german_date(booking.booked)} über "
                    f"{format_money(booking.amount)} ({source}) nicht ausgewertet: "
                    f"{type(exc).__name__}",
                    kind=EventKind.ERROR,
                )
                continue
            if match is not None:
                result.new += 1
                result.kinds[match.kind] = result.kinds.get(match.kind, 0) + 1
        return result

    def _apply_booking(self, booking: Booking, source: str, now: datetime) -> PaymentMatch | None:
        if self.ledger.has_booking(booking.key):
            return None  # an overlapping statement, or the same file again
        earlier = self.ledger.earlier_credits(booking) if booking.amount <= 0 else []
        match = match_credit(booking, self.open_invoices(before=booking.booked), earlier=earlier)
        self.ledger.add_booking(booking, match.kind, source, now)
        log.info("booking %s: %s", booking.key[:20], match.kind)
        if match.kind in (MatchKind.EXACT, MatchKind.COMBINED, MatchKind.OVERPAID):
            self._paid(match.invoices, booking, source, now, surplus=match.surplus)
        elif match.kind is MatchKind.PARTIAL:
            self._partial(match.invoices[0], booking, booking.amount, source, now)
        elif match.kind is MatchKind.QUESTION:
            self._ask(match, now)
        elif match.kind is MatchKind.REVERSAL and match.reverses is not None:
            self._reversed(booking, match.reverses, now)
        return match

    def open_invoices(self, before: date | None = None) -> list[OpenInvoice]:
        """Invoice threads that still wait for money, with their open remainder; with
        ``before``, only those sent by then (a booking cannot pay an invoice written
        after it; ``ISSUE_SLACK`` allows for an invoice dated before it was mailed)."""
        latest = before + ISSUE_SLACK if before is not None else None
        return [
            OpenInvoice(
                thread_id=thread.id,
                number=thread.invoice_no,
                open_amount=open_amount,
                client_name=thread.client.name,
                client_email=thread.client.email,
            )
            for thread in self.store.threads(PAYABLE_STATES)
            if thread.kind is Kind.RECHNUNG
            and thread.invoice_no
            and (open_amount := thread.open_amount) is not None
            and open_amount > 0
            and (latest is None or thread.started_at.date() <= latest)
        ]

    # -- effects ---------------------------------------------------------------------------

    def _paid(
        self,
        invoices: Sequence[OpenInvoice],
        booking: Booking,
        source: str,
        now: datetime,
        surplus: Decimal = Decimal(0),
    ) -> None:
        """Every invoice in ``invoices`` is paid by ``booking``: a payment of its open
        amount (plus the surplus on the last), state ``paid``, waiting drafts cancelled."""
        together = ""
        if len(invoices) > 1:
            numbers = ", ".join(inv.number for inv in invoices)
            together = f" für die Rechnungen {numbers} zusammen"
        for position, invoice in enumerate(invoices, start=1):
            extra = surplus if position == len(invoices) else Decimal(0)
            self.ledger.add_payment(
                invoice.thread_id, invoice.open_amount + extra, booking.booked,
                PaymentSource.BANK, now, booking.key,
            )  # fmt: skip
            close_paid(
                self.store,
                invoice.thread_id,
                f"Zahlung über {format_money(booking.amount)} am {german_date(booking.booked)} "
                f"erkannt{together}, Kontoauszug {source} → Rechnung bezahlt",
                now,
            )
        if surplus > 0:
            last = invoices[-1]
            self.outbox.notify_owner(
                "owner_alert", now, key=f"payment-surplus:{booking.key}",
                headline=f"Rechnung {last.number} überzahlt",
                message=(
                    f"Für Rechnung {last.number} sind am {german_date(booking.booked)} "
                    f"{format_money(booking.amount)} eingegangen, offen waren "
                    f"{format_money(last.open_amount)}: {format_money(surplus)} zu viel. Die "
                    "Rechnung gilt als bezahlt; bitte kläre die Differenz mit Deinem Kunden."
                ),
                thread_id=last.thread_id, client_label=last.client_name or last.client_email,
            )  # fmt: skip

    def _partial(
        self, invoice: OpenInvoice, booking: Booking, amount: Decimal, source: str, now: datetime
    ) -> None:
        self.ledger.add_payment(
            invoice.thread_id, amount, booking.booked, PaymentSource.BANK, now, booking.key
        )
        remainder = invoice.open_amount - amount
        self.store.add_event(
            now,
            f"Teilzahlung über {format_money(amount)} am {german_date(booking.booked)} "
            f"erkannt, Kontoauszug {source}; offen bleiben {format_money(remainder)}, "
            "weitere Mails nennen diesen Rest",
            thread_id=invoice.thread_id,
            kind=EventKind.INFO,
        )
        withdraw_approved(self.store, invoice.thread_id, now)

    def _ask(self, match: PaymentMatch, now: datetime) -> None:
        booking = match.booking
        token = new_token()
        ids = [inv.thread_id for inv in match.invoices]
        self.ledger.add_question(token, booking.key, ids, now)
        numbers = [inv.number for inv in match.invoices]
        for thread_id in ids:
            self.store.add_event(
                now,
                f"Zahlung über {format_money(booking.amount)} am {german_date(booking.booked)} "
                "ohne Rechnungsnummer, passt zu dieser Rechnung → Du wirst gefragt",
                thread_id=thread_id,
            )
        self.outbox.notify_owner(
            "owner_payment_question", now, key=f"payment-question:{token}",
            token_tag=token_tag(token), payer=booking.payer, amount=booking.amount,
            booked=booking.booked, numbers=numbers, thread_id=ids[0],
        )  # fmt: skip

    def _reversed(self, debit: Booking, credit: Booking, now: datetime) -> None:
        """A reversal takes back ``credit``: its payments are removed, a paid invoice is
        open again, an unanswered question about it is dropped; the owner is told."""
        payments = self.ledger.payments_for_booking(credit.key)
        self.ledger.delete_payments_for_booking(credit.key)
        for question in self.ledger.questions_for_booking(credit.key):
            if question.state is QuestionState.OPEN:
                self.ledger.set_question_state(question.id, QuestionState.DROPPED, now)
        thread_ids = sorted({payment.thread_id for payment in payments})
        text = (
            f"Die Zahlung über {format_money(credit.amount)} vom {german_date(credit.booked)} "
            f"wurde am {german_date(debit.booked)} zurückgebucht"
        )
        for thread_id in thread_ids:
            thread = self.store.thread(thread_id)
            if thread is not None and thread.state is State.PAID:
                self.store.update_thread(thread_id, now, state=State.OPEN)
            self.store.add_event(
                now, f"{text} → Rechnung wieder offen", thread_id=thread_id, kind=EventKind.WARNING
            )
        numbers = [
            thread.invoice_no
            for thread_id in thread_ids
            if (thread := self.store.thread(thread_id)) is not None and thread.invoice_no
        ]
        about = f" Rechnung {', '.join(numbers)} ist wieder offen." if numbers else ""
        self.outbox.notify_owner(
            "owner_alert", now, key=f"payment-reversal:{debit.key}",
            headline="Zahlung zurückgebucht",
            message=f"{text}.{about} Ich fasse wieder nach, wie vorher geplant.",
            thread_id=thread_ids[0] if thread_ids else None, client_label=None,
        )  # fmt: skip

    # -- the owner's answer to a question --------------------------------------------------------

    def apply_answer(
        self, question: PaymentQuestion, body: str, inbound: Inbound, now: datetime
    ) -> bool:
        """The owner's "ja" or "nein" to a payment question, in the commands step's
        transaction; True when it changed anything. Anything else gets a short
        "nicht verstanden" answer, and the question keeps waiting."""
        today = now.astimezone(self.window.zone).date()
        ref = mail_ref(inbound)
        if question.state is not QuestionState.OPEN:
            self._answer(question, ref, "Diese Frage ist schon erledigt; ich habe nichts geändert.",
                         inbound, now)  # fmt: skip
            return False
        command = parse_command(body, today=today, token=question.token)
        stored = self.ledger.booking(question.booking_key)
        if command.kind is CommandKind.APPROVE and stored is not None:
            text = self._confirmed(question, stored.booking, stored.file, now)
        elif command.kind is CommandKind.STOP:
            self.ledger.set_question_state(question.id, QuestionState.NO, now)
            self.ledger.set_verdict(question.booking_key, MatchKind.UNMATCHED)
            text = "Verstanden: die Zahlung gehört nicht dazu. Die Rechnung bleibt offen."
        elif stored is None:
            self.ledger.set_question_state(question.id, QuestionState.DROPPED, now)
            text = "Die Buchung ist nicht mehr gespeichert (bank forget); ich habe nichts geändert."
        else:
            self._answer(question, ref, "Deine Antwort habe ich nicht verstanden. Bitte "
                         "antworte nur mit „ja“ oder „nein“.", inbound, now)  # fmt: skip
            return False
        self._answer(question, ref, text, inbound, now)
        return True

    def _confirmed(
        self, question: PaymentQuestion, booking: Booking, source: str, now: datetime
    ) -> str:
        threads = [
            thread
            for thread_id in question.thread_ids
            if (thread := self.store.thread(thread_id)) is not None
            and thread.state in PAYABLE_STATES
            and (thread.open_amount or 0) > 0
        ]
        invoices = [_open_invoice(thread) for thread in threads]
        total = sum((inv.open_amount for inv in invoices), Decimal(0))
        self.ledger.set_question_state(question.id, QuestionState.YES, now)
        if not invoices:
            return "Die Rechnung ist schon erledigt; ich habe nichts geändert."
        if len(invoices) == 1 and booking.amount < total:
            self.ledger.set_verdict(booking.key, MatchKind.PARTIAL)
            self._partial(invoices[0], booking, booking.amount, source, now)
            return (
                f"Zahlung als Teilzahlung zu Rechnung {invoices[0].number} eingetragen; offen "
                f"bleiben {format_money(total - booking.amount)}."
            )
        if booking.amount < total:
            return "Die Rechnungen sind inzwischen anders offen; ich habe nichts geändert."
        kind = MatchKind.COMBINED if len(invoices) > 1 else MatchKind.EXACT
        self.ledger.set_verdict(booking.key, kind)
        self._paid(invoices, booking, source, now, surplus=booking.amount - total)
        numbers = ", ".join(inv.number for inv in invoices)
        return f"Rechnung {numbers} gilt als bezahlt; ich frage nicht mehr nach."

    def _answer(
        self, question: PaymentQuestion, ref: str, text: str, inbound: Inbound, now: datetime
    ) -> None:
        self.store.add_event(
            now, f"Deine Antwort auf die Zahlungsfrage: {text}",
            thread_id=question.thread_ids[0] if question.thread_ids else None,
            kind=EventKind.APPROVAL,
        )  # fmt: skip
        self.outbox.notify_owner(
            "owner_alert", now, key=f"payment-answer:{question.id}:{ref}",
            in_reply_to=inbound.message_id, headline="Zahlung zuordnen", message=text,
            thread_id=question.thread_ids[0] if question.thread_ids else None,
            client_label=None,
        )  # fmt: skip


def _open_invoice(thread: Thread) -> OpenInvoice:
    return OpenInvoice(
        thread_id=thread.id,
        number=thread.invoice_no or "",
        open_amount=thread.open_amount or Decimal(0),
        client_name=thread.client.name,
        client_email=thread.client.email,
    )


def close_paid(store: Store, thread_id: int, reason: str, now: datetime) -> None:
    """An invoice is paid: state ``paid``, its waiting drafts cancelled, ``reason`` as
    the event (the caller's transaction)."""
    store.update_thread(thread_id, now, state=State.PAID)
    for draft in store.drafts(CANCELLABLE_DRAFT_STATES, thread_id):
        store.set_draft_state(draft.id, DraftState.CANCELLED, now)
    store.add_event(now, reason, thread_id=thread_id, kind=EventKind.INFO)


def withdraw_approved(store: Store, thread_id: int, now: datetime) -> None:
    """A partial payment came after the owner approved a mail that names the old amount:
    that mail must not go out. It is cancelled, and the step is drafted again (with the
    open remainder) by the next decide; a draft still waiting for the owner is rendered
    again when she approves it (``commands._refreshed``)."""
    for draft in store.drafts([DraftState.APPROVED], thread_id):
        store.set_draft_state(draft.id, DraftState.CANCELLED, now)
        store.add_event(
            now,
            f"Freigegebene Mail für Schritt {draft.step_number} zurückgehalten: sie nennt den "
            "alten Betrag; der Schritt wird mit dem offenen Rest neu entworfen",
            thread_id=thread_id,
            kind=EventKind.INFO,
        )


def record_owner_payment(
    store: Store, thread: Thread, amount: Decimal, paid_on: date, now: datetime, how: str
) -> Decimal:
    """The owner says ``amount`` came for an invoice (``paid --amount``, "bezahlt 500"):
    a payment is recorded; when nothing stays open the invoice is paid. Returns what
    stays open. ``how`` names the owner's words in the event."""
    ledger = Ledger(store)
    with store.atomic():
        ledger.add_payment(thread.id, amount, paid_on, PaymentSource.OWNER, now)
        remainder = max((thread.open_amount or Decimal(0)) - amount, Decimal(0))
        if remainder <= 0:
            close_paid(
                store, thread.id,
                f"{how}: {format_money(amount)} eingegangen → Rechnung bezahlt", now,
            )  # fmt: skip
        else:
            store.add_event(
                now,
                f"{how}: Teilzahlung über {format_money(amount)} eingetragen; offen bleiben "
                f"{format_money(remainder)}, weitere Mails nennen diesen Rest",
                thread_id=thread.id,
                kind=EventKind.OWNER,
            )
            withdraw_approved(store, thread.id, now)
    return remainder
