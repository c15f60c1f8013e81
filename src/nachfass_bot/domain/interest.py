"""Late-payment interest and the flat fee of § 288 BGB: facts to state, not advice.

Pure arithmetic on a dated table; no clock, no configuration. The owner may override
the base rate (config), which then wins over the table for every date.

- Verzugszinsen (§ 288 Abs. 1 and 2 BGB): the Basiszinssatz (§ 247 BGB) plus 9
  percentage points between businesses, plus 5 points when the debtor is a consumer.
- Pauschale (§ 288 Abs. 5 BGB): 40 euro, only when the debtor is not a consumer.

Interest here is simple interest on actual days / 365, rounded to cents.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

# The Basiszinssatz (§ 247 BGB) as published by the Deutsche Bundesbank, each value valid
# from its date until the next one. It changes only on 1 January and 1 July: add the new
# row after every publication (late December / late June). A date past the last row uses
# the last row, so a missed update gives the last known rate, not an error.
BASE_RATES: tuple[tuple[date, Decimal], ...] = (
    (date(2023, 1, 1), Decimal("1.62")),
    (date(2023, 7, 1), Decimal("3.12")),
    (date(2024, 1, 1), Decimal("3.62")),
    (date(2024, 7, 1), Decimal("3.37")),
    (date(2025, 1, 1), Decimal("2.27")),
    (date(2025, 7, 1), Decimal("1.27")),
    (date(2026, 1, 1), Decimal("1.27")),
    # Not confirmed on bundesbank.de from this workplace (no network): taken from a
    # late-payment calculator that reads the Bundesbank's rate (B2B 10,52 % from 1 July
    # 2026, as of 22 November 2026). Check it against the Bundesbank's notice.
    (date(2026, 7, 1), Decimal("1.52")),
)

# The table is stale when its last row is more than this many months old: a new rate has
# been published (each half year) and is missing. A test and ``nachfass-bot check`` say so.
STALE_AFTER_MONTHS = 7
BASE_RATE_SOURCE = "Deutsche Bundesbank, bundesbank.de: „Basiszinssatz“ (§ 247 Abs. 2 BGB)"

B2B_POINTS = Decimal("9")  # § 288 Abs. 2 BGB: no consumer involved
B2C_POINTS = Decimal("5")  # § 288 Abs. 1 BGB
FLAT_FEE = Decimal("40.00")  # § 288 Abs. 5 BGB
_CENT = Decimal("0.01")
_DAYS_PER_YEAR = Decimal(365)


def base_rate(on: date, override: Decimal | None = None) -> Decimal:
    """Return the Basiszinssatz in percent valid on ``on``, or ``override`` when given.

    Raises ValueError for a date before the first row of :data:`BASE_RATES`.
    """
    if override is not None:
        return override
    rate: Decimal | None = None
    for valid_from, value in BASE_RATES:
        if valid_from > on:
            break
        rate = value
    if rate is None:
        first = BASE_RATES[0][0]
        raise ValueError(f"Basiszinssatz vor dem {first.isoformat()} ist nicht hinterlegt")
    return rate


def late_interest_rate(on: date, *, b2b: bool, override: Decimal | None = None) -> Decimal:
    """Return the yearly late-payment interest rate in percent valid on ``on``.

    Base rate plus 9 points between businesses (``b2b``), plus 5 points for a consumer.
    ``override`` replaces the base rate, not the result.
    """
    return base_rate(on, override) + (B2B_POINTS if b2b else B2C_POINTS)


def flat_fee(b2b: bool) -> Decimal | None:
    """Return the flat fee of § 288 Abs. 5 BGB (40,00 €), or None for a consumer."""
    return FLAT_FEE if b2b else None


def late_interest(amount: Decimal, since: date, until: date, rate: Decimal) -> Decimal:
    """Return simple interest on ``amount`` at ``rate`` percent a year from ``since`` to
    ``until``: actual days / 365, rounded half up to cents; 0 when ``until <= since``.

    A change of the base rate inside the period is not split: pass one period per rate.
    """
    days = (until - since).days
    if days <= 0:
        return Decimal("0.00")
    interest = amount * rate / Decimal(100) * Decimal(days) / _DAYS_PER_YEAR
    return interest.quantize(_CENT, rounding=ROUND_HALF_UP)


def base_rate_table_stale_since(today: date) -> date | None:
    """The day the table of :data:`BASE_RATES` went stale (its last row more than
    :data:`STALE_AFTER_MONTHS` months old), or None while it is current on ``today``."""
    last = BASE_RATES[-1][0]
    months = last.month - 1 + STALE_AFTER_MONTHS
    stale = date(last.year + months // 12, months % 12 + 1, last.day) + timedelta(days=1)
    return stale if today >= stale else None
