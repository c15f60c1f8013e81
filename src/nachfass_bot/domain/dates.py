"""The one window of dates the bot accepts from outside (docs/DESIGN.md, "Input at the
door").

Every date a person gives — ``track --due`` and ``--sent-at``, ``--now``, the owner's
"später 12.01." and "urlaub bis 06.01." — and every date read from a mail that is stored
(an out-of-office return date) must lie between :data:`PAST_YEARS` years before and
:data:`FUTURE_YEARS` years after today. No follow-up needs a date further out, and a date
near the ends of the calendar (9999-12-31, 0001-01-01) makes every later step computed
from it overflow, in every cycle. Pure: ``today`` is the caller's.
"""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, date, datetime

from nachfass_bot.errors import DateOutOfRange

PAST_YEARS = 10
FUTURE_YEARS = 5


def date_window(today: date) -> tuple[date, date]:
    """The first and the last day accepted on ``today`` (both included)."""
    return _years_from(today, -PAST_YEARS), _years_from(today, FUTURE_YEARS)


def in_date_window(day: date, today: date) -> bool:
    """True when ``day`` lies in :func:`date_window` of ``today``."""
    first, last = date_window(today)
    return first <= day <= last


def check_date(day: date, today: date) -> date:
    """``day`` itself, or DateOutOfRange (German message naming the window) when it lies
    outside :func:`date_window` of ``today``."""
    if in_date_window(day, today):
        return day
    first, last = date_window(today)
    where = "zu weit in der Vergangenheit" if day < first else "zu weit in der Zukunft"
    raise DateOutOfRange(
        f"{german_date(day)} liegt {where}: erlaubt ist ein Datum vom {german_date(first)} "
        f"bis zum {german_date(last)}"
    )


def check_moment(moment: datetime, now: datetime) -> datetime:
    """:func:`check_date` for a moment: its own calendar day against the day of ``now``.

    The day is taken as written, without converting time zones: near the ends of the
    calendar the conversion itself would overflow.
    """
    check_date(moment.date(), now.date())
    return moment


def german_date(day: date) -> str:
    """``31.12.9999``: day, month and a four-digit year, also for years before 1000."""
    return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"


def _years_from(day: date, years: int) -> date:
    year = min(max(day.year + years, MINYEAR), MAXYEAR)
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a year without it
        return day.replace(year=year, day=28)
