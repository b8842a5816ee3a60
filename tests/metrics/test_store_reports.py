"""Store report queries on rows inserted straight into the store, against hand-worked sums.

Covers what the HTTP tests cannot reach through ingestion: flagged rows, one order listing
a SKU twice, names taken from views, a non-UTC zone's day buckets, JPY (no minor digits),
and agreement with :func:`shoplens.metrics.breakdowns.top_products`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.ingest.money import to_minor
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import breakdowns, store_reports
from shoplens.metrics.period import Period, parse_period
from shoplens.store import Store
from tests.conftest import NOW

NOON = NOW.replace(hour=12, minute=0, second=0, microsecond=0)


def event(tenant_id: int, when: datetime, event_type: str = "purchase", **fields: Any) -> Event:
    ms = int(when.timestamp() * 1000)
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_name=event_type,
        source="test",
        timestamp=ms,
        received_at=ms,
        visitor_id="v",
        **fields,
    )


def insert(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"test-store-reports-{uuid.uuid4()}")
    if any(e.items for e in events):
        store.insert("event_items", items_table(events), f"test-store-items-{uuid.uuid4()}")


@pytest.fixture
def make_shop(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[..., Tenant]:
    def make(**fields: Any) -> Tenant:
        tenant = meta.tenant(make_tenant("store reports", plan="pro", **fields).id)
        assert tenant is not None
        return tenant

    return make


def days(n: int, tenant: Tenant) -> Period:
    return parse_period({"days": str(n)}, timezone=tenant.timezone, now=NOW)


def ago(n: int) -> datetime:
    return NOON - timedelta(days=n)


def test_products_count_orders_once_units_per_row_and_skip_flagged(
    store: Store, make_shop: Callable[..., Tenant]
) -> None:
    shop = make_shop()
    tid = shop.id
    insert(store, [
        # One order listing sku_a twice: 2 rows, 1 order, 3 units.
        event(tid, ago(3), items=[Item("sku_a", "A", price=1000, quantity=1),
                                  Item("sku_a", "", price=900, quantity=2)]),
        event(tid, ago(2), items=[Item("sku_b", "B", price=500)]),
        event(tid, ago(2), is_flagged=1, items=[Item("sku_a", "A", price=10**9)]),
        event(tid, ago(1), "view_item", items=[Item("sku_a", "A (new)")]),
        event(tid, ago(1), "view_item", is_flagged=1, items=[Item("sku_b", "B!")]),
        event(tid, ago(1), "add_to_cart", items=[Item("sku_c", "C")]),  # not counted
    ])  # fmt: skip
    period = days(30, shop)
    top = store_reports.top_products(store, shop, period)
    assert top == [
        store_reports.ProductStats("sku_a", "A (new)", 2800, 3, 1, 1),
        store_reports.ProductStats("sku_b", "B", 500, 1, 1, 0),
    ]
    assert top[0].conversion_rate == 100.0
    assert top[1].conversion_rate == 0.0  # no views
    # Same revenue/units/orders as the breakdowns' top products.
    assert [(p.item_id, p.revenue, p.units, p.orders) for p in top] == [
        (p["item_id"], to_minor(p["revenue"], "USD"), p["quantity"], p["orders"])
        for p in breakdowns.top_products(store, shop, period)
    ]
    assert [p.item_id for p in store_reports.top_products(store, shop, period, "views")] == [
        "sku_a",
        "sku_b",
    ]
    assert len(store_reports.top_products(store, shop, period, limit=1)) == 1
    with pytest.raises(ValueError, match="sort_by"):
        store_reports.top_products(store, shop, period, "price")


def test_ties_break_on_revenue_orders_then_id(
    store: Store, make_shop: Callable[..., Tenant]
) -> None:
    shop = make_shop()
    insert(store, [
        event(shop.id, ago(1), items=[Item("sku_z", price=100, quantity=2)]),
        event(shop.id, ago(1), items=[Item("sku_y", price=300, quantity=2)]),
        event(shop.id, ago(1), items=[Item("sku_x", price=300, quantity=2)]),
    ])  # fmt: skip
    ranked = store_reports.top_products(store, shop, days(7, shop), "units")
    assert [p.item_id for p in ranked] == ["sku_x", "sku_y", "sku_z"]


def test_product_series_uses_the_tenants_local_days(
    store: Store, make_shop: Callable[..., Tenant]
) -> None:
    shop = make_shop(timezone="America/New_York")
    period = days(3, shop)
    # 03:00 UTC on the period's second local day is still the first local day in New York.
    second_day = period.first_day + timedelta(days=1)
    at = datetime(second_day.year, second_day.month, second_day.day, 3, tzinfo=UTC)
    insert(store, [
        event(shop.id, at, items=[Item("sku_a", "A", price=250, quantity=2)]),
        event(shop.id, at, "view_item", items=[Item("sku_a")]),
    ])  # fmt: skip
    series = store_reports.product_series(store, shop, period, "sku_a")
    assert [p.date for p in series] == [
        (period.first_day + timedelta(days=i)).isoformat() for i in range(3)
    ]
    assert series[0] == store_reports.ProductPoint(period.first_day.isoformat(), 500, 2, 1)
    assert {(p.revenue, p.units, p.views) for p in series[1:]} == {(0, 0, 0)}
    assert store_reports.product(store, shop, period, "sku_a") == store_reports.ProductStats(
        "sku_a", "A", 500, 2, 1, 1
    )
    assert store_reports.product(store, shop, period, "missing") == store_reports.ProductStats(
        "missing", "", 0, 0, 0, 0
    )


def test_categories_shares_and_uncategorized(
    store: Store, make_shop: Callable[..., Tenant]
) -> None:
    shop = make_shop()
    insert(store, [
        event(shop.id, ago(1), revenue=1050,  # 900 of items, 150 of shipping
              items=[Item("a", item_category="Shoes", price=700),
                     Item("b", price=200, quantity=1)]),
        event(shop.id, ago(1), revenue=100, items=[Item("c", item_category="Shoes", price=100)]),
        event(shop.id, ago(1), revenue=99, is_flagged=1,
              items=[Item("d", item_category="X", price=99)]),
    ])  # fmt: skip
    report = store_reports.categories(store, shop, days(7, shop))
    assert report.item_revenue == 1000
    assert report.order_revenue == 1150  # the orders' own revenue, shipping included
    assert report.rows == [
        {"category": "Shoes", "revenue": 800, "units": 2, "orders": 2, "share_of_revenue": 80.0},
        {"category": "uncategorized", "revenue": 200, "units": 1, "orders": 1,
         "share_of_revenue": 20.0},
    ]  # fmt: skip


def test_trend_aov_rounds_half_up() -> None:
    assert store_reports.TrendPoint("d", 1001, 2).aov == 501  # 500.5
    assert store_reports.TrendPoint("d", 1000, 3).aov == 333
    assert store_reports.TrendPoint("d", 0, 0).aov == 0


def test_countries_in_jpy_are_whole_yen_with_shares(
    store: Store, make_shop: Callable[..., Tenant]
) -> None:
    shop = make_shop(base_currency="JPY")
    insert(store, [
        event(shop.id, ago(1), revenue=1500, country="JP"),
        event(shop.id, ago(1), revenue=500, country=""),
        event(shop.id, ago(1), revenue=10**9, country="JP", is_flagged=1),
    ])  # fmt: skip
    rows, total = store_reports.countries(store, shop, days(7, shop))
    assert total == 2000
    assert rows == [
        {"country": "JP", "revenue": 1500, "orders": 1, "share_of_revenue": 75.0},
        {"country": "unknown", "revenue": 500, "orders": 1, "share_of_revenue": 25.0},
    ]
    assert all(type(r["revenue"]) is int for r in rows)
