"""Catalog and product report routes over real HTTP (ASGI) on the real store.

Events go through the real ingestion API (past timestamps relative to now, at noon UTC on
whole days ago) and the catalog through ``PUT``; expected figures are computed in plain
Python from the fixture lists.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TenantKeys, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"
PRODUCTS = "/v1/catalog/products"
REPORT = "/analytics/products"
ALERTS = "/analytics/inventory/alerts"


def days_ago(n: int) -> str:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=n, hours=-12)).isoformat().replace("+00:00", "Z")


def put(client: TestClient, keys: TenantKeys, *products: dict[str, Any]) -> None:
    response = client.put(PRODUCTS, json={"products": list(products)}, headers=keys.sk)
    assert response.json() == {"ok": True, "upserted": len(products)}, response.json()


def one_decimal(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


# catalog routes ----------------------------------------------------------------------------


def test_put_get_update_delete_round_trip(client: TestClient, tenant: TenantKeys) -> None:
    product = {
        "id": "sku/1",
        "name": "Tee",
        "category": "Shirts",
        "brand": "Acme",
        "price": 19.99,
        "stock": 4,
        "image_url": "https://img.example/tee.png",
        "created_at": "2026-01-02T03:04:05.678Z",
    }
    put(client, tenant, product)
    got = client.get(f"{PRODUCTS}/sku/1", headers=tenant.sk)
    assert got.status_code == 200
    body = got.json()
    assert body.pop("updated_at")
    assert body == {
        **product,
        "currency": "USD",
        "price_minor": 1999,
        "base_currency": "USD",
    }

    put(client, tenant, {"id": "sku/1", "name": "Tee v2", "stock": 0})
    updated = client.get(f"{PRODUCTS}/sku/1", headers=tenant.sk).json()
    assert (updated["name"], updated["stock"], updated["price"]) == ("Tee v2", 0, None)
    assert updated["created_at"] == "2026-01-02T03:04:05.678Z"

    deleted = client.delete(f"{PRODUCTS}/sku/1", headers=tenant.sk)
    assert deleted.json() == {"ok": True, "deleted": "sku/1"}
    for response in (
        client.get(f"{PRODUCTS}/sku/1", headers=tenant.sk),
        client.delete(f"{PRODUCTS}/sku/1", headers=tenant.sk),
    ):
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error": "Product 'sku/1' not found", "field": "id"}


def test_a_bad_product_is_a_400_naming_its_field_and_nothing_is_written(
    client: TestClient, tenant: TenantKeys
) -> None:
    body = {"products": [{"id": "ok"}, {"id": "ok2"}, {"id": "a"}, {"id": "b", "stock": -2}]}
    response = client.put(PRODUCTS, json=body, headers=tenant.sk)
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "products[3].stock must be a whole number >= 0",
        "field": "products[3].stock",
    }
    assert client.get(f"{PRODUCTS}/ok", headers=tenant.sk).status_code == 404


def test_tenants_cannot_see_or_delete_each_others_products(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    a, b = make_tenant("A"), make_tenant("B")
    put(client, a, {"id": "shared", "name": "A's"})
    assert client.get(f"{PRODUCTS}/shared", headers=b.sk).status_code == 404
    assert client.delete(f"{PRODUCTS}/shared", headers=b.sk).status_code == 404
    assert client.get(f"{PRODUCTS}/shared", headers=a.sk).json()["name"] == "A's"


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", PRODUCTS), ("GET", f"{PRODUCTS}/x"), ("DELETE", f"{PRODUCTS}/x"),
     ("GET", REPORT), ("GET", ALERTS)],
)  # fmt: skip
def test_publishable_keys_are_refused(
    client: TestClient, tenant: TenantKeys, method: str, path: str
) -> None:
    response = client.request(method, path, json={"products": [{"id": "x"}]}, headers=tenant.pk)
    assert response.status_code == 403
    assert client.request(method, path).status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("threshold=-1", "threshold"),
     ("threshold=x", "threshold"), ("period=5d", "period")],
)  # fmt: skip
def test_bad_report_parameters_are_400s(
    client: TestClient, tenant: TenantKeys, query: str, field: str
) -> None:
    for route in (REPORT, ALERTS):
        response = client.get(f"{route}?{query}", headers=tenant.sk)
        assert response.status_code == 400
        assert response.json()["field"] == field


# reports ---------------------------------------------------------------------------------

CATALOG: list[dict[str, Any]] = [
    {"id": "tee", "name": "Catalog Tee", "stock": 3},
    {"id": "mug", "name": "Catalog Mug", "stock": 0},
    {"id": "cap", "name": "Catalog Cap", "stock": 50},
    {"id": "sock", "stock": 8},  # no name in the catalog: named from events
    {"id": "pin", "name": "Pin", "stock": 9},  # never sold: no days of cover
    {"id": "gone", "name": "Gone", "stock": 1},  # deleted below
]

# (kind, days ago, items as (id, name, price, quantity))
EVENTS: list[tuple[str, int, list[tuple[str, str, str, int]]]] = [
    ("view_item", 3, [("tee", "Event Tee", "20.00", 1)]),
    ("view_item", 4, [("tee", "", "20.00", 1)]),
    ("view_item", 5, [("tee", "", "20.00", 1), ("hat", "", "12.00", 1)]),
    ("view_item", 6, [("hat", "", "12.00", 1)]),
    ("purchase", 2, [("tee", "", "20.00", 2), ("hat", "Old Hat", "12.00", 1)]),
    ("purchase", 1, [("hat", "Event Hat", "12.50", 3)]),
    ("purchase", 10, [("mug", "", "8.00", 6), ("sock", "Event Sock", "4.99", 4)]),
    ("purchase", 20, [("cap", "", "15.00", 1), ("tee", "", "18.00", 1)]),
    ("purchase", 40, [("pin", "Pin", "1.00", 100), ("tee", "", "99.00", 9)]),  # outside 30d
]


def send_events(client: TestClient, keys: TenantKeys) -> None:
    batch = []
    for kind, ago, items in EVENTS:
        body: dict[str, Any] = {
            "event_type": kind,
            "user_id": "u1",
            "timestamp": days_ago(ago),
            "items": [
                {"item_id": i, "item_name": n, "price": float(p), "quantity": q}
                for i, n, p, q in items
            ],
        }
        if kind == "purchase":
            revenue = sum(Decimal(p) * q for _, _, p, q in items)
            body |= {"transaction_id": f"tx-{uuid.uuid4()}", "revenue": float(revenue)}
        batch.append(body)
    response = client.post(BATCH, json={"events": batch}, headers=keys.pk)
    assert response.json() == {"ok": True, "accepted": len(batch)}, response.json()
    wait_stored(client)


def expected_sales(days: int) -> dict[str, dict[str, Any]]:
    """Per item over the last ``days`` days: revenue (cents), units, orders, views, name."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"revenue": 0, "units": 0, "orders": 0, "views": 0, "name": "", "named": -1}
    )
    for kind, ago, items in EVENTS:
        if ago >= days:
            continue
        for item in {i for i, *_ in items}:
            out[item]["orders" if kind == "purchase" else "views"] += 1
        for item_id, name, price, qty in items:
            row = out[item_id]
            if name and (row["named"] == -1 or ago < row["named"]):
                row["name"], row["named"] = name, ago
            if kind == "purchase":
                row["revenue"] += int(Decimal(price) * 100) * qty
                row["units"] += qty
    return out


@pytest.fixture
def shop(client: TestClient, tenant: TenantKeys) -> TenantKeys:
    put(client, tenant, *CATALOG)
    assert client.delete(f"{PRODUCTS}/gone", headers=tenant.sk).status_code == 200
    send_events(client, tenant)
    return tenant


def test_top_sellers_match_a_plain_python_computation(client: TestClient, shop: TenantKeys) -> None:
    sales = expected_sales(30)
    names = {p["id"]: p.get("name", "") for p in CATALOG}
    expected = sorted(
        (
            {
                "productId": item,
                "name": names.get(item) or row["name"],
                "revenue": row["revenue"],
                "unitsSold": row["units"],
                "views": row["views"],
                "conversionRate": one_decimal(Decimal(row["orders"] * 100) / row["views"])
                if row["views"]
                else 0.0,
                "_orders": row["orders"],
            }
            for item, row in sales.items()
            if row["units"]
        ),
        key=lambda r: (-r["revenue"], -r["_orders"], r["productId"]),
    )
    for row in expected:
        del row["_orders"]
    body = client.get(f"{REPORT}?period=30d&limit=10", headers=shop.sk).json()
    assert body["topSellers"] == expected
    # Spelled out, so the Python above is checked too: the catalog name wins over events',
    # "hat" is not in the catalog and takes its latest event name, "sock" has no catalog name.
    assert [(r["productId"], r["name"]) for r in expected] == [
        ("tee", "Catalog Tee"),  # 2 * 20.00 + 18.00
        ("hat", "Event Hat"),  # 12.00 + 3 * 12.50
        ("mug", "Catalog Mug"),  # 6 * 8.00
        ("sock", "Event Sock"),
        ("cap", "Catalog Cap"),
    ]
    assert expected[0]["revenue"] == 5800
    assert expected[0]["conversionRate"] == 66.7  # 2 orders / 3 views
    limited = client.get(f"{REPORT}?period=30d&limit=2", headers=shop.sk).json()
    assert limited["topSellers"] == expected[:2]


def test_low_stock_is_sorted_by_days_of_cover(client: TestClient, shop: TenantKeys) -> None:
    sales = expected_sales(30)
    levels: list[dict[str, Any]] = []
    for product in CATALOG:
        stock, item = product["stock"], product["id"]
        if item == "gone" or stock > 10:
            continue
        units = sales[item]["units"] if item in sales else 0
        exact: Decimal | None = Decimal(0)  # out of stock: no cover at all
        if stock:
            exact = Decimal(stock) * 30 / units if units else None  # unsold: no cover
        levels.append(
            {
                "productId": item,
                "name": product.get("name") or sales[item]["name"],
                "stock": stock,
                "velocity": one_decimal(Decimal(units) / 30),
                "daysOfCover": None if exact is None else one_decimal(exact),
                "_key": (exact is None, exact or 0, stock, item),
            }
        )
    levels.sort(key=lambda r: r.pop("_key"))
    body = client.get(f"{REPORT}?period=30d", headers=shop.sk).json()
    assert body["lowStock"] == levels
    assert [(r["productId"], r["daysOfCover"]) for r in levels] == [
        ("mug", 0.0),
        ("tee", 30.0),  # 3 units in 30 days: 0.1/day, 3 in stock
        ("sock", 60.0),
        ("pin", None),  # its only sale is older than the period
    ]
    small = client.get(f"{REPORT}?period=30d&threshold=3", headers=shop.sk).json()
    assert [r["productId"] for r in small["lowStock"]] == ["mug", "tee"]


def test_inventory_alerts_split_out_of_stock_from_low_stock(
    client: TestClient, shop: TenantKeys
) -> None:
    body = client.get(f"{ALERTS}?time_range=custom&start_date=2000-01-01", headers=shop.sk)
    assert body.status_code == 400  # custom needs both dates
    body = client.get(ALERTS, headers=shop.sk).json()  # default: the last 30 days
    assert body == {
        "out_of_stock": [
            {"product_id": "mug", "name": "Catalog Mug", "stock": 0, "velocity": 0.2,
             "days_of_cover": 0.0},
        ],
        "low_stock": [
            {"product_id": "tee", "name": "Catalog Tee", "stock": 3, "velocity": 0.1,
             "days_of_cover": 30.0},
            {"product_id": "sock", "name": "Event Sock", "stock": 8, "velocity": 0.1,
             "days_of_cover": 60.0},
            {"product_id": "pin", "name": "Pin", "stock": 9, "velocity": 0.0,
             "days_of_cover": None},
        ],
        "summary": {"low_stock_count": 3, "out_of_stock_count": 1, "threshold": 10,
                    "period_days": 30, "time_range": "30d"},
    }  # fmt: skip


def test_reports_see_only_their_tenants_data(
    client: TestClient, shop: TenantKeys, make_tenant: Callable[..., TenantKeys]
) -> None:
    other = make_tenant("Other")
    assert client.get(REPORT, headers=other.sk).json()["topSellers"] == []
    assert client.get(REPORT, headers=other.sk).json()["lowStock"] == []
    put(client, other, {"id": "tee", "name": "Their Tee", "stock": 1})
    mine = client.get(REPORT, headers=shop.sk).json()
    assert {r["name"] for r in mine["topSellers"]} >= {"Catalog Tee"}
    theirs = client.get(ALERTS, headers=other.sk).json()
    assert theirs["low_stock"] == [
        {"product_id": "tee", "name": "Their Tee", "stock": 1, "velocity": 0.0,
         "days_of_cover": None},
    ]  # fmt: skip
