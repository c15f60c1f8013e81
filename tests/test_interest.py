"""§ 288 BGB arithmetic: the base-rate table, the rates, the flat fee and simple interest.

Every expected number is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from nachfass_bot.domain.interest import (
    BASE_RATE_SOURCE,
    BASE_RATES,
    FLAT_FEE,
    base_rate,
    base_rate_table_stale_since,
    flat_fee,
    late_interest,
    late_interest_rate,
)


def test_table_is_sorted_and_changes_only_on_1_january_or_1_july() -> None:
    days = [valid_from for valid_from, _ in BASE_RATES]

    assert days == sorted(days)
    assert len(set(days)) == len(days)
    assert all((day.month, day.day) in ((1, 1), (7, 1)) for day in days)


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2023, 1, 1), "1.62"),
        (date(2023, 6, 30), "1.62"),
        (date(2023, 7, 1), "3.12"),
        (date(2024, 1, 1), "3.62"),
        (date(2024, 12, 31), "3.37"),
        (date(2025, 1, 1), "2.27"),
        (date(2025, 6, 30), "2.27"),
        (date(2025, 7, 1), "1.27"),
        (date(2026, 1, 1), "1.27"),  # unchanged on 1 January 2026
        (date(2026, 3, 19), "1.27"),
        (date(2026, 6, 30), "1.27"),
        (date(2026, 7, 1), "1.52"),
        (date(2031, 1, 1), "1.52"),  # past the table: the last known rate
    ],
)
def test_base_rate_on_a_day(on: date, expected: str) -> None:
    assert base_rate(on) == Decimal(expected)


def test_base_rate_before_the_table_is_refused() -> None:
    with pytest.raises(ValueError, match="2023-01-01"):
        base_rate(date(2022, 12, 31))


def test_base_rate_override_wins_even_before_the_table() -> None:
    assert base_rate(date(2026, 3, 19), Decimal("2.00")) == Decimal("2.00")
    assert base_rate(date(2020, 1, 1), Decimal("-0.88")) == Decimal("-0.88")


@pytest.mark.parametrize(
    ("on", "b2b", "override", "expected"),
    [
        (date(2026, 3, 19), True, None, "10.27"),  # 1.27 + 9
        (date(2026, 3, 19), False, None, "6.27"),  # 1.27 + 5
        (date(2024, 3, 1), True, None, "12.62"),  # 3.62 + 9
        (date(2024, 3, 1), False, None, "8.62"),  # 3.62 + 5
        (date(2026, 3, 19), True, "2.00", "11.00"),  # the override replaces the base only
        (date(2026, 3, 19), False, "-0.88", "4.12"),
    ],
)
def test_late_interest_rate(on: date, b2b: bool, override: str | None, expected: str) -> None:
    given = Decimal(override) if override is not None else None

    assert late_interest_rate(on, b2b=b2b, override=given) == Decimal(expected)


def test_flat_fee_only_between_businesses() -> None:
    assert Decimal("40.00") == FLAT_FEE
    assert flat_fee(True) == Decimal("40.00")
    assert flat_fee(False) is None


@pytest.mark.parametrize(
    ("amount", "since", "until", "rate", "expected"),
    [
        # 1190 × 10.27 % = 122.213 a year; × 30 / 365 = 10.0449… → 10.04
        ("1190.00", date(2026, 4, 10), date(2026, 5, 10), "10.27", "10.04"),
        # a whole (non-leap) year: 1000 × 9.27 % = 92.70
        ("1000.00", date(2026, 1, 1), date(2027, 1, 1), "9.27", "92.70"),
        # 500 × 6.27 % = 31.35 a year; × 14 / 365 = 1.2024… → 1.20
        ("500.00", date(2026, 3, 2), date(2026, 3, 16), "6.27", "1.20"),
        # 4165 × 10.27 % = 427.7455 a year; × 1 / 365 = 1.17190… → 1.17
        ("4165.00", date(2026, 4, 24), date(2026, 4, 25), "10.27", "1.17"),
        # exactly half a cent rounds up: 1 × 36.5 % × 5 / 365 = 0.005 → 0.01
        ("1.00", date(2026, 1, 1), date(2026, 1, 6), "36.5", "0.01"),
        # a leap year has 366 days, still divided by 365: 1000 × 3.65 % × 366 / 365 = 36.60
        ("1000.00", date(2028, 1, 1), date(2029, 1, 1), "3.65", "36.60"),
    ],
)
def test_late_interest(amount: str, since: date, until: date, rate: str, expected: str) -> None:
    result = late_interest(Decimal(amount), since, until, Decimal(rate))

    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -2  # always in cents


@pytest.mark.parametrize("until", [date(2026, 4, 10), date(2026, 4, 1)])
def test_no_interest_without_days(until: date) -> None:
    result = late_interest(Decimal("1190.00"), date(2026, 4, 10), until, Decimal("10.27"))

    assert result == Decimal("0.00")
    assert str(result) == "0.00"


# -- the table cannot go stale silently (issue 13, point 11) -----------------------------------


def test_the_base_rate_table_is_current_today() -> None:
    """A staleness guard: the only test that reads the real date. It fails once the last
    row of BASE_RATES is more than seven months old, i.e. a published rate is missing."""
    today = date.today()

    since = base_rate_table_stale_since(today)

    last_day, last_rate = BASE_RATES[-1]
    assert since is None, (
        f"BASE_RATES (src/nachfass_bot/domain/interest.py) endet mit {last_rate} % ab "
        f"{last_day}; seit {since} fehlt ein neuer Satz. Bitte den aktuellen Basiszinssatz "
        f"nachsehen ({BASE_RATE_SOURCE}) und als neue Zeile eintragen."
    )


def _months_after(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    return day.replace(year=day.year + year, month=month + 1)


@pytest.mark.parametrize(
    ("months", "days", "stale"),
    [
        (0, 0, False),
        (6, 0, False),  # the next rate may be published late in the month before
        (7, 0, False),  # seven months exactly
        (7, 1, True),
        (14, 0, True),
    ],
)
def test_staleness_counts_seven_months_from_the_last_row(
    months: int, days: int, stale: bool
) -> None:
    today = _months_after(BASE_RATES[-1][0], months) + timedelta(days=days)

    assert (base_rate_table_stale_since(today) is not None) is stale
