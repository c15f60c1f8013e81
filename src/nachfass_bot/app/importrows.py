"""The rows of an import file as thread entries (docs/DESIGN.md, "Importing a list").
Pure: text in, entries and German problems out.

German conventions: ``;`` separates cells (``,`` and tab are recognised from the header
line, and an Excel ``sep=;`` line is honoured), amounts have a decimal comma (quoted when
the separator is a comma), dates are ``31.03.2026`` or ``2026-03-31``. A header row names
the columns in German or English; case, spaces, hyphens, dots and underscores do not
count, so ``Rechnungs-Nr.``, ``rechnungsnr`` and ``RechnungsNr`` are one column. Columns
the bot does not know (Kundennummer, Offen …) are ignored and named back to the owner.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from nachfass_bot.app.threads import ThreadEntry
from nachfass_bot.errors import ImportRefused

# field → the header names it is known by, written as they are compared (see _folded).
COLUMNS: dict[str, tuple[str, ...]] = {
    "kind": ("kind", "art", "vorgang"),
    "email": ("email", "mail", "emailadresse", "adresse"),
    "name": ("name", "kunde", "ansprechpartner"),
    "subject": ("subject", "betreff"),
    "invoice_no": ("invoiceno", "invoicenumber", "rechnungsnummer", "rechnungsnr", "renr"),
    "amount": ("amount", "betrag"),
    "due": ("due", "duedate", "fällig", "fälligkeit", "fälligam", "zahlbarbis", "faellig"),
    "sent_at": ("sentat", "sent", "gesendet", "gesendetam", "datum", "versendetam"),
    "du": ("du",),
    "anrede": ("anrede", "salutation"),
    "message_id": ("messageid",),
}
REQUIRED = ("kind", "email", "subject")
_ALIASES = {alias: field for field, aliases in COLUMNS.items() for alias in aliases}
_SEPARATORS = (";", ",", "\t")
_YES = {"ja", "j", "x", "yes", "y", "true", "wahr", "1"}
_NO = {"nein", "n", "no", "false", "falsch", "0", ""}
_GERMAN_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_GERMAN_MOMENT = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


@dataclass(frozen=True)
class Row:
    """One line of the file that names a thread; ``line`` is where it starts (the header
    is line 1)."""

    line: int
    entry: ThreadEntry


@dataclass(frozen=True)
class Table:
    """The rows of a file, the problems found in its cells, and how its columns are
    named (``headers``: field → the header as written in the file)."""

    rows: tuple[Row, ...]
    problems: tuple[tuple[int, str], ...]
    headers: dict[str, str]
    ignored: tuple[str, ...]


def parse_table(text: str) -> Table:
    """The rows of an import file's ``text``; ImportRefused when the header row lacks a
    required column (kind, email, subject) or names one twice. A row whose cells cannot
    be read is a problem ``(line, German reason)``, not a row."""
    lines = text.splitlines(keepends=True)
    offset = 0
    separator = None
    if lines and lines[0].strip().lower().startswith("sep="):  # Excel's hint line
        separator = lines[0].strip()[4:5] or None
        offset = 1
    first = next((line for line in lines[offset:] if line.strip()), "")
    separator = separator or _separator(first)
    records = _records("".join(lines[offset:]), separator, offset)
    found = next(((n, cells) for n, cells in records if any(c.strip() for c in cells)), None)
    if found is None:
        raise ImportRefused(
            "Die Datei ist leer: erwartet wird eine Kopfzeile und je Vorgang eine Zeile."
        )
    header_line, header = found
    fields, ignored = _header_fields(header, header_line)
    headers = {field: header[index].strip() for index, field in fields.items()}
    rows: list[Row] = []
    problems: list[tuple[int, str]] = []
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue  # an empty line, or one with separators only
        values = {
            field: cells[index].strip() for index, field in fields.items() if index < len(cells)
        }
        try:
            rows.append(Row(line, _entry(values, headers)))
        except _CellProblem as exc:
            problems.append((line, str(exc)))
    return Table(tuple(rows), tuple(problems), headers, ignored)


class _CellProblem(Exception):
    pass


def _separator(header: str) -> str:
    """The separator the header line uses most; ``;`` when none is used more."""
    counts = {separator: header.count(separator) for separator in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda separator: counts[separator])
    return best if counts[best] > counts[";"] else ";"


def _records(body: str, separator: str, offset: int) -> Iterator[tuple[int, list[str]]]:
    """Each record with the file line it starts on; blank lines before the header are
    skipped."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=separator)
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            yield start + offset, cells
    except csv.Error as exc:
        raise ImportRefused(f"Zeile {end + 1 + offset}: die Zeile ist kein CSV ({exc}).") from None


def _folded(name: str) -> str:
    return re.sub(r"[\s\-_.]", "", name.casefold())


def _header_fields(header: list[str], line: int) -> tuple[dict[int, str], tuple[str, ...]]:
    fields: dict[int, str] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        field = _ALIASES.get(_folded(name))
        if field is None:
            if name.strip():
                ignored.append(name.strip())
            continue
        if field in fields.values():
            raise ImportRefused(
                f"Zeile {line}: die Spalte „{name.strip()}“ steht doppelt in der Kopfzeile."
            )
        fields[index] = field
    missing = [field for field in REQUIRED if field not in fields.values()]
    if missing:
        names = ", ".join(f"{COLUMNS[field][0]}/{_GERMAN[field]}" for field in missing)
        raise ImportRefused(
            f"Zeile {line}: der Kopfzeile fehlen die Spalten {names}. Die erste Zeile muss die "
            "Spalten benennen (z. B. Art;E-Mail;Name;Betreff;Rechnungsnummer;Betrag;Fällig)."
        )
    return fields, tuple(ignored)


_GERMAN = {"kind": "Art", "email": "E-Mail", "subject": "Betreff"}


def _entry(values: dict[str, str], headers: dict[str, str]) -> ThreadEntry:
    def cell(field: str) -> str | None:
        return values.get(field) or None

    return ThreadEntry(
        kind=values.get("kind", ""),
        email=values.get("email", ""),
        subject=_subject(values.get("subject", ""), headers),
        name=cell("name"),
        du=_yes_no(values.get("du", ""), headers),
        anrede=cell("anrede"),
        sent_at=_moment(values.get("sent_at", ""), headers["sent_at"]) if cell("sent_at") else None,
        message_id=cell("message_id"),
        invoice_no=cell("invoice_no"),
        amount=cell("amount"),
        due=_day(values.get("due", ""), headers["due"]) if cell("due") else None,
    )


def _subject(text: str, headers: dict[str, str]) -> str:
    if not text:
        raise _CellProblem(f"{headers['subject']}: der Betreff fehlt")
    if any(not char.isprintable() for char in text):
        # A line break cannot stand in a mail's Subject: every follow-up would fail.
        raise _CellProblem(
            f"{headers['subject']}: der Betreff enthält einen Zeilenumbruch oder ein Steuerzeichen"
        )
    return text


def _yes_no(text: str, headers: dict[str, str]) -> bool:
    value = text.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise _CellProblem(f"{headers['du']}: „{text}“ ist weder ja noch nein")


def _day(text: str, column: str) -> date:
    """``31.03.2026`` or ``2026-03-31``."""
    try:
        if match := _GERMAN_DATE.fullmatch(text):
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise _CellProblem(f"{column}: „{text}“ ist kein Datum wie 31.03.2026 oder 2026-03-31")


def _moment(text: str, column: str) -> datetime:
    """A date as in :func:`_day`, optionally with a time (``31.03.2026 10:15``,
    ``2026-03-31T10:15``); a date alone is the start of that day."""
    try:
        if match := _GERMAN_MOMENT.fullmatch(text):
            day, month, year, hour, minute, second = (int(part or 0) for part in match.groups())
            return datetime(year, month, day, hour, minute, second)
        if _ISO_MOMENT.fullmatch(text):
            return datetime.fromisoformat(text)
    except ValueError:
        pass
    raise _CellProblem(
        f"{column}: „{text}“ ist kein Zeitpunkt wie 31.03.2026 10:15 oder 2026-03-31T10:15"
    )
