"""Sending windows, public holidays and business days (docs/DESIGN.md, "Sending times").

Pure: every function takes the moment it reasons about as an argument and never reads the
clock. All datetimes in and out are timezone-aware; results are returned in UTC. Local
reasoning (weekday, 09:00, holidays) happens in the window's time zone via ``zoneinfo``, so
daylight-saving changes come out right: 09:00 in Berlin is 08:00 UTC in winter and
07:00 UTC in summer.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache, partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import holidays

GERMAN_SUBDIVISIONS: frozenset[str] = frozenset(
    {"BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH"}
)

# Upper bound for every day-by-day search. Each weekday occurs 52 times a year and at most
# about 20 days a year are holidays or in the Christmas freeze, so a valid window always
# opens long before this; the bound only turns a logic error into an exception.
_MAX_SEARCH_DAYS = 400

_DAY_NAMES: dict[str, int] = {
    **dict.fromkeys(("mon", "monday", "mo", "montag"), 0),
    **dict.fromkeys(("tue", "tuesday", "di", "dienstag"), 1),
    **dict.fromkeys(("wed", "wednesday", "mi", "mittwoch"), 2),
    **dict.fromkeys(("thu", "thursday", "do", "donnerstag"), 3),
    **dict.fromkeys(("fri", "friday", "fr", "freitag"), 4),
    **dict.fromkeys(("sat", "saturday", "sa", "samstag", "sonnabend"), 5),
    **dict.fromkeys(("sun", "sunday", "so", "sonntag"), 6),
}

_ONE_DAY = timedelta(days=1)

_HOURS_PATTERN = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*[-–]\s*(\d{1,2})(?::(\d{2}))?\s*$")


@lru_cache(maxsize=64)
def _public_holidays(bundesland: str, year: int) -> holidays.HolidayBase:
    # One holiday table per (Bundesland, year): building it is the expensive part, and
    # expand=False keeps the cached object from growing when queried.
    return _german_holidays()(subdiv=bundesland, years=year, expand=False)


_GERMANY = "holidays.countries.germany"


@lru_cache(maxsize=1)
def _german_holidays() -> Callable[..., holidays.HolidayBase]:
    """What ``holidays.country_holidays("DE", …)`` calls: the library's class ``DE``,
    without importing every country. The usual import runs ``holidays.countries``'
    ``__init__``, which imports all 250 of them (≈0.14 s of each command that looks at a
    date), so the module is loaded from its file, under its own name, unless it is
    loaded already; a later ``import holidays.countries`` then uses this one. Where the
    library is laid out otherwise, ``country_holidays`` itself."""
    _import_holidays()
    import holidays  # imported now: only bound here

    module = sys.modules.get(_GERMANY)
    if module is None:
        path = Path(holidays.__file__).parent / "countries" / "germany.py"
        spec = importlib.util.spec_from_file_location(_GERMANY, path)
        if not path.is_file() or spec is None or spec.loader is None:
            return partial(holidays.country_holidays, "DE")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_GERMANY] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[_GERMANY]
            raise
    country: Callable[..., holidays.HolidayBase] = module.DE
    return country


_VERSION = "holidays.version"


def _import_holidays() -> None:
    """``import holidays`` with the stand-in version module (:func:`_spare_metadata`);
    should a release of the library want more of that module than ``__version__``, the
    stand-in goes and the usual import follows."""
    _spare_metadata()
    try:
        importlib.import_module("holidays")
    except ImportError:
        stand_in = sys.modules.get(_VERSION)
        if stand_in is None or hasattr(stand_in, "__file__"):
            raise
        del sys.modules[_VERSION]
        importlib.import_module("holidays")


def _spare_metadata() -> None:
    """Lets ``holidays`` be imported (when a date is first looked at) without
    ``importlib.metadata``: the package's ``version`` module asks the installed
    distribution's metadata for ``__version__``, and ``importlib.metadata`` with the
    ``email``, ``zipfile`` and ``socket`` modules it brings costs ≈40 ms of each command
    that looks at a date. The same ``Version`` field is read from the ``METADATA`` file
    of the one ``holidays-*.dist-info`` folder beside the package instead. Where there is
    no such folder (another layout), the usual import."""
    if "holidays" not in sys.modules and _VERSION not in sys.modules:
        version = _installed_version("holidays")
        if version is not None:
            stand_in = ModuleType(_VERSION)
            vars(stand_in)["__version__"] = version
            sys.modules[_VERSION] = stand_in


def _installed_version(package: str) -> str | None:
    """The ``Version`` header of ``package``'s ``METADATA`` in the folder that holds the
    package (core metadata: headers until the first blank line); None where the package,
    its one ``<package>-*.dist-info`` folder or the header is not found."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    found = list(Path(spec.origin).parent.parent.glob(f"{package}-*.dist-info"))
    if len(found) != 1:
        return None
    try:
        with (found[0] / "METADATA").open(encoding="utf-8") as metadata:
            for line in iter(metadata.readline, "\n"):
                if line.startswith("Version:"):
                    return line.removeprefix("Version:").strip()
                if not line:
                    return None
    except OSError:
        return None
    return None


@lru_cache(maxsize=4096)  # a cycle asks about the same few weeks for every thread
def is_public_holiday(day: date, bundesland: str) -> bool:
    """Return True if ``day`` is a public holiday in the German ``bundesland`` (e.g. "NW")."""
    return day in _public_holidays(bundesland, day.year)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"Zeitpunkt ohne Zeitzone: {moment.isoformat()}")


@dataclass(frozen=True)
class SendingWindow:
    """When the bot may send: weekdays, daily hours, no holidays, optional Christmas freeze.

    ``days`` uses 0 = Monday. The daily window is half-open: ``start`` is inside,
    ``end`` is not (with 09:00–17:00, 16:59 is open and 17:00 is closed).
    Construction raises ValueError (German message) for a window that could never open.
    """

    timezone: str = "Europe/Berlin"
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    start: time = time(9, 0)
    end: time = time(17, 0)
    bundesland: str = "NW"
    christmas_freeze: bool = True

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"Unbekannte Zeitzone: „{self.timezone}“") from exc
        if not self.days:
            raise ValueError("Das Sendefenster braucht mindestens einen Wochentag.")
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in self.days):
            raise ValueError("Wochentage müssen zwischen 0 (Montag) und 6 (Sonntag) liegen.")
        if not self.start < self.end:
            raise ValueError("Der Beginn des Sendefensters muss vor seinem Ende liegen.")
        if self.bundesland not in GERMAN_SUBDIVISIONS:
            known = ", ".join(sorted(GERMAN_SUBDIVISIONS))
            raise ValueError(f"Unbekanntes Bundesland „{self.bundesland}“ (erlaubt: {known}).")

    @cached_property
    def zone(self) -> ZoneInfo:
        """The window's time zone, looked up once per window (three times a thread when
        ``list`` times 10,000 of them)."""
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        """Return True for Monday–Friday that is not a public holiday of the Bundesland.

        Independent of ``days`` and the Christmas freeze: this is the legal/working notion
        used for delays such as "+3 business days".
        """
        return day.weekday() < 5 and not is_public_holiday(day, self.bundesland)

    def business_day_on_or_after(self, day: date) -> date:
        """Return ``day`` if it is a business day, else the next one (a deadline that
        falls on a weekend or a public holiday moves to the next business day, § 193 BGB).
        """
        for offset in range(_MAX_SEARCH_DAYS + 1):
            candidate = day + timedelta(days=offset)
            if self.is_business_day(candidate):
                return candidate
        raise RuntimeError(f"Kein Werktag innerhalb von {_MAX_SEARCH_DAYS} Tagen nach {day}.")

    def is_open_day(self, day: date) -> bool:
        """Return True if the bot may send at all on the local calendar ``day``."""
        if day.weekday() not in self.days or is_public_holiday(day, self.bundesland):
            return False
        return not (self.christmas_freeze and day.month == 12 and day.day >= 24)

    def is_open(self, moment: datetime) -> bool:
        """Return True if ``moment`` (aware) lies inside the sending window."""
        _require_aware(moment)
        local = moment.astimezone(self.zone)
        return self.is_open_day(local.date()) and self.start <= local.time() < self.end

    def next_slot(self, moment: datetime) -> datetime:
        """Return ``moment`` in UTC if it is open, else the start of the next open period.

        Raises ValueError for a naive ``moment``.
        """
        if moment.tzinfo is not UTC:  # a UTC moment (each one the schedule computes) is aware
            _require_aware(moment)
        local = moment.astimezone(self.zone)
        day, clock = local.date(), local.time()
        open_day = self.is_open_day(day)
        if open_day and self.start <= clock < self.end:  # is_open(moment), computed once
            return moment.astimezone(UTC)
        if not (open_day and clock < self.start):
            day = self._next_open_day(day)
        return self._opening(day)

    def _opening(self, day: date) -> datetime:
        """The start of the window on the local ``day``, in UTC: computed once per day and
        window (``list`` moves thousands of steps to the openings of a few weeks)."""
        opening = self._openings.get(day)
        if opening is None:
            opening = datetime.combine(day, self.start, self.zone).astimezone(UTC)
            self._openings[day] = opening
        return opening

    @cached_property
    def _openings(self) -> dict[date, datetime]:
        return {}

    def add_business_days(self, moment: datetime, n: int) -> datetime:
        """Return the same local wall-clock time ``n`` business days after ``moment``, in UTC.

        ``n`` must be >= 0; 0 returns ``moment`` unchanged (in UTC). Starting on a weekend
        or holiday, the first business day after it counts as day 1.
        """
        if moment.tzinfo is not UTC:
            _require_aware(moment)
        if n < 0:
            raise ValueError(f"Anzahl der Werktage darf nicht negativ sein: {n}")
        local = moment.astimezone(self.zone)
        day = local.date()
        for _ in range(n):
            day += _ONE_DAY
            while not self.is_business_day(day):
                day += _ONE_DAY
        return datetime.combine(day, local.time(), self.zone).astimezone(UTC)

    def _next_open_day(self, day: date) -> date:
        return _next_open_day(self, day)


@lru_cache(maxsize=4096)  # a cycle over many threads asks about the same few weeks
def _next_open_day(window: SendingWindow, day: date) -> date:
    """The first day after ``day`` on which ``window`` is open (a pure function of both)."""
    for offset in range(1, _MAX_SEARCH_DAYS + 1):
        candidate = day + timedelta(days=offset)
        if window.is_open_day(candidate):
            return candidate
    raise RuntimeError(f"Kein Sendetag innerhalb von {_MAX_SEARCH_DAYS} Tagen nach {day}.")


def parse_days(text: str) -> frozenset[int]:
    """Parse weekdays such as "mon-fri", "mon,tue,thu", "mo-fr" or "Mo, Mi, Fr".

    English (mon … sun) and German (mo di mi do fr sa so) abbreviations and full names are
    accepted, case-insensitive, separated by commas or spaces. A range may wrap around the
    week ("fr-mo" is Friday to Monday). Returns 0 = Monday … 6 = Sunday.
    Raises ValueError with a German message.
    """
    normalized = re.sub(r"\s*[-–]\s*", "-", text.strip().lower())
    tokens = [token for token in re.split(r"[,;\s]+", normalized) if token]
    if not tokens:
        raise ValueError("Keine Wochentage angegeben (Beispiel: „mo-fr“).")
    days: set[int] = set()
    for token in tokens:
        days.update(_parse_day_token(token))
    return frozenset(days)


def _parse_day_token(token: str) -> list[int]:
    parts = token.split("-")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"Ungültige Angabe der Wochentage: „{token}“ (Beispiel: „mo-fr“).")
    first, last = (_day_number(part) for part in (parts[0], parts[-1]))
    span = (last - first) % 7
    return [(first + offset) % 7 for offset in range(span + 1)]


def _day_number(name: str) -> int:
    try:
        return _DAY_NAMES[name]
    except KeyError:
        raise ValueError(
            f"Unbekannter Wochentag „{name}“ (erlaubt: mo di mi do fr sa so "
            "oder mon tue wed thu fri sat sun)."
        ) from None


def parse_hours(text: str) -> tuple[time, time]:
    """Parse daily sending hours such as "09:00-17:00" (also "9-17") into (start, end).

    Raises ValueError with a German message for bad syntax, impossible times or
    start >= end.
    """
    match = _HOURS_PATTERN.match(text)
    if match is None:
        raise ValueError(f"Ungültige Uhrzeiten „{text}“ (Beispiel: „09:00-17:00“).")
    start = _make_time(match.group(1), match.group(2), text)
    end = _make_time(match.group(3), match.group(4), text)
    if not start < end:
        raise ValueError(f"Der Beginn muss vor dem Ende liegen: „{text}“.")
    return start, end


def _make_time(hour: str, minute: str | None, text: str) -> time:
    try:
        return time(int(hour), int(minute or "0"))
    except ValueError:
        raise ValueError(f"Ungültige Uhrzeit in „{text}“ (Stunden 0–23, Minuten 0–59).") from None
