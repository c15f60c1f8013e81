"""A table file the owner exported from a spreadsheet or an accounting tool, read as text
(docs/DESIGN.md, "Importing a list").

German exports come as UTF-8, with or without a byte order mark (Excel writes one), or as
Windows-1252 (older Excel, DATEV, Lexware). UTF-8 is tried first: a Windows-1252 file
with umlauts is almost never valid UTF-8, while every UTF-8 file would decode as
Windows-1252 into mojibake.
"""

from __future__ import annotations

from pathlib import Path

from nachfass_bot.errors import ImportRefused

MAX_BYTES = 50 * 1024 * 1024  # far more than any list of open items


def read_table_text(path: Path) -> str:
    """The text of the file at ``path``: UTF-8 (a BOM is dropped), else Windows-1252.
    ImportRefused with a German line when the file cannot be read or is neither."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ImportRefused(f"Die Datei {path} ist zu groß für eine Liste (über 50 MB).")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportRefused(f"Die Datei {path} gibt es nicht.") from None
    except IsADirectoryError:
        raise ImportRefused(f"{path} ist ein Ordner, keine Datei.") from None
    except OSError as exc:
        raise ImportRefused(
            f"Die Datei {path} lässt sich nicht lesen ({exc.strerror or exc})."
        ) from None
    return decode_table(data, path)


def decode_table(data: bytes, path: Path) -> str:
    """``data`` as text: UTF-8 with or without BOM, else Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportRefused(
            f"Die Datei {path} ist weder UTF-8 noch Windows-1252: bitte als CSV (UTF-8) speichern."
        ) from None
