"""The sales routes over real HTTP (ASGI), with events sent through the real ingestion API.

The routes use the real clock, so fixture events are placed relative to ``datetime.now``,
at noon UTC on whole days ago (never on a period's first or last day), and expectations are
computed in plain Python from the fixture list.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from fastapi.testclient import TestClient

from shoplens import retention
from shoplens.ingest import bulk
from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.store import Store
from tests.conftest import TenantKeys, assert_bad_request, rows, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"
SALES = "/analytics/sales"
TREND = "/analytics/revenue/trend"
OVERVIEW = "/v1/api/analytics/ecommerce/overview"
TIMESERIES = "/v1/api/analytics/ecommerce/revenue-timeseries"
ROUTES = [SALES, OVERVIEW, TIMESERIES]


@dataclass
class Sent:
    """One fixture event: what we send, and what we expect it to count as."""

    kind: str
    at: datetime
    amount: Decimal = Decimal(0)
    quantity: int = 0
    visitor: str = "u1"
    tx: str = field(default_factory=lambda: f"tx-{uuid.uuid4()}")
    currency: str | None = None  # None: the tenant's base currency

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_type": self.kind,
            "user_id": self.visitor,
            "timestamp": self.at.isoformat().replace("+00:00", "Z"),
        }
        if self.kind in ("purchase", "refund"):
            out |= {"transaction_id": self.tx, "revenue": float(self.amount)}
        if self.quantity or self.kind in ("view_item", "add_to_cart"):
            out["items"] = [{"item_id": "sku", "quantity": max(self.quantity, 1)}]
        if self.currency:
            out["currency"] = self.currency
        return out


def send(client: TestClient, keys: TenantKeys, events: list[Sent]) -> None:
    for i in range(0, len(events), 100):
        batch = [e.body() for e in events[i : i + 100]]
        response = client.post(BATCH, json={"events": batch}, headers=keys.pk)
        assert response.json() == {"ok": True, "accepted": len(batch)}, response.json()
    wait_stored(client)


def days_ago(n: int, hour: int = 12) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=n) + timedelta(hours=hour)


def local_today(timezone: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()


@dataclass
class Expected:
    revenue: int
    orders: int
    refunds: int
    refund_amount: int
    items: int
    by_day: dict[str, tuple[int, int]]

    @property
    def aov(self) -> int:
        if not self.orders:
            return 0
        return int((Decimal(self.revenue) / self.orders).quantize(1, rounding=ROUND_HALF_UP))


def expect(events: list[Sent], first: date, last: date, tz: str = "UTC", exp: int = 2) -> Expected:
    """Totals over local days ``first..last``, from the fixture list alone."""
    out = Expected(0, 0, 0, 0, 0, {})
    for e in events:
        day = e.at.astimezone(ZoneInfo(tz)).date()
        if not first <= day <= last:
            continue
        minor = int(e.amount.scaleb(exp))
        if e.kind == "purchase":
            out.revenue += minor
            out.orders += 1
            out.items += e.quantity
            revenue, orders = out.by_day.get(day.isoformat(), (0, 0))
            out.by_day[day.isoformat()] = (revenue + minor, orders + 1)
        elif e.kind == "refund":
            out.refunds += 1
            out.refund_amount += minor
    return out


def growth(current: int, previous: int) -> float | None:
    if not previous:
        return None
    change = Decimal(current - previous) * 100 / previous
    return float(change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


# A week of sales (days 1, 2, 4 ago) and the week before (days 8, 10 ago), plus a refund
# and some funnel events; nothing on a period's first or last day.
FIXTURE = [
    Sent("purchase", days_ago(1), Decimal("49.99"), 2, "alice"),
    Sent("purchase", days_ago(2), Decimal("10.00"), 1, "bob"),
    Sent("purchase", days_ago(4), Decimal("25.01"), 3, "carol"),
    Sent("refund", days_ago(2, 15), Decimal("10.00"), 0, "bob"),
    Sent("purchase", days_ago(8), Decimal("40.00"), 1, "alice"),
    Sent("purchase", days_ago(10), Decimal("20.00"), 1, "dave"),
    Sent("view_item", days_ago(1, 11), visitor="alice"),
    Sent("add_to_cart", days_ago(1, 11), visitor="alice"),
    Sent("view_item", days_ago(3), visitor="erin"),
    Sent("add_to_cart", days_ago(3), visitor="erin"),
    Sent("view_item", days_ago(3), visitor="frank"),
    Sent("view_item", days_ago(4, 10), visitor="carol"),
]


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store) -> TenantKeys:
    keys = make_tenant("sales-shop", plan="pro")
    send(client, keys, FIXTURE)
    # A flagged purchase: written through the store's insert path, as the flusher writes
    # an event the fraud rules marked.
    ms = int(days_ago(1, 13).timestamp() * 1000)
    flagged = Event(
        tenant_id=keys.id,
        event_id=str(uuid.uuid4()),
        event_type="purchase",
        event_name="purchase",
        source="test",
        timestamp=ms,
        received_at=ms,
        transaction_id="flagged-1",
        revenue=999_900,
        item_count=9,
        visitor_id="mallory",
        is_flagged=1,
    )
    store.insert("events", events_table([flagged]), f"test-sales-flagged-{uuid.uuid4()}")
    return keys


def test_sales_period_7d_matches_the_fixture(client: TestClient, shop: TenantKeys) -> None:
    today = local_today("UTC")
    first = today - timedelta(days=6)
    now = expect(FIXTURE, first, today)
    before = expect(FIXTURE, first - timedelta(days=7), first - timedelta(days=1))
    body = client.get(SALES, params={"period": "7d"}, headers=shop.sk).json()
    assert (now.revenue, now.orders, now.aov) == (8500, 3, 2833)  # the flagged one is out
    series = [  # newest first, as seeds 000 and 001 show
        {"date": d, "revenue": r, "orders": o}
        for i in range(7)
        for d in [(today - timedelta(days=i)).isoformat()]
        for r, o in [now.by_day.get(d, (0, 0))]
    ]
    assert body == {
        "period": "7d",
        "revenue": now.revenue,
        "orders": now.orders,
        "averageOrderValue": now.aov,
        "currency": "USD",
        "growth": {
            "revenue": growth(now.revenue, before.revenue),
            "orders": growth(now.orders, before.orders),
        },
        "granularity": "day",
        "series": series,
        "daily": series,
        "time_range": "7d",
        "start_date": first.isoformat(),
        "end_date": today.isoformat(),
        "total_revenue": now.revenue,
        "total_orders": now.orders,
        "average_order_value": now.aov,
        "items_sold": now.items,
        # The flagged purchase: out of revenue, shown beside it (minor units).
        "flagged_orders": 1,
        "flagged_revenue": 999_900,
    }
    assert body["growth"] == {"revenue": 41.7, "orders": 50.0}


def test_sales_accepts_the_store_reports_style(client: TestClient, shop: TenantKeys) -> None:
    today = local_today("UTC")
    first, last = today - timedelta(days=5), today - timedelta(days=1)
    params = {"time_range": "custom", "start_date": str(first), "end_date": str(last)}
    body = client.get(SALES, params=params, headers=shop.sk).json()
    want = expect(FIXTURE, first, last)
    assert (body["time_range"], body["start_date"], body["end_date"]) == (
        "custom",
        str(first),
        str(last),
    )
    assert (body["total_revenue"], body["total_orders"], body["items_sold"]) == (
        want.revenue,
        want.orders,
        want.items,
    )
    assert body["average_order_value"] == body["averageOrderValue"] == want.aov
    assert len(body["series"]) == 5

    week = client.get(SALES, params={"time_range": "week"}, headers=shop.sk).json()
    monday = today - timedelta(days=today.weekday())
    assert week["start_date"] == str(monday)
    assert week["revenue"] == expect(FIXTURE, monday, today).revenue


def test_sales_granularity_hour_and_week(client: TestClient, shop: TenantKeys) -> None:
    body = client.get(SALES, params={"days": "2", "granularity": "hour"}, headers=shop.sk).json()
    assert body["granularity"] == "hour" and len(body["series"]) == 48
    noon = days_ago(1).isoformat()  # UTC tenant: the bucket key is the local ISO datetime
    assert [p for p in body["series"] if p["orders"]] == [
        {"date": noon, "revenue": 4999, "orders": 1}
    ]
    body = client.get(SALES, params={"period": "30d", "granularity": "week"}, headers=shop.sk)
    points = body.json()["series"]
    assert all(date.fromisoformat(p["date"]).weekday() == 0 for p in points)
    assert sum(p["revenue"] for p in points) == body.json()["revenue"]


def test_ecommerce_overview_is_decimals_with_refunds_and_rates(
    client: TestClient, shop: TenantKeys
) -> None:
    today = local_today("UTC")
    want = expect(FIXTURE, today - timedelta(days=6), today)
    body = client.get(OVERVIEW, params={"days": "7"}, headers=shop.sk).json()
    assert body == {
        "total_revenue": 85.0,
        "net_revenue": 75.0,
        "total_orders": 3,
        "total_refunds": 1,
        "refund_amount": 10.0,
        "flagged_orders": 1,  # the flagged purchase: out of revenue, shown beside it
        "flagged_revenue": 9999.0,
        "avg_order_value": 28.33,
        "total_items_sold": 6,
        # viewers: alice, erin, frank, carol; carts: alice (bought), erin (did not)
        "cart_abandonment_rate": 50.0,
        "add_to_cart_rate": 50.0,
        "days": 7,
    }
    assert body["total_revenue"] == want.revenue / 100
    assert body["net_revenue"] == (want.revenue - want.refund_amount) / 100
    assert client.get(OVERVIEW, headers=shop.sk).json()["days"] == 30  # the default


def test_revenue_timeseries_is_daily_decimals(client: TestClient, shop: TenantKeys) -> None:
    today = local_today("UTC")
    first = today - timedelta(days=13)
    body = client.get(
        TIMESERIES, params={"start": str(first), "end": str(today)}, headers=shop.sk
    ).json()
    want = expect(FIXTURE, first, today)
    assert body["days"] == 14
    assert [p["date"] for p in body["series"]] == [
        str(first + timedelta(days=i)) for i in range(14)
    ]
    for point in body["series"]:
        revenue, orders = want.by_day.get(point["date"], (0, 0))
        assert (point["revenue"], point["orders"]) == (revenue / 100, orders)
    assert sum(p["orders"] for p in body["series"]) == 5


def test_new_york_days_end_at_local_midnight(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("ny", timezone="America/New_York", plan="pro")
    # 03:00 UTC is 22:00/23:00 the previous evening in New York; 18:00 UTC is the same day.
    late = Sent("purchase", days_ago(3, 3), Decimal("30.00"), 1)
    same = Sent("purchase", days_ago(3, 18), Decimal("12.00"), 1)
    send(client, keys, [late, same])
    body = client.get(TIMESERIES, params={"days": "10"}, headers=keys.sk).json()
    by_date = {p["date"]: p["revenue"] for p in body["series"] if p["orders"]}
    utc_day = days_ago(3).date()
    assert by_date == {str(utc_day - timedelta(days=1)): 30.0, str(utc_day): 12.0}
    want = expect(
        [late, same],
        local_today("America/New_York") - timedelta(days=9),
        local_today("America/New_York"),
        "America/New_York",
    )
    assert {d: r / 100 for d, (r, _) in want.by_day.items()} == by_date


def test_a_jpy_tenant_gets_whole_yen(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("tokyo", base_currency="JPY", timezone="Asia/Tokyo", plan="pro")
    send(
        client,
        keys,
        [
            Sent("purchase", days_ago(2), Decimal("1500"), 1),
            Sent("purchase", days_ago(3), Decimal("1001"), 1),
        ],
    )
    overview = client.get(OVERVIEW, params={"days": "7"}, headers=keys.sk)
    assert '"total_revenue":2501,' in overview.text  # a whole number, no ".0"
    assert overview.json()["avg_order_value"] == 1251  # 1250.5 rounded half up
    core = client.get(SALES, params={"period": "7d", "currency": "jpy"}, headers=keys.sk).json()
    assert (core["revenue"], core["averageOrderValue"], core["currency"]) == (2501, 1251, "JPY")


def test_an_empty_range_is_zeros_not_an_error(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("empty", plan="pro")
    core = client.get(SALES, params={"period": "7d"}, headers=keys.sk).json()
    assert (core["revenue"], core["orders"], core["averageOrderValue"]) == (0, 0, 0)
    assert core["growth"] == {"revenue": None, "orders": None}
    assert [p["revenue"] for p in core["series"]] == [0] * 7
    overview = client.get(OVERVIEW, headers=keys.sk).json()
    assert overview["total_revenue"] == 0 and overview["cart_abandonment_rate"] == 0
    series = client.get(TIMESERIES, params={"days": "3"}, headers=keys.sk).json()["series"]
    assert [(p["revenue"], p["orders"]) for p in series] == [(0, 0)] * 3


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (SALES, {"period": "5d"}, "period"),
        (SALES, {"granularity": "minute"}, "granularity"),
        (SALES, {"time_range": "decade"}, "time_range"),
        (SALES, {"period": "7d", "time_range": "week"}, "time_range"),
        (SALES, {"time_range": "custom", "start_date": "2026-01-01"}, "end_date"),
        (SALES, {"start": "2026-13-01", "end": "2026-01-02"}, "start"),
        (SALES, {"currency": "euros"}, "currency"),
        (SALES, {"currency": "ZZZ"}, "currency"),
        (OVERVIEW, {"days": "0"}, "days"),
        (OVERVIEW, {"days": "abc"}, "days"),
        (OVERVIEW, {"start": "2026-01-01"}, "end"),
        (TIMESERIES, {"start": "2026-02-01", "end": "2026-01-01"}, "start"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    client: TestClient, tenant: TenantKeys, path: str, params: dict[str, str], field: str
) -> None:
    assert_bad_request(client.get(path, params=params, headers=tenant.sk), field)


def test_tenants_see_only_their_own_sales(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    one, two = make_tenant("one", plan="pro"), make_tenant("two", plan="pro")
    send(client, one, [Sent("purchase", days_ago(1), Decimal("11.00"), 1, tx="same-tx")])
    send(client, two, [Sent("purchase", days_ago(1), Decimal("22.00"), 1, tx="same-tx")])
    for keys, revenue in ((one, 1100), (two, 2200)):
        assert client.get(SALES, headers=keys.sk).json()["revenue"] == revenue
        assert client.get(OVERVIEW, headers=keys.sk).json()["total_revenue"] == revenue / 100


@pytest.mark.parametrize("path", ROUTES)
def test_a_publishable_key_is_403_and_no_key_is_401(
    client: TestClient, tenant: TenantKeys, path: str
) -> None:
    assert client.get(path, headers=tenant.pk).status_code == 403
    assert client.get(path).status_code == 401


# -- history past the raw-event window: answered from the hourly rollups ---------------------


def import_history(client: TestClient, keys: TenantKeys, events: list[Sent]) -> None:
    """``events`` through the historical import path (``shoplens import``'s ``bulk.load``:
    the real handlers and pipeline, old timestamps taken as given), then the retention task
    for this tenant, which deletes the raw rows older than its raw window (90 days)."""
    state = client.app.state.shoplens  # type: ignore[attr-defined]
    tenant = state.meta.tenant(keys.id)
    body = msgspec.json.encode({"events": [e.body() for e in events]})
    assert client.portal is not None
    stats = client.portal.call(bulk.load, state.pipeline, tenant, [("ecommerce", body)])
    assert (stats.accepted, stats.rejected) == (len(events), 0), stats.first_errors
    wait_stored(client)
    retention.enforce(state.store, state.meta, datetime.now(UTC), [tenant])


def raw_orders(store: Store, tenant_id: int) -> int:
    sql = "SELECT count() AS n FROM events WHERE tenant_id = {t:UInt32} AND event_type = 'purchase'"
    return int(rows(store, sql, t=tenant_id)[0]["n"])


# Orders 10, 150 and 300 days ago (the last two only in the rollups after retention runs),
# one 400 days ago (past a pro plan's 365-day limit), and a view and cart 150 days ago.
HISTORY = [
    Sent("purchase", days_ago(10), Decimal("10.00"), 1, "ann"),
    Sent("purchase", days_ago(150), Decimal("150.00"), 2, "ben"),
    Sent("purchase", days_ago(300), Decimal("300.00"), 3, "cat"),
    Sent("purchase", days_ago(400), Decimal("400.00"), 4, "dan"),
    Sent("view_item", days_ago(150, 11), visitor="ben"),
    Sent("add_to_cart", days_ago(150, 11), visitor="ben"),
]


@pytest.fixture
def history(client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store) -> TenantKeys:
    keys = make_tenant("history", plan="pro")
    import_history(client, keys, HISTORY)
    assert raw_orders(store, keys.id) == 1  # only the 10-day-old order is still raw
    return keys


def test_period_12m_reads_the_rollups_past_the_raw_window(
    client: TestClient, history: TenantKeys
) -> None:
    today = local_today("UTC")
    body = client.get(SALES, params={"period": "12m"}, headers=history.sk).json()
    first = date.fromisoformat(body["start_date"])
    assert (first.day, body["end_date"], body["granularity"]) == (1, str(today), "day")
    assert (today - first).days > 300  # twelve calendar months, not clamped to 90 days
    want = expect(HISTORY, first, today)
    assert want.orders >= 2  # the 150-day-old order is always in the last 12 months
    assert (body["revenue"], body["orders"], body["items_sold"]) == (
        want.revenue,
        want.orders,
        want.items,
    )
    days = [p["date"] for p in body["series"]]
    assert days == [str(today - timedelta(days=i)) for i in range((today - first).days + 1)]
    assert {p["date"]: p["revenue"] for p in body["series"] if p["revenue"]} == {
        d: r for d, (r, _) in want.by_day.items()
    }

    params = {"period": "12m", "granularity": "month"}
    monthly = client.get(SALES, params=params, headers=history.sk).json()
    months = [p["date"] for p in monthly["series"]]
    assert months == sorted(months, reverse=True) and len(months) == 12  # newest first
    assert {p["date"]: p["revenue"] for p in monthly["series"] if p["revenue"]} == {
        str(e.at.date().replace(day=1)): int(e.amount * 100)
        for e in HISTORY
        if e.kind == "purchase" and first <= e.at.date()
    }


def test_growth_compares_with_a_previous_period_past_the_raw_window(
    client: TestClient, history: TenantKeys
) -> None:
    # 90d: the previous 90 days (91..180 days ago) hold only the 150-day-old order
    body = client.get(SALES, params={"period": "90d"}, headers=history.sk).json()
    assert (body["revenue"], body["orders"]) == (1000, 1)
    assert body["growth"] == {"revenue": growth(1000, 15000), "orders": 0.0}
    assert body["growth"]["revenue"] == -93.3
    # a custom range of 200 days: the previous 200 days hold the 300-day-old order
    today = local_today("UTC")
    params = {"time_range": "custom", "start_date": str(today - timedelta(days=199)),
              "end_date": str(today)}  # fmt: skip
    body = client.get(SALES, params=params, headers=history.sk).json()
    assert (body["revenue"], body["orders"]) == (16000, 2)
    assert body["growth"] == {"revenue": growth(16000, 30000), "orders": 100.0}


def test_time_range_year_reads_the_rollups_past_the_raw_window(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("year", plan="enterprise")
    today = local_today("UTC")
    # an order on 2 January of this year (before the raw window from April on) and one
    # on every earlier day back to 1 January of last year, which the year leaves out
    jan_2 = date(today.year, 1, 2)
    events = [
        Sent("purchase", days_ago((today - jan_2).days), Decimal("5.00"), 1),
        Sent("purchase", days_ago((today - jan_2).days + 2), Decimal("7.00"), 1),
        Sent("purchase", days_ago(0, 0), Decimal("3.00"), 1),  # today, always in the year
    ]
    import_history(client, keys, events)
    want = expect(events, date(today.year, 1, 1), today)
    body = client.get(SALES, params={"time_range": "year"}, headers=keys.sk).json()
    assert (body["time_range"], body["start_date"]) == ("year", f"{today.year}-01-01")
    assert (body["total_revenue"], body["total_orders"]) == (want.revenue, want.orders)
    assert want.orders >= 1
    trend = client.get(TREND, params={"time_range": "year"}, headers=keys.sk).json()
    assert trend["start_date"] == f"{today.year}-01-01"
    assert (trend["total_revenue"], trend["total_orders"]) == (want.revenue, want.orders)


def test_the_plan_limits_how_far_back_the_rollups_are_read(
    client: TestClient, history: TenantKeys
) -> None:
    today = local_today("UTC")
    params = {"time_range": "custom", "start_date": str(today - timedelta(days=500)),
              "end_date": str(today)}  # fmt: skip
    body = client.get(SALES, params=params, headers=history.sk).json()
    # pro: 365 days (the aggregatedMetrics window is 730): the 400-day-old order is out
    assert body["start_date"] == str(today - timedelta(days=364))
    assert (body["revenue"], body["orders"]) == (46000, 3)


def test_trend_and_v1_routes_read_the_rollups_past_the_raw_window(
    client: TestClient, history: TenantKeys
) -> None:
    today = local_today("UTC")
    first = today - timedelta(days=199)
    want = expect(HISTORY, first, today)
    params = {"time_range": "custom", "start_date": str(first), "end_date": str(today)}
    trend = client.get(TREND, params=params, headers=history.sk).json()
    assert (trend["total_revenue"], trend["total_orders"]) == (want.revenue, want.orders)
    assert [p["date"] for p in trend["series"]] == [
        str(today - timedelta(days=i)) for i in range(200)
    ]  # newest first
    assert {p["date"]: p["revenue"] for p in trend["series"] if p["revenue"]} == {
        d: r for d, (r, _) in want.by_day.items()
    }

    series = client.get(TIMESERIES, params={"days": "200"}, headers=history.sk).json()
    assert series["days"] == 200
    assert [p["date"] for p in series["series"]] == [
        str(first + timedelta(days=i)) for i in range(200)
    ]  # oldest first, as seed 002 shows
    assert {p["date"]: p["revenue"] for p in series["series"] if p["revenue"]} == {
        d: r / 100 for d, (r, _) in want.by_day.items()
    }

    overview = client.get(OVERVIEW, params={"days": "200"}, headers=history.sk).json()
    assert (overview["total_revenue"], overview["total_orders"], overview["days"]) == (
        160.0,
        2,
        200,
    )
    # the cart rates need raw events: the view and cart 150 days ago are gone
    assert (overview["add_to_cart_rate"], overview["cart_abandonment_rate"]) == (0.0, 0.0)


def test_a_half_hour_zone_reads_the_rollups_past_the_raw_window(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    keys = make_tenant("kolkata", timezone="Asia/Kolkata", plan="pro")
    import_history(client, keys, HISTORY)
    assert raw_orders(store, keys.id) == 1
    today = local_today("Asia/Kolkata")
    first = today - timedelta(days=199)
    params = {"time_range": "custom", "start_date": str(first), "end_date": str(today)}
    body = client.get(SALES, params=params, headers=keys.sk).json()
    want = expect(HISTORY, first, today, "Asia/Kolkata")
    assert (body["revenue"], body["orders"]) == (want.revenue, want.orders) == (16000, 2)
    # noon UTC is 17:30 local, far from midnight: each order is on its own local day
    assert {p["date"]: p["revenue"] for p in body["series"] if p["revenue"]} == {
        d: r for d, (r, _) in want.by_day.items()
    }


# -- the currency filter ------------------------------------------------------------------


def test_currency_filters_the_orders_placed_in_it(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    keys = make_tenant("euro-orders", plan="pro")
    placed = [
        Sent("purchase", days_ago(1), Decimal("20.00"), 1, currency="EUR"),
        Sent("purchase", days_ago(2), Decimal("30.00"), 2, currency="EUR"),
        Sent("purchase", days_ago(2, 14), Decimal("99.00"), 5),  # USD, the base
        Sent("purchase", days_ago(3), Decimal("15.00"), 1, currency="GBP"),
        Sent("purchase", days_ago(9), Decimal("10.00"), 1, currency="EUR"),  # the week before
    ]
    send(client, keys, placed)
    stored = rows(
        store,
        "SELECT toDate(timestamp) AS day, revenue FROM events WHERE tenant_id = {t:UInt32} "
        "AND original_currency = 'EUR' ORDER BY timestamp",
        t=keys.id,
    )
    in_week = [r for r in stored if r["day"] >= local_today("UTC") - timedelta(days=6)]
    assert len(in_week) == 2 and all(r["revenue"] > 0 for r in in_week)

    body = client.get(SALES, params={"period": "7d", "currency": "eur"}, headers=keys.sk).json()
    revenue = sum(r["revenue"] for r in in_week)
    assert (body["orders"], body["revenue"], body["items_sold"]) == (2, revenue, 3)
    assert body["currency"] == "USD"  # amounts stay in the base currency
    assert {p["date"]: (p["revenue"], p["orders"]) for p in body["series"] if p["orders"]} == {
        str(r["day"]): (r["revenue"], 1) for r in in_week
    }
    assert body["growth"]["orders"] == 100.0  # against the one EUR order of the week before

    everything = client.get(SALES, params={"period": "7d"}, headers=keys.sk).json()
    assert everything["orders"] == 4
    base = client.get(SALES, params={"period": "7d", "currency": "USD"}, headers=keys.sk).json()
    assert (base["orders"], base["revenue"]) == (1, 9900)
    none = client.get(SALES, params={"period": "7d", "currency": "JPY"}, headers=keys.sk).json()
    assert (none["orders"], none["revenue"]) == (0, 0)


def test_a_currency_filter_reads_raw_events_so_keeps_the_raw_window(
    client: TestClient, history: TenantKeys
) -> None:
    today = local_today("UTC")
    body = client.get(SALES, params={"period": "12m", "currency": "USD"}, headers=history.sk)
    assert body.json()["start_date"] == str(today - timedelta(days=89))
    assert (body.json()["orders"], body.json()["revenue"]) == (1, 1000)
