"""Files that ship with the package: the templates and the example config."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parents[1]


def bundled_path(*parts: str) -> Path:
    """Where a shipped file lives: package data in an installed wheel
    (``nachfass_bot/<parts>``), the repository root in a source checkout."""
    packaged = _PACKAGE.joinpath(*parts)
    if packaged.exists():
        return packaged
    return _CHECKOUT.joinpath(*parts)
