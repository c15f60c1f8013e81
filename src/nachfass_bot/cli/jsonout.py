"""JSON as the commands print it (``--json``): small, so that ``list --json`` loads
neither rich nor the templates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_NESTED = (dict, list, tuple)


def json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """``json.dumps(rows, ensure_ascii=False, indent=2)``, byte for byte, at the speed of
    the C encoder: with ``indent`` the json module encodes in Python, ≈80 µs per row of
    ``list``. Flat rows (scalar values) are encoded one by one with the indentation as
    the item separator; anything nested takes the plain way."""
    if not rows or any(isinstance(value, _NESTED) for row in rows for value in row.values()):
        return json.dumps(rows, ensure_ascii=False, indent=2)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",\n    ", ": ")).encode
    objects = ("{\n    " + encode(row)[1:-1] + "\n  }" if row else "{}" for row in rows)
    return "[\n  " + ",\n  ".join(objects) + "\n]"
