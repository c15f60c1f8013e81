"""Typed, problem-collecting access to one TOML table of the configuration.

Every reader records the keys it asked for, so that the keys nobody asked for can be
reported as likely typos; every problem is a German line naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Section:
    """Typed access to one TOML table; records problems and the keys it knows."""

    def __init__(self, name: str, raw: object, problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        self.known: set[str] = set()
        self.data: Mapping[str, Any] = {}
        # A section that is not a table already got its problem: stay quiet about its keys.
        self.broken = False
        if isinstance(raw, Mapping):
            self.data = raw
        elif raw is not None:
            self.broken = True
            problems.append(f"[{name}] muss ein Abschnitt sein (Zeile „[{name}]“)")

    def label(self, key: str) -> str:
        """How the owner finds the key in the file: ``[imap] host``."""
        return f"[{self.name}] {key}" if self.name else key

    def problem(self, key: str, text: str) -> None:
        """Record a problem with ``key``; ``text`` must never contain a secret."""
        self.problems.append(f"{self.label(key)} {text}")

    def _present(self, key: str, required: bool) -> bool:
        self.known.add(key)
        if key in self.data:
            return True
        if required and not self.broken:
            self.problem(key, "fehlt")
        return False

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        """A non-blank string; ``default`` when absent, None (and a problem) when invalid."""
        if not self._present(key, required):
            return default
        value = self.data[key]
        if not isinstance(value, str):
            self.problem(key, "muss ein Text in Anführungszeichen sein")
            return None
        if not value.strip():
            self.problem(key, "darf nicht leer sein")
            return None
        return value

    def integer(self, key: str, default: int, minimum: int, maximum: int) -> int | None:
        """A whole number within ``minimum``..``maximum``; ``default`` when absent."""
        if not self._present(key, required=False):
            return default
        value = self.data[key]
        if isinstance(value, float):
            self.problem(key, "muss eine ganze Zahl sein")
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            hint = " (ohne Anführungszeichen)" if isinstance(value, str) else ""
            self.problem(key, f"muss eine Zahl sein{hint}")
            return None
        if not minimum <= value <= maximum:
            self.problem(key, f"muss zwischen {minimum} und {maximum} liegen")
            return None
        return value

    def boolean(self, key: str, default: bool) -> bool | None:
        """``true`` or ``false``; ``default`` when absent."""
        if not self._present(key, required=False):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.problem(key, "muss true oder false sein (ohne Anführungszeichen)")
            return None
        return value

    def text_list(self, key: str) -> tuple[str, ...] | None:
        """A list of non-blank strings; empty when absent."""
        if not self._present(key, required=False):
            return ()
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(key, 'muss eine Liste von Texten sein, z. B. ["Kunden", "Projekte"]')
            return None
        return tuple(value)

    def forbid(self, key: str, text: str) -> None:
        """Report ``key`` if present (without its value) but don't call it a typo."""
        if self._present(key, required=False):
            self.problem(key, text)
