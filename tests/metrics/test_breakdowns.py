"""The breakdown registry and its queries, on rows inserted straight into the store.

Device, platform and country are only filled by the (not yet written) enrichment, so these
rows carry them directly; the "unknown" bucket, flagged rows, ordering and limits are
checked against sums worked out by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.ingest.money import from_minor
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics.breakdowns import (
    BREAKDOWNS,
    Breakdown,
    Dimension,
    run_breakdown,
    top_products,
)
from shoplens.metrics.period import Period, parse_period
from shoplens.metrics.sql import EVENTS
from shoplens.store import Store
from tests.conftest import NOW


def event(tenant_id: int, hours_ago: float, event_type: str = "purchase", **fields: Any) -> Event:
    ms = int((NOW - timedelta(hours=hours_ago)).timestamp() * 1000)
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
    store.insert("events", events_table(events), f"test-breakdowns-{uuid.uuid4()}")
    if any(e.items for e in events):
        store.insert("event_items", items_table(events), f"test-breakdowns-items-{uuid.uuid4()}")


@pytest.fixture
def shop(make_tenant: Callable[..., Any], meta: MetaStore) -> Tenant:
    tenant = meta.tenant(make_tenant("breakdowns", plan="pro").id)
    assert tenant is not None
    return tenant


def last_days(days: int = 30) -> Period:
    return parse_period({"days": str(days)}, timezone="UTC", now=NOW)


def test_every_registry_entry_names_whitelisted_columns_and_known_extras() -> None:
    for breakdown in BREAKDOWNS.values():
        assert all(d.column in EVENTS.columns for d in breakdown.dimensions)
    with pytest.raises(ValueError, match="not an events column"):
        Breakdown("x", "xs", (Dimension("nope; DROP TABLE events", "x"),))
    with pytest.raises(ValueError, match="unknown extras"):
        Breakdown("x", "xs", (Dimension("country", "x"),), extras=("median",))


def test_the_registry_covers_seed_002s_breakdowns() -> None:
    assert {b.path: b.key for b in BREAKDOWNS.values()} == {
        "revenue-by-channel": "channels",
        "revenue-by-coupon": "coupons",
        "revenue-by-device": "devices",
        "revenue-by-platform": "platforms",
        "revenue-by-country": "countries",
    }


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (4999, "USD", Decimal("49.99")),
        (1500, "JPY", Decimal("1500")),
        (Decimal("750.5"), "USD", Decimal("7.51")),  # an average: half up
        (12345, "BHD", Decimal("12.345")),
        (-250, "USD", Decimal("-2.50")),
    ],
)
def test_from_minor_rounds_to_the_currencys_digits(
    minor: int | Decimal, currency: str, expected: Decimal
) -> None:
    assert from_minor(minor, currency) == expected
    assert from_minor(minor, currency).as_tuple().exponent == expected.as_tuple().exponent


def test_typed_columns_group_with_an_unknown_bucket_and_flagged_rows_excluded(
    store: Store, shop: Tenant
) -> None:
    t = shop.id
    insert(
        store,
        [
            event(t, 1, revenue=1000, device_type="mobile", platform="ios", country="US"),
            event(t, 2, revenue=2500, device_type="mobile", platform="android", country="US"),
            event(t, 3, revenue=4000, device_type="desktop", platform="web", country="GB"),
            event(t, 4, revenue=300),  # nothing enriched: "unknown" everywhere
            event(t, 5, revenue=200),
            # Flagged and non-purchase rows count nowhere.
            event(t, 1, revenue=99_999, device_type="tablet", platform="ios", is_flagged=1),
            event(t, 1, "add_to_cart", revenue=5000, device_type="tv", country="FR"),
            # Outside the period.
            event(t, 24 * 40, revenue=7000, device_type="desktop", country="DE"),
        ],
    )
    period = last_days()

    def grouped(path: str) -> list[tuple[str, Decimal, int]]:
        breakdown = BREAKDOWNS[path]
        key = breakdown.dimensions[0].key
        return [
            (r[key], r["revenue"], r["orders"])
            for r in run_breakdown(store, shop, period, breakdown)
        ]

    assert grouped("revenue-by-device") == [
        ("desktop", Decimal("40.00"), 1),
        ("mobile", Decimal("35.00"), 2),
        ("unknown", Decimal("5.00"), 2),
    ]
    assert grouped("revenue-by-platform") == [
        ("web", Decimal("40.00"), 1),
        ("android", Decimal("25.00"), 1),
        ("ios", Decimal("10.00"), 1),
        ("unknown", Decimal("5.00"), 2),
    ]
    assert grouped("revenue-by-country") == [
        ("GB", Decimal("40.00"), 1),
        ("US", Decimal("35.00"), 2),
        ("unknown", Decimal("5.00"), 2),
    ]
    assert run_breakdown(store, shop, period, BREAKDOWNS["revenue-by-device"], limit=1) == [
        {"device_type": "desktop", "revenue": Decimal("40.00"), "orders": 1}
    ]
    assert run_breakdown(store, shop, last_days(60), BREAKDOWNS["revenue-by-country"])[0] == {
        "country": "DE",
        "revenue": Decimal("70.00"),
        "orders": 1,
    }


def test_ties_order_by_orders_then_key(store: Store, shop: Tenant) -> None:
    t = shop.id
    insert(
        store,
        [
            event(t, 1, revenue=500, country="ZA"),
            event(t, 1, revenue=500, country="AU"),
            event(t, 1, revenue=250, country="NZ"),
            event(t, 1, revenue=250, country="NZ"),
        ],
    )
    rows = run_breakdown(store, shop, last_days(), BREAKDOWNS["revenue-by-country"])
    assert [r["country"] for r in rows] == ["NZ", "AU", "ZA"]


def test_top_products_from_raw_items_excluding_flagged_and_other_types(
    store: Store, shop: Tenant
) -> None:
    t = shop.id
    insert(
        store,
        [
            event(t, 3, items=[Item("a", "Old name", price=1000, quantity=1)]),
            # The same SKU twice in one order is one order, two lines.
            event(
                t,
                2,
                items=[
                    Item("a", "New name", price=1000, quantity=2),
                    Item("a", "", price=500, quantity=1),
                    Item("b", "Bee", price=100, quantity=3),
                ],
            ),
            event(t, 1, items=[Item("a", "", price=1, quantity=1)]),  # empty name: kept
            event(t, 1, items=[Item("b", "Bee", price=10**6, quantity=1)], is_flagged=1),
            event(t, 1, "add_to_cart", items=[Item("c", "Cart only", price=10**6)]),
        ],
    )
    assert top_products(store, shop, last_days()) == [
        {
            "item_id": "a",
            "item_name": "New name",
            "revenue": Decimal("35.01"),
            "quantity": 5,
            "orders": 3,
        },
        {
            "item_id": "b",
            "item_name": "Bee",
            "revenue": Decimal("3.00"),
            "quantity": 3,
            "orders": 1,
        },
    ]
    assert [p["item_id"] for p in top_products(store, shop, last_days(), limit=1)] == ["a"]
