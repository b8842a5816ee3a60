"""``POST /v1/api/analytics/ecommerce/{track,batch}`` (seed 002) over HTTP.

The seed's exact error texts, purchases stored in minor units with their items, the batch
rules, request size limits (honest, missing and lying ``Content-Length``), and purchase
de-duplication by ``transaction_id`` — within a tenant, per type, and across a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.ingest.event import ECOMMERCE_TYPES, EventType
from shoplens.store import Store
from tests.conftest import TenantKeys, padded, rows, stored_events, wait_stored

TRACK = "/v1/api/analytics/ecommerce/track"
BATCH = "/v1/api/analytics/ecommerce/batch"
REQUEST_LIMIT = 512 * 1024
INGEST_PATHS = [
    "/analytics/event",
    "/analytics/event/batch",
    TRACK,
    BATCH,
    "/api/analytics/track",
]

# Seed 002's track example, verbatim.
SEED_PURCHASE: dict[str, Any] = {
    "event_type": "purchase",
    "transaction_id": "order_456",
    "revenue": 49.99,
    "currency": "USD",
    "user_id": "user_123",
    "coupon_code": "SAVE10",
    "discount": 5.00,
    "shipping": 4.99,
    "tax": 3.75,
    "items": [
        {
            "item_id": "sku_1",
            "item_name": "T-Shirt",
            "item_category": "Apparel",
            "item_brand": "MyBrand",
            "item_variant": "Red / L",
            "price": 24.99,
            "quantity": 2,
            "currency": "USD",
        }
    ],
    "properties": {"campaign": "spring-sale", "source": "email"},
}


def count(store: Store, tenant_id: int, event_type: str, transaction_id: str) -> int:
    [row] = rows(
        store,
        "SELECT count() AS n FROM events WHERE tenant_id = {t:UInt32} "
        "AND event_type = {type:String} AND transaction_id = {tx:String}",
        t=tenant_id,
        type=event_type,
        tx=transaction_id,
    )
    return int(row["n"])


def purchase(transaction_id: str, revenue: float = 10.0, **fields: Any) -> dict[str, Any]:
    return {
        "event_type": "purchase",
        "transaction_id": transaction_id,
        "revenue": revenue,
        **fields,
    }


def minimal(spec: EventType) -> dict[str, Any]:
    """The smallest valid body for an event type, from the registry's rules."""
    body: dict[str, Any] = {"event_type": spec.name, "user_id": f"user-{spec.name}"}
    if spec.requires_transaction:
        body["transaction_id"] = f"tx-{spec.name}"
    if spec.requires_revenue:
        body["revenue"] = 1.5
    if spec.requires_items:
        body["items"] = [{"item_id": "sku_1"}]
    return body


# -- track ---------------------------------------------------------------------------------
def test_seed_purchase_is_stored_in_minor_units_with_its_items(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(TRACK, headers=tenant.pk, json=SEED_PURCHASE)

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    wait_stored(client)
    [event] = stored_events(store, tenant.id)
    assert event["event_type"] == "purchase"
    assert event["source"] == "ecommerce"
    assert event["transaction_id"] == "order_456"
    assert event["user_id"] == "user_123"
    assert (event["revenue"], event["discount"], event["shipping"], event["tax"]) == (
        4999,
        500,
        499,
        375,
    )
    assert (event["currency"], event["original_currency"]) == ("USD", "USD")
    assert event["original_revenue"] == Decimal("49.99")
    assert event["coupon_code"] == "SAVE10"
    assert (event["utm_campaign"], event["utm_source"]) == ("spring-sale", "email")
    assert dict(event["properties"]) == {"campaign": "spring-sale", "source": "email"}
    assert event["item_count"] == 2

    [item] = rows(store, "SELECT * FROM event_items WHERE tenant_id = {t:UInt32}", t=tenant.id)
    assert item["event_id"] == event["event_id"]
    assert item["transaction_id"] == "order_456"
    assert item["event_type"] == "purchase"
    assert (
        item["item_id"],
        item["item_name"],
        item["item_category"],
        item["item_brand"],
        item["item_variant"],
    ) == ("sku_1", "T-Shirt", "Apparel", "MyBrand", "Red / L")
    assert (item["price"], item["quantity"]) == (2499, 2)
    assert item["original_price"] == Decimal("24.99")


def test_every_seed_event_type_is_accepted(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    for spec in ECOMMERCE_TYPES.values():
        response = client.post(TRACK, headers=tenant.pk, json=minimal(spec))
        assert response.status_code == 200, (spec.name, response.json())
        assert response.json() == {"ok": True}

    wait_stored(client)
    stored = stored_events(store, tenant.id)
    assert sorted(e["event_type"] for e in stored) == sorted(ECOMMERCE_TYPES)
    assert len(ECOMMERCE_TYPES) == 13  # seed 002's table
    for event in stored:
        assert event["user_id"] == f"user-{event['event_type']}"


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ({}, "event_type is required", "event_type"),
        ({"event_type": ""}, "event_type is required", "event_type"),
        ({"event_type": "teleport"}, "Invalid ecommerce event_type", "event_type"),
        (
            {"event_type": "purchase", "revenue": 49.99},
            ("transaction_id is required for purchase events"),
            "transaction_id",
        ),
        (
            {"event_type": "purchase", "transaction_id": "order_456"},
            "revenue is required for purchase events",
            "revenue",
        ),
        (
            {"event_type": "refund", "transaction_id": "order_456"},
            "revenue is required for refund events",
            "revenue",
        ),
        (
            {"event_type": "spend_credits"},
            "revenue is required for spend_credits events",
            "revenue",
        ),
        ({"event_type": "view_item"}, "items is required for view_item events", "items"),
        (
            {"event_type": "add_to_cart", "items": [{"item_name": "no id"}]},
            "items[0].item_id is required",
            "items[0].item_id",
        ),
        (
            {"event_type": "purchase", "transaction_id": "o", "revenue": 1, "currency": "ZZZ"},
            "Unknown currency 'ZZZ'",
            "currency",
        ),
    ],
)
def test_track_errors_use_the_seed_texts(
    client: TestClient,
    tenant: TenantKeys,
    store: Store,
    body: dict[str, Any],
    error: str,
    field: str,
) -> None:
    response = client.post(TRACK, headers=tenant.pk, json=body)

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error, "field": field}
    wait_stored(client)
    assert stored_events(store, tenant.id) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": "purchase", "transaction_id": "o1", "revenue": "lots"}, "revenue"),
        ({"event_type": 3}, "event_type"),
        ({"event_type": "view_item", "items": {"item_id": "sku"}}, "items"),
        (
            {"event_type": "view_item", "items": [{"item_id": "sku", "price": "9"}]},
            "items[0].price",
        ),
        (
            {"event_type": "view_item", "items": [{"item_id": "s", "quantity": 1.5}]},
            "items[0].quantity",
        ),
        ({"event_type": "view_cart", "properties": ["a"]}, "properties"),
    ],
)
def test_track_wrong_types_are_400_naming_the_field(
    client: TestClient, tenant: TenantKeys, body: dict[str, Any], field: str
) -> None:
    response = client.post(TRACK, headers=tenant.pk, json=body)

    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["field"] == field
    assert field in response.json()["error"]


def test_track_event_over_32_kb_is_413_and_not_stored(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    properties = {f"k{i}": "x" * 2000 for i in range(17)}  # each value within the string cap
    response = client.post(
        TRACK, headers=tenant.pk, json={"event_type": "view_cart", "properties": properties}
    )

    assert response.status_code == 413
    assert response.json() == {
        "ok": False,
        "error": "Event is larger than 32768 bytes",
        "field": None,
    }
    wait_stored(client)
    assert stored_events(store, tenant.id) == []


# -- batch ---------------------------------------------------------------------------------
def test_seed_batch_is_accepted(client: TestClient, tenant: TenantKeys, store: Store) -> None:
    response = client.post(
        BATCH,
        headers=tenant.pk,
        json={
            "events": [
                {
                    "event_type": "add_to_cart",
                    "items": [{"item_id": "sku_1", "item_name": "T-Shirt", "price": 24.99}],
                    "user_id": "user_123",
                },
                {
                    "event_type": "purchase",
                    "transaction_id": "order_456",
                    "revenue": 49.99,
                    "currency": "USD",
                    "user_id": "user_123",
                    "items": [{"item_id": "sku_1", "price": 24.99, "quantity": 2}],
                },
            ]
        },
    )

    assert response.status_code == 200
    assert response.json() == {"ok": True, "accepted": 2}
    wait_stored(client)
    stored = stored_events(store, tenant.id)
    assert sorted((e["event_type"], e["revenue"]) for e in stored) == [
        ("add_to_cart", 0),
        ("purchase", 4999),
    ]
    items = rows(
        store,
        "SELECT event_type, item_id, price, quantity FROM event_items "
        "WHERE tenant_id = {t:UInt32} ORDER BY event_type",
        t=tenant.id,
    )
    assert items == [
        {"event_type": "add_to_cart", "item_id": "sku_1", "price": 2499, "quantity": 1},
        {"event_type": "purchase", "item_id": "sku_1", "price": 2499, "quantity": 2},
    ]


def test_batch_skips_invalid_events_and_reports_them(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(
        BATCH,
        headers=tenant.pk,
        json={
            "events": [
                {"event_type": "purchase", "revenue": 49.99, "user_id": "skipped"},
                {"event_type": "add_to_cart", "items": [{"item_id": "sku_1"}], "user_id": "kept"},
            ]
        },
    )

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "accepted": 1,
        "errors": ["events[0]: transaction_id is required for purchase events"],
    }
    wait_stored(client)
    assert [(e["event_type"], e["user_id"]) for e in stored_events(store, tenant.id)] == [
        ("add_to_cart", "kept")
    ]


def test_batch_reports_every_invalid_event_with_its_index(
    client: TestClient, tenant: TenantKeys
) -> None:
    events = [
        {"event_type": "view_cart"},
        {},
        {"event_type": "nope"},
        {"event_type": "refund", "transaction_id": "r1"},
    ]
    response = client.post(BATCH, headers=tenant.pk, json={"events": events})

    assert response.json() == {
        "ok": True,
        "accepted": 1,
        "errors": [
            "events[1]: event_type is required",
            "events[2]: Invalid ecommerce event_type",
            "events[3]: revenue is required for refund events",
        ],
    }


@pytest.mark.parametrize("body", [{"events": []}, {}, {"events": None}])
def test_empty_batch_is_400(client: TestClient, tenant: TenantKeys, body: dict[str, Any]) -> None:
    response = client.post(BATCH, headers=tenant.pk, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "events array is required and must not be empty",
        "field": "events",
    }


def test_batch_takes_at_most_100_events(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    def batch(n: int, who: str) -> dict[str, Any]:
        return {"events": [{"event_type": "view_cart", "user_id": f"{who}-{i}"} for i in range(n)]}

    too_many = client.post(BATCH, headers=tenant.pk, json=batch(101, "refused"))
    at_limit = client.post(BATCH, headers=tenant.pk, json=batch(100, "accepted"))

    assert too_many.status_code == 400
    assert too_many.json() == {
        "ok": False,
        "error": "Maximum 100 events per batch",
        "field": "events",
    }
    assert at_limit.status_code == 200
    assert at_limit.json() == {"ok": True, "accepted": 100}
    wait_stored(client)
    stored = stored_events(store, tenant.id)
    assert len(stored) == 100
    assert all(e["user_id"].startswith("accepted-") for e in stored)


# -- request size --------------------------------------------------------------------------
def test_batch_body_at_512_kb_is_accepted_and_one_byte_more_is_413(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    headers = {**tenant.pk, "Content-Type": "application/json"}
    ok = {"events": [{"event_type": "view_cart", "user_id": "at-limit"}]}
    over = {"events": [{"event_type": "view_cart", "user_id": "over-limit"}]}

    at_limit = client.post(BATCH, headers=headers, content=padded(ok, REQUEST_LIMIT))
    too_big = client.post(BATCH, headers=headers, content=padded(over, REQUEST_LIMIT + 1))

    assert at_limit.status_code == 200
    assert too_big.status_code == 413
    assert too_big.json() == {
        "ok": False,
        "error": f"Request body is larger than {REQUEST_LIMIT} bytes",
        "field": None,
    }
    wait_stored(client)
    assert [e["user_id"] for e in stored_events(store, tenant.id)] == ["at-limit"]


def _oversized(path: str, tenant: TenantKeys) -> dict[str, Any]:
    """A body that would be accepted on ``path`` but for its size."""
    if path == "/api/analytics/track":
        return {"tenant_id": tenant.id, "event_type": "pageview"}
    if path.startswith("/analytics/event"):
        event: dict[str, Any] = {"event": "page_view"}
    else:
        event = {"event_type": "view_cart"}
    return {"events": [event]} if path.endswith("batch") else event


@pytest.mark.parametrize("path", INGEST_PATHS)
@pytest.mark.parametrize("framing", ["content-length", "chunked", "lying-content-length"])
def test_request_over_512_kb_is_413_however_it_is_framed(
    client: TestClient, tenant: TenantKeys, store: Store, path: str, framing: str
) -> None:
    body = padded(_oversized(path, tenant), REQUEST_LIMIT + 4096)
    headers = {**tenant.pk, "Content-Type": "application/json"}
    content: bytes | Iterator[bytes] = body
    if framing == "chunked":

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 16 * 1024):
                yield body[start : start + 16 * 1024]

        content = chunks()
    elif framing == "lying-content-length":
        headers["Content-Length"] = "100"

    response = client.post(path, headers=headers, content=content)

    assert response.status_code == 413
    assert response.json()["error"] == f"Request body is larger than {REQUEST_LIMIT} bytes"
    wait_stored(client)
    assert stored_events(store, tenant.id) == []


def test_a_huge_streamed_body_is_cut_off_at_the_limit(
    client: TestClient, tenant: TenantKeys
) -> None:
    """Speak ASGI directly to stream a 64 MiB body: the app must stop reading (and
    buffering) once it is past the limit, not read to the end first."""
    chunk = b" " * (64 * 1024)
    chunks = 1024
    received = 0
    messages: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": chunk, "more_body": received < chunks}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": BATCH,
        "raw_path": BATCH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {tenant.publishable}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def call() -> None:
        await client.app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(call)

    assert messages[0]["type"] == "http.response.start"
    assert messages[0]["status"] == 413
    # 8 chunks are exactly the limit; the 9th is past it and ends the read.
    assert received <= REQUEST_LIMIT // len(chunk) + 1


# -- purchase de-duplication ---------------------------------------------------------------
def test_same_purchase_twice_is_stored_once(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    first = client.post(TRACK, headers=tenant.pk, json=purchase("dup-1", 49.99))
    second = client.post(TRACK, headers=tenant.sk, json=purchase("dup-1", 49.99))

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"ok": True}
    wait_stored(client)
    assert count(store, tenant.id, "purchase", "dup-1") == 1


def test_duplicates_inside_one_batch_are_stored_once(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(
        BATCH, headers=tenant.pk, json={"events": [purchase("dup-b"), purchase("dup-b")]}
    )

    assert response.status_code == 200
    assert response.json()["ok"] is True
    wait_stored(client)
    assert count(store, tenant.id, "purchase", "dup-b") == 1


def test_a_refund_with_the_purchase_transaction_id_is_kept(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    refund = {"event_type": "refund", "transaction_id": "ord-9", "revenue": 10.0}
    assert client.post(TRACK, headers=tenant.pk, json=purchase("ord-9")).json() == {"ok": True}
    assert client.post(TRACK, headers=tenant.pk, json=refund).json() == {"ok": True}
    assert client.post(TRACK, headers=tenant.pk, json=refund).json() == {"ok": True}

    wait_stored(client)
    assert count(store, tenant.id, "purchase", "ord-9") == 1
    assert count(store, tenant.id, "refund", "ord-9") == 1  # the repeated refund is dropped


def test_another_tenant_with_the_same_transaction_id_is_kept(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    shop_a = make_tenant("Shop A", plan="pro")
    shop_b = make_tenant("Shop B", plan="pro")

    assert client.post(TRACK, headers=shop_a.pk, json=purchase("shared-42")).status_code == 200
    assert client.post(TRACK, headers=shop_b.pk, json=purchase("shared-42")).status_code == 200

    wait_stored(client)
    assert count(store, shop_a.id, "purchase", "shared-42") == 1
    assert count(store, shop_b.id, "purchase", "shared-42") == 1


def test_purchase_de_duplication_holds_across_a_restart(
    settings: Settings, store: Store, tenant: TenantKeys
) -> None:
    body = purchase("restart-1", 49.99)
    with TestClient(create_app(settings, store=store)) as first:
        assert first.post(TRACK, headers=tenant.pk, json=body).json() == {"ok": True}
    # Shutdown drained the flusher: the purchase is in the store, the app is gone.
    assert count(store, tenant.id, "purchase", "restart-1") == 1

    with TestClient(create_app(settings, store=store)) as second:
        again = second.post(TRACK, headers=tenant.pk, json=body)
        assert again.status_code == 200
        assert again.json() == {"ok": True}
        wait_stored(second)
    assert count(store, tenant.id, "purchase", "restart-1") == 1


def test_a_purchase_is_accepted_again_after_the_window(
    settings: Settings, store: Store, tenant: TenantKeys
) -> None:
    window = settings.model_copy(update={"dedup_window_hours": 0.5 / 3600})  # half a second
    with TestClient(create_app(window, store=store)) as client:
        client.post(TRACK, headers=tenant.pk, json=purchase("late-1"))
        client.post(TRACK, headers=tenant.pk, json=purchase("late-1"))
        time.sleep(0.6)
        client.post(TRACK, headers=tenant.pk, json=purchase("late-1"))
        wait_stored(client)
    assert count(store, tenant.id, "purchase", "late-1") == 2
