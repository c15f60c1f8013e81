"""When is the sender of an out-of-office text back? German and English texts, pure.

:func:`find_return_date` finds the dates in a text, reads the words around each one as
a cue ("bis 12.01." is the last day away, "ab dem 12.01. wieder" the first day back),
resolves year-less dates against the day the text was written and picks the safe one.
Quoted text (:func:`nachfass_bot.mail.quotes.split_quote`) is ignored: its dates are not the
sender's. No clock — the caller passes ``received`` — and never an exception.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from nachfass_bot.mail.quotes import split_quote

__all__ = ["find_return_date"]


_MONTHS: dict[str, int] = {
    "januar": 1, "jänner": 1, "jaenner": 1, "january": 1, "jan": 1,
    "februar": 2, "feber": 2, "february": 2, "feb": 2,
    "märz": 3, "maerz": 3, "march": 3, "mär": 3, "mrz": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11,
    "dezember": 12, "december": 12, "dez": 12, "dec": 12,
}  # fmt: skip
_MONTH = "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True))
_WEEKDAY = (
    r"\b(?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonnabend|sonntag"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun|mo|di|mi|do|fr|sa|so)\b\.?"
)
# What may stand between a cue and its date: "Freitag, den ", "Monday the ", "Mo., ".
_FILLER = rf"(?:{_WEEKDAY}\s*,?\s*)?(?:(?:den|dem|the)\s+)?"

_DATE_RE = re.compile(
    # 12.01.2026, 12.01.26, 12.01., 12.01 — not 12.30 Uhr, not 192.168.1.1
    r"(?<![\d.])(?P<d>\d{1,2})\.(?P<m>\d{1,2})(?:\.(?P<y>\d{4}|\d{2})?)?(?!\d|\.\d)(?!\s*uhr)"
    # 2026-01-12
    r"|(?<!\d)(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})(?!\d)"
    # 12/01/2027, 01/13 — only accepted when day and month cannot be swapped
    r"|(?<![\d/])(?P<sa>\d{1,2})/(?P<sb>\d{1,2})(?:/(?P<sy>\d{4}|\d{2}))?(?![\d/])"
    # 12. Januar 2026, 12 January, 12th of Jan. 2027
    rf"|(?<!\d)(?P<nd>\d{{1,2}})(?:\.|st|nd|rd|th)?\s*(?:of\s+)?(?P<nm>{_MONTH})(?![a-zäöü])\.?"
    r"(?:,?\s*(?P<ny>\d{4})(?!\d))?"
    # January 12, 2027
    rf"|\b(?P<fm>{_MONTH})(?![a-zäöü])\.?\s+(?P<fd>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)"
    r"(?:,?\s*(?P<fy>\d{4})(?!\d))?",
    re.IGNORECASE,
)
# "bis", "bis zum", "bis einschließlich", "until", "through" right before the date, or
# the "to"/dash of a day range ("vom 2.–9. Januar", "from 2 to 9 January").
_END_BEFORE_RE = re.compile(
    r"(?:\b(?:bis|until|till|til|through|thru)"
    r"(?:\s+(?:zum|zur|einschlie(?:ß|ss)lich|einschl\.|inkl\.|inklusive|incl\.|including"
    r"|inclusive|und\s+mit|and\s+including))*"
    rf"|\d\.?\s*(?:to|[-–—]))\s*:?\s*{_FILLER}$",
    re.IGNORECASE,
)
# The gap between two dates of a range: "02.01.–09.01.", "2 January to 9 January".
_RANGE_GAP_RE = re.compile(rf"\s*(?:[-–—]|to)\s*{_FILLER}", re.IGNORECASE)
# "wieder ab dem", "back on Monday, ", "returning ", "Rückkehr am: ".
_RETURN_BEFORE_RE = re.compile(
    r"\b(?:back|return|returning|returns|again|zurück|rückkehr|wieder)\b"
    rf"(?:\s+[\w-]+){{0,5}}?\s*:?\s*{_FILLER}$",
    re.IGNORECASE,
)
# "ab dem", "am", "from", "on": a return only when "wieder"/"back" follows the date.
_START_BEFORE_RE = re.compile(
    rf"\b(?:ab|am|from|on|starting|beginning)\s*:?\s*{_FILLER}$", re.IGNORECASE
)
_AGAIN_AFTER_RE = re.compile(
    r"^(?:[\w'-]+\s+){0,4}?(?:wieder|zurück|back|again|returning)\b", re.IGNORECASE
)
_AGAIN_RIGHT_AFTER_RE = re.compile(r"^(?:wieder|zurück|back)\b", re.IGNORECASE)

_CUE_WINDOW = 60  # characters before a date that may hold its cue
_MAX_DISTANCE = timedelta(days=366)  # "~1 year" either way of the mail's day
# A year-less date this far before the mail is a forgotten out-of-office text, not one
# for next year: "bis 12.01." written on 15 January means "was away until 12 January".
_STALE = timedelta(days=30)


class _Cue(enum.Enum):
    RETURN = "return"  # the date is the first day back ("ab dem 12.01. wieder")
    END = "end"  # the date is the last day away ("bis 12.01."): back the day after


@dataclass(frozen=True)
class _Candidate:
    back: date
    cue: _Cue


def find_return_date(text: str, *, received: date) -> date | None:
    """The first day the sender of an out-of-office text is back, or None.

    ``received`` is the day the text was written. Read as in German office usage:

    * "bis 12.01.", "bis zum 12.01.", "bis einschließlich 12.01.", "until 12 January",
      "vom 02.01. bis 09.01.2027", "02.01.–09.01." name the last day away: back the day
      after. (In everyday German "bis" includes the day; the caller adds one business
      day anyway, so reading an ambiguous "bis"/"until" this way never chases early.)
    * "ab dem 12.01. wieder …", "am 12.01. wieder da", "back on 12 January",
      "returning 12.01.2027", "Rückkehr am 12.01." name the first day back.

    An explicit return day wins over an end of absence; among several of a kind the
    latest wins (waiting longer is the safe error). Dates: 12.01.2026, 12.01.26, 12.01.,
    2027-01-12, "12. Januar 2026" (Jan., Jänner, März/Maerz …), "12 January",
    "January 12, 2027"; weekday names before them are ignored. Slash dates only when day
    and month cannot be swapped (13/01, 01/13), never US/European guesses (01/12).
    A year-less date is the next one on or after ``received``, unless it lies up to 30
    days before it (a forgotten out-of-office text: that past day is returned). Dates
    more than a year away from ``received`` are ignored, as is quoted text. No date →
    None ("bis auf Weiteres", "bis Freitag").
    """
    try:
        body, _ = split_quote(text)
        candidates = list(_return_candidates(" ".join(body.split()), received))
    except Exception:  # never raise on strange text
        return None
    explicit = [c for c in candidates if c.cue is _Cue.RETURN]
    best = explicit or candidates
    return max(c.back for c in best) if best else None


def _return_candidates(text: str, received: date) -> Iterator[_Candidate]:
    """Every date in the text that a cue marks as the end of absence or the return."""
    matches = list(_DATE_RE.finditer(text))
    for index, match in enumerate(matches):
        previous_end = matches[index - 1].end() if index else None
        next_start = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        prefix = text[max(previous_end or 0, match.start() - _CUE_WINDOW) : match.start()]
        gap = text[previous_end : match.start()] if previous_end is not None else None
        cue = _cue(prefix, gap, text[match.end() : next_start])
        day = _match_date(match, received) if cue is not None else None
        if cue is not None and day is not None:
            yield _Candidate(_next_weekday(day) if cue is _Cue.END else day, cue)


def _next_weekday(day: date) -> date:
    """The working day after the last day away ("bis Freitag, 13.03." → Montag, 16.03.)."""
    following = day + timedelta(days=1)
    while following.weekday() >= 5:
        following += timedelta(days=1)
    return following


def _cue(prefix: str, gap: str | None, suffix: str) -> _Cue | None:
    """What the words around a date make of it; None for unrelated dates."""
    clause = re.split(r"[.,;!?]", suffix.lstrip(" ,"), maxsplit=1)[0]
    if _END_BEFORE_RE.search(prefix):
        # "bis zum 12.01. wieder im Büro": back by that day
        return _Cue.RETURN if _AGAIN_RIGHT_AFTER_RE.match(clause) else _Cue.END
    if gap is not None and _RANGE_GAP_RE.fullmatch(gap):
        return _Cue.END
    if _RETURN_BEFORE_RE.search(prefix):
        return _Cue.RETURN
    if _START_BEFORE_RE.search(prefix) and _AGAIN_AFTER_RE.match(clause):
        return _Cue.RETURN
    return None


def _match_date(match: re.Match[str], received: date) -> date | None:
    """The calendar day of one date match, year resolved against ``received``."""
    group = match.groupdict()
    if group["d"]:
        return _resolve(int(group["d"]), int(group["m"]), _year(group["y"]), received)
    if group["iy"]:
        return _resolve(int(group["id"]), int(group["im"]), int(group["iy"]), received)
    if group["sa"]:
        day_month = _unambiguous_day_month(int(group["sa"]), int(group["sb"]))
        if day_month is None:
            return None
        return _resolve(*day_month, _year(group["sy"]), received)
    if group["nd"]:
        month = _MONTHS[group["nm"].lower()]
        return _resolve(int(group["nd"]), month, _year(group["ny"]), received)
    month = _MONTHS[group["fm"].lower()]
    return _resolve(int(group["fd"]), month, _year(group["fy"]), received)


def _year(text: str | None) -> int | None:
    """A written year; two digits mean this century ("27" → 2027)."""
    if not text:
        return None
    return 2000 + int(text) if len(text) == 2 else int(text)


def _unambiguous_day_month(first: int, second: int) -> tuple[int, int] | None:
    """(day, month) of a slash date if the order is clear: 13/01 and 01/13, not 01/12."""
    if first == second or (first > 12 and second <= 12):
        return first, second
    if second > 12 and first <= 12:
        return second, first
    return None


def _resolve(day: int, month: int, year: int | None, received: date) -> date | None:
    """A real date near ``received``; a year-less one is the next occurrence (see _STALE)."""
    if year is not None:
        found = calendar_day(year, month, day)
    else:
        options = (calendar_day(y, month, day) for y in range(received.year - 1, received.year + 3))
        found = next((d for d in options if d is not None and d >= received - _STALE), None)
    if found is None or abs(found - received) > _MAX_DISTANCE:
        return None
    return found


def calendar_day(year: int, month: int, day: int) -> date | None:
    """``date(year, month, day)``, None for 31.02. and other impossible days."""
    try:
        return date(year, month, day)
    except ValueError:
        return None
