"""Seed 002's breakdown routes over HTTP, against answers computed in plain Python.

Events go in through the real ingestion API (``/v1/api/analytics/ecommerce/batch``);
device/platform/country and flagged rows, which ingestion cannot produce yet, are inserted
straight into the store. Every route is compared with an independent computation over the
same fixture events.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.store import Store
from tests.conftest import NOW, TenantKeys, wait_stored

BASE = "/v1/api/analytics/ecommerce"
BATCH = f"{BASE}/batch"
ROUTES = {
    "top-products": "products",
    "revenue-by-channel": "channels",
    "revenue-by-coupon": "coupons",
    "revenue-by-device": "devices",
    "revenue-by-platform": "platforms",
    "revenue-by-country": "countries",
}
CENT = Decimal("0.01")

SPRING = {"campaign": "spring-sale", "source": "email", "medium": "newsletter"}
SUMMER = {"campaign": "summer", "source": "google", "medium": "cpc"}
EMAIL_ONLY = {"source": "email"}


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat()


def purchase(
    order: str, revenue: float, user: str, hours_ago: float, **fields: Any
) -> dict[str, Any]:
    return {
        "event_type": "purchase",
        "transaction_id": f"{order}-{uuid.uuid4().hex[:8]}",
        "revenue": revenue,
        "user_id": user,
        "timestamp": at(hours_ago),
        **fields,
    }


def view(user: str, props: dict[str, str], hours_ago: float = 1) -> dict[str, Any]:
    return {
        "event_type": "view_item",
        "user_id": user,
        "items": [{"item_id": "sku_1"}],
        "properties": props,
        "timestamp": at(hours_ago),
    }


FIXTURE: list[dict[str, Any]] = [
    purchase(
        "o1", 49.99, "u1", 9, coupon_code="SAVE10", discount=5.00, properties=SPRING,
        items=[{"item_id": "sku_1", "item_name": "T-Shirt", "price": 24.99, "quantity": 2}],
    ),
    purchase(
        "o2", 100.00, "u2", 8, coupon_code="SAVE10", discount=10.01, properties=SPRING,
        items=[
            {"item_id": "sku_2", "item_name": "Hoodie", "price": 60.00, "quantity": 1},
            {"item_id": "sku_1", "item_name": "T-Shirt v2", "price": 20.00, "quantity": 2},
        ],
    ),
    purchase(
        "o3", 15.50, "u3", 7, coupon_code="WELCOME", discount=2.00, properties=SUMMER,
        items=[{"item_id": "sku_1", "price": 15.50}],
    ),
    purchase(
        "o4", 7.25, "u1", 6,
        items=[{"item_id": "sku_3", "item_name": "Socks", "price": 7.25, "quantity": 1}],
    ),
    purchase("o5", 0.01, "u4", 5, properties=EMAIL_ONLY),
    # Outside the default 30 days.
    purchase("old", 500.00, "u9", 24 * 40, coupon_code="OLD", discount=1, properties=SUMMER,
             items=[{"item_id": "sku_old", "item_name": "Old", "price": 500.00}]),
    view("u1", SPRING), view("u5", SPRING), view("u6", SPRING),
    view("u7", SUMMER), view("u8", {"campaign": "autumn", "source": "x", "medium": "y"}),
]  # fmt: skip


def in_period(e: dict[str, Any], days: int) -> bool:
    # UTC tenant: the last N local days start at midnight N-1 days ago.
    first = NOW.date() - timedelta(days=days - 1)
    return datetime.fromisoformat(e["timestamp"]).date() >= first


def money(value: Decimal) -> float:
    return float(value.quantize(CENT, ROUND_HALF_UP))


def expected_products(events: list[dict[str, Any]], days: int = 30) -> list[dict[str, Any]]:
    by_item: dict[str, dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e["timestamp"]):
        if e["event_type"] != "purchase" or not in_period(e, days):
            continue
        for item in e.get("items", []):
            p = by_item.setdefault(
                item["item_id"],
                {
                    "item_id": item["item_id"],
                    "item_name": "",
                    "rev": Decimal(0),
                    "q": 0,
                    "o": set(),
                },
            )
            qty = item.get("quantity", 1)
            p["rev"] += Decimal(str(item["price"])) * qty
            p["q"] += qty
            p["o"].add(e["transaction_id"])
            p["item_name"] = item.get("item_name") or p["item_name"]
    rows = sorted(by_item.values(), key=lambda p: (-p["rev"], -len(p["o"]), p["item_id"]))
    return [
        {
            "item_id": p["item_id"],
            "item_name": p["item_name"],
            "revenue": money(p["rev"]),
            "quantity": p["q"],
            "orders": len(p["o"]),
        }
        for p in rows
    ]


def expected_channels(events: list[dict[str, Any]], days: int = 30) -> list[dict[str, Any]]:
    revenue: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    orders: dict[tuple[str, ...], int] = defaultdict(int)
    visitors: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for e in events:
        props = e.get("properties", {})
        key = tuple(props.get(k, "") for k in ("campaign", "source", "medium"))
        if not any(key) or not in_period(e, days):
            continue
        visitors[key].add(e["user_id"])
        if e["event_type"] == "purchase":
            revenue[key] += Decimal(str(e["revenue"]))
            orders[key] += 1
    rows = sorted(orders, key=lambda k: (-revenue[k], -orders[k], k))
    return [
        {
            "campaign": k[0],
            "source": k[1],
            "medium": k[2],
            "revenue": money(revenue[k]),
            "orders": orders[k],
            "conversion_rate": float(
                (Decimal(100 * orders[k]) / len(visitors[k])).quantize(
                    Decimal("0.1"), ROUND_HALF_UP
                )
            ),
        }
        for k in rows
    ]


def expected_coupons(events: list[dict[str, Any]], days: int = 30) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["event_type"] == "purchase" and e.get("coupon_code") and in_period(e, days):
            groups[e["coupon_code"]].append(e)
    totals = {
        c: sum((Decimal(str(e["revenue"])) for e in es), Decimal(0)) for c, es in groups.items()
    }
    return [
        {
            "coupon_code": c,
            "revenue": money(totals[c]),
            "orders": len(groups[c]),
            "avg_discount": money(
                sum((Decimal(str(e["discount"])) for e in groups[c]), Decimal(0)) / len(groups[c])
            ),
        }
        for c in sorted(groups, key=lambda c: (-totals[c], -len(groups[c]), c))
    ]


def load(client: TestClient, keys: TenantKeys, events: list[dict[str, Any]]) -> None:
    response = client.post(BATCH, json={"events": events}, headers=keys.pk)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "accepted": len(events)}
    wait_stored(client)


def get(client: TestClient, keys: TenantKeys, route: str, **params: Any) -> Any:
    response = client.get(f"{BASE}/{route}", params=params, headers=keys.sk)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    keys = make_tenant("breakdown shop", plan="pro")
    load(client, keys, FIXTURE)
    return keys


def test_top_products_match_a_plain_python_computation(
    client: TestClient, shop: TenantKeys
) -> None:
    body = get(client, shop, "top-products")
    assert body == {"products": expected_products(FIXTURE), "days": 30}
    assert body["products"][0] == {
        "item_id": "sku_1",
        "item_name": "T-Shirt v2",  # the latest non-empty name
        "revenue": 105.48,
        "quantity": 5,
        "orders": 3,
    }
    wide = get(client, shop, "top-products", days=60)
    assert wide == {"products": expected_products(FIXTURE, 60), "days": 60}
    assert wide["products"][0]["item_id"] == "sku_old"


def test_channels_match_with_conversion_rates(client: TestClient, shop: TenantKeys) -> None:
    body = get(client, shop, "revenue-by-channel")
    assert body == {"channels": expected_channels(FIXTURE), "days": 30}
    assert body["channels"][0] == {
        "campaign": "spring-sale",
        "source": "email",
        "medium": "newsletter",
        "revenue": 149.99,
        "orders": 2,
        "conversion_rate": 50.0,  # 2 orders / 4 visitors (u1, u2, u5, u6)
    }
    assert "autumn" not in {c["campaign"] for c in body["channels"]}  # no orders


def test_coupons_match_with_average_discounts(client: TestClient, shop: TenantKeys) -> None:
    body = get(client, shop, "revenue-by-coupon")
    assert body == {"coupons": expected_coupons(FIXTURE), "days": 30}
    assert body["coupons"][0] == {
        "coupon_code": "SAVE10",
        "revenue": 149.99,
        "orders": 2,
        "avg_discount": 7.51,  # (5.00 + 10.01) / 2 = 7.505, half up
    }


def test_start_and_end_select_the_same_days(client: TestClient, shop: TenantKeys) -> None:
    start = (NOW.date() - timedelta(days=59)).isoformat()
    body = get(client, shop, "revenue-by-coupon", start=start, end=NOW.date().isoformat())
    assert body == {"coupons": expected_coupons(FIXTURE, 60), "days": 60}


def test_device_platform_country_group_typed_columns_and_skip_flagged(
    client: TestClient, store: Store, shop: TenantKeys
) -> None:
    ms = int((NOW - timedelta(hours=2)).timestamp() * 1000)

    def direct(revenue: int, flagged: int = 0, **fields: Any) -> Event:
        return Event(
            tenant_id=shop.id, event_id=str(uuid.uuid4()), event_type="purchase",
            event_name="purchase", source="test", timestamp=ms, received_at=ms,
            revenue=revenue, is_flagged=flagged, visitor_id="v", **fields,
        )  # fmt: skip

    direct_events = [
        direct(30000, device_type="mobile", platform="ios", country="US"),
        direct(12000, device_type="desktop", platform="web", country="GB"),
        direct(8000, device_type="mobile", platform="android", country="US"),
        direct(10**9, 1, device_type="mobile", platform="ios", country="US",
               items=[Item("sku_flagged", "Flagged", price=10**9)]),
    ]  # fmt: skip
    store.insert("events", events_table(direct_events), f"test-rb-{uuid.uuid4()}")
    store.insert("event_items", items_table(direct_events), f"test-rb-items-{uuid.uuid4()}")

    # Ingested purchases have no device/platform/country yet: they are "unknown".
    unknown = sum(Decimal(str(e["revenue"])) for e in FIXTURE if e["event_type"] == "purchase")
    unknown -= Decimal("500.00")  # the one outside the period
    unknown_orders = sum(1 for e in FIXTURE if e["event_type"] == "purchase") - 1
    expected = {
        "devices": ("device_type", [("mobile", 380.0, 2), ("desktop", 120.0, 1)]),
        "platforms": ("platform", [("ios", 300.0, 1), ("web", 120.0, 1), ("android", 80.0, 1)]),
        "countries": ("country", [("US", 380.0, 2), ("GB", 120.0, 1)]),
    }
    for route, key in ROUTES.items():
        if key not in expected:
            continue
        field, known = expected[key]
        groups = [*known, ("unknown", money(unknown), unknown_orders)]
        groups.sort(key=lambda g: -g[1])
        body = get(client, shop, route)
        assert body == {
            key: [{field: name, "revenue": rev, "orders": n} for name, rev, n in groups],
            "days": 30,
        }
    products = get(client, shop, "top-products")["products"]
    assert "sku_flagged" not in {p["item_id"] for p in products}
    assert products == expected_products(FIXTURE)


def test_limit_defaults_to_20_caps_at_100_and_rejects_bad_values(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("many products", plan="pro")
    items = [{"item_id": f"sku_{i:03}", "price": 100 + i} for i in range(105)]
    # revenue adds up to the items (the fraud rules flag an order whose items do not)
    total = float(sum(item["price"] for item in items))
    load(client, keys, [purchase("big", total, "u1", 1, items=items)])
    assert len(get(client, keys, "top-products")["products"]) == 20
    assert len(get(client, keys, "top-products", limit=100)["products"]) == 100
    top = get(client, keys, "top-products", limit=2)["products"]
    assert [p["item_id"] for p in top] == ["sku_104", "sku_103"]
    for route in ROUTES:
        for bad in ("0", "101", "abc", "-1", "1.5"):
            response = client.get(f"{BASE}/{route}", params={"limit": bad}, headers=keys.sk)
            assert response.status_code == 400, (route, bad)
            assert response.json()["field"] == "limit"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"days": "0"}, "days"),
        ({"days": "abc"}, "days"),
        ({"days": "99999"}, "days"),
        ({"start": "2026-01-01"}, "end"),
        ({"end": "2026-01-01"}, "start"),
        ({"start": "nope", "end": "2026-01-01"}, "start"),
        ({"start": "2026-01-02", "end": "2026-01-01"}, "start"),
        ({"days": "7", "start": "2026-01-01", "end": "2026-01-02"}, "start"),
    ],
)
def test_bad_periods_are_400_naming_the_parameter(
    client: TestClient, tenant: TenantKeys, params: dict[str, str], field: str
) -> None:
    for route in ROUTES:
        response = client.get(f"{BASE}/{route}", params=params, headers=tenant.sk)
        assert response.status_code == 400, (route, response.text)
        assert response.json()["field"] == field


def test_no_data_is_empty_lists(client: TestClient, tenant: TenantKeys) -> None:
    for route, key in ROUTES.items():
        assert get(client, tenant, route) == {key: [], "days": 30}
        first = NOW.date() - timedelta(days=12)  # an explicit range with no data
        assert get(client, tenant, route, start=str(first), end=str(first + timedelta(days=2))) == {
            key: [],
            "days": 3,
        }


def test_tenants_see_only_their_own_data(
    client: TestClient, shop: TenantKeys, make_tenant: Callable[..., TenantKeys]
) -> None:
    other = make_tenant("other shop", plan="pro")
    load(
        client,
        other,
        [
            purchase(
                "x1", 999.0, "u1", 1, coupon_code="OTHER", discount=1, properties=SPRING,
                items=[{"item_id": "sku_other", "price": 999.0}],
            )
        ],
    )  # fmt: skip
    assert get(client, shop, "top-products")["products"] == expected_products(FIXTURE)
    assert get(client, shop, "revenue-by-coupon")["coupons"] == expected_coupons(FIXTURE)
    assert get(client, shop, "revenue-by-channel")["channels"] == expected_channels(FIXTURE)
    assert get(client, other, "revenue-by-coupon")["coupons"] == [
        {"coupon_code": "OTHER", "revenue": 999.0, "orders": 1, "avg_discount": 1.0}
    ]
    assert [p["item_id"] for p in get(client, other, "top-products")["products"]] == ["sku_other"]


def test_publishable_keys_are_refused(client: TestClient, tenant: TenantKeys) -> None:
    for route in ROUTES:
        assert client.get(f"{BASE}/{route}", headers=tenant.pk).status_code == 403
        assert client.get(f"{BASE}/{route}").status_code == 401


def test_jpy_amounts_are_whole_yen(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("yen shop", plan="pro", base_currency="JPY")
    load(
        client,
        keys,
        [
            purchase("j1", 1500, "u1", 2, coupon_code="YEN", discount=100, properties=SPRING,
                     items=[{"item_id": "sku_j", "item_name": "Tea", "price": 750, "quantity": 2}]),
            purchase("j2", 1001, "u2", 1, coupon_code="YEN", discount=101, properties=SPRING),
        ],
    )  # fmt: skip
    assert get(client, keys, "top-products")["products"] == [
        {"item_id": "sku_j", "item_name": "Tea", "revenue": 1500, "quantity": 2, "orders": 1}
    ]
    coupons = get(client, keys, "revenue-by-coupon")["coupons"]
    # (100 + 101) / 2 = 100.5 yen rounds half up to 101.
    assert coupons == [{"coupon_code": "YEN", "revenue": 2501, "orders": 2, "avg_discount": 101}]
    assert isinstance(coupons[0]["revenue"], int)
    assert get(client, keys, "revenue-by-channel")["channels"][0]["revenue"] == 2501
