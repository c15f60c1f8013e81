"""``import``: many threads from one list at once (docs/DESIGN.md, "Importing a list").

Every row is checked as ``track`` checks its options (:func:`read_entry`); a file with a
bad row stores nothing, and the owner gets every bad row with its line number (up to
:data:`MAX_PROBLEMS`). A row naming a thread that exists already (same address, subject
and invoice number), or an earlier row of the same file, is skipped and reported. The
good rows are stored in one transaction, each with exactly the writes of ``track``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from nachfass_bot.adapters.store import Store
from nachfass_bot.app.importrows import Table
from nachfass_bot.app.threads import NewThread, read_entry, store_new_thread
from nachfass_bot.domain.models import Source, State
from nachfass_bot.errors import ImportRefused, IncompleteInvoice, InvalidField

MAX_PROBLEMS = 50  # lines listed; a file with more is likely in another layout

# The field a refusal names → the column it came from, when the file has none by that
# name (an invoice's missing number is reported under the invoice's own label).
_FIELD_COLUMNS = {
    "kind": "kind",
    "email": "email",
    "amount": "amount",
    "due": "due",
    "sent_at": "sent_at",
    "anrede": "anrede",
}


# NewThread's names of an invoice's missing values → the import's columns and their
# names when the file has no such column.
_MISSING_COLUMNS = {"invoice_no": "invoice_no", "amount": "amount", "due_date": "due"}
_INVOICE_LABELS = {"invoice_no": "Rechnungsnummer", "amount": "Betrag", "due_date": "Fällig"}


@dataclass(frozen=True)
class PlannedThread:
    """A good row: the thread it becomes."""

    line: int
    new: NewThread


@dataclass(frozen=True)
class Duplicate:
    """A row skipped because its thread exists: ``thread_id`` in the store, or the
    thread of an earlier ``line`` of the same file."""

    line: int
    new: NewThread
    thread_id: int | None = None
    earlier_line: int | None = None


@dataclass(frozen=True)
class ImportPlan:
    threads: tuple[PlannedThread, ...]
    duplicates: tuple[Duplicate, ...]


@dataclass(frozen=True)
class ImportResult:
    thread_ids: tuple[int, ...]
    answered: int  # threads whose answer had been synced before they were created


def duplicate_key(email: str, subject: str, invoice_no: str | None) -> tuple[str, str, str]:
    """What makes two threads the same: the address, the subject (case and runs of
    spaces aside) and the invoice number."""
    return (
        email.casefold(),
        " ".join(subject.split()).casefold(),
        " ".join((invoice_no or "").split()).casefold(),
    )


def check_rows(table: Table, now: datetime, zone: ZoneInfo) -> list[PlannedThread]:
    """Every row of ``table`` as a NewThread, checked by :func:`read_entry` like
    ``track``'s options; ImportRefused listing each bad row ("Zeile 4: Betrag: …") when
    any row is bad. Pure: reads no store."""
    problems = list(table.problems)
    checked: list[PlannedThread] = []
    for row in table.rows:
        try:
            checked.append(
                PlannedThread(
                    row.line, replace(read_entry(row.entry, now, zone), source=Source.IMPORT)
                )
            )
        except InvalidField as exc:
            column = table.headers.get(_FIELD_COLUMNS.get(exc.field, exc.field), exc.field)
            problems.append((row.line, f"{column}: {exc}"))
        except IncompleteInvoice as exc:
            labels = ", ".join(
                table.headers.get(_MISSING_COLUMNS[field], _INVOICE_LABELS[field])
                for field in exc.missing
            )
            problems.append((row.line, f"für eine Rechnung fehlt: {labels}"))
    if problems:
        raise _refusal(problems)
    return checked


def plan_import(store: Store, checked: list[PlannedThread]) -> ImportPlan:
    """The checked rows without those whose thread exists already (in the store, or in an
    earlier row); reads the store once."""
    return _without_duplicates(checked, store.thread_keys())


def import_threads(store: Store, plan: ImportPlan, now: datetime) -> ImportResult:
    """Store every planned thread in one transaction (:func:`store_new_thread`, the
    writes of ``track``): all of them, or none when anything fails."""
    with store.atomic():
        ids = tuple(store_new_thread(store, planned.new, now) for planned in plan.threads)
    wanted = set(ids)
    answered = sum(thread.id in wanted for thread in store.threads([State.ANSWERED]))
    return ImportResult(ids, answered)


def _without_duplicates(
    checked: list[PlannedThread], existing: dict[tuple[str, str, str], int]
) -> ImportPlan:
    threads: list[PlannedThread] = []
    duplicates: list[Duplicate] = []
    first_lines: dict[tuple[str, str, str], int] = {}
    for planned in checked:
        new = planned.new
        key = duplicate_key(new.email, new.subject, new.invoice_no)
        if key in existing:
            duplicates.append(Duplicate(planned.line, new, thread_id=existing[key]))
        elif key in first_lines:
            duplicates.append(Duplicate(planned.line, new, earlier_line=first_lines[key]))
        else:
            first_lines[key] = planned.line
            threads.append(planned)
    return ImportPlan(tuple(threads), tuple(duplicates))


def _refusal(problems: list[tuple[int, str]]) -> ImportRefused:
    problems.sort(key=lambda problem: problem[0])
    bad_lines = len({line for line, _ in problems})
    lines = [f"Zeile {line}: {text}" for line, text in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"… und {len(problems) - MAX_PROBLEMS} weitere Fehler.")
    rows = "eine Zeile ist" if bad_lines == 1 else f"{bad_lines} Zeilen sind"
    return ImportRefused(
        f"Nichts importiert: {rows} fehlerhaft. Bitte korrigieren und die ganze Datei noch "
        "einmal importieren:",
        tuple(lines),
    )
