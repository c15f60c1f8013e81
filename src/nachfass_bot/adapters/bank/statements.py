"""A bank statement file → bookings: which format it is, and the one reader for it
(docs/DESIGN.md, "Bank statements").

Formats: ISO 20022 CAMT.053 (``camt.py``), also several in one ZIP archive as banks
offer them for a period; SWIFT MT940 (``mt940file.py``); CSV by a column mapping
(``csvfile.py``). The format is told by the bytes first and by the file name's ending
only when the bytes say nothing. Every problem is one :class:`BankFileError` naming the
file and, where it can, the line or the XML element.
"""

from __future__ import annotations

import io
import re
import zipfile
from enum import StrEnum
from pathlib import Path

from nachfass_bot.adapters.bank.camt import read_camt
from nachfass_bot.adapters.bank.csvfile import SPARKASSE_CAMT_V2, CsvMapping, read_csv
from nachfass_bot.adapters.bank.mt940file import read_mt940
from nachfass_bot.domain.payments import Booking
from nachfass_bot.errors import BankFileError

MAX_BYTES = 50 * 1024 * 1024  # a statement file, and each file inside a ZIP archive
MAX_MEMBERS = 500  # statements in one ZIP archive (a year of daily statements and more)

_MT940_RE = re.compile(rb"(?m)^:20:.*\r?\n(?:.*\r?\n)*?:(?:25|28C?|60[FM]):")


class StatementFormat(StrEnum):
    CAMT = "camt.053"
    ZIP = "zip"
    MT940 = "mt940"
    CSV = "csv"


def sniff_format(data: bytes, name: str) -> StatementFormat:
    """Which reader ``data`` needs: a ZIP signature, an XML start, MT940 tags (``:20:``
    followed by ``:25:``/``:28C:``/``:60F:``), else the file name's ending."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"PK\x03\x04"):
        return StatementFormat.ZIP
    if head.startswith(b"<"):
        return StatementFormat.CAMT
    if _MT940_RE.search(head):
        return StatementFormat.MT940
    suffix = Path(name).suffix.lower()
    by_suffix = {
        ".xml": StatementFormat.CAMT,
        ".zip": StatementFormat.ZIP,
        ".sta": StatementFormat.MT940,
        ".mta": StatementFormat.MT940,
        ".940": StatementFormat.MT940,
        ".csv": StatementFormat.CSV,
    }
    if suffix in by_suffix:
        return by_suffix[suffix]
    if b";" in head.split(b"\n", 1)[0]:
        return StatementFormat.CSV
    raise BankFileError(
        Path(name).name, "", "Format nicht erkannt (erwartet: CAMT.053, MT940 oder CSV)"
    )


def read_statement(
    data: bytes, name: str, *, csv_mapping: CsvMapping = SPARKASSE_CAMT_V2
) -> list[Booking]:
    """The bookings in the statement file ``data`` called ``name`` (debits included:
    which ones count is the matcher's business)."""
    file = Path(name).name
    if len(data) > MAX_BYTES:
        raise BankFileError(file, "", "ist zu groß für einen Kontoauszug (über 50 MB)")
    kind = sniff_format(data, file)
    if kind is StatementFormat.ZIP:
        return _read_zip(data, file)
    if kind is StatementFormat.CAMT:
        return read_camt(data, file)
    if kind is StatementFormat.MT940:
        return read_mt940(data, file)
    return read_csv(data, file, csv_mapping)


def read_statement_file(
    path: Path, *, csv_mapping: CsvMapping = SPARKASSE_CAMT_V2
) -> list[Booking]:
    """The bookings in the file at ``path``; BankFileError also when it cannot be read."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise BankFileError(path.name, "", "ist zu groß für einen Kontoauszug (über 50 MB)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise BankFileError(path.name, "", f"gibt es nicht ({path})") from None
    except IsADirectoryError:
        raise BankFileError(path.name, "", "ist ein Ordner, keine Datei") from None
    except OSError as exc:
        raise BankFileError(
            path.name, "", f"lässt sich nicht lesen ({exc.strerror or exc})"
        ) from None
    return read_statement(data, path.name, csv_mapping=csv_mapping)


def _read_zip(data: bytes, file: str) -> list[Booking]:
    """Every CAMT file in the archive, in name order (folders and macOS's resource forks
    skipped); sizes are checked before anything is unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = sorted(
                (
                    info
                    for info in archive.infolist()
                    if not info.is_dir()
                    and info.filename.lower().endswith(".xml")
                    and not info.filename.startswith("__MACOSX/")
                ),
                key=lambda info: info.filename,
            )
            if not members:
                raise BankFileError(file, "", "enthält keine CAMT-Datei (.xml)")
            if len(members) > MAX_MEMBERS:
                raise BankFileError(file, "", f"enthält mehr als {MAX_MEMBERS} Dateien")
            bookings: list[Booking] = []
            for info in members:
                inner = f"{file}/{info.filename}"
                if info.file_size > MAX_BYTES:
                    raise BankFileError(inner, "", "ist zu groß für einen Kontoauszug")
                bookings.extend(read_camt(archive.read(info), inner))
            return bookings
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise BankFileError(file, "", f"ist kein lesbares ZIP-Archiv ({exc})") from None
