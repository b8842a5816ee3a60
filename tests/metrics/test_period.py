"""The period model: every style, its errors, retention, previous(), buckets, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from shoplens.errors import BadRequest
from shoplens.metrics.period import Period, local_midnight, parse_period

# Sunday 2026-03-15, 15:00 UTC.
NOW = datetime(2026, 3, 15, 15, 0, tzinfo=UTC)


def parse(
    query: dict[str, str | None],
    tz: str = "UTC",
    now: datetime = NOW,
    *,
    retention_days: int | None = None,
    default_days: int = 30,
    default_granularity: str | None = None,
) -> Period:
    return parse_period(
        query,
        timezone=tz,
        now=now,
        retention_days=retention_days,
        default_days=default_days,
        default_granularity=default_granularity,
    )


def rejection(query: dict[str, str | None], retention_days: int | None = None) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse(query, retention_days=retention_days)
    assert caught.value.status == 400
    return caught.value


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- every style ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first", "last", "label", "granularity"),
    [
        ({}, "2026-02-14", "2026-03-15", "30d", "day"),
        ({"period": "7d"}, "2026-03-09", "2026-03-15", "7d", "day"),
        ({"period": "30d"}, "2026-02-14", "2026-03-15", "30d", "day"),
        ({"period": "90d"}, "2025-12-16", "2026-03-15", "90d", "day"),
        ({"period": "12m"}, "2025-04-01", "2026-03-15", "12m", "month"),
        ({"period": " 30D "}, "2026-02-14", "2026-03-15", "30d", "day"),
        ({"days": "14"}, "2026-03-02", "2026-03-15", "14d", "day"),
        ({"days": "1"}, "2026-03-15", "2026-03-15", "1d", "hour"),
        ({"days": "3650"}, "2016-03-18", "2026-03-15", "3650d", "month"),
        ({"start": "2026-01-01", "end": "2026-01-31"}, "2026-01-01", "2026-01-31", "custom", "day"),
        (
            {"start": "2026-03-15", "end": "2026-03-15"},
            "2026-03-15",
            "2026-03-15",
            "custom",
            "hour",
        ),
        ({"start": "2026-03-01", "end": "2026-12-31"}, "2026-03-01", "2026-03-15", "custom", "day"),
        ({"time_range": "today"}, "2026-03-15", "2026-03-15", "today", "hour"),
        ({"time_range": "week"}, "2026-03-09", "2026-03-15", "week", "day"),
        ({"time_range": "month"}, "2026-03-01", "2026-03-15", "month", "day"),
        ({"time_range": "quarter"}, "2026-01-01", "2026-03-15", "quarter", "day"),
        ({"time_range": "year"}, "2026-01-01", "2026-03-15", "year", "day"),
        ({"time_range": "MONTH"}, "2026-03-01", "2026-03-15", "month", "day"),
        (
            {"time_range": "custom", "start_date": "2025-06-01", "end_date": "2025-06-30"},
            "2025-06-01",
            "2025-06-30",
            "custom",
            "day",
        ),
        (
            {"start_date": "2025-06-01", "end_date": "2025-06-30"},
            "2025-06-01",
            "2025-06-30",
            "custom",
            "day",
        ),
        (
            {"period": "", "days": "  ", "time_range": None},
            "2026-02-14",
            "2026-03-15",
            "30d",
            "day",
        ),
        (
            {"period": "7d", "limit": "5", "currency": "USD"},
            "2026-03-09",
            "2026-03-15",
            "7d",
            "day",
        ),
    ],
)
def test_each_style_gives_whole_local_days(
    query: dict[str, str | None], first: str, last: str, label: str, granularity: str
) -> None:
    period = parse(query)
    assert (period.first_day, period.last_day) == (d(first), d(last))
    assert period.start == datetime.combine(d(first), time(), UTC)
    assert period.end == datetime.combine(d(last) + timedelta(days=1), time(), UTC)
    assert period.days == (d(last) - d(first)).days + 1
    assert (period.label, period.granularity, period.clamped) == (label, granularity, False)


def test_defaults_come_from_the_route() -> None:
    period = parse({}, default_days=7, default_granularity="week")
    assert (period.first_day, period.days, period.label, period.granularity) == (
        d("2026-03-09"),
        7,
        "7d",
        "week",
    )


# --- rejections -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"period": "1y"}, "period", "period must be one of 7d, 30d, 90d, 12m"),
        ({"period": "30"}, "period", "period must be one of 7d, 30d, 90d, 12m"),
        ({"days": "0"}, "days", "days must be a whole number from 1 to 3650"),
        ({"days": "-1"}, "days", "days must be a whole number from 1 to 3650"),
        ({"days": "+5"}, "days", "days must be a whole number from 1 to 3650"),
        ({"days": "1.5"}, "days", "days must be a whole number from 1 to 3650"),
        ({"days": "abc"}, "days", "days must be a whole number from 1 to 3650"),
        ({"days": "\u0663\u0660"}, "days", "days must be a whole number from 1 to 3650"),
        ({"days": "3651"}, "days", "days must be a whole number from 1 to 3650"),
        ({"days": "99999999999999"}, "days", "days must be a whole number from 1 to 3650"),
        ({"start": "2026-01-01"}, "end", "start and end must be used together"),
        ({"end": "2026-01-01"}, "start", "start and end must be used together"),
        (
            {"start": "2026/01/01", "end": "2026-01-31"},
            "start",
            "start must be an ISO date (YYYY-MM-DD)",
        ),
        (
            {"start": "20260101", "end": "2026-01-31"},
            "start",
            "start must be an ISO date (YYYY-MM-DD)",
        ),
        (
            {"start": "2026-02-30", "end": "2026-03-01"},
            "start",
            "start must be an ISO date (YYYY-MM-DD)",
        ),
        (
            {"start": "2026-01-01", "end": "2026-13-01"},
            "end",
            "end must be an ISO date (YYYY-MM-DD)",
        ),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "start", "start must be on or before end"),
        (
            {"start": "2026-03-16", "end": "2026-03-20"},
            "start",
            "start must not be after today (2026-03-15)",
        ),
        (
            {"start": "2000-01-01", "end": "2026-01-01"},
            "start",
            "a date range may span at most 3650 days",
        ),
        (
            {"time_range": "decade"},
            "time_range",
            "time_range must be one of today, week, month, quarter, year, custom",
        ),
        (
            {"time_range": "custom"},
            "start_date",
            "time_range=custom requires start_date and end_date",
        ),
        (
            {"time_range": "custom", "start_date": "2026-01-01"},
            "end_date",
            "time_range=custom requires start_date and end_date",
        ),
        (
            {"time_range": "custom", "end_date": "2026-01-01"},
            "start_date",
            "time_range=custom requires start_date and end_date",
        ),
        ({"start_date": "2026-01-01"}, "end_date", "start_date and end_date must be used together"),
        (
            {"time_range": "custom", "start_date": "01/01/2026", "end_date": "2026-01-31"},
            "start_date",
            "start_date must be an ISO date (YYYY-MM-DD)",
        ),
        (
            {"time_range": "custom", "start_date": "2026-02-01", "end_date": "2026-01-31"},
            "start_date",
            "start_date must be on or before end_date",
        ),
        (
            {"time_range": "custom", "start_date": "2016-01-01", "end_date": "2026-01-31"},
            "start_date",
            "a date range may span at most 3650 days",
        ),
        (
            {"time_range": "month", "start_date": "2026-01-01"},
            "start_date",
            "start_date is only used with time_range=custom",
        ),
        (
            {"time_range": "week", "end_date": "2026-01-01"},
            "end_date",
            "end_date is only used with time_range=custom",
        ),
        (
            {"granularity": "minute"},
            "granularity",
            "granularity must be one of hour, day, week, month",
        ),
        (
            {"period": "90d", "granularity": "hour"},
            "granularity",
            "granularity=hour is limited to ranges of 31 days or less; use day, week or month",
        ),
        (
            {"time_range": "quarter", "granularity": "hour"},
            "granularity",
            "granularity=hour is limited to ranges of 31 days or less; use day, week or month",
        ),
        (
            {"days": "32", "granularity": "hour"},
            "granularity",
            "granularity=hour is limited to ranges of 31 days or less; use day, week or month",
        ),
    ],
)
def test_invalid_values_are_400_naming_the_parameter(
    query: dict[str, str | None], field: str, message: str
) -> None:
    error = rejection(query)
    assert (error.field, error.message) == (field, message)


@pytest.mark.parametrize(
    ("query", "first", "second"),
    [
        ({"period": "30d", "time_range": "month"}, "period", "time_range"),
        ({"period": "30d", "days": "30"}, "period", "days"),
        ({"period": "30d", "end": "2026-01-01"}, "period", "end"),
        ({"days": "30", "start": "2026-01-01", "end": "2026-01-31"}, "days", "start"),
        (
            {"start": "2026-01-01", "end": "2026-01-31", "time_range": "custom"},
            "start",
            "time_range",
        ),
        ({"days": "7", "start_date": "2026-01-01"}, "days", "start_date"),
        (
            {
                "start": "2026-01-01",
                "end": "2026-01-31",
                "start_date": "2026-01-01",
                "end_date": "2026-01-31",
            },
            "start",
            "start_date",
        ),
        (
            {"period": "7d", "days": "7", "start": "2026-01-01", "time_range": "week"},
            "period",
            "days",
        ),
    ],
)
def test_two_styles_at_once_are_400_naming_the_second(
    query: dict[str, str | None], first: str, second: str
) -> None:
    error = rejection(query)
    assert error.field == second
    assert error.message == (
        f"{first} and {second} cannot be combined; use one of period, days, start/end or time_range"
    )


def test_only_the_good_granularity_passes_at_the_hour_limit() -> None:
    period = parse({"days": "31", "granularity": "HOUR"})
    assert period.granularity == "hour"
    assert len(period.buckets()) == 31 * 24


# --- granularity defaults -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "default", "granularity"),
    [
        ({"time_range": "today"}, None, "hour"),
        ({"days": "2"}, None, "hour"),
        ({"days": "3"}, None, "day"),
        ({"days": "92"}, None, "day"),
        ({"days": "93"}, None, "month"),
        ({"period": "12m"}, None, "month"),
        ({"time_range": "today"}, "day", "day"),
        ({"period": "7d"}, "week", "week"),
        ({"period": "30d"}, "hour", "hour"),
        ({"period": "90d"}, "hour", "day"),
        ({"period": "12m", "granularity": "week"}, "day", "week"),
    ],
)
def test_granularity_defaults_to_the_route_then_to_the_range_length(
    query: dict[str, str | None], default: str | None, granularity: str
) -> None:
    assert parse(query, default_granularity=default).granularity == granularity


def test_programming_errors_are_not_400s() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse({}, now=datetime(2026, 3, 15, 15, 0))
    with pytest.raises(ValueError, match="granularity"):
        parse({}, default_granularity="minute")
    with pytest.raises(ValueError, match="retention_days"):
        parse({}, retention_days=0)
    with pytest.raises(ValueError, match="start < end"):
        Period(NOW, NOW, "UTC", "day", "custom", 0)


# --- retention ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "retention", "first", "last", "label", "clamped"),
    [
        ({"days": "90"}, 30, "2026-02-14", "2026-03-15", "90d", True),
        ({"days": "30"}, 30, "2026-02-14", "2026-03-15", "30d", False),
        ({}, 7, "2026-03-09", "2026-03-15", "30d", True),
        ({"period": "12m"}, 90, "2025-12-16", "2026-03-15", "12m", True),
        ({"period": "7d"}, 90, "2026-03-09", "2026-03-15", "7d", False),
        ({"time_range": "year"}, 30, "2026-02-14", "2026-03-15", "year", True),
        (
            {"start": "2025-01-01", "end": "2026-03-01"},
            30,
            "2026-02-14",
            "2026-03-01",
            "custom",
            True,
        ),
        (
            {"start": "2000-01-01", "end": "2026-03-01"},
            90,
            "2025-12-16",
            "2026-03-01",
            "custom",
            True,
        ),
        (
            {"start": "2026-02-14", "end": "2026-02-14"},
            30,
            "2026-02-14",
            "2026-02-14",
            "custom",
            False,
        ),
    ],
)
def test_ranges_are_clamped_to_the_retention_window(
    query: dict[str, str | None], retention: int, first: str, last: str, label: str, clamped: bool
) -> None:
    period = parse(query, retention_days=retention)
    assert (period.first_day, period.last_day) == (d(first), d(last))
    assert (period.days, period.label, period.clamped) == (
        (d(last) - d(first)).days + 1,
        label,
        clamped,
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2025-01-01", "end": "2025-01-31"}, "end"),
        (
            {"time_range": "custom", "start_date": "2025-01-01", "end_date": "2026-02-13"},
            "end_date",
        ),
    ],
)
def test_a_range_wholly_before_retention_is_400(query: dict[str, str | None], field: str) -> None:
    error = rejection(query, retention_days=30)
    assert error.field == field
    assert error.message == f"{field} is before the plan's retention window (earliest 2026-02-14)"


# --- previous period ------------------------------------------------------------------

STYLES: list[dict[str, str | None]] = [
    {},
    {"period": "7d"},
    {"period": "90d"},
    {"period": "12m"},
    {"days": "1"},
    {"start": "2026-02-20", "end": "2026-03-10"},
    {"time_range": "today"},
    {"time_range": "week"},
    {"time_range": "month"},
    {"time_range": "quarter"},
    {"time_range": "year"},
    {"time_range": "custom", "start_date": "2025-10-20", "end_date": "2025-11-05"},
]
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland"]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("query", STYLES)
def test_previous_has_the_same_local_days_and_ends_where_the_period_starts(
    query: dict[str, str | None], tz: str
) -> None:
    period = parse(query, tz=tz)
    before = period.previous()
    assert before.end == period.start
    assert before.days == period.days
    assert before.last_day == period.first_day - timedelta(days=1)
    assert before.first_day == period.first_day - timedelta(days=period.days)
    assert before.local_start.time() == time(0)
    assert (before.timezone, before.granularity, before.label) == (
        tz,
        period.granularity,
        period.label,
    )
    assert before.previous().end == before.start


@pytest.mark.parametrize(
    ("query", "now", "first", "last"),
    [
        ({"period": "7d"}, NOW, "2026-03-02", "2026-03-08"),
        ({"time_range": "month"}, NOW, "2026-02-14", "2026-02-28"),
        ({"period": "12m"}, NOW, "2024-04-17", "2025-03-31"),
        (
            {"time_range": "month"},
            utc(2026, 1, 31, 12),
            "2025-12-01",
            "2025-12-31",
        ),
        (
            {"time_range": "month"},
            utc(2026, 3, 31, 12),
            "2026-01-29",
            "2026-02-28",
        ),
        (
            {"time_range": "month"},
            utc(2028, 2, 29, 12),
            "2028-01-03",
            "2028-01-31",
        ),
    ],
)
def test_previous_examples(
    query: dict[str, str | None], now: datetime, first: str, last: str
) -> None:
    before = parse(query, now=now).previous()
    assert (before.first_day, before.last_day) == (d(first), d(last))


def test_previous_is_equal_in_local_days_not_hours_across_dst() -> None:
    # 2026-03-06..12 in New York holds the 23-hour 8 March; the week before has 168 hours.
    period = parse({"period": "7d"}, tz="America/New_York", now=utc(2026, 3, 12, 18))
    before = period.previous()
    assert period.end - period.start == timedelta(hours=7 * 24 - 1)
    assert before.end - before.start == timedelta(hours=7 * 24)
    assert before.start == utc(2026, 2, 27, 5)


# --- buckets --------------------------------------------------------------------------


def test_day_week_and_month_buckets_in_utc() -> None:
    assert parse({"period": "7d"}).buckets() == [utc(2026, 3, day) for day in range(9, 16)]
    # 1 March 2026 is a Sunday: its week's bucket is Monday 23 February.
    weeks = parse({"time_range": "month", "granularity": "week"}).buckets()
    assert weeks == [utc(2026, 2, 23), utc(2026, 3, 2), utc(2026, 3, 9)]
    months = parse({"period": "12m"}).buckets()
    assert months == [utc(2025, 4 + i, 1) for i in range(9)] + [utc(2026, m, 1) for m in (1, 2, 3)]
    assert [b.hour for b in parse({"time_range": "today"}).buckets()] == list(range(24))


def test_new_york_spring_forward_day_has_23_hour_buckets() -> None:
    period = parse({"time_range": "today"}, tz="America/New_York", now=utc(2026, 3, 8, 18))
    assert (period.start, period.end) == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))
    buckets = period.buckets()
    assert [b.hour for b in buckets] == [0, 1, *range(3, 24)]
    assert all(b.date() == date(2026, 3, 8) for b in buckets)


def test_new_york_day_buckets_start_at_local_midnight_on_both_sides_of_dst() -> None:
    buckets = parse({"period": "7d"}, tz="America/New_York", now=utc(2026, 3, 12, 18)).buckets()
    assert [(b.date().day, b.time()) for b in buckets] == [(day, time(0)) for day in range(6, 13)]
    assert [b.astimezone(UTC).hour for b in buckets] == [5, 5, 5, 4, 4, 4, 4]


def test_berlin_fall_back_day_has_25_distinct_hour_buckets() -> None:
    period = parse({"time_range": "today"}, tz="Europe/Berlin", now=utc(2026, 10, 25, 12))
    assert (period.start, period.end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    buckets = period.buckets()
    assert [b.hour for b in buckets] == [0, 1, 2, 2, *range(3, 24)]
    assert len({b.astimezone(UTC) for b in buckets}) == 25
    assert [b.utcoffset() for b in buckets[2:4]] == [timedelta(hours=2), timedelta(hours=1)]


def test_berlin_day_and_month_buckets_across_the_change() -> None:
    period = parse({"period": "7d"}, tz="Europe/Berlin", now=utc(2026, 10, 27, 12))
    assert [b.time() for b in period.buckets()] == [time(0)] * 7
    assert [b.astimezone(UTC).hour for b in period.buckets()] == [22] * 5 + [23] * 2
    months = parse({"time_range": "year"}, tz="Europe/Berlin", now=utc(2026, 11, 2)).buckets()
    assert [(b.month, b.day, b.hour) for b in months] == [(m, 1, 0) for m in range(1, 12)]


def test_kolkata_buckets_fall_on_the_half_hour_in_utc() -> None:
    period = parse({"time_range": "today"}, tz="Asia/Kolkata")  # 20:30 local
    assert period.start == utc(2026, 3, 14, 18, 30)
    hours = period.buckets()
    assert len(hours) == 24
    assert {(b.minute, b.astimezone(UTC).minute) for b in hours} == {(0, 30)}
    months = parse({"period": "12m"}, tz="Asia/Kolkata").buckets()
    assert months[0].astimezone(UTC) == utc(2025, 3, 31, 18, 30)


def test_santiago_day_without_a_midnight_starts_when_the_clock_jumps() -> None:
    # Chile moves 2026-09-06 00:00 to 01:00: that day starts at 04:00 UTC, 01:00 local.
    period = parse({"time_range": "today"}, tz="America/Santiago", now=utc(2026, 9, 6, 15))
    assert period.start == utc(2026, 9, 6, 4)
    assert len(period.buckets()) == 23
    days = parse({"period": "7d"}, tz="America/Santiago", now=utc(2026, 9, 6, 15)).buckets()
    assert days[-1].astimezone(UTC) == utc(2026, 9, 6, 4)
    assert days[-1].date() == date(2026, 9, 6)


def test_local_midnight_in_utc() -> None:
    from zoneinfo import ZoneInfo

    assert local_midnight(date(2026, 3, 8), ZoneInfo("America/New_York")) == utc(2026, 3, 8, 5)
    assert local_midnight(date(2026, 3, 9), ZoneInfo("America/New_York")) == utc(2026, 3, 9, 4)


# --- calendar boundaries where the local date is ahead of UTC ---------------------------

# 2024-03-31 11:30 UTC is Monday 2024-04-01 00:30 in Auckland (NZDT, +13): a new day, week,
# month and quarter there, still Sunday in UTC.
AUCKLAND_NOW = utc(2024, 3, 31, 11, 30)


@pytest.mark.parametrize(
    ("time_range", "tz", "start", "days"),
    [
        ("today", "Pacific/Auckland", utc(2024, 3, 31, 11), 1),
        ("week", "Pacific/Auckland", utc(2024, 3, 31, 11), 1),
        ("month", "Pacific/Auckland", utc(2024, 3, 31, 11), 1),
        ("quarter", "Pacific/Auckland", utc(2024, 3, 31, 11), 1),
        ("year", "Pacific/Auckland", utc(2023, 12, 31, 11), 92),
        ("today", "UTC", utc(2024, 3, 31), 1),
        ("week", "UTC", utc(2024, 3, 25), 7),
        ("month", "UTC", utc(2024, 3, 1), 31),
        ("quarter", "UTC", utc(2024, 1, 1), 91),
        ("year", "UTC", utc(2024, 1, 1), 91),
    ],
)
def test_calendar_ranges_follow_the_tenants_date(
    time_range: str, tz: str, start: datetime, days: int
) -> None:
    period = parse({"time_range": time_range}, tz=tz, now=AUCKLAND_NOW)
    assert (period.start, period.days) == (start, days)
    assert period.end == period.start + period.days * timedelta(days=1)


def test_auckland_just_before_local_midnight_is_still_the_old_day() -> None:
    period = parse({"time_range": "week"}, tz="Pacific/Auckland", now=utc(2024, 3, 31, 10, 59))
    assert (period.first_day, period.last_day) == (d("2024-03-25"), d("2024-03-31"))
    quarter = parse({"time_range": "quarter"}, tz="Pacific/Auckland", now=utc(2024, 3, 31, 10, 59))
    assert quarter.first_day == d("2024-01-01")


def test_auckland_new_year_while_utc_is_still_in_the_old_one() -> None:
    period = parse({"time_range": "year"}, tz="Pacific/Auckland", now=utc(2025, 12, 31, 11, 30))
    assert (period.start, period.end, period.days) == (
        utc(2025, 12, 31, 11),
        utc(2026, 1, 1, 11),
        1,
    )
    assert period.previous().first_day == d("2025-12-31")


def test_auckland_fall_back_day_has_25_hours() -> None:
    period = parse({"time_range": "today"}, tz="Pacific/Auckland", now=utc(2024, 4, 7, 0))
    assert period.first_day == d("2024-04-07")
    assert len(period.buckets()) == 25


# --- end of month, leap years, 12m -------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "now", "first", "last"),
    [
        ({"time_range": "month"}, utc(2028, 2, 29, 12), "2028-02-01", "2028-02-29"),
        ({"period": "12m"}, utc(2028, 2, 29, 12), "2027-03-01", "2028-02-29"),
        ({"period": "30d"}, utc(2028, 3, 1, 12), "2028-02-01", "2028-03-01"),
        (
            {"start": "2028-02-28", "end": "2028-03-01"},
            utc(2028, 3, 1, 12),
            "2028-02-28",
            "2028-03-01",
        ),
        ({"time_range": "year"}, utc(2028, 12, 31, 12), "2028-01-01", "2028-12-31"),
        ({"time_range": "month"}, utc(2026, 1, 31, 12), "2026-01-01", "2026-01-31"),
        ({"time_range": "quarter"}, utc(2026, 12, 31, 12), "2026-10-01", "2026-12-31"),
        ({"period": "12m"}, utc(2026, 1, 15, 12), "2025-02-01", "2026-01-15"),
    ],
)
def test_month_ends_and_leap_years(
    query: dict[str, str | None], now: datetime, first: str, last: str
) -> None:
    period = parse(query, now=now)
    assert (period.first_day, period.last_day) == (d(first), d(last))
    assert period.days == (d(last) - d(first)).days + 1


def test_12m_on_a_leap_day_is_366_days_in_12_month_buckets() -> None:
    period = parse({"period": "12m"}, now=utc(2028, 2, 29, 12))
    assert period.days == 366
    assert [b.date() for b in period.buckets()] == [
        date(2027 + (m > 12), (m - 1) % 12 + 1, 1) for m in range(3, 15)
    ]


# --- SQL parameters -------------------------------------------------------------------


def test_params_are_utc_bounds_and_the_time_zone() -> None:
    params = parse({"time_range": "today"}, tz="Pacific/Auckland", now=AUCKLAND_NOW).params()
    assert params == {
        "start": utc(2024, 3, 31, 11),
        "end": utc(2024, 4, 1, 11),
        "timezone": "Pacific/Auckland",
    }
    bounds = [params["start"], params["end"]]
    assert all(isinstance(b, datetime) and b.utcoffset() == timedelta(0) for b in bounds)


# --- the raw window of reports the rollups answer ---------------------------------------


@pytest.mark.parametrize("tz", ZONES)
def test_raw_from_is_the_local_start_of_the_raw_window(tz: str) -> None:
    period = parse_period({"period": "12m"}, timezone=tz, now=NOW, retention_days=730, raw_days=90)
    today = NOW.astimezone(period.tz).date()
    assert period.raw_from == local_midnight(today - timedelta(days=89), period.tz)
    assert period.start < period.raw_from < period.end and not period.clamped
    assert period.previous().raw_from == period.raw_from  # the previous period is past it
    # without raw_days (reports that read raw rows only) there is no such instant
    assert parse_period({"period": "12m"}, timezone=tz, now=NOW).raw_from is None


def test_a_period_inside_the_raw_window_keeps_raw_from_before_its_start() -> None:
    period = parse_period({"period": "7d"}, timezone="UTC", now=NOW, raw_days=30)
    assert period.raw_from == utc(2026, 2, 14) < period.start
    assert period.previous().start > utc(2026, 2, 14)  # still inside: nothing past raw


def test_raw_days_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="raw_days"):
        parse_period({}, timezone="UTC", now=NOW, raw_days=0)
