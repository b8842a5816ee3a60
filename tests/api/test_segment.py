"""Segment / RudderStack HTTP Tracking API over HTTP: auth, limits, errors, stored rows.

Rows are read back from the real store, always scoped to the sending tenant.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.store import Store
from tests.conftest import TenantKeys, days_ago, iso, padded, rows, wait_stored

# Live ingestion refuses events older than the plan's retention (ingest.clock): recent times.
RECENT = days_ago(1).replace(microsecond=0)
RECENT_ISO = iso(RECENT)

SUCCESS = {"success": True}
MESSAGE_LIMIT = 32 * 1024
REQUEST_LIMIT = 512 * 1024
ORDER = {
    "userId": "u-1",
    "messageId": "msg-order-1",
    "event": "Order Completed",
    "timestamp": RECENT_ISO,
    "properties": {
        "order_id": "50314b8e9bcf000000000000",
        "revenue": 25.0,
        "total": 27.5,
        "shipping": 3,
        "tax": 2,
        "currency": "USD",
        "products": [
            {"product_id": "507f1f77", "name": "Monopoly", "price": 19, "quantity": 1},
            {"sku": "46493-32", "name": "Uno", "price": 3, "quantity": 2},
        ],
    },
}


def basic(key: str, password: str = "") -> dict[str, str]:
    """Authorization as Segment's SDKs send it: the write key as Basic username."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()}


def stored(store: Store, tenant_id: int, columns: str = "*") -> list[dict[str, Any]]:
    return rows(
        store,
        f"SELECT {columns} FROM events WHERE tenant_id = {{t:UInt32}} ORDER BY timestamp, event_id",
        t=tenant_id,
    )


# -- each call -----------------------------------------------------------------------------

CALLS = [
    ("/v1/track", {"event": "Signed Up", "properties": {"plan": "pro"}}, "Signed Up"),
    ("/v1/page", {"name": "Home", "properties": {"url": "https://shop.example/"}}, "page_view"),
    ("/v1/screen", {"name": "Cart"}, "screen_view"),
    ("/v1/identify", {"traits": {"email": "a@example.com"}}, "identify"),
    ("/v1/alias", {"previousId": "anon-1"}, "alias"),
    ("/v1/group", {"groupId": "g-1", "traits": {"name": "Initech"}}, "group"),
]


@pytest.mark.parametrize(("path", "body", "event_type"), CALLS)
def test_each_call_is_acknowledged_like_segment_and_stored(
    client: TestClient,
    tenant: TenantKeys,
    store: Store,
    path: str,
    body: dict[str, Any],
    event_type: str,
) -> None:
    response = client.post(path, headers=basic(tenant.publishable), json={"userId": "u-1", **body})
    assert (response.status_code, response.json()) == (200, SUCCESS)
    wait_stored(client)
    [row] = stored(store, tenant.id, "event_type, event_name, source, user_id")
    assert row == {
        "event_type": event_type,
        "event_name": body.get("event", path.removeprefix("/v1/")),
        "source": "segment",
        "user_id": "u-1",
    }


def test_a_page_call_stores_its_page_and_name(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(
        "/v1/page",
        headers=basic(tenant.publishable),
        json={
            "anonymousId": "anon-7",
            "name": "Pricing",
            "properties": {"url": "https://shop.example/pricing?utm_source=news", "title": "P"},
            "context": {"userAgent": "Mozilla/5.0", "device": {"type": "mobile"}},
        },
    )
    assert response.status_code == 200
    wait_stored(client)
    [row] = stored(store, tenant.id)
    assert (row["page_url"], row["page_path"], row["page_title"], row["utm_source"]) == (
        "https://shop.example/pricing?utm_source=news",
        "/pricing",
        "P",
        "news",
    )
    assert (row["anonymous_id"], row["user_agent"], row["device_type"]) == (
        "anon-7",
        "Mozilla/5.0",
        "mobile",
    )
    assert dict(row["properties"])["name"] == "Pricing"


# -- authentication ------------------------------------------------------------------------

AUTH: dict[str, Callable[[TenantKeys], tuple[dict[str, str], dict[str, Any]]]] = {
    "basic publishable": lambda t: (basic(t.publishable), {}),
    "basic secret, password ignored": lambda t: (basic(t.secret, "anything"), {}),
    "writeKey in body": lambda t: ({}, {"writeKey": t.publishable}),
    "bearer publishable": lambda t: (t.pk, {}),
    "bearer secret": lambda t: (t.sk, {}),
}


@pytest.mark.parametrize("how", AUTH)
@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_the_write_key_is_accepted_every_way_sdks_send_it(
    client: TestClient, tenant: TenantKeys, store: Store, how: str, path: str
) -> None:
    headers, extra = AUTH[how](tenant)
    message = {"userId": "u-1", "event": "Signed Up"}
    body = {"batch": [{"type": "track", **message}]} if path == "/v1/batch" else message
    response = client.post(path, headers=headers, json={**body, **extra})
    assert (response.status_code, response.json()) == (200, SUCCESS)
    wait_stored(client)
    assert stored(store, tenant.id, "event_type") == [{"event_type": "Signed Up"}]


def test_analytics_js_short_paths_and_text_plain_bodies_work(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    # analytics.js posts JSON as text/plain (no CORS preflight) with writeKey in the body.
    headers = {"Content-Type": "text/plain"}
    single = {"writeKey": tenant.publishable, "anonymousId": "a", "event": "Clicked"}
    batch = {
        "writeKey": tenant.publishable,
        "batch": [{"type": "page", "anonymousId": "a", "name": "Home"}],
        "sentAt": RECENT_ISO,
    }
    for path, body in [("/v1/t", single), ("/v1/b", batch)]:
        response = client.post(path, headers=headers, content=json.dumps(body))
        assert (response.status_code, response.json()) == (200, SUCCESS)
    wait_stored(client)
    types = sorted(r["event_type"] for r in stored(store, tenant.id, "event_type"))
    assert types == ["Clicked", "page_view"]


@pytest.mark.parametrize(
    ("headers", "extra", "message"),
    [
        ({}, {}, "Missing write key"),
        (basic("pk_nottherightkeyatall0000000000000000000000"), {}, "Invalid API key"),
        ({"Authorization": "Basic %%%not-base64"}, {}, "Missing write key"),
        ({}, {"writeKey": "sk_forged"}, "Invalid API key"),
        ({"Authorization": "Bearer pk_forged"}, {"writeKey": "ignored"}, "Invalid API key"),
    ],
)
def test_a_missing_or_invalid_key_is_a_401(
    client: TestClient,
    tenant: TenantKeys,
    store: Store,
    headers: dict[str, str],
    extra: dict[str, Any],
    message: str,
) -> None:
    response = client.post(
        "/v1/track", headers=headers, json={"userId": "u", "event": "A", **extra}
    )
    assert response.status_code == 401
    assert response.json()["error"].startswith(message)
    wait_stored(client)
    assert stored(store, tenant.id) == []


# -- errors --------------------------------------------------------------------------------


def test_a_track_without_event_is_a_400_naming_the_field(
    client: TestClient, tenant: TenantKeys
) -> None:
    response = client.post("/v1/track", headers=basic(tenant.publishable), json={"userId": "u"})
    assert (response.status_code, response.json()) == (
        400,
        {"ok": False, "error": "event is required for track calls", "field": "event"},
    )


def test_an_order_without_order_id_is_a_400_naming_the_field(
    client: TestClient, tenant: TenantKeys
) -> None:
    body = {"userId": "u", "event": "Order Completed", "properties": {"revenue": 5}}
    response = client.post("/v1/track", headers=basic(tenant.publishable), json=body)
    assert response.status_code == 400
    assert response.json()["field"] == "properties.order_id"


def test_one_invalid_message_does_not_lose_the_batch(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    # Regression (issue 9, defect 4): a 400 made SDKs drop all ten messages for one bad one.
    batch = [
        {"type": "track", "userId": "u", "messageId": f"m-{i}", "event": f"Event {i}"}
        for i in range(10)
    ]
    del batch[6]["event"]
    response = client.post("/v1/batch", headers=basic(tenant.publishable), json={"batch": batch})
    assert (response.status_code, response.json()) == (200, SUCCESS)

    wait_stored(client)
    names = sorted(r["event_name"] for r in stored(store, tenant.id, "event_name"))
    assert names == sorted(f"Event {i}" for i in range(10) if i != 6)
    report = client.get("/v1/ingest/errors", headers=tenant.sk).json()
    assert report["rejected"] == 1
    assert report["by_field"] == {"event": 1}
    [error] = report["errors"]
    assert error | {"received_at": None} == {
        "received_at": None,
        "source": "segment",
        "index": 6,
        "messageId": "m-6",
        "field": "event",
        "rule": "event is required for track calls",
    }


def test_a_body_that_is_not_json_is_a_400(client: TestClient, tenant: TenantKeys) -> None:
    response = client.post("/v1/track", headers=basic(tenant.publishable), content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Request body is not valid JSON")


# -- size limits ---------------------------------------------------------------------------


def test_an_event_over_32_kb_is_a_413(client: TestClient, tenant: TenantKeys) -> None:
    body = padded({"userId": "u", "event": "A"}, MESSAGE_LIMIT + 1)
    response = client.post("/v1/track", headers=basic(tenant.publishable), content=body)
    assert response.status_code == 413
    assert response.json()["error"] == "Event is larger than 32768 bytes"
    at_limit = padded({"userId": "u", "event": "A"}, MESSAGE_LIMIT)
    assert client.post("/v1/track", headers=basic(tenant.publishable), content=at_limit).is_success


def test_a_batch_message_over_32_kb_is_rejected_alone(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    big = {"type": "track", "userId": "u", "event": "B", "properties": {"b": "x" * MESSAGE_LIMIT}}
    body = {"batch": [{"type": "track", "userId": "u", "event": "A"}, big]}
    response = client.post("/v1/batch", headers=basic(tenant.publishable), json=body)
    assert (response.status_code, response.json()) == (200, SUCCESS)
    wait_stored(client)
    assert [r["event_name"] for r in stored(store, tenant.id, "event_name")] == ["A"]
    [error] = client.get("/v1/ingest/errors", headers=tenant.sk).json()["errors"]
    assert (error["index"], error["field"], error["rule"]) == (
        1,
        None,
        "message is larger than 32768 bytes",
    )


def test_a_single_call_keeps_its_400_and_is_not_listed(
    client: TestClient, tenant: TenantKeys
) -> None:
    response = client.post("/v1/track", headers=basic(tenant.publishable), json={"userId": "u"})
    assert response.status_code == 400
    assert client.get("/v1/ingest/errors", headers=tenant.sk).json()["rejected"] == 0


def test_a_request_over_512_kb_is_a_413(client: TestClient, tenant: TenantKeys) -> None:
    body = padded({"batch": [{"type": "track", "userId": "u", "event": "A"}]}, REQUEST_LIMIT + 1)
    response = client.post("/v1/batch", headers=basic(tenant.publishable), content=body)
    assert response.status_code == 413
    assert response.json()["error"] == "Request body is larger than 524288 bytes"


def test_gzip_bodies_are_accepted_and_bounded(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    headers = {**basic(tenant.publishable), "Content-Encoding": "gzip"}
    body = gzip.compress(json.dumps({"userId": "u", "event": "Zipped"}).encode())
    assert client.post("/v1/track", headers=headers, content=body).json() == SUCCESS
    # small on the wire, over the request limit once inflated
    bomb = gzip.compress(padded({"batch": []}, REQUEST_LIMIT + 1))
    assert len(bomb) < 10_000
    response = client.post("/v1/batch", headers=headers, content=bomb)
    assert response.status_code == 413
    assert client.post("/v1/track", headers=headers, content=b"not gzip").status_code == 400
    wait_stored(client)
    assert stored(store, tenant.id, "event_type") == [{"event_type": "Zipped"}]


# -- what is stored --------------------------------------------------------------------------


def test_an_order_is_stored_with_money_in_minor_units_and_its_items(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post("/v1/track", headers=basic(tenant.secret), json=ORDER)
    assert response.status_code == 200
    wait_stored(client)
    [row] = stored(store, tenant.id)
    assert (row["event_type"], row["event_name"], row["transaction_id"]) == (
        "purchase",
        "Order Completed",
        "50314b8e9bcf000000000000",
    )
    assert (row["revenue"], row["shipping"], row["tax"], row["item_count"]) == (2500, 300, 200, 3)
    assert (row["currency"], row["original_currency"]) == ("USD", "USD")
    items = rows(
        store,
        "SELECT item_id, item_name, price, quantity FROM event_items "
        "WHERE tenant_id = {t:UInt32} ORDER BY item_index",
        t=tenant.id,
    )
    assert items == [
        {"item_id": "507f1f77", "item_name": "Monopoly", "price": 1900, "quantity": 1},
        {"item_id": "46493-32", "item_name": "Uno", "price": 300, "quantity": 2},
    ]


def test_a_yen_tenant_stores_whole_yen(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    shop = make_tenant("Tokyo shop", base_currency="JPY")
    order = {**ORDER, "properties": {"order_id": "jp-1", "total": 1500, "currency": "JPY"}}
    assert client.post("/v1/track", headers=basic(shop.publishable), json=order).is_success
    wait_stored(client)
    assert stored(store, shop.id, "revenue, currency, original_revenue") == [
        {"revenue": 1500, "currency": "JPY", "original_revenue": 1500}
    ]


def test_the_ip_is_not_stored(client: TestClient, tenant: TenantKeys, store: Store) -> None:
    body = {"userId": "u", "event": "A", "context": {"ip": "203.0.113.77"}}
    assert client.post("/v1/track", headers=basic(tenant.publishable), json=body).is_success
    wait_stored(client)
    [row] = stored(store, tenant.id)
    assert row["ip_hash"] == ""  # seed 004's ip_hash is for landing-page events only
    assert row["visitor_id"] == "u"  # the sender's id is the visitor (docs/privacy.md)
    assert "203.0.113.77" not in repr(row)


def test_a_resent_message_id_maps_to_the_same_event(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    message = {
        "userId": "u-1",
        "messageId": "ajs-next-retry-1",
        "event": "Product Viewed",
        "timestamp": RECENT_ISO,
        "properties": {"product_id": "p-1"},
    }
    for _ in range(2):  # an SDK retry after a lost response, in a later flush
        assert client.post("/v1/track", headers=basic(tenant.publishable), json=message).is_success
        wait_stored(client)
    # one row at once: the retry's messageId is dropped at ingestion (ingest.dedup)
    assert len(stored(store, tenant.id, "event_id")) == 1
    final = rows(
        store, "SELECT count() AS n FROM events FINAL WHERE tenant_id = {t:UInt32}", t=tenant.id
    )
    assert final == [{"n": 1}]


def test_a_resent_order_is_stored_once(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    for _ in range(2):
        assert client.post("/v1/track", headers=basic(tenant.publishable), json=ORDER).is_success
    wait_stored(client)
    assert len(stored(store, tenant.id)) == 1  # purchase dedup by transaction id


def test_a_batch_sent_twice_counts_once_in_every_report_at_once(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    # Regression (issue 9, defect 3): an SDK resends a batch whose response it lost. Each
    # send lands in its own flush, so ReplacingMergeTree has not collapsed anything yet:
    # the ingest path itself must drop the resent messageIds.
    now = iso(days_ago(0).replace(microsecond=0))
    common = {"userId": "u-1", "timestamp": now}
    batch = [
        {**common, "type": "page", "messageId": "m-page", "properties": {"path": "/"}},
        {
            **common,
            "type": "track",
            "messageId": "m-added",
            "event": "Product Added",
            "properties": {"product_id": "p-1", "price": 19, "quantity": 1},
        },
        {
            **common,
            "type": "track",
            "messageId": "m-order",
            **without(ORDER, "userId", "messageId"),
        },
    ]
    for _ in range(2):
        response = client.post(
            "/v1/batch", headers=basic(tenant.publishable), json={"batch": batch}
        )
        assert (response.status_code, response.json()) == (200, SUCCESS)
        wait_stored(client)

    assert len(stored(store, tenant.id)) == 3  # no FINAL: what every report reads
    query = {"metrics": ["events", "pageviews", "add_to_carts"], "filters": {"period": "7d"}}
    answer = client.post("/analytics/query", json=query, headers=tenant.sk).json()
    assert {k: answer["totals"][k] for k in query["metrics"]} == {
        "events": 3,
        "pageviews": 1,
        "add_to_carts": 1,
    }
    sales = client.get("/analytics/sales?period=7d", headers=tenant.sk).json()
    assert (sales["revenue"], sales["orders"], sales["items_sold"]) == (2500, 1, 3)
    overview = client.get("/v1/api/analytics/ecommerce/overview?days=7", headers=tenant.sk).json()
    assert (overview["total_orders"], overview["total_revenue"]) == (1, 25.0)
    assert overview["total_items_sold"] == 3


def test_a_resent_single_call_is_one_row_without_waiting_for_a_merge(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    message = {"userId": "u-1", "messageId": "m-1", "event": "Signed Up"}  # no timestamp
    for _ in range(2):
        assert client.post("/v1/track", headers=basic(tenant.publishable), json=message).json() == (
            SUCCESS
        )
        wait_stored(client)
    assert len(stored(store, tenant.id)) == 1


def without(message: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in keys}


def test_tenants_are_isolated(
    client: TestClient,
    tenant: TenantKeys,
    make_tenant: Callable[..., TenantKeys],
    store: Store,
) -> None:
    other = make_tenant("Other shop")
    message = {"userId": "u-1", "messageId": "shared-id", "event": "Signed Up"}
    assert client.post("/v1/track", headers=basic(tenant.publishable), json=message).is_success
    wait_stored(client)
    assert stored(store, other.id) == []
    assert client.post("/v1/track", headers=basic(other.publishable), json=message).is_success
    wait_stored(client)
    [mine], [theirs] = stored(store, tenant.id), stored(store, other.id)
    # the same messageId in two tenants is two different events
    assert mine["event_id"] != theirs["event_id"]
    assert (mine["tenant_id"], theirs["tenant_id"]) == (tenant.id, other.id)
