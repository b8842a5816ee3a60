"""``POST /analytics/query`` and its catalog over HTTP, with events sent through the real
ingestion API and answers recomputed here."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.metrics.query_catalog import DIMENSIONS, METRICS
from tests.conftest import NOW, TenantKeys, wait_stored

HOSTILE = [
    "'; DROP TABLE events; --",
    "x') OR 1=1 --",
    "{tenant_id:UInt32}",
    "\\' UNION SELECT * FROM system.tables --",
]
ORDERS = [
    # (campaign, revenue, user)
    ("spring", 120.50, "u1"),
    ("spring", 30.00, "u2"),
    ("summer", 99.99, "u1"),
    (HOSTILE[0], 10.00, "u3"),
    (HOSTILE[2], 5.25, "u4"),
]


def purchase(campaign: str, revenue: float, user: str, hours_ago: float) -> dict[str, Any]:
    return {
        "event_type": "purchase",
        "transaction_id": f"t-{uuid.uuid4().hex[:10]}",
        "revenue": revenue,
        "user_id": user,
        "timestamp": (NOW - timedelta(hours=hours_ago)).isoformat(),
        "properties": {"campaign": campaign, "source": "mail"},
        "items": [{"item_id": f"sku-{campaign[:3]}", "price": revenue, "quantity": 1}],
    }


def load(client: TestClient, keys: TenantKeys, events: list[dict[str, Any]]) -> None:
    response = client.post(
        "/v1/api/analytics/ecommerce/batch", json={"events": events}, headers=keys.pk
    )
    assert response.status_code == 200, response.text
    wait_stored(client)


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    keys = make_tenant("query http", plan="pro")
    load(client, keys, [purchase(c, r, u, hours_ago=30 + i) for i, (c, r, u) in enumerate(ORDERS)])
    other = make_tenant("query http other", plan="pro")
    load(client, other, [purchase("spring", 1000.0, "u1", hours_ago=20)])
    return keys


def ask(client: TestClient, keys: TenantKeys, body: Any) -> Any:
    return client.post("/analytics/query", json=body, headers=keys.sk)


def test_revenue_by_campaign_matches_the_orders_sent(client: TestClient, shop: TenantKeys) -> None:
    response = ask(
        client,
        shop,
        {"metrics": ["revenue", "orders"], "dimensions": ["campaign"], "filters": {"period": "7d"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # the orders were sent in decimal dollars (seed 002); the core surface answers cents
    want: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for campaign, revenue, _ in ORDERS:
        want[campaign] += int(Decimal(str(revenue)) * 100)
        count[campaign] += 1
    got = {row["campaign"]: (row["revenue"], row["orders"]) for row in body["results"]}
    assert got == {c: (want[c], count[c]) for c in want}
    assert body["totals"]["revenue"] == sum(want.values())
    assert body["meta"]["currency"] == "USD" and body["total_rows"] == len(want)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_in_every_field_are_data_or_refused_never_sql(
    client: TestClient, shop: TenantKeys, hostile: str
) -> None:
    # a filter value: matched exactly as data
    response = ask(
        client,
        shop,
        {
            "metrics": ["revenue"],
            "filters": [["is", "campaign", [hostile]], ["contains", "source", [hostile]]],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["totals"]["revenue"] == 0
    exact = ask(client, shop, {"metrics": ["orders"], "filters": [["is", "campaign", [hostile]]]})
    assert exact.json()["totals"]["orders"] == sum(c == hostile for c, _, _ in ORDERS)
    # names of metrics, dimensions, operators and orderBy: refused by the catalog
    for body, field in [
        ({"metrics": [hostile]}, "metrics"),
        ({"metrics": ["revenue"], "dimensions": [hostile]}, "dimensions"),
        ({"metrics": ["revenue"], "filters": [[hostile, "country", ["x"]]]}, "filters[0]"),
        ({"metrics": ["revenue"], "filters": [["is", hostile, ["x"]]]}, "filters[0]"),
        ({"metrics": ["revenue"], "orderBy": f"{hostile}:desc"}, "orderBy"),
        ({"metrics": ["revenue"], "compare": hostile}, "compare"),
        ({"metrics": ["revenue"], "period": hostile}, "period"),
    ]:
        refused = ask(client, shop, body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["field"] == field
    # the events table is intact
    still = ask(client, shop, {"metrics": ["orders"], "filters": {"period": "7d"}})
    assert still.json()["totals"]["orders"] == len(ORDERS)


def test_a_tenant_sees_only_its_own_events(client: TestClient, shop: TenantKeys) -> None:
    body = ask(client, shop, {"metrics": ["revenue", "customers"], "dimensions": ["campaign"]})
    spring = next(row for row in body.json()["results"] if row["campaign"] == "spring")
    assert spring["revenue"] == 15050 and spring["customers"] == 2


def test_money_is_integer_minor_units_as_on_the_rest_of_the_core_surface(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    """Regression: the custom query answered decimals (65.78) where /analytics/sales answers
    6578 for the same order; seed 001's body now gets the core surface's minor units."""
    keys = make_tenant("query minor units", plan="pro")
    order = {
        "event": "order_completed",
        "userId": "user_xyz789",
        "timestamp": (NOW - timedelta(hours=2)).isoformat(),
        "properties": {"orderId": "order_abc123", "total": 6578, "currency": "USD", "items": 3},
    }
    second = {**order, "properties": {**order["properties"], "orderId": "order_2", "total": 101}}
    for event in (order, second):
        sent = client.post("/analytics/event", json=event, headers=keys.pk)
        assert sent.status_code == 201, sent.text
    wait_stored(client)
    seed_body = {
        "metrics": ["revenue", "orders", "aov"],
        "filters": {"period": "30d", "currency": "USD"},
        "orderBy": "revenue:desc",
        "limit": 20,
    }
    totals = ask(client, keys, seed_body).json()["totals"]
    # aov = 6679 / 2 = 3339.5, rounded half up to a whole cent
    assert totals == {"revenue": 6679, "orders": 2, "aov": 3340}
    assert all(type(v) is int for v in totals.values())
    sales = client.get("/analytics/sales?period=30d", headers=keys.sk).json()
    assert (sales["revenue"], sales["averageOrderValue"]) == (totals["revenue"], totals["aov"])
    # a money filter is in the same unit: orders above $10.00
    big = ask(
        client,
        keys,
        {"metrics": ["revenue"], "dimensions": ["day"], "filters": [["gt", "revenue", 1000]]},
    )
    assert [row["revenue"] for row in big.json()["results"]] == [6679]
    none = ask(
        client,
        keys,
        {"metrics": ["revenue"], "dimensions": ["day"], "filters": [["gt", "revenue", 6679]]},
    )
    assert none.json()["results"] == []


def test_keys_and_body_errors(client: TestClient, shop: TenantKeys) -> None:
    assert client.post("/analytics/query", json={"metrics": ["revenue"]}).status_code == 401
    publishable = client.post("/analytics/query", json={"metrics": ["revenue"]}, headers=shop.pk)
    assert publishable.status_code == 403
    broken = client.post(
        "/analytics/query",
        content=b"{not json",
        headers={**shop.sk, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]
    listed = client.post("/analytics/query", json=["revenue"], headers=shop.sk)
    assert listed.status_code == 400 and listed.json()["ok"] is False


def test_the_catalog_route(client: TestClient, shop: TenantKeys) -> None:
    response = client.get("/analytics/query/catalog", headers=shop.sk)
    assert response.status_code == 200
    body = response.json()
    assert {m["name"] for m in body["metrics"]} == set(METRICS)
    assert {d["name"] for d in body["dimensions"]} == set(DIMENSIONS)
    assert client.get("/analytics/query/catalog", headers=shop.pk).status_code == 403


def test_docs_metrics_md_documents_every_catalog_entry() -> None:
    text = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    missing = [name for name in [*METRICS, *DIMENSIONS] if f"| `{name}` |" not in text]
    assert missing == []


def test_a_funnel_block_over_http_with_hostile_values_as_data(
    client: TestClient, shop: TenantKeys
) -> None:
    # every order of the shop fixture is a purchase with its campaign as a property
    steps = [
        "purchase",
        {"event": "purchase", "where": {"properties.campaign": HOSTILE[0]}},
    ]
    response = ask(client, shop, {"funnel": {"steps": steps}, "period": "7d"})
    assert response.status_code == 200, response.text
    body = response.json()
    buyers = {u for _, _, u in ORDERS}
    hostile_buyers = {u for c, _, u in ORDERS if c == HOSTILE[0]}
    assert [s["count"] for s in body["funnel"]["steps"]] == [len(buyers), len(hostile_buyers)]
    assert body["query"]["funnel"]["order"] == "ordered"
    bad = ask(client, shop, {"funnel": {"steps": ["purchase", f"x:{HOSTILE[1]}"]}})
    assert bad.status_code == 400 and bad.json()["field"] == "funnel.steps[1]"
