"""The funnel routes over real HTTP (ASGI), with events sent through the real ingestion API.

The routes use the real clock, so fixture events are placed relative to ``datetime.now``,
on whole days ago (never on a period's first or last day unless a test is about the
boundary), and expectations are computed in plain Python from the fixture list.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.store import Store
from tests.conftest import TenantKeys, assert_bad_request, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"
FUNNEL = "/analytics/funnel"
CONVERSION = "/analytics/conversion"
V1_FUNNEL = "/v1/api/analytics/ecommerce/funnel"
CARTS = "/v1/api/analytics/ecommerce/cart-abandonment"
ROUTES = [FUNNEL, CONVERSION, V1_FUNNEL, CARTS]
CORE = [
    ("Product Views", "view_item"),
    ("Add to Cart", "add_to_cart"),
    ("Checkout Started", "begin_checkout"),
    ("Payment Completed", "add_payment_info"),
    ("Order Confirmed", "purchase"),
]
V1 = ["view_item", "add_to_cart", "view_cart", "begin_checkout", "add_payment_info", "purchase"]


@dataclass
class Sent:
    """One fixture event: its type, time, visitor, and cart value for item events."""

    kind: str
    at: datetime
    visitor: str
    price: Decimal = Decimal("10.00")
    quantity: int = 1
    anonymous: bool = False  # identify by anonymous_id instead of user_id

    def body(self) -> dict[str, Any]:
        who = "anonymous_id" if self.anonymous else "user_id"
        out: dict[str, Any] = {
            "event_type": self.kind,
            who: self.visitor,
            "timestamp": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if self.kind == "purchase":
            out |= {"transaction_id": f"tx-{uuid.uuid4()}", "revenue": 10.0}
        if self.kind in ("view_item", "add_to_cart", "remove_from_cart"):
            out["items"] = [
                {"item_id": "sku", "price": float(self.price), "quantity": self.quantity}
            ]
        return out


def send(client: TestClient, keys: TenantKeys, events: list[Sent]) -> None:
    for i in range(0, len(events), 100):
        batch = [e.body() for e in events[i : i + 100]]
        response = client.post(BATCH, json={"events": batch}, headers=keys.pk)
        assert response.json() == {"ok": True, "accepted": len(batch)}, response.json()
    wait_stored(client)


def days_ago(n: int, hour: int = 12, minute: int = 0) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=n) + timedelta(hours=hour, minutes=minute)


def walk(visitor: str, kinds: list[str], day: int, anonymous: bool = False) -> list[Sent]:
    """``kinds`` done by ``visitor`` in this order, a minute apart, ``day`` days ago."""
    return [
        Sent(k, days_ago(day, 12, i), visitor, anonymous=anonymous) for i, k in enumerate(kinds)
    ]


def rate(part: int, whole: int) -> float:
    if not whole:
        return 0.0
    return float((Decimal(part) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def ordered_counts(events: list[Sent], steps: list[str], first: datetime) -> list[int]:
    """Visitors reaching each step in order, from events at or after ``first`` (plain Python)."""
    by_visitor: dict[str, list[Sent]] = {}
    for e in events:
        if e.at >= first:
            by_visitor.setdefault(e.visitor, []).append(e)
    counts = [0] * len(steps)
    for evs in by_visitor.values():
        level = 0
        for e in sorted(evs, key=lambda e: e.at):
            if level < len(steps) and e.kind == steps[level]:
                level += 1
        for i in range(level):
            counts[i] += 1
    return counts


# Ten visitors over the last week, plus an older one (day 12) outside 7d.
FIXTURE = [
    *walk("full-1", [t for _, t in CORE], 1),
    *walk("full-2", V1, 2, anonymous=True),
    *walk("to-checkout", ["view_item", "add_to_cart", "view_cart", "begin_checkout"], 3),
    *walk("carted", ["view_item", "add_to_cart"], 4),
    *walk("carted-2", ["view_item", "add_to_cart", "view_cart"], 2),
    *walk("viewer", ["view_item"], 1),
    *walk("viewer-2", ["view_item", "view_item"], 5),
    # out of order: bought, then carted, then viewed — only the view counts
    *walk("backwards", ["purchase", "add_to_cart", "view_item"], 3),
    # cart before view counts as no cart
    *walk("cart-first", ["add_to_cart", "view_item", "begin_checkout"], 2),
    *walk("old", [t for _, t in CORE], 12),
]


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store) -> TenantKeys:
    keys = make_tenant("funnel-shop", plan="pro")
    send(client, keys, FIXTURE)
    # A flagged purchase for "carted" (fraud rules don't exist yet): written through the
    # store's insert path, as the flusher would write an event the rules had marked.
    ms = int(days_ago(4, 14).timestamp() * 1000)
    flagged = Event(
        tenant_id=keys.id,
        event_id=str(uuid.uuid4()),
        event_type="purchase",
        event_name="purchase",
        source="test",
        timestamp=ms,
        received_at=ms,
        transaction_id=f"flagged-{uuid.uuid4()}",
        revenue=999_900,
        user_id="carted",
        visitor_id="carted",
        is_flagged=1,
    )
    store.insert("events", events_table([flagged]), f"test-funnel-flagged-{uuid.uuid4()}")
    return keys


def week_start() -> datetime:
    return days_ago(6, 0)


def test_core_funnel_is_ordered_visitors_per_stage(client: TestClient, shop: TenantKeys) -> None:
    counts = ordered_counts(FIXTURE, [t for _, t in CORE], week_start())
    # view_cart is not a core stage, so full-2 completes the core funnel too
    assert counts == [9, 5, 3, 2, 2]
    body = client.get(FUNNEL, params={"period": "7d"}, headers=shop.sk).json()
    rates = [100.0] + [rate(counts[i], counts[i - 1]) for i in range(1, 5)]
    assert body["stages"] == [
        {"name": name, "count": n, "rate": r}
        for (name, _), n, r in zip(CORE, counts, rates, strict=True)
    ]
    assert body["conversionRate"] == rate(2, 9) == 22.2
    assert body["abandonmentRate"] == rate(5 - 2, 5) == 60.0


def test_v1_funnel_has_six_steps_with_percentages(client: TestClient, shop: TenantKeys) -> None:
    counts = ordered_counts(FIXTURE, V1, week_start())
    body = client.get(V1_FUNNEL, params={"days": "7"}, headers=shop.sk).json()
    assert body == {
        "steps": [
            {"name": name, "count": n, "percentage": 100.0 if i == 0 else rate(n, counts[i - 1])}
            for i, (name, n) in enumerate(zip(V1, counts, strict=True))
        ],
        "days": 7,
    }
    assert counts == [9, 5, 3, 2, 1, 1]  # full-1 never viewed its cart
    # the older visitor is in a 30-day range
    wide = client.get(V1_FUNNEL, headers=shop.sk).json()
    assert wide["days"] == 30 and wide["steps"][0]["count"] == 10


def test_conversion_is_the_core_funnel_in_both_spellings(
    client: TestClient, shop: TenantKeys
) -> None:
    body = client.get(
        CONVERSION,
        params={
            "time_range": "custom",
            "start_date": str(days_ago(6).date()),
            "end_date": str(days_ago(0).date()),
        },
        headers=shop.sk,
    ).json()
    core = client.get(FUNNEL, params={"period": "7d"}, headers=shop.sk).json()
    assert body["stages"] == core["stages"]
    assert body["conversion_rate"] == body["conversionRate"] == core["conversionRate"]
    assert body["cart_abandonment_rate"] == body["abandonmentRate"] == core["abandonmentRate"]
    assert (body["time_range"], body["start_date"]) == ("custom", str(days_ago(6).date()))


def test_cart_abandonment_in_decimals(client: TestClient, shop: TenantKeys) -> None:
    body = client.get(CARTS, params={"days": "7"}, headers=shop.sk).json()
    # carts: full-1, full-2, to-checkout, carted, carted-2, backwards, cart-first;
    # completed: full-1, full-2 (the flagged purchase of "carted" does not count; the
    # purchase of "backwards" came before its cart). Each abandoned cart is 10.00.
    assert body == {
        "abandonment_rate": rate(5, 7),
        "abandoned_carts": 5,
        "abandoned_revenue": 50.0,
        "completed_carts": 2,
        "days": 7,
    }


def test_remove_from_cart_lowers_the_abandoned_value(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("remover", plan="pro")
    send(
        client,
        keys,
        [
            Sent("add_to_cart", days_ago(2, 10), "r", Decimal("12.50"), 3),
            Sent("remove_from_cart", days_ago(2, 11), "r", Decimal("12.50"), 1),
        ],
    )
    body = client.get(CARTS, params={"days": "7"}, headers=keys.sk).json()
    assert (body["abandoned_carts"], body["abandoned_revenue"]) == (1, 25.0)


def test_new_york_periods_start_at_local_midnight(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("ny-funnel", timezone="America/New_York", plan="pro")
    tz = ZoneInfo("America/New_York")
    today = datetime.now(UTC).astimezone(tz).date()
    first = today - timedelta(days=2)  # days=3
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    events = [
        # viewed 1 minute before the period's local midnight, carted after: no view counted
        Sent("view_item", start - timedelta(minutes=1), "early"),
        Sent("add_to_cart", start + timedelta(minutes=1), "early"),
        # both inside, right after local midnight (which is 04:00 or 05:00 UTC)
        Sent("view_item", start + timedelta(seconds=1), "inside"),
        Sent("add_to_cart", start + timedelta(minutes=2), "inside"),
    ]
    send(client, keys, events)
    body = client.get(V1_FUNNEL, params={"days": "3"}, headers=keys.sk).json()
    assert [s["count"] for s in body["steps"]][:2] == ordered_counts(events, V1, start)[:2]
    assert [s["count"] for s in body["steps"]][:2] == [1, 1]
    wider = client.get(V1_FUNNEL, params={"days": "4"}, headers=keys.sk).json()
    assert [s["count"] for s in wider["steps"]][:2] == [2, 2]


def test_an_empty_range_is_zeros_not_an_error(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("empty-funnel", plan="pro")
    core = client.get(FUNNEL, params={"period": "7d"}, headers=keys.sk).json()
    assert [(s["count"], s["rate"]) for s in core["stages"]] == [(0, 0.0)] * 5
    assert (core["abandonmentRate"], core["conversionRate"]) == (0.0, 0.0)
    v1 = client.get(V1_FUNNEL, headers=keys.sk).json()
    assert [(s["count"], s["percentage"]) for s in v1["steps"]] == [(0, 0.0)] * 6
    assert client.get(CARTS, headers=keys.sk).json() == {
        "abandonment_rate": 0.0,
        "abandoned_carts": 0,
        "abandoned_revenue": 0.0,
        "completed_carts": 0,
        "days": 30,
    }


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (FUNNEL, {"period": "5d"}, "period"),
        (FUNNEL, {"period": "7d", "time_range": "week"}, "time_range"),
        (CONVERSION, {"time_range": "decade"}, "time_range"),
        (CONVERSION, {"time_range": "custom", "start_date": "2026-01-01"}, "end_date"),
        (V1_FUNNEL, {"days": "0"}, "days"),
        (V1_FUNNEL, {"start": "2026-01-01"}, "end"),
        (CARTS, {"days": "abc"}, "days"),
        (CARTS, {"start": "2026-02-01", "end": "2026-01-01"}, "start"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    client: TestClient, tenant: TenantKeys, path: str, params: dict[str, str], field: str
) -> None:
    assert_bad_request(client.get(path, params=params, headers=tenant.sk), field)


def test_tenants_see_only_their_own_funnel(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    one, two = make_tenant("f-one", plan="pro"), make_tenant("f-two", plan="pro")
    send(client, one, walk("same", ["view_item", "add_to_cart"], 1))
    send(client, two, walk("same", ["view_item"], 1) + walk("other", ["view_item"], 1))
    for keys, counts in ((one, [1, 1]), (two, [2, 0])):
        body = client.get(V1_FUNNEL, params={"days": "7"}, headers=keys.sk).json()
        assert [s["count"] for s in body["steps"]][:2] == counts
    assert client.get(CARTS, headers=one.sk).json()["abandoned_carts"] == 1
    assert client.get(CARTS, headers=two.sk).json()["abandoned_carts"] == 0


@pytest.mark.parametrize("path", ROUTES)
def test_a_publishable_key_is_403_and_no_key_is_401(
    client: TestClient, tenant: TenantKeys, path: str
) -> None:
    assert client.get(path, headers=tenant.pk).status_code == 403
    assert client.get(path).status_code == 401
