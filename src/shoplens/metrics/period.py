"""One period model for every report route, in the tenant's time zone.

A request names its range in exactly one of four styles (the seeds' vocabularies)::

    period=7d|30d|90d|12m                     core analytics (seeds 000, 001)
    days=N                                    ecommerce v1 (seed 002); the default style
    start=YYYY-MM-DD&end=YYYY-MM-DD           ecommerce v1 (seed 002)
    time_range=today|week|month|quarter|year  store reports (seed 003)
    time_range=custom&start_date=…&end_date=…

plus an optional ``granularity=hour|day|week|month``. Every range is a run of whole local
days ending no later than today: ``[first day 00:00 local, day after the last 00:00 local)``,
held as UTC instants. Today is the tenant's local date of ``now``. The rules:

- ``Nd`` (and ``days=N``): the last N local days, today included.
- ``12m``: the last 12 calendar months, the current one to date
  (``period=12m`` on 2026-03-15 is 2025-04-01 .. 2026-03-15), so month buckets are whole.
- ``time_range``: the calendar today / week (ISO, from Monday) / month / quarter / year to
  date; ``custom`` (implied by ``start_date``/``end_date`` alone) takes both dates.
- ``start``/``end`` and ``start_date``/``end_date``: both required, inclusive, start on or
  before end and not after today; an end after today is cut to today.
- ``days`` is 1..3650 (default 30); a start/end range may span at most 3650 days.
- Retention: with ``retention_days=R`` a range starting before today-(R-1) is clamped to
  start there (``Period.clamped``), for every style; a range ending before it is a 400.
  Routes pass the raw-event window as R for reports that need raw rows, and the longer
  aggregated window for reports the hourly rollups answer; those also pass ``raw_days``,
  recorded as ``Period.raw_from``, the local midnight of today-(raw_days-1): raw rows exist
  from there on, anything before it is only in the rollups.
- Granularity defaults to hour up to 2 days, day up to 92 days, else month; hour over more
  than 31 days is a 400.
- ``previous()``: the same number of local days immediately before, for growth figures.

Empty values (``?period=``) count as absent. Every rejection is a :class:`BadRequest`
naming the parameter, e.g. ``period and time_range cannot be combined`` (field time_range).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from math import ceil
from zoneinfo import ZoneInfo

from shoplens.errors import BadRequest

PERIODS = ("7d", "30d", "90d", "12m")
TIME_RANGES = ("today", "week", "month", "quarter", "year", "custom")
GRANULARITIES = ("hour", "day", "week", "month")
MAX_DAYS = 3650
MAX_HOUR_DAYS = 31

# The styles in the order conflicts are reported, each with the parameters that select it.
_STYLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("period", ("period",)),
    ("days", ("days",)),
    ("start", ("start", "end")),
    ("time_range", ("time_range", "start_date", "end_date")),
)
_PARAMS = ("period", "days", "start", "end", "time_range", "start_date", "end_date", "granularity")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DIGITS = re.compile(r"\d{1,9}", re.ASCII)


@dataclass(frozen=True)
class Period:
    """A half-open range ``[start, end)`` of whole local days, with its bucket size.

    ``start``/``end`` are aware UTC datetimes (bind them as ``DateTime64(3, 'UTC')``);
    ``label`` is what was asked ("30d", "12m", "month", "custom"); ``days`` the effective
    length in local days; ``clamped`` says the start was moved up to the retention window.
    ``raw_from`` is where the raw-event retention window starts, for reports that may look
    past it (None: raw rows are all there is, or they are kept forever); before it only the
    hourly rollups hold data (:func:`shoplens.metrics.sales.plan` reads them then). It is
    kept by :meth:`previous`, so a previous period past the raw window is seen as such.
    """

    start: datetime
    end: datetime
    timezone: str
    granularity: str
    label: str
    days: int
    clamped: bool = False
    raw_from: datetime | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None or self.start >= self.end:
            raise ValueError("a Period needs aware datetimes with start < end")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.tz)

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(self.tz)

    @property
    def first_day(self) -> date:
        """The first local date in the period."""
        return self.local_start.date()

    @property
    def last_day(self) -> date:
        """The last local date in the period (inclusive)."""
        return self.local_end.date() - timedelta(days=1)

    def previous(self) -> Period:
        """The period of the same number of local days that ends where this one starts."""
        first = self.first_day - timedelta(days=self.days)
        return replace(self, start=local_midnight(first, self.tz), end=self.start)

    def buckets(self) -> list[datetime]:
        """Every bucket's start as a local aware datetime, for zero-filling a series.

        Hour buckets step through real hours (23 on a spring-forward day, 25 on a fall-back
        day); day, week (Monday) and month buckets start at local midnight. The first week
        or month bucket may begin before ``start``: it is the key ClickHouse's
        ``toStartOfWeek(t, 1, tz)`` / ``toStartOfMonth(t, tz)`` give rows in it.

        TRICKY: aware datetimes sharing a tzinfo compare and hash by wall time, ignoring
        ``fold``, so the two 02:00 buckets of a fall-back day are equal as dict keys. Key
        series by ``bucket.astimezone(UTC)`` when hours matter.
        """
        tz = self.tz
        if self.granularity == "hour":
            hours = ceil((self.end - self.start) / timedelta(hours=1))
            return [(self.start + timedelta(hours=i)).astimezone(tz) for i in range(hours)]
        day = self.first_day
        if self.granularity == "week":
            day -= timedelta(days=day.weekday())
        elif self.granularity == "month":
            day = day.replace(day=1)
        out: list[datetime] = []
        while (instant := local_midnight(day, tz)) < self.end:
            out.append(instant.astimezone(tz))
            day = _next_bucket(day, self.granularity)
        return out

    def params(self) -> dict[str, object]:
        """Bound SQL parameters: ``{start:DateTime64(3,'UTC')}``, ``end``, ``{timezone:String}``."""
        return {"start": self.start, "end": self.end, "timezone": self.timezone}


def parse_period(
    query: Mapping[str, str | None],
    *,
    timezone: str,
    now: datetime,
    retention_days: int | None = None,
    raw_days: int | None = None,
    default_days: int = 30,
    default_granularity: str | None = None,
) -> Period:
    """Read a route's period parameters (any one style) into a :class:`Period`.

    ``now`` must be aware; ``retention_days`` is how far back the report may look (None:
    unlimited); ``raw_days`` the raw-event window, when the report may look past it (sets
    ``Period.raw_from``); ``default_granularity`` is the route's choice when the client
    sends none (hour falls back to the automatic choice over ranges longer than 31 days).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not 1 <= default_days <= MAX_DAYS or any(
        days is not None and days < 1 for days in (retention_days, raw_days)
    ):
        raise ValueError("default_days, retention_days and raw_days must be at least 1")
    if default_granularity is not None and default_granularity not in GRANULARITIES:
        raise ValueError(f"unknown default granularity {default_granularity!r}")
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    earliest = today - timedelta(days=retention_days - 1) if retention_days else None
    q = {name: v.strip() for name in _PARAMS if (v := query.get(name)) and v.strip()}

    first, last, label = _range(q, _style(q), today, earliest, default_days)
    clamped = earliest is not None and first < earliest
    first = max(first, earliest) if earliest else first
    days = (last - first).days + 1
    raw_first = today - timedelta(days=raw_days - 1) if raw_days else None
    if days > MAX_DAYS:
        field = "start" if "start" in q else "start_date"
        raise BadRequest(f"a date range may span at most {MAX_DAYS} days", field=field)
    return Period(
        start=local_midnight(first, tz),
        end=local_midnight(last + timedelta(days=1), tz),
        timezone=timezone,
        granularity=_granularity(q.get("granularity"), days, default_granularity),
        label=label,
        days=days,
        clamped=clamped,
        raw_from=local_midnight(raw_first, tz) if raw_first else None,
    )


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local date, in UTC.

    ``fold=0`` reads a wall time in a DST gap with the offset before the gap, so where
    midnight itself is skipped (America/Santiago in September) this is the instant the day
    really starts (01:00 local).
    """
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def _style(q: Mapping[str, str]) -> str | None:
    """The one style the parameters use (None: none given); two styles are a 400."""
    present = [
        (style, next(name for name in names if name in q))
        for style, names in _STYLES
        if any(name in q for name in names)
    ]
    if len(present) > 1:
        (_, first), (_, second) = present[:2]
        raise BadRequest(
            f"{first} and {second} cannot be combined; "
            "use one of period, days, start/end or time_range",
            field=second,
        )
    return present[0][0] if present else None


def _range(
    q: Mapping[str, str], style: str | None, today: date, earliest: date | None, default_days: int
) -> tuple[date, date, str]:
    """The requested ``(first day, last day, label)`` before retention clamping."""
    if style is None:
        return today - timedelta(days=default_days - 1), today, f"{default_days}d"
    if style == "period":
        value = q["period"].lower()
        if value not in PERIODS:
            raise BadRequest(f"period must be one of {', '.join(PERIODS)}", field="period")
        if value == "12m":
            return _add_months(today.replace(day=1), -11), today, value
        return today - timedelta(days=int(value[:-1]) - 1), today, value
    if style == "days":
        if not _DIGITS.fullmatch(q["days"]) or not 1 <= int(q["days"]) <= MAX_DAYS:
            raise BadRequest(f"days must be a whole number from 1 to {MAX_DAYS}", field="days")
        n = int(q["days"])
        return today - timedelta(days=n - 1), today, f"{n}d"
    if style == "start":
        return (*_date_pair(q, "start", "end", today, earliest), "custom")
    value = q.get("time_range", "custom").lower()
    if value not in TIME_RANGES:
        raise BadRequest(f"time_range must be one of {', '.join(TIME_RANGES)}", field="time_range")
    if value == "custom":
        for name in ("start_date", "end_date"):
            if "time_range" in q and name not in q:
                raise BadRequest("time_range=custom requires start_date and end_date", field=name)
        return (*_date_pair(q, "start_date", "end_date", today, earliest), "custom")
    for name in ("start_date", "end_date"):
        if name in q:
            raise BadRequest(f"{name} is only used with time_range=custom", field=name)
    return _calendar_start(value, today), today, value


def _calendar_start(time_range: str, today: date) -> date:
    """The first day of the calendar today/week/month/quarter/year that holds ``today``."""
    if time_range == "week":
        return today - timedelta(days=today.weekday())
    if time_range == "month":
        return today.replace(day=1)
    if time_range == "quarter":
        return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    if time_range == "year":
        return today.replace(month=1, day=1)
    return today


def _date_pair(
    q: Mapping[str, str], start: str, end: str, today: date, earliest: date | None
) -> tuple[date, date]:
    """Two inclusive ISO dates, used together, in order, not in the future."""
    for name in (start, end):
        if name not in q:
            raise BadRequest(f"{start} and {end} must be used together", field=name)
    first, last = _iso_date(q, start), _iso_date(q, end)
    if first > last:
        raise BadRequest(f"{start} must be on or before {end}", field=start)
    if first > today:
        raise BadRequest(f"{start} must not be after today ({today.isoformat()})", field=start)
    if earliest is not None and last < earliest:
        raise BadRequest(
            f"{end} is before the plan's retention window (earliest {earliest.isoformat()})",
            field=end,
        )
    return first, min(last, today)


def _iso_date(q: Mapping[str, str], name: str) -> date:
    try:
        if _ISO_DATE.fullmatch(q[name]):
            return date.fromisoformat(q[name])
    except ValueError:
        pass
    raise BadRequest(f"{name} must be an ISO date (YYYY-MM-DD)", field=name)


def _granularity(value: str | None, days: int, default: str | None) -> str:
    """The requested bucket size, else the route's default, else one sized to the range."""
    if value is None:
        if default is not None and not (default == "hour" and days > MAX_HOUR_DAYS):
            return default
        return "hour" if days <= 2 else "day" if days <= 92 else "month"
    value = value.lower()
    if value not in GRANULARITIES:
        raise BadRequest(
            f"granularity must be one of {', '.join(GRANULARITIES)}", field="granularity"
        )
    if value == "hour" and days > MAX_HOUR_DAYS:
        raise BadRequest(
            f"granularity=hour is limited to ranges of {MAX_HOUR_DAYS} days or less; "
            "use day, week or month",
            field="granularity",
        )
    return value


def _next_bucket(day: date, granularity: str) -> date:
    if granularity == "month":
        return _add_months(day, 1)
    return day + timedelta(days=7 if granularity == "week" else 1)


def _add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
