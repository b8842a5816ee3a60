"""``POST /analytics/event`` and ``/analytics/event/batch`` (seeds 000/001) over HTTP.

Receipts, what each event becomes in the store (read back scoped by tenant), and every
error shape: a rejected event is reported and never half-stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.store import Store
from tests.conftest import (
    TenantKeys,
    assert_bad_request,
    padded,
    rows,
    stored_events,
    wait_stored,
)

# Live ingestion refuses events older than the plan's retention (ingest.clock): recent times.
RECENT = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
RECENT_ISO = RECENT.isoformat().replace("+00:00", "Z")

EVENT = "/analytics/event"
BATCH = "/analytics/event/batch"
RECEIPT_ID = re.compile(r"^evt_[0-9a-f]{32}$")
EVENT_LIMIT = 32 * 1024


def stored_items(store: Store, tenant_id: int) -> list[dict[str, Any]]:
    return rows(
        store,
        "SELECT * FROM event_items WHERE tenant_id = {t:UInt32} ORDER BY event_id, item_index",
        t=tenant_id,
    )


# -- single event --------------------------------------------------------------------------
def test_event_is_acknowledged_with_a_receipt_and_stored(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(
        EVENT,
        headers=tenant.pk,
        json={
            "event": "product_view",
            "userId": "user_xyz789",
            "timestamp": RECENT_ISO,
            "properties": {
                "productId": "prod_abc123",
                "name": "Premium T-Shirt",
                "price": 2999,
                "category": "Apparel",
            },
        },
    )

    assert response.status_code == 201
    receipt = response.json()
    assert set(receipt) == {"id", "event", "timestamp"}
    assert RECEIPT_ID.match(receipt["id"])
    assert receipt["event"] == "product_view"
    assert receipt["timestamp"] == RECENT_ISO

    wait_stored(client)
    [event] = stored_events(store, tenant.id)
    assert event["event_id"].hex == receipt["id"].removeprefix("evt_")
    assert event["event_type"] == "view_item"  # the seed's name mapped to the canonical type
    assert event["event_name"] == "product_view"
    assert event["source"] == "core"
    assert event["user_id"] == "user_xyz789"
    assert event["timestamp"] == RECENT
    [item] = stored_items(store, tenant.id)
    assert item["event_id"] == event["event_id"]
    assert (item["item_id"], item["item_name"], item["item_category"]) == (
        "prod_abc123",
        "Premium T-Shirt",
        "Apparel",
    )
    assert item["price"] == 2999  # minor units as sent
    assert item["original_price"] == Decimal("29.99")


@pytest.mark.parametrize(
    ("name", "stored_as"),
    [
        ("page_view", "page_view"),
        ("checkout_started", "begin_checkout"),
        ("payment_completed", "add_payment_info"),
        ("search", "search"),
        ("product_shared", "product_shared"),  # custom: kept under its own name
    ],
)
def test_event_names_map_to_canonical_types(
    client: TestClient, tenant: TenantKeys, store: Store, name: str, stored_as: str
) -> None:
    response = client.post(EVENT, headers=tenant.pk, json={"event": name})
    assert response.status_code == 201
    assert response.json()["event"] == name

    wait_stored(client)
    [event] = stored_events(store, tenant.id)
    assert (event["event_type"], event["event_name"]) == (stored_as, name)


def test_order_completed_is_a_purchase_in_minor_units(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(
        EVENT,
        headers=tenant.sk,
        json={
            "event": "order_completed",
            "userId": "user_1",
            "properties": {
                "orderId": "order_abc123",
                "total": 6578,
                "currency": "USD",
                "coupon": "SAVE10",
                "items": 2,
            },
        },
    )
    assert response.status_code == 201

    wait_stored(client)
    [event] = stored_events(store, tenant.id)
    assert event["event_type"] == "purchase"
    assert event["transaction_id"] == "order_abc123"
    assert event["revenue"] == 6578  # $65.78
    assert event["currency"] == "USD"
    assert event["original_revenue"] == Decimal("65.78")
    assert event["coupon_code"] == "SAVE10"
    assert event["item_count"] == 2


def test_minor_units_follow_the_currency_exponent(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    tokyo = make_tenant("Tokyo shop", base_currency="JPY", plan="pro")
    response = client.post(
        EVENT,
        headers=tokyo.pk,
        json={"event": "order_completed", "properties": {"orderId": "jp-1", "total": 6578}},
    )
    assert response.status_code == 201

    wait_stored(client)
    [event] = stored_events(store, tokyo.id)
    assert (event["revenue"], event["currency"]) == (6578, "JPY")
    assert event["original_revenue"] == Decimal(6578)  # JPY has no minor unit


def test_custom_event_keeps_every_property(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    # seed 000's custom event example
    response = client.post(
        EVENT,
        headers=tenant.pk,
        json={
            "event": "product_shared",
            "userId": "user_xyz789",
            "properties": {"productId": "prod_abc123", "channel": "twitter", "count": 3},
        },
    )
    assert response.status_code == 201

    wait_stored(client)
    [event] = stored_events(store, tenant.id)
    assert dict(event["properties"]) == {
        "productId": "prod_abc123",
        "channel": "twitter",
        "count": "3",
    }
    by_key = rows(
        store,
        "SELECT key, value FROM event_properties WHERE tenant_id = {t:UInt32} ORDER BY key",
        t=tenant.id,
    )
    assert by_key == [
        {"key": "channel", "value": "twitter"},
        {"key": "count", "value": "3"},
        {"key": "productId", "value": "prod_abc123"},
    ]


def test_a_client_id_is_echoed_and_a_resend_is_one_event(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    # Regression (issue 9, defect 3): without a timestamp each send got its own receive
    # time, so the resend was a second row (a different ReplacingMergeTree sorting key).
    with_time = {"event": "signup", "id": "client-42", "timestamp": RECENT_ISO}
    without_time = {"event": "signup", "id": "client-43"}
    receipts = [
        client.post(EVENT, headers=tenant.pk, json=body)
        for body in (with_time, with_time, without_time, without_time)
    ]

    assert [r.status_code for r in receipts] == [201] * 4
    assert [r.json()["id"] for r in receipts] == [
        "client-42",
        "client-42",
        "client-43",
        "client-43",
    ]
    assert {r.json()["event"] for r in receipts} == {"signup"}
    wait_stored(client)
    events = stored_events(store, tenant.id)  # no FINAL: what every report reads
    assert len(events) == 2
    assert events[0]["timestamp"] == RECENT


def test_a_batch_echoes_client_ids_and_drops_a_resent_one(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    batch = {"events": [{"event": "a", "id": "x-1"}, {"event": "b"}, {"event": "a", "id": "x-1"}]}
    receipts = client.post(BATCH, headers=tenant.pk, json=batch).json()["events"]
    assert [r["id"] for r in receipts][::2] == ["x-1", "x-1"]
    assert RECEIPT_ID.match(receipts[1]["id"])
    wait_stored(client)
    assert sorted(e["event_name"] for e in stored_events(store, tenant.id)) == ["a", "b"]


def test_a_resend_after_a_restart_is_still_one_event(
    settings: Settings, store: Store, tenant: TenantKeys
) -> None:
    body = {"event": "signup", "id": "client-restart"}  # no timestamp: receive time each time
    for _ in range(2):  # the second process rebuilds its index from the store
        with TestClient(create_app(settings, store=store)) as client:
            response = client.post(EVENT, headers=tenant.pk, json=body)
            assert (response.status_code, response.json()["id"]) == (201, "client-restart")
            wait_stored(client)
    assert len(stored_events(store, tenant.id)) == 1


def _order_of(n: int) -> dict[str, Any]:
    """An order_completed of ``n`` distinct products, as a shop's server sends it."""
    items = [
        {
            "productId": f"prod_{i:03d}",
            "name": f"Premium T-Shirt, colour {i}",
            "category": "Apparel",
            "price": 1000 + i,
            "quantity": 1 + i % 3,
        }
        for i in range(n)
    ]
    total = sum(i["price"] * i["quantity"] for i in items)
    return {
        "event": "order_completed",
        "userId": "user_1",
        "properties": {"orderId": f"order_{n}", "total": total, "currency": "USD", "items": items},
    }


def test_a_30_item_order_stores_every_item_and_reports_them(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    # Regression (issue 9, defect 2): the list was JSON-encoded into one property string
    # and a real order of 25+ items was refused as longer than 2048 characters.
    body = _order_of(30)
    response = client.post(EVENT, headers=tenant.sk, json=body)
    assert response.status_code == 201, response.text

    wait_stored(client)
    [event] = stored_events(store, tenant.id)
    sent = body["properties"]["items"]
    assert event["revenue"] == body["properties"]["total"]
    assert event["item_count"] == sum(i["quantity"] for i in sent)
    stored = rows(
        store,
        "SELECT item_id, item_name, price, quantity FROM event_items "
        "WHERE tenant_id = {t:UInt32} ORDER BY item_index",
        t=tenant.id,
    )
    assert stored == [
        {
            "item_id": i["productId"],
            "item_name": i["name"],
            "price": i["price"],
            "quantity": i["quantity"],
        }
        for i in sent
    ]
    assert "items" not in dict(event["properties"])

    sales = client.get("/analytics/sales?period=7d", headers=tenant.sk).json()
    assert (sales["revenue"], sales["orders"]) == (body["properties"]["total"], 1)
    assert sales["items_sold"] == event["item_count"]
    products = client.get("/analytics/products?period=7d&limit=100", headers=tenant.sk).json()
    assert {p["productId"]: p["revenue"] for p in products["topSellers"]} == {
        i["productId"]: i["price"] * i["quantity"] for i in sent
    }


def test_items_beyond_the_limit_are_400_naming_the_field(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(EVENT, headers=tenant.sk, json=_order_of(201))
    assert_bad_request(response, "properties.items")
    assert "more than 200 entries" in response.json()["error"]
    wait_stored(client)
    assert stored_events(store, tenant.id) == []


# -- single event: errors ------------------------------------------------------------------
@pytest.mark.parametrize("body", [{"userId": "u1"}, {"event": ""}, {"event": None}])
def test_missing_event_is_400_naming_the_field(
    client: TestClient, tenant: TenantKeys, body: dict[str, Any]
) -> None:
    response = client.post(EVENT, headers=tenant.pk, json=body)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "event is required", "field": "event"}


@pytest.mark.parametrize("body", [b'{"event": "page_view"', b"not json", b""])
def test_malformed_json_is_400(client: TestClient, tenant: TenantKeys, body: bytes) -> None:
    response = client.post(
        EVENT, headers={**tenant.pk, "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 400
    error = response.json()
    assert error["ok"] is False
    assert error["error"].startswith("Request body is not valid JSON")


def test_a_json_array_is_not_an_event(client: TestClient, tenant: TenantKeys) -> None:
    response = client.post(EVENT, headers=tenant.pk, json=[{"event": "page_view"}])
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert "object" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": 5}, "event"),
        ({"event": "page_view", "userId": ["u1"]}, "userId"),
        ({"event": "page_view", "sessionId": 12}, "sessionId"),
        ({"event": "page_view", "properties": "nope"}, "properties"),
        ({"event": "page_view", "context": {"page": 7}}, "context.page"),
        ({"event": "page_view", "timestamp": "yesterday"}, "timestamp"),
        ({"event": "page_view", "timestamp": True}, "timestamp"),
        (
            {"event": "order_completed", "properties": {"orderId": "o1", "total": "65.78"}},
            "properties.total",
        ),
        (
            {"event": "order_completed", "properties": {"orderId": "o1", "total": 65.78}},
            "properties.total",
        ),
        (
            {"event": "add_to_cart", "properties": {"productId": "p1", "quantity": 1.5}},
            "properties.quantity",
        ),
    ],
)
def test_wrong_types_are_400_naming_the_field(
    client: TestClient,
    tenant: TenantKeys,
    store: Store,
    body: dict[str, Any],
    field: str,
) -> None:
    response = client.post(EVENT, headers=tenant.pk, json=body)

    assert response.status_code == 400
    error = response.json()
    assert error["ok"] is False
    assert error["field"] == field
    assert field in error["error"]
    wait_stored(client)
    assert stored_events(store, tenant.id) == []


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        (
            {"event": "order_completed", "properties": {"total": 100}},
            "properties.orderId is required for order_completed events",
            "properties.orderId",
        ),
        (
            {"event": "order_completed", "properties": {"orderId": "o1"}},
            "properties.total is required for order_completed events",
            "properties.total",
        ),
        (
            {"event": "product_view", "properties": {"name": "no id"}},
            "properties.productId is required",
            "properties.productId",
        ),
        (
            {"event": "page_view", "timestamp": "2001-01-01T00:00:00Z"},
            "timestamp is older than the 90-day retention window; "
            "use `shoplens import` for historical data",
            "timestamp",
        ),
    ],
)
def test_rule_violations_are_400_with_their_text(
    client: TestClient, tenant: TenantKeys, body: dict[str, Any], message: str, field: str
) -> None:
    response = client.post(EVENT, headers=tenant.pk, json=body)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": message, "field": field}


def test_event_over_32_kb_is_413_and_not_stored(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    event = {"event": "big_event", "properties": {"note": "x"}}
    at_limit = client.post(
        EVENT,
        headers={**tenant.pk, "Content-Type": "application/json"},
        content=padded(event, EVENT_LIMIT),
    )
    over = client.post(
        EVENT,
        headers={**tenant.pk, "Content-Type": "application/json"},
        content=padded({**event, "event": "too_big"}, EVENT_LIMIT + 1),
    )

    assert at_limit.status_code == 201
    assert over.status_code == 413
    assert over.json() == {
        "ok": False,
        "error": f"Event is larger than {EVENT_LIMIT} bytes",
        "field": None,
    }
    wait_stored(client)
    assert [e["event_name"] for e in stored_events(store, tenant.id)] == ["big_event"]


# -- batch ---------------------------------------------------------------------------------
def test_batch_stores_valid_events_and_reports_invalid_ones_by_index(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(
        BATCH,
        headers=tenant.pk,
        json={
            "events": [
                {"event": "product_view", "userId": "ok-0", "properties": {"productId": "p1"}},
                {"userId": "bad-1"},
                {
                    "event": "order_completed",
                    "userId": "ok-2",
                    "properties": {"orderId": "b-1", "total": 1250},
                },
                {"event": 5, "userId": "bad-3"},
                {"event": "order_completed", "userId": "bad-4", "properties": {"total": 1}},
            ]
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["ok"] is True
    assert body["accepted"] == 2
    assert [r["event"] for r in body["events"]] == ["product_view", "order_completed"]
    assert all(RECEIPT_ID.match(r["id"]) for r in body["events"])
    assert len(body["errors"]) == 3
    assert body["errors"][0] == "events[1]: event is required"
    assert body["errors"][1].startswith("events[3]: event")
    assert body["errors"][2] == (
        "events[4]: properties.orderId is required for order_completed events"
    )

    wait_stored(client)
    stored = stored_events(store, tenant.id)
    assert sorted(e["user_id"] for e in stored) == ["ok-0", "ok-2"]
    assert sorted(e["event_id"].hex for e in stored) == sorted(
        r["id"].removeprefix("evt_") for r in body["events"]
    )
    [purchase] = [e for e in stored if e["event_type"] == "purchase"]
    assert purchase["revenue"] == 1250


def test_batch_of_only_valid_events_has_no_errors_key(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    events = [{"event": "page_view", "userId": f"u{i}"} for i in range(5)]
    response = client.post(BATCH, headers=tenant.sk, json={"events": events})

    assert response.status_code == 201
    assert "errors" not in response.json()
    assert response.json()["accepted"] == 5
    wait_stored(client)
    assert len(stored_events(store, tenant.id)) == 5


@pytest.mark.parametrize("body", [{"events": []}, {}, {"events": None}])
def test_empty_batch_is_400(client: TestClient, tenant: TenantKeys, body: dict[str, Any]) -> None:
    response = client.post(BATCH, headers=tenant.pk, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "events array is required and must not be empty",
        "field": "events",
    }


@pytest.mark.parametrize("body", [{"events": "page_view"}, {"events": {"event": "page_view"}}])
def test_events_that_are_not_an_array_are_400(
    client: TestClient, tenant: TenantKeys, body: dict[str, Any]
) -> None:
    response = client.post(BATCH, headers=tenant.pk, json=body)
    assert response.status_code == 400
    assert response.json()["field"] == "events"


def test_batch_with_an_event_over_32_kb_is_413_and_stores_nothing(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    big = {"event": "big", "properties": {f"p{i}": "x" * 2000 for i in range(17)}}
    response = client.post(BATCH, headers=tenant.pk, json={"events": [{"event": "page_view"}, big]})

    assert response.status_code == 413
    assert response.json() == {
        "ok": False,
        "error": f"events[1] is larger than {EVENT_LIMIT} bytes",
        "field": "events[1]",
    }
    wait_stored(client)
    assert stored_events(store, tenant.id) == []
