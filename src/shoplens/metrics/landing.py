"""Landing pages (seed 004): visitors, button clicks, QR scans and time on page.

Definitions (docs/api.md repeats them). Windows are whole local days in the tenant's time
zone: *today* is ``[today 00:00, tomorrow 00:00)`` local, the *week* is the last 7 local
days including today (the same days as ``last_7_days``). Events marked ``is_flagged = 1``
never count. Every figure reads the raw ``events`` table (distinct visitors need per-visitor
sets; the hourly rollup cannot give them).

- ``visitors``: distinct non-empty ``visitor_id`` over ``page_view`` events in the window
  (for the public tracker the visitor id is the salted IP hash). ``visitors_week`` is the
  distinct count over the whole week, not the sum of the daily counts.
- ``last_7_days``: distinct page-view visitors per local day, 7 entries oldest first,
  zero-filled.
- Click counters are numbers of events of a type in the window: ``click_whatsapp``,
  ``click_call``, ``click_toggle_currency``, ``qr_scan`` and (``products_viewed``)
  ``product_click``.
- ``avg_time_on_page``: the mean, over the window's ``time_on_page`` events that carry
  one, of the seconds in their metadata: the first of the properties ``seconds``,
  ``duration``, ``time`` that is a finite number >= 0 (metadata values are stored as text,
  so ``120``, ``"120"`` and ``"12.5"`` all work). Rounded half up to whole seconds; 0 when
  no event carries a usable value.
- Events are counted whatever the ingestion route (``source``): a ``page_view`` sent
  through the core tracker counts as a visit too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from shoplens.meta import Tenant
from shoplens.metrics.parallel import gather
from shoplens.metrics.period import Period, parse_period
from shoplens.metrics.sales import round_half_up
from shoplens.metrics.sql import EVENTS, VISITOR, Query, bucket, run_rows
from shoplens.store import Store

WEEK_DAYS = 7
EVENT_TYPES = [
    "page_view",
    "click_whatsapp",
    "click_call",
    "click_toggle_currency",
    "time_on_page",
    "qr_scan",
    "product_click",
]
# The metadata keys ``time_on_page`` may carry its seconds in, in order of preference.
SECONDS_KEYS = ("seconds", "duration", "time")


@dataclass(frozen=True)
class LandingCounts:
    """The figures of one window (today or the week)."""

    visitors: int
    whatsapp_clicks: int
    call_clicks: int
    currency_toggles: int
    qr_scans: int
    products_viewed: int
    timed_views: int  # time_on_page events with a usable number of seconds
    seconds_total: float

    @property
    def avg_time_on_page(self) -> int:
        """Mean seconds per timed view, rounded half up; 0 without any."""
        if not self.timed_views:
            return 0
        return round_half_up(Decimal(repr(self.seconds_total)) / self.timed_views, 0)


@dataclass(frozen=True)
class DayVisitors:
    date: str  # local YYYY-MM-DD
    visitors: int


@dataclass(frozen=True)
class LandingReport:
    today: LandingCounts
    week: LandingCounts
    last_7_days: list[DayVisitors]


def windows(tenant: Tenant, now: datetime) -> tuple[Period, Period]:
    """(today, the last 7 local days including today) in the tenant's time zone."""
    today = parse_period({"days": "1"}, timezone=tenant.timezone, now=now)
    week = parse_period(
        {"days": str(WEEK_DAYS)}, timezone=tenant.timezone, now=now, default_granularity="day"
    )
    return today, week


def _base(tenant: Tenant, period: Period) -> Query:
    return (
        Query.from_table(EVENTS, tenant.id, period.start, period.end)
        .where("is_flagged = 0")
        .where("event_type IN {types}", types=EVENT_TYPES)
    )


def counts(store: Store, tenant: Tenant, period: Period) -> LandingCounts:
    """Visitors, counters and time on page over ``period``."""
    timed = (
        _base(tenant, period)
        .select("event_type")
        .select("visitor_id")
        .select(
            # NULL unless a time_on_page event carries a finite, non-negative number of
            # seconds under one of SECONDS_KEYS (the first such key wins).
            "if(event_type = 'time_on_page', arrayFirstOrNull(x -> isFinite(x) AND x >= 0, "
            "arrayMap(k -> ifNull(toFloat64OrNull(properties[k]), nan), {keys})), NULL)",
            alias="seconds",
            keys=list(SECONDS_KEYS),
        )
    )
    q = (
        Query.from_query(timed)
        .select(
            f"uniqExactIf({VISITOR}, event_type = 'page_view' AND visitor_id != '')",
            alias="visitors",
        )
        .select("countIf(event_type = 'click_whatsapp')", alias="whatsapp")
        .select("countIf(event_type = 'click_call')", alias="calls")
        .select("countIf(event_type = 'click_toggle_currency')", alias="toggles")
        .select("countIf(event_type = 'qr_scan')", alias="qr")
        .select("countIf(event_type = 'product_click')", alias="products")
        .select("count(seconds)", alias="timed")
        .select("sum(seconds)", alias="seconds_total")
    )
    [row] = run_rows(store, q)
    return LandingCounts(
        visitors=int(row["visitors"]),
        whatsapp_clicks=int(row["whatsapp"]),
        call_clicks=int(row["calls"]),
        currency_toggles=int(row["toggles"]),
        qr_scans=int(row["qr"]),
        products_viewed=int(row["products"]),
        timed_views=int(row["timed"]),
        seconds_total=float(row["seconds_total"] or 0.0),
    )


def daily_visitors(store: Store, tenant: Tenant, period: Period) -> list[DayVisitors]:
    """Distinct page-view visitors per local day of ``period``, zero-filled, oldest first."""
    q = (
        _base(tenant, period)
        .where("event_type = 'page_view'")
        .where("visitor_id != ''")
        .select(bucket(EVENTS.time_column, "day", period.timezone), alias="day")
        .select(f"uniqExact({VISITOR})", alias="visitors")
        .group_by("day")
    )
    found = {row["day"].astimezone(UTC): int(row["visitors"]) for row in run_rows(store, q)}
    return [
        DayVisitors(start.date().isoformat(), found.get(start.astimezone(UTC), 0))
        for start in period.buckets()
    ]


def landing_report(store: Store, tenant: Tenant, now: datetime) -> LandingReport:
    """Today's and the week's figures, and the week's visitors per day, as of ``now``."""
    today, week = windows(tenant, now)
    today_counts, week_counts, days = gather(
        lambda: counts(store, tenant, today),
        lambda: counts(store, tenant, week),
        lambda: daily_visitors(store, tenant, week),
    )
    return LandingReport(today=today_counts, week=week_counts, last_7_days=days)
