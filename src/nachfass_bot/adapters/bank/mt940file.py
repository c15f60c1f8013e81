"""SWIFT MT940 account statements as German banks write them, read with the ``mt-940``
library (import name ``mt940``).

German banks structure field ``:86:`` with the business code (GVC) first and ``?nn``
subfields: ``?00`` booking text, ``?20``…``?29`` purpose (lines of 27 characters, joined
without a separator because banks cut words), ``?30`` BIC, ``?31`` IBAN or account,
``?32``/``?33`` the counterparty's name. SEPA purposes carry ``EREF+`` (end-to-end
reference) and ``SVWZ+`` (the purpose proper). In ``:61:`` the first date is the value
date, the optional MMDD after it the booking date, ``RC``/``RD`` mark reversals and the
text after ``//`` is the bank's reference.

Files come as UTF-8 or, more often, ISO 8859-1 / Windows-1252.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import mt940

from nachfass_bot.domain.payments import Booking
from nachfass_bot.errors import BankFileError

_OPTIONS = mt940.Options(
    applicant_iban=True,  # ?31 is the IBAN, not part of the name
    reversal_sign=True,  # RC is money going out again
    case_insensitive_marks=True,
    strip_bom=True,
    unbounded_details=True,
    merge_keeps_values=True,
    gvc_leading_text=True,
)
_LINE_61_RE = re.compile(
    r":61:(?P<year>\d\d)(?P<month>\d\d)(?P<day>\d\d)(?:\d{4}|\s{4})?R?[DC][A-Z]?\d[\d,]*(?:,\d*)?",
    re.IGNORECASE,
)
_IBAN_RE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_NO_REFERENCE = ("NONREF", "NOTPROVIDED", "")


def decode_mt940(data: bytes) -> str:
    """UTF-8 (with or without BOM) when it decodes, else Windows-1252, else Latin-1 (which
    takes every byte: the five bytes Windows-1252 leaves out appear in old exports)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def read_mt940(data: bytes, file: str) -> list[Booking]:
    """Every statement line of an MT940 file; BankFileError naming the line where it
    broke."""
    text = decode_mt940(data).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    statement_lines = _check_statement_lines(lines, file)
    if not any(line.startswith(":20:") for line in lines):
        raise BankFileError(file, "", "ist keine MT940-Datei (Feld :20: fehlt)")
    try:
        with _quiet_library():
            statements = mt940.parse_statements(text, options=_OPTIONS)
    except RuntimeError as exc:  # the library's "Unable to parse <tag> from <value>"
        raise BankFileError(file, _line_of(exc, lines), "Feld nicht lesbar") from None
    except (ValueError, ArithmeticError, KeyError, TypeError, IndexError):
        raise BankFileError(file, "", "nicht lesbar (kein MT940 nach SWIFT-Standard)") from None
    transactions = [tx for statement in statements for tx in statement]
    if len(transactions) != statement_lines:
        raise BankFileError(
            file, "", f"{statement_lines} Umsatzzeilen (:61:), aber {len(transactions)} gelesen"
        )
    return [_booking(tx.data, file) for tx in transactions]


def _check_statement_lines(lines: list[str], file: str) -> int:
    """How many ``:61:`` lines there are; BankFileError for the first whose date or amount
    cannot be read (the library would only say which tag)."""
    count = 0
    for number, line in enumerate(lines, 1):
        if not line.startswith(":61:"):
            continue
        count += 1
        found = _LINE_61_RE.match(line)
        if found is None:
            raise BankFileError(
                file, f"Zeile {number}", "Umsatzzeile :61: ohne Datum, Soll/Haben oder Betrag"
            )
        try:
            date(2000 + int(found["year"]), int(found["month"]), int(found["day"]))
        except ValueError:
            raise BankFileError(file, f"Zeile {number}", "unmögliches Valutadatum") from None
    return count


def _line_of(exc: RuntimeError, lines: list[str]) -> str:
    """The line the library's refusal is about: the tag's first line of text."""
    value = exc.args[2] if len(exc.args) > 2 and isinstance(exc.args[2], str) else ""
    tag = getattr(exc.args[1], "id", "") if len(exc.args) > 1 else ""
    first = value.split("\n", 1)[0]
    for number, line in enumerate(lines, 1):
        if line.startswith(f":{tag}:") and first in line:
            return f"Zeile {number}"
    return ""


@contextmanager
def _quiet_library() -> Iterator[None]:
    """The library logs a line it cannot parse at ERROR, purpose and IBAN included; our
    message names the line instead, and bank data stays out of the log."""
    library_logger = logging.getLogger("mt940")
    level = library_logger.level
    library_logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        library_logger.setLevel(level)


def _booking(data: dict[str, Any], file: str) -> Booking:
    amount = data["amount"]
    currency = str(amount.currency or data.get("currency") or "")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise BankFileError(file, "", "keine Währung im Anfangssaldo (:60F:)")
    value_date = _plain_date(data["date"])
    entry = data.get("entry_date")
    status = str(data.get("status") or "").upper()
    iban = _text(data.get("applicant_iban")).replace(" ", "")
    end_to_end = _text(data.get("end_to_end_reference")) or _text(data.get("customer_reference"))
    return Booking(
        booked=_plain_date(entry) if entry else value_date,
        value_date=value_date,
        amount=Decimal(amount.amount),
        currency=currency,
        payer=_text(data.get("applicant_name")),
        payer_iban=iban if _IBAN_RE.fullmatch(iban) else None,
        purpose=_text(data.get("purpose") or data.get("transaction_details")),
        reference=_reference(data.get("bank_reference")),
        end_to_end=_reference(end_to_end),
        reversal=status.startswith("R"),
    )


def _plain_date(value: date) -> date:
    return date(value.year, value.month, value.day)


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value else ""


def _reference(value: object) -> str | None:
    text = _text(value)
    return None if text.upper() in _NO_REFERENCE else text
