"""JSON as the commands print it (``--json``): small, so that ``list --json`` loads
neither rich nor the templates."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

# Values a flat row holds; anything else (a nested value, a str or int subclass such as
# an enum member) takes the plain way.
_SCALARS = frozenset({str, int, float, bool, type(None)})
# Items of a row and rows alike are separated as json.dumps(indent=2) separates a row's
# items; the rows' separators are put right after.
# Flat rows hold no container that could contain itself: the check for circular
# references (a dict of ids per row) is a third of the encoder's time.
_FLAT = json.JSONEncoder(ensure_ascii=False, separators=(",\n    ", ": "), check_circular=False)
_ROWS_APART = "},\n    {"


def json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """``json.dumps(rows, ensure_ascii=False, indent=2)``, byte for byte, at the speed of
    the C encoder: with ``indent`` the json module encodes in Python, ≈80 µs per row of
    ``list``. A list of flat, non-empty rows (scalar values) is encoded in one pass with
    the row's indentation as the item separator, then the separators between rows are
    indented: ``},\\n    {`` occurs nowhere else, because an encoded string holds no
    raw line break and only rows are objects. Anything else takes the plain way."""
    if not (rows and all(rows) and _SCALARS.issuperset(map(type, _values(rows)))):
        return json.dumps(rows, ensure_ascii=False, indent=2)
    items = _FLAT.encode(list(rows))[2:-2]
    return "[\n  {\n    " + items.replace(_ROWS_APART, "\n  },\n  {\n    ") + "\n  }\n]"


def _values(rows: Sequence[dict[str, Any]]) -> Iterator[Any]:
    """Every value of every row, in one pass without a Python frame per row."""
    return chain.from_iterable(map(dict.values, rows))
