"""Bank data in the store: bookings, statement files, payments, questions to the owner
(docs/DESIGN.md, "Bank statements"). The tables are migration 9 of ``store.py``; this
module reads and writes them over the same connection, inside the caller's
:meth:`Store.atomic`. Bookings stay in the local store: nothing is written back to a
bank, and ``forget`` deletes them for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from nachfass_bot.adapters.store import Store, from_iso, to_iso
from nachfass_bot.domain.models import (
    Payment,
    PaymentQuestion,
    PaymentSource,
    QuestionState,
)
from nachfass_bot.domain.payments import Booking, MatchKind


class FileState:
    """What became of a statement file (``statement_files.state``)."""

    IMPORTED = "imported"
    BROKEN = "broken"


@dataclass(frozen=True)
class StoredBooking:
    """A booking as stored, with the matcher's verdict and the file it came from."""

    booking: Booking
    verdict: MatchKind
    file: str
    imported_at: datetime


@dataclass(frozen=True)
class PaymentRow:
    """A payment with its thread's invoice number and client, for the digest."""

    payment: Payment
    invoice_no: str | None
    client: str


class Ledger:
    """The bank tables of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    # -- statement files ------------------------------------------------------------------

    def file_state(self, digest: str) -> str | None:
        """``imported`` or ``broken`` for a file seen before (by its SHA-256), else None."""
        row = self._first("SELECT state FROM statement_files WHERE hash = ?", [digest])
        return None if row is None else str(row["state"])

    def record_file(
        self,
        digest: str,
        name: str,
        state: str,
        now: datetime,
        *,
        problem: str | None = None,
        bookings: int = 0,
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO statement_files (hash, name, state, problem, bookings, "
            "imported_at) VALUES (?, ?, ?, ?, ?, ?)",
            [digest, name, state, problem, bookings, to_iso(now)],
        )

    # -- bookings --------------------------------------------------------------------------

    def has_booking(self, key: str) -> bool:
        return self._first("SELECT 1 FROM bookings WHERE key = ?", [key]) is not None

    def add_booking(self, booking: Booking, verdict: MatchKind, file: str, now: datetime) -> bool:
        """Store a booking once by its key; False (nothing changed) when it is known."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO bookings (key, booked, value_date, amount, currency, payer, "
            "payer_iban, purpose, reference, end_to_end, reversal, file, verdict, imported_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [booking.key, booking.booked.isoformat(), booking.value_date.isoformat(),
             str(booking.amount), booking.currency, booking.payer, booking.payer_iban,
             booking.purpose, booking.reference, booking.end_to_end, int(booking.reversal),
             file, str(verdict), to_iso(now)],
        )  # fmt: skip
        return cursor.rowcount == 1

    def set_verdict(self, key: str, verdict: MatchKind) -> None:
        self.db.execute("UPDATE bookings SET verdict = ? WHERE key = ?", [str(verdict), key])

    def booking(self, key: str) -> StoredBooking | None:
        row = self._first("SELECT * FROM bookings WHERE key = ?", [key])
        return _booking_from_row(row) if row else None

    def earlier_credits(self, booking: Booking) -> list[Booking]:
        """Stored credits with the booking's bank or end-to-end reference: what a reversal
        may take back."""
        refs = [ref for ref in (booking.reference, booking.end_to_end) if ref]
        if not refs:
            return []
        sql = (
            "SELECT * FROM bookings WHERE CAST(amount AS REAL) > 0 AND "
            "(reference IN (?, ?) OR end_to_end IN (?, ?)) ORDER BY booked"
        )
        first, second = refs[0], refs[-1]
        rows = self.db.query(sql, [first, second, first, second])
        return [_booking_from_row(row).booking for row in rows]

    def bookings_between(
        self, start: datetime, end: datetime, verdicts: Sequence[MatchKind]
    ) -> list[StoredBooking]:
        """Bookings imported with ``start <= imported_at < end`` and one of ``verdicts``."""
        marks = ", ".join("?" for _ in verdicts)
        sql = (
            "SELECT * FROM bookings WHERE imported_at >= ? AND imported_at < ? "
            f"AND verdict IN ({marks}) ORDER BY booked, key"
        )
        rows = self.db.query(sql, [to_iso(start), to_iso(end), *map(str, verdicts)])
        return [_booking_from_row(row) for row in rows]

    def forget(self, before: date) -> int:
        """Delete every booking booked before ``before``; open questions about them are
        dropped. Payments stay (they are the threads' history, without bank data)."""
        with self.store.atomic():
            self.db.execute(
                "UPDATE payment_questions SET state = ? WHERE state = ? AND booking_key IN "
                "(SELECT key FROM bookings WHERE booked < ?)",
                [str(QuestionState.DROPPED), str(QuestionState.OPEN), before.isoformat()],
            )
            cursor = self.db.execute("DELETE FROM bookings WHERE booked < ?", [before.isoformat()])
        return int(cursor.rowcount)

    # -- payments --------------------------------------------------------------------------

    def add_payment(
        self,
        thread_id: int,
        amount: Decimal,
        paid_on: date,
        source: PaymentSource,
        now: datetime,
        booking_key: str | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO payments (thread_id, amount, paid_on, source, booking_key, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [thread_id, str(amount), paid_on.isoformat(), str(source), booking_key, to_iso(now)],
        )

    def payments(self, thread_id: int) -> list[Payment]:
        sql = "SELECT * FROM payments WHERE thread_id = ? ORDER BY paid_on, id"
        return [_payment_from_row(row) for row in self.db.query(sql, [thread_id])]

    def payments_for_booking(self, key: str) -> list[Payment]:
        sql = "SELECT * FROM payments WHERE booking_key = ? ORDER BY id"
        return [_payment_from_row(row) for row in self.db.query(sql, [key])]

    def delete_payments_for_booking(self, key: str) -> None:
        self.db.execute("DELETE FROM payments WHERE booking_key = ?", [key])

    def paid_since(self, thread_ids: Sequence[int], moment: datetime) -> bool:
        """Whether a payment for any of ``thread_ids`` was recorded after ``moment``."""
        marks = ", ".join("?" for _ in thread_ids)
        sql = f"SELECT 1 FROM payments WHERE thread_id IN ({marks}) AND created_at > ? LIMIT 1"
        return self._first(sql, [*thread_ids, to_iso(moment)]) is not None

    def payments_between(self, start: datetime, end: datetime) -> list[PaymentRow]:
        """Payments recorded with ``start <= created_at < end``, with invoice and client."""
        sql = (
            "SELECT p.*, t.invoice_no, coalesce(c.name, c.email) AS client FROM payments p "
            "JOIN threads t ON t.id = p.thread_id JOIN clients c ON c.id = t.client_id "
            "WHERE p.created_at >= ? AND p.created_at < ? ORDER BY p.paid_on, p.id"
        )
        return [
            PaymentRow(_payment_from_row(row), row["invoice_no"], row["client"])
            for row in self.db.query(sql, [to_iso(start), to_iso(end)])
        ]

    # -- questions to the owner ---------------------------------------------------------------

    def add_question(
        self, token: str, booking_key: str, thread_ids: Sequence[int], now: datetime
    ) -> None:
        self.db.execute(
            "INSERT INTO payment_questions (token, booking_key, thread_ids, state, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [token, booking_key, ",".join(map(str, thread_ids)), str(QuestionState.OPEN),
             to_iso(now), to_iso(now)],
        )  # fmt: skip

    def question_by_token(self, token: str) -> PaymentQuestion | None:
        row = self._first("SELECT * FROM payment_questions WHERE token = ?", [token])
        return _question_from_row(row) if row else None

    def questions_for_booking(self, key: str) -> list[PaymentQuestion]:
        sql = "SELECT * FROM payment_questions WHERE booking_key = ? ORDER BY id"
        return [_question_from_row(row) for row in self.db.query(sql, [key])]

    def set_question_state(self, question_id: int, state: QuestionState, now: datetime) -> None:
        self.db.execute(
            "UPDATE payment_questions SET state = ?, updated_at = ? WHERE id = ?",
            [str(state), to_iso(now), question_id],
        )

    def _first(self, sql: str, args: list[Any]) -> dict[str, Any] | None:
        return next(iter(self.db.query(sql, args)), None)


def _booking_from_row(row: dict[str, Any]) -> StoredBooking:
    booking = Booking(
        booked=date.fromisoformat(row["booked"]),
        value_date=date.fromisoformat(row["value_date"]),
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        payer=row["payer"],
        payer_iban=row["payer_iban"],
        purpose=row["purpose"],
        reference=row["reference"],
        end_to_end=row["end_to_end"],
        reversal=bool(row["reversal"]),
    )
    imported = from_iso(row["imported_at"])
    assert imported is not None
    return StoredBooking(booking, MatchKind(row["verdict"]), row["file"], imported)


def _payment_from_row(row: dict[str, Any]) -> Payment:
    return Payment(
        id=row["id"],
        thread_id=row["thread_id"],
        amount=Decimal(row["amount"]),
        paid_on=date.fromisoformat(row["paid_on"]),
        source=PaymentSource(row["source"]),
        booking_key=row["booking_key"],
    )


def _question_from_row(row: dict[str, Any]) -> PaymentQuestion:
    created = from_iso(row["created_at"])
    assert created is not None
    return PaymentQuestion(
        id=row["id"],
        token=row["token"],
        booking_key=row["booking_key"],
        thread_ids=tuple(int(i) for i in row["thread_ids"].split(",") if i),
        state=QuestionState(row["state"]),
        created_at=created,
    )
