"""Tests for nachfass_bot.domain.calendar: sending windows, holidays, business days, parsing."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from nachfass_bot.domain.calendar import GERMAN_SUBDIVISIONS, SendingWindow, parse_days, parse_hours

BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = SendingWindow()


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- is_open / next_slot -------------------------------------------------------------


def test_open_moment_is_returned_unchanged_in_utc() -> None:
    moment = berlin(2026, 3, 3, 10, 15)  # Tuesday
    assert WINDOW.is_open(moment)
    slot = WINDOW.next_slot(moment)
    assert slot == moment
    assert slot.tzinfo is UTC


def test_window_is_half_open() -> None:
    assert WINDOW.is_open(berlin(2026, 3, 3, 9, 0))
    assert WINDOW.is_open(berlin(2026, 3, 3, 16, 59))
    assert not WINDOW.is_open(berlin(2026, 3, 3, 17, 0))
    assert not WINDOW.is_open(berlin(2026, 3, 3, 8, 59))


def test_saturday_moves_to_monday_nine() -> None:
    assert WINDOW.next_slot(berlin(2026, 3, 7, 11, 0)) == berlin(2026, 3, 9, 9, 0)


def test_after_hours_moves_to_next_morning() -> None:
    assert WINDOW.next_slot(berlin(2026, 3, 3, 17, 30)) == berlin(2026, 3, 4, 9, 0)


def test_early_morning_moves_to_same_day_start() -> None:
    assert WINDOW.next_slot(berlin(2026, 3, 3, 6, 0)) == berlin(2026, 3, 3, 9, 0)


def test_input_in_other_zone_is_judged_in_window_zone() -> None:
    # 07:30 UTC is 08:30 in Berlin (winter): still closed.
    assert not WINDOW.is_open(utc(2026, 3, 3, 7, 30))
    assert WINDOW.next_slot(utc(2026, 3, 3, 7, 30)) == utc(2026, 3, 3, 8, 0)
    plus_five = timezone(timedelta(hours=5))
    assert WINDOW.is_open(datetime(2026, 3, 3, 14, 0, tzinfo=plus_five))  # 10:00 Berlin


def test_tag_der_deutschen_einheit_is_skipped() -> None:
    # Friday 3 October 2025 is a holiday everywhere in Germany.
    assert not WINDOW.is_open(berlin(2025, 10, 3, 10, 0))
    assert WINDOW.next_slot(berlin(2025, 10, 2, 17, 30)) == berlin(2025, 10, 6, 9, 0)


def test_fronleichnam_counts_in_nw_but_not_in_berlin() -> None:
    fronleichnam = date(2026, 6, 4)
    nw = SendingWindow(bundesland="NW")
    be = SendingWindow(bundesland="BE")
    assert not nw.is_business_day(fronleichnam)
    assert be.is_business_day(fronleichnam)
    evening_before = berlin(2026, 6, 3, 18, 0)
    assert nw.next_slot(evening_before) == berlin(2026, 6, 5, 9, 0)
    assert be.next_slot(evening_before) == berlin(2026, 6, 4, 9, 0)


def test_christmas_freeze_then_new_year_holiday_then_weekend() -> None:
    # 24.–31.12.2026 frozen, 1.1.2027 (Friday) a holiday, 2./3.1. weekend.
    assert WINDOW.next_slot(berlin(2026, 12, 23, 17, 30)) == berlin(2027, 1, 4, 9, 0)


def test_christmas_freeze_then_second_of_january() -> None:
    # 1.1.2026 is a Thursday holiday, so Friday 2.1. is the first slot.
    assert WINDOW.next_slot(berlin(2025, 12, 23, 18, 0)) == berlin(2026, 1, 2, 9, 0)
    assert not WINDOW.is_open(berlin(2025, 12, 29, 10, 0))  # a Monday inside the freeze


def test_without_christmas_freeze_only_holidays_block() -> None:
    window = SendingWindow(christmas_freeze=False)
    assert window.is_open(berlin(2025, 12, 24, 10, 0))  # Heiligabend is no public holiday
    assert not window.is_open(berlin(2025, 12, 25, 10, 0))
    assert window.next_slot(berlin(2025, 12, 24, 17, 0)) == berlin(2025, 12, 29, 9, 0)


def test_dst_spring_forward_weekend() -> None:
    # Clocks go forward on Sunday 29 March 2026: Monday 09:00 local is 07:00 UTC.
    slot = WINDOW.next_slot(berlin(2026, 3, 27, 18, 0))
    assert slot == utc(2026, 3, 30, 7, 0)
    assert slot.astimezone(BERLIN).time() == time(9, 0)


def test_dst_fall_back_weekend() -> None:
    # Clocks go back on Sunday 25 October 2026: Monday 09:00 local is 08:00 UTC.
    assert WINDOW.next_slot(berlin(2026, 10, 23, 18, 0)) == utc(2026, 10, 26, 8, 0)


def test_custom_days_and_hours() -> None:
    window = SendingWindow(days=frozenset({1, 3}), start=time(10, 0), end=time(12, 0))
    # Wednesday 4 March 2026 is not a sending day: Thursday 10:00.
    assert window.next_slot(berlin(2026, 3, 4, 11, 0)) == berlin(2026, 3, 5, 10, 0)


def test_weekend_days_are_allowed_when_configured() -> None:
    window = SendingWindow(days=frozenset({5}))
    assert window.is_open(berlin(2026, 3, 7, 10, 0))


def reference_next_slot(window: SendingWindow, moment: datetime) -> datetime:
    """``next_slot`` as it was before it remembered each day's opening."""
    zone = ZoneInfo(window.timezone)
    local = moment.astimezone(zone)
    day, clock = local.date(), local.time()
    if window.is_open_day(day) and window.start <= clock < window.end:
        return moment.astimezone(UTC)
    if not (window.is_open_day(day) and clock < window.start):
        day += timedelta(days=1)
        while not window.is_open_day(day):
            day += timedelta(days=1)
    return datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    "window",
    [
        SendingWindow(),
        # Opening inside the spring-forward gap and the fall-back hour.
        SendingWindow(bundesland="BY", days=frozenset({0, 2, 6}), start=time(2, 30)),
        SendingWindow(timezone="America/New_York", start=time(1, 30), end=time(23, 0)),
    ],
)
def test_next_slot_remembers_each_day_s_opening_as_it_computed_it(window: SendingWindow) -> None:
    rng = random.Random(11)
    start = datetime(2025, 10, 1, tzinfo=UTC)
    moments = [start + timedelta(minutes=rng.randrange(460 * 24 * 60)) for _ in range(3000)]
    moments += [utc(2026, 3, 29, hour, 15) for hour in range(24)]
    moments += [utc(2026, 10, 25, hour, 45) for hour in range(24)]
    moments += [berlin(2026, 3, 28, 23, 59), berlin(2026, 10, 24, 18, 0)]
    for moment in moments * 2:  # the second time from the remembered openings
        slot = window.next_slot(moment)
        assert slot.isoformat() == reference_next_slot(window, moment).isoformat()
        assert slot.tzinfo is UTC


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 3, 3, 10, 0)
    with pytest.raises(ValueError):
        WINDOW.is_open(naive)
    with pytest.raises(ValueError):
        WINDOW.next_slot(naive)
    with pytest.raises(ValueError):
        WINDOW.add_business_days(naive, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"days": frozenset()},
        {"days": frozenset({7})},
        {"start": time(17, 0), "end": time(9, 0)},
        {"start": time(9, 0), "end": time(9, 0)},
        {"bundesland": "XX"},
        {"bundesland": "Augsburg"},
        {"timezone": "Mars/Olympus"},
    ],
)
def test_windows_that_could_never_open_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SendingWindow(**kwargs)  # type: ignore[arg-type]


def test_german_subdivisions() -> None:
    assert len(GERMAN_SUBDIVISIONS) == 16
    assert {"NW", "BE", "BY", "TH"} <= GERMAN_SUBDIVISIONS


# --- business days ------------------------------------------------------------------


def test_is_business_day() -> None:
    assert WINDOW.is_business_day(date(2026, 3, 3))
    assert not WINDOW.is_business_day(date(2026, 3, 7))  # Saturday
    assert not WINDOW.is_business_day(date(2026, 4, 3))  # Karfreitag
    # The Christmas freeze is about sending, not about business days.
    assert WINDOW.is_business_day(date(2025, 12, 29))


def test_add_business_days_over_weekend_keeps_wall_clock() -> None:
    assert WINDOW.add_business_days(berlin(2026, 3, 6, 10, 15), 1) == berlin(2026, 3, 9, 10, 15)


def test_add_business_days_over_easter() -> None:
    # Karfreitag 3.4.2026 and Ostermontag 6.4.2026 are holidays.
    thursday = berlin(2026, 4, 2, 10, 0)
    assert WINDOW.add_business_days(thursday, 1) == berlin(2026, 4, 7, 10, 0)
    assert WINDOW.add_business_days(thursday, 3) == berlin(2026, 4, 9, 10, 0)


def test_add_business_days_across_dst_keeps_local_time() -> None:
    result = WINDOW.add_business_days(berlin(2026, 3, 27, 10, 15), 1)
    assert result == utc(2026, 3, 30, 8, 15)
    assert result.tzinfo is UTC


def test_add_business_days_from_a_weekend() -> None:
    assert WINDOW.add_business_days(berlin(2026, 3, 7, 12, 0), 1) == berlin(2026, 3, 9, 12, 0)


def test_add_zero_and_negative_business_days() -> None:
    moment = berlin(2026, 3, 7, 12, 0)
    assert WINDOW.add_business_days(moment, 0) == moment
    with pytest.raises(ValueError):
        WINDOW.add_business_days(moment, -1)


# --- parse_days / parse_hours -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mo-fr", {0, 1, 2, 3, 4}),
        ("Mo - Fr", {0, 1, 2, 3, 4}),
        ("mon,tue,thu", {0, 1, 3}),
        ("mo, di, do", {0, 1, 3}),
        ("mi do", {2, 3}),
        ("sa,so", {5, 6}),
        ("fr-mo", {4, 5, 6, 0}),
        ("mon-wed,fri", {0, 1, 2, 4}),
        ("montag-freitag", {0, 1, 2, 3, 4}),
        ("so", {6}),
    ],
)
def test_parse_days_good(text: str, expected: set[int]) -> None:
    assert parse_days(text) == frozenset(expected)


@pytest.mark.parametrize("text", ["", "   ", "mon-", "xyz", "mo-fr-sa", "montagmorgen", "1-5"])
def test_parse_days_bad(text: str) -> None:
    with pytest.raises(ValueError, match=r"Wochentag|Ungültige Angabe"):
        parse_days(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-17:00", (time(9, 0), time(17, 0))),
        ("9:30 - 16:45", (time(9, 30), time(16, 45))),
        ("8-18", (time(8, 0), time(18, 0))),
        ("00:00-23:59", (time(0, 0), time(23, 59))),
    ],
)
def test_parse_hours_good(text: str, expected: tuple[time, time]) -> None:
    assert parse_hours(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "09:00", "17:00-09:00", "09:00-09:00", "25:00-26:00", "09:60-17:00", "9 bis 17", "a-b"],
)
def test_parse_hours_bad(text: str) -> None:
    with pytest.raises(ValueError, match=r"Uhrzeit|Beginn"):
        parse_hours(text)
