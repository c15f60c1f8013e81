"""Account turnover exported as CSV, read by a column mapping.

German online banking writes semicolons, the decimal comma, dates as ``18.03.2026`` or
``18.03.26`` and Windows-1252 (some banks UTF-8 with a byte order mark). The columns differ
per bank, so :class:`CsvMapping` names them; :data:`SPARKASSE_CAMT_V2` is the preset for the
Sparkasse export "CSV-CAMT V2" (the same layout as the Sparkassen's documented CSV-CAMT
format: ``Auftragskonto``, ``Buchungstag``, ``Valutadatum``, ``Buchungstext``,
``Verwendungszweck``, ``Glaeubiger ID``, ``Mandatsreferenz``, ``Kundenreferenz
(End-to-End)``, ``Sammlerreferenz``, ``Lastschrift Ursprungsbetrag``, ``Auslagenersatz
Ruecklastschrift``, ``Beguenstigter/Zahlungspflichtiger``, ``Kontonummer/IBAN``, ``BIC
(SWIFT-Code)``, ``Betrag``, ``Waehrung``, ``Info``; all fields quoted, dates ``TT.MM.JJ``).
Preamble lines above the header (DKB, ING) are skipped: the header is the first row that
has every mapped column.
"""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from decimal import Decimal

from nachfass_bot.domain.bankcsv import PRESETS, SPARKASSE_CAMT_V2, CsvMapping
from nachfass_bot.domain.money import parse_amount
from nachfass_bot.domain.payments import Booking
from nachfass_bot.errors import BankFileError, InvalidAmount

__all__ = ["PRESETS", "SPARKASSE_CAMT_V2", "CsvMapping", "read_csv"]

HEADER_SEARCH_ROWS = 20  # preamble rows a bank may write above the header


_NO_REFERENCE = ("", "NONREF", "NOTPROVIDED")


def read_csv(data: bytes, file: str, mapping: CsvMapping = SPARKASSE_CAMT_V2) -> list[Booking]:
    """Every booked row of a CSV export; BankFileError naming the line where it broke."""
    text = _decode(data, file, mapping.encoding)
    reader = csv.reader(text.splitlines(), delimiter=mapping.delimiter)
    header: dict[str, int] | None = None
    bookings: list[Booking] = []
    try:
        for row in reader:
            if header is None:
                header = _header(row, mapping, file, reader.line_num)
                continue
            if any(cell.strip() for cell in row):
                booking = _row(row, header, mapping, file, reader.line_num)
                if booking is not None:
                    bookings.append(booking)
    except csv.Error as exc:
        raise BankFileError(
            file, f"Zeile {reader.line_num}", f"kein gültiges CSV ({exc})"
        ) from None
    if header is None:
        missing = ", ".join(f"„{column}“" for column in mapping.columns())
        raise BankFileError(file, "", f"keine Kopfzeile mit den Spalten {missing} gefunden")
    return bookings


def _decode(data: bytes, file: str, encoding: str) -> str:
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # Excel writes a byte order mark
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BankFileError(
            file, f"Zeile {line}", f"ist nicht als {encoding} gespeichert"
        ) from None
    except LookupError:
        raise BankFileError(file, "", f"unbekannte Zeichenkodierung {encoding}") from None


def _header(row: list[str], mapping: CsvMapping, file: str, line: int) -> dict[str, int] | None:
    names = [cell.strip().lstrip("\ufeff") for cell in row]
    if all(column in names for column in mapping.columns()):
        return {name: index for index, name in enumerate(names)}
    if line >= HEADER_SEARCH_ROWS:
        missing = [column for column in mapping.columns() if column not in names]
        raise BankFileError(
            file, "", f"keine Kopfzeile gefunden; es fehlen die Spalten {', '.join(missing)}"
        )
    return None


def _row(
    row: list[str], header: dict[str, int], mapping: CsvMapping, file: str, line: int
) -> Booking | None:
    def cell(column: str | None) -> str:
        if column is None:
            return ""
        index = header[column]
        if index >= len(row):
            raise BankFileError(file, f"Zeile {line}", f"Spalte „{column}“ fehlt in dieser Zeile")
        return " ".join(row[index].split())

    if mapping.pending_column and cell(mapping.pending_column) in mapping.pending_values:
        return None
    booked = _date(cell(mapping.booked), mapping, file, line, mapping.booked)
    value_text = cell(mapping.value_date)
    currency = cell(mapping.currency) or mapping.default_currency
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise BankFileError(file, f"Zeile {line}", f"Währung „{currency[:10]}“ unbekannt")
    iban = cell(mapping.iban).replace(" ", "")
    reference = cell(mapping.reference)
    end_to_end = cell(mapping.end_to_end)
    return Booking(
        booked=booked,
        value_date=_date(value_text, mapping, file, line, mapping.value_date or "")
        if value_text
        else booked,
        amount=_amount(cell(mapping.amount), mapping, file, line),
        currency=currency,
        payer=cell(mapping.payer),
        payer_iban=iban if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban) else None,
        purpose=cell(mapping.purpose),
        reference=None if reference.upper() in _NO_REFERENCE else reference,
        end_to_end=None if end_to_end.upper() in _NO_REFERENCE else end_to_end,
    )


def _date(text: str, mapping: CsvMapping, file: str, line: int, column: str) -> date:
    try:
        return datetime.strptime(text, mapping.date_format).date()
    except ValueError:
        raise BankFileError(
            file, f"Zeile {line}", f"Spalte „{column}“: „{text[:20]}“ ist kein Datum"
        ) from None


def _amount(text: str, mapping: CsvMapping, file: str, line: int) -> Decimal:
    body = text.replace("\u2212", "-")
    negative = body.startswith("-")
    body = body.lstrip("+-").strip()
    try:
        if mapping.decimal_comma:
            if "," not in body and "." in body and not re.fullmatch(r"\d{1,3}(\.\d{3})+", body):
                raise InvalidAmount(f"„{text[:20]}“ hat kein Dezimalkomma")
            value = parse_amount(body)
        elif re.fullmatch(r"\d+(\.\d{1,2})?", body):
            value = Decimal(body).quantize(Decimal("0.01"))
        else:
            raise InvalidAmount(f"„{text[:20]}“ ist kein Betrag wie 1190.00")
    except InvalidAmount as exc:
        raise BankFileError(file, f"Zeile {line}", f"Spalte „{mapping.amount}“: {exc}") from None
    return -value if negative else value
