"""Sales metrics on the real chDB store: known answers, raw vs rollup equality, the planner.

Rows go in through the real insert path (``events_table`` + ``store.insert``, which fires
the rollup's materialized view); expectations are computed in plain Python from the same
fixture rows, never by re-running SQL.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import sales
from shoplens.metrics.period import Period, parse_period
from shoplens.store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
# A fixed "now" (metrics take a Period, so the routes' real clock is not involved here);
# 2026-03-08 is the US spring-forward day, inside the ranges below.
NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)


def event(tenant_id: int, at: datetime, event_type: str, **fields: Any) -> Event:
    ms = (at - EPOCH) // MS
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_name=event_type,
        source="test",
        timestamp=ms,
        received_at=ms,
        **fields,
    )


def insert(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"test-sales-{uuid.uuid4()}")


@pytest.fixture
def new_tenant(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[..., Tenant]:
    def make(timezone: str = "UTC", currency: str = "USD") -> Tenant:
        keys = make_tenant("sales", timezone=timezone, base_currency=currency, plan="pro")
        tenant = meta.tenant(keys.id)
        assert tenant is not None
        return tenant

    return make


def period(tenant: Tenant, **query: str) -> Period:
    return parse_period(query, timezone=tenant.timezone, now=NOW)


# -- independent expectations --------------------------------------------------------------


def in_period(e: Event, p: Period) -> bool:
    at = EPOCH + e.timestamp * MS
    return p.start <= at < p.end and not e.is_flagged


def expected_totals(events: list[Event], p: Period) -> sales.SalesTotals:
    kept = [e for e in events if in_period(e, p)]
    purchases = [e for e in kept if e.event_type == "purchase"]
    refunds = [e for e in kept if e.event_type == "refund"]
    return sales.SalesTotals(
        revenue=sum(e.revenue for e in purchases),
        orders=len(purchases),
        refunds=len(refunds),
        refund_amount=sum(e.revenue for e in refunds),
        items_sold=sum(e.item_count for e in purchases),
    )


def bucket_key(at: datetime, p: Period) -> str:
    local = at.astimezone(ZoneInfo(p.timezone))
    if p.granularity == "hour":
        return local.replace(minute=0, second=0, microsecond=0).isoformat()
    day = local.date()
    if p.granularity == "week":
        day -= timedelta(days=day.weekday())
    elif p.granularity == "month":
        day = day.replace(day=1)
    return day.isoformat()


def expected_series(events: list[Event], p: Period) -> dict[str, tuple[int, int]]:
    """Non-empty buckets only: {key: (revenue, orders)}."""
    out: dict[str, tuple[int, int]] = {}
    for e in events:
        if in_period(e, p) and e.event_type == "purchase":
            key = bucket_key(EPOCH + e.timestamp * MS, p)
            revenue, orders = out.get(key, (0, 0))
            out[key] = (revenue + e.revenue, orders + 1)
    return out


def random_events(tenant_id: int, seed: str, n: int = 400) -> list[Event]:
    """Purchases, refunds, flagged purchases and noise over 2026-01-01 .. NOW."""
    rng = random.Random(seed)
    span = int((NOW - datetime(2026, 1, 1, tzinfo=UTC)) / MS)
    out = []
    for i in range(n):
        at = datetime(2026, 1, 1, tzinfo=UTC) + rng.randrange(span) * MS
        kind = rng.choice(["purchase", "purchase", "refund", "page_view", "add_to_cart"])
        money = rng.randrange(1, 50_000) if kind in ("purchase", "refund") else 0
        out.append(
            event(
                tenant_id,
                at,
                kind,
                transaction_id=f"tx{i}" if money else "",
                revenue=money,
                item_count=rng.randrange(1, 5) if kind == "purchase" else 0,
                visitor_id=f"v{rng.randrange(40)}",
                is_flagged=1 if rng.random() < 0.1 else 0,
            )
        )
    return out


# -- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revenue", "orders", "aov"),
    [(0, 0, 0), (1000, 0, 0), (5, 2, 3), (7, 2, 4), (1000, 3, 333), (2000, 3, 667), (2, 3, 1)],
)
def test_aov_is_rounded_half_up_to_a_minor_unit(revenue: int, orders: int, aov: int) -> None:
    assert sales.SalesTotals(revenue, orders, 0, 0, 0).aov == aov


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [(110, 100, 10.0), (90, 100, -10.0), (1, 3, -66.7), (5, 0, None), (0, 0, None), (1, 8, -87.5)],
)
def test_growth(current: int, previous: int, expected: float | None) -> None:
    assert sales.growth(current, previous) == expected


def test_percent_is_half_up_to_one_decimal_and_zero_without_a_denominator() -> None:
    assert sales.percent(1, 8) == 12.5
    assert sales.percent(1, 16) == 6.3  # 6.25 → 6.3 (half up, not banker's)
    assert sales.percent(2, 3) == 66.7
    assert sales.percent(3, 0) == 0.0


def test_net_revenue_subtracts_refunds() -> None:
    assert sales.SalesTotals(10_000, 3, 1, 2_500, 4).net_revenue == 7_500


# -- the planner ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "granularity", "source"),
    [
        ("UTC", "day", "rollup"),
        ("UTC", "hour", "rollup"),
        ("America/New_York", "day", "rollup"),
        ("America/New_York", "month", "rollup"),
        ("Europe/Berlin", "week", "rollup"),
        ("Asia/Kolkata", "day", "raw"),  # +05:30: local midnight is not a whole UTC hour
        ("Asia/Kathmandu", "hour", "raw"),  # +05:45: even its hour buckets start at :15 UTC
    ],
)
def test_plan_uses_the_rollup_only_on_whole_utc_hours(
    timezone: str, granularity: str, source: str
) -> None:
    p = parse_period({"days": "7", "granularity": granularity}, timezone=timezone, now=NOW)
    assert sales.plan(p) == source


# -- known answers, and raw == rollup -------------------------------------------------------


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize(
    "query",
    [
        {"days": "30"},
        {"days": "2", "granularity": "hour"},
        {"period": "90d", "granularity": "week"},
        {"period": "12m", "granularity": "month"},
        {"start": "2026-03-07", "end": "2026-03-09", "granularity": "hour"},  # DST day
    ],
    ids=["30d", "2d-hour", "90d-week", "12m-month", "dst-hours"],
)
def test_totals_and_series_match_python_on_raw_and_rollup(
    store: Store, new_tenant: Callable[..., Tenant], timezone: str, query: dict[str, str]
) -> None:
    tenant = new_tenant(timezone)
    events = random_events(tenant.id, seed=f"{timezone}{query}")
    insert(store, events)
    p = period(tenant, **query)
    sources: list[sales.Source] = ["raw", "rollup"] if sales.plan(p) == "rollup" else ["raw"]
    want_series = expected_series(events, p)
    for window in (p, p.previous()):
        want = expected_totals(events, window)
        for source in sources:
            assert sales.totals(store, tenant, window, source) == want, source
    for source in sources:
        got = sales.series(store, tenant, p, source)
        assert len(got) == len(p.buckets())
        assert [pt.date for pt in got] == [bucket_key(b, p) for b in p.buckets()]
        nonzero = {pt.date: (pt.revenue, pt.orders) for pt in got if pt.orders}
        assert nonzero == want_series, source


def test_the_hourly_rollup_and_raw_events_agree_on_a_whole_hour_tenant(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant("America/New_York")
    insert(store, random_events(tenant.id, seed="ny", n=600))
    for query in ({"days": "30"}, {"period": "12m", "granularity": "month"}):
        p = period(tenant, **query)
        assert sales.plan(p) == "rollup"
        assert sales.totals(store, tenant, p, "raw") == sales.totals(store, tenant, p, "rollup")
        assert sales.series(store, tenant, p, "raw") == sales.series(store, tenant, p, "rollup")


def test_flagged_purchases_are_excluded_everywhere(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    day = datetime(2026, 3, 18, 12, tzinfo=UTC)
    insert(
        store,
        [
            event(tenant.id, day, "purchase", revenue=1000, item_count=1, visitor_id="a"),
            event(tenant.id, day, "purchase", revenue=99_999, item_count=9, is_flagged=1),
            event(tenant.id, day, "refund", revenue=500, is_flagged=1),
        ],
    )
    p = period(tenant, days="7")
    for source in ("raw", "rollup"):
        assert sales.totals(store, tenant, p, source) == sales.SalesTotals(1000, 1, 0, 0, 1)
        [point] = [pt for pt in sales.series(store, tenant, p, source) if pt.orders]
        assert (point.date, point.revenue, point.orders) == ("2026-03-18", 1000, 1)


def test_cart_rates_count_visitors(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    at = datetime(2026, 3, 19, 10, tzinfo=UTC)
    steps = {
        "buyer": ["view_item", "view_item", "add_to_cart", "purchase"],
        "abandoner": ["view_item", "add_to_cart", "add_to_cart"],
        "looker": ["view_item"],
        "direct-carter": ["add_to_cart"],  # added from a list page, never viewed an item
        "looker2": ["view_item", "page_view"],
        # bought, then added more and left: an abandoned cart (the one definition), which
        # "added to cart and never bought" used to miss
        "again": ["add_to_cart", "purchase", "add_to_cart"],
    }
    events = [
        event(tenant.id, at + i * timedelta(minutes=1), kind, visitor_id=visitor)
        for visitor, kinds in steps.items()
        for i, kind in enumerate(kinds)
    ]
    events.append(event(tenant.id, at, "add_to_cart", visitor_id="bot", is_flagged=1))
    events.append(event(tenant.id, at - timedelta(days=30), "add_to_cart", visitor_id="old"))
    insert(store, events)
    rates = sales.cart_rates(store, tenant, period(tenant, days="7"))
    # viewers: buyer, abandoner, looker, looker2; carts: buyer, abandoner, direct-carter,
    # again; abandoned: all but buyer
    assert (rates.viewers, rates.carts, rates.abandoned) == (4, 4, 3)
    assert rates.add_to_cart_rate == 100.0
    assert rates.cart_abandonment_rate == 75.0


def test_an_empty_period_is_zeros_with_a_zero_filled_series(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant("America/New_York")
    p = period(tenant, days="7")
    report = sales.sales_report(store, tenant, p)
    assert report.totals == sales.SalesTotals(0, 0, 0, 0, 0)
    assert report.totals.aov == 0
    assert report.growth == sales.Growth(None, None)
    rates = sales.cart_rates(store, tenant, p)
    assert (rates.add_to_cart_rate, rates.cart_abandonment_rate) == (0.0, 0.0)
    assert [pt.date for pt in report.series] == [
        (date(2026, 3, 14) + timedelta(days=i)).isoformat() for i in range(7)
    ]
    assert all((pt.revenue, pt.orders) == (0, 0) for pt in report.series)


def test_report_growth_compares_with_the_previous_period(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    noon = datetime(2026, 3, 20, 12, tzinfo=UTC)
    insert(
        store,
        [
            event(tenant.id, noon - timedelta(days=1), "purchase", revenue=3000),
            event(tenant.id, noon - timedelta(days=2), "purchase", revenue=2000),
            event(tenant.id, noon - timedelta(days=3), "purchase", revenue=1000),
            event(tenant.id, noon - timedelta(days=9), "purchase", revenue=4000),
            event(tenant.id, noon - timedelta(days=10), "purchase", revenue=1000),
        ],
    )
    report = sales.sales_report(store, tenant, period(tenant, days="7"))
    assert (report.totals.revenue, report.previous.revenue) == (6000, 5000)
    assert report.growth == sales.Growth(20.0, 50.0)


# -- past the raw window, and the currency filter -------------------------------------------


def test_past_the_raw_window_a_half_hour_zone_reads_the_rollup_by_utc_hour(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant("Asia/Kolkata")  # +05:30: local midnight is hh:30 UTC
    # 2026-03-10 00:10 local is 2026-03-09 18:40 UTC, in the UTC hour that starts at
    # 23:30 local on the 9th; 2026-03-05 17:30 local is noon UTC, far from any midnight.
    late = event(tenant.id, utc(2026, 3, 9, 18, 40), "purchase", revenue=700, item_count=1)
    noon = event(tenant.id, utc(2026, 3, 5, 12), "purchase", revenue=300, item_count=2)
    insert(store, [late, noon])
    query = {"start": "2026-03-01", "end": "2026-03-15"}
    exact = parse_period(query, timezone=tenant.timezone, now=NOW)
    assert sales.plan(exact) == "raw"
    past_raw = parse_period(query, timezone=tenant.timezone, now=NOW, raw_days=10)
    assert past_raw.raw_from is not None and past_raw.start < past_raw.raw_from
    assert sales.plan(past_raw) == "rollup"

    want = sales.SalesTotals(1000, 2, 0, 0, 3)
    assert sales.totals(store, tenant, exact) == sales.totals(store, tenant, past_raw) == want
    by_day = {p.date: p.revenue for p in sales.series(store, tenant, exact) if p.orders}
    assert by_day == {"2026-03-05": 300, "2026-03-10": 700}
    # documented approximation: the rollup's hour counts on the day the hour starts in
    by_day = {p.date: p.revenue for p in sales.series(store, tenant, past_raw) if p.orders}
    assert by_day == {"2026-03-05": 300, "2026-03-09": 700}


def test_the_currency_filter_reads_raw_events_of_that_currency(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    day = utc(2026, 3, 18, 12)
    eur = {"original_currency": "EUR"}
    insert(
        store,
        [
            event(tenant.id, day, "purchase", revenue=1100, item_count=1, **eur),
            event(tenant.id, day, "purchase", revenue=2200, item_count=2, **eur),
            event(tenant.id, day, "refund", revenue=1100, **eur),
            event(tenant.id, day, "purchase", revenue=5000, item_count=1, original_currency="USD"),
            event(tenant.id, day, "purchase", revenue=9999, is_flagged=1, **eur),
        ],
    )
    p = period(tenant, days="7")
    assert (sales.plan(p), sales.plan(p, "EUR")) == ("rollup", "raw")
    assert sales.totals(store, tenant, p, currency="EUR") == sales.SalesTotals(3300, 2, 1, 1100, 3)
    assert sales.totals(store, tenant, p, currency="USD").orders == 1
    assert sales.totals(store, tenant, p, currency="GBP") == sales.SalesTotals(0, 0, 0, 0, 0)
    [point] = [pt for pt in sales.series(store, tenant, p, currency="EUR") if pt.orders]
    assert (point.date, point.revenue, point.orders) == ("2026-03-18", 3300, 2)
    report = sales.sales_report(store, tenant, p, "EUR")
    assert (report.totals.orders, report.growth) == (2, sales.Growth(None, None))
    with pytest.raises(ValueError, match="currency"):
        sales.totals(store, tenant, p, "rollup", currency="EUR")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_currency_growth_is_none_when_the_previous_period_is_past_the_raw_window(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    eur = {"original_currency": "EUR"}
    insert(
        store,
        [
            event(tenant.id, utc(2026, 3, 18, 12), "purchase", revenue=2000, **eur),
            event(tenant.id, utc(2026, 3, 10, 12), "purchase", revenue=1000, **eur),
        ],
    )

    def report(raw_days: int, currency: str | None) -> sales.SalesReport:
        p = parse_period({"days": "7"}, timezone="UTC", now=NOW, raw_days=raw_days)
        return sales.sales_report(store, tenant, p, currency)

    # raw rows from 2026-03-11 on: the previous week (03-07..03-13) is partly gone from them
    assert report(10, "EUR").growth == sales.Growth(None, None)
    assert report(10, "EUR").totals.revenue == 2000
    assert report(10, None).growth == sales.Growth(100.0, 0.0)  # the rollup holds it all
    assert report(14, "EUR").growth == sales.Growth(100.0, 0.0)  # inside the raw window
