"""Seeds 000/001's core event format: standard events, minor units, ids and timestamps."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import msgspec
import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.clock import Clock
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import ECOMMERCE_TYPES, Event
from shoplens.ingest.formats import decode
from shoplens.ingest.formats.core import STANDARD_EVENTS, CoreEventIn, to_event
from shoplens.ingest.stages import Stages
from shoplens.meta import Tenant

RECEIVED_AT = 1_705_315_000_000  # 2024-01-15T10:36:40Z
HOUR_MS = 3600 * 1000


def make_ctx(base_currency: str = "USD", tenant_id: int = 7, **fields: Any) -> IngestContext:
    tenant = Tenant(
        id=tenant_id,
        name="Acme",
        base_currency=base_currency,
        timezone="UTC",
        plan="pro",
        created_at="2024-01-01T00:00:00+00:00",
    )
    return IngestContext(tenant=tenant, received_at=RECEIVED_AT, **fields)


def track(body: dict[str, Any], ctx: IngestContext | None = None) -> Event:
    raw = decode(msgspec.json.encode(body), CoreEventIn)
    return to_event(raw, ctx or make_ctx())


def rejection(body: dict[str, Any], ctx: IngestContext | None = None) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        track(body, ctx)
    return caught.value


# A body each standard event accepts (the properties seed 001's table lists).
STANDARD_BODIES: dict[str, dict[str, Any]] = {
    "page_view": {"page": "/products/shirts", "referrer": "https://google.com/"},
    "product_view": {"productId": "prod_abc123", "name": "Premium T-Shirt", "price": 2999},
    "add_to_cart": {"productId": "prod_abc123", "variantId": "v1", "quantity": 2},
    "remove_from_cart": {"productId": "prod_abc123", "quantity": 1},
    "checkout_started": {"cartId": "cart_1", "total": 6578, "itemCount": 3},
    "payment_completed": {},
    "order_completed": {"orderId": "order_abc123", "total": 6578, "currency": "USD"},
    "order_refunded": {"orderId": "order_abc123", "total": 6578},
    "search": {"query": "shirts", "resultCount": 12},
}


def test_every_standard_event_has_a_test_body() -> None:
    assert set(STANDARD_BODIES) == set(STANDARD_EVENTS)


@pytest.mark.parametrize(("name", "canonical"), sorted(STANDARD_EVENTS.items()))
def test_standard_events_map_to_the_canonical_type(name: str, canonical: str) -> None:
    event = track({"event": name, "userId": "user_xyz789", "properties": STANDARD_BODIES[name]})
    assert event.event_type == canonical
    assert event.event_name == name
    assert event.source == "core"
    assert event.user_id == "user_xyz789"
    # the canonical vocabulary is seed 002's, so every report sees one set of types
    assert canonical in ECOMMERCE_TYPES or canonical == "page_view"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("product_view", "view_item"),
        ("checkout_started", "begin_checkout"),
        ("payment_completed", "add_payment_info"),
        ("order_completed", "purchase"),
        ("order_refunded", "refund"),
    ],
)
def test_renamed_standard_events(name: str, canonical: str) -> None:
    assert STANDARD_EVENTS[name] == canonical


# Amounts in minor units -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "price", "minor"),
    [("USD", 2999, 2999), ("EUR", 2999, 2999), ("JPY", 1500, 1500), ("BHD", 1234, 1234)],
)
def test_product_price_is_minor_units_of_the_tenant_currency(
    base: str, price: int, minor: int
) -> None:
    event = track(
        {"event": "product_view", "properties": {"productId": "p1", "price": price}},
        make_ctx(base),
    )
    [item] = event.items
    assert (item.item_id, item.price, item.quantity) == ("p1", minor, 1)
    assert (item.currency, item.original_currency) == (base, base)
    assert event.item_count == 1


def test_seed_001_product_view_example() -> None:
    event = track(
        {
            "event": "product_view",
            "userId": "user_xyz789",
            "properties": {
                "productId": "prod_abc123",
                "name": "Premium T-Shirt",
                "price": 2999,
                "currency": "USD",
            },
        }
    )
    [item] = event.items
    assert (item.item_id, item.item_name, item.price, item.original_price) == (
        "prod_abc123",
        "Premium T-Shirt",
        2999,
        "29.99",
    )


def test_order_total_is_minor_units_and_kept_as_sent() -> None:
    event = track(
        {
            "event": "order_completed",
            "properties": {"orderId": "order_abc123", "total": 6578, "currency": "USD", "items": 3},
        }
    )
    assert (event.revenue, event.original_revenue, event.original_currency) == (
        6578,
        "65.78",
        "USD",
    )
    assert event.transaction_id == "order_abc123"


def test_jpy_order_total_has_no_minor_digits() -> None:
    event = track(
        {"event": "order_completed", "properties": {"orderId": "o", "total": 1500}},
        make_ctx("JPY"),
    )
    assert (event.revenue, event.original_revenue, event.currency) == (1500, "1500", "JPY")


@pytest.mark.parametrize("total", [65.78, "6578", True])
def test_total_must_be_an_integer_amount(total: Any) -> None:
    error = rejection({"event": "order_completed", "properties": {"orderId": "o", "total": total}})
    assert error.message == "properties.total must be an integer amount in minor units"
    assert error.field == "properties.total"


def test_other_currency_without_rates_is_400() -> None:
    error = rejection(
        {
            "event": "order_completed",
            "properties": {"orderId": "o", "total": 100, "currency": "EUR"},
        }
    )
    assert "EUR" in error.message
    assert error.field == "properties.total"


def test_unknown_currency_is_400_naming_it() -> None:
    error = rejection(
        {
            "event": "order_completed",
            "properties": {"orderId": "o", "total": 100, "currency": "XYZ"},
        }
    )
    assert "XYZ" in error.message


def test_unknown_currency_is_rejected_even_without_an_amount() -> None:
    # original_currency is stored on the event and its item either way.
    error = rejection(
        {"event": "product_view", "properties": {"productId": "p", "currency": "XYZ"}}
    )
    assert "XYZ" in error.message


# order_completed and items --------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "properties", "message", "field"),
    [
        (
            "order_completed",
            {"total": 100},
            "properties.orderId is required for order_completed events",
            "properties.orderId",
        ),
        (
            "order_completed",
            {"orderId": "", "total": 100},
            "properties.orderId is required for order_completed events",
            "properties.orderId",
        ),
        (
            "order_completed",
            {"orderId": "o"},
            "properties.total is required for order_completed events",
            "properties.total",
        ),
        (
            "order_refunded",
            {"total": 100},
            "properties.orderId is required for order_refunded events",
            "properties.orderId",
        ),
        ("product_view", {}, "properties.productId is required", "properties.productId"),
        (
            "add_to_cart",
            {"quantity": 2},
            "properties.productId is required",
            "properties.productId",
        ),
    ],
)
def test_required_properties(
    event: str, properties: dict[str, Any], message: str, field: str
) -> None:
    error = rejection({"event": event, "properties": properties})
    assert (error.status, error.message, error.field) == (400, message, field)


def test_order_ids_may_be_integers() -> None:
    event = track({"event": "order_completed", "properties": {"orderId": 42, "total": 1}})
    assert event.transaction_id == "42"


def test_items_as_a_count() -> None:
    event = track(
        {"event": "order_completed", "properties": {"orderId": "o", "total": 6578, "items": 3}}
    )
    assert event.items == []
    assert event.item_count == 3


def test_item_count_property_of_checkout_started() -> None:
    event = track(
        {"event": "checkout_started", "properties": {"cartId": "c1", "total": 6578, "itemCount": 2}}
    )
    assert (event.event_type, event.cart_id, event.revenue, event.item_count) == (
        "begin_checkout",
        "c1",
        6578,
        2,
    )
    assert event.transaction_id == ""


def test_items_as_a_list_of_products() -> None:
    event = track(
        {
            "event": "order_completed",
            "properties": {
                "orderId": "o",
                "total": 6578,
                "items": [
                    {"productId": "a", "name": "Shirt", "price": 2999, "quantity": 2},
                    {"productId": 17, "price": 580},
                ],
            },
        }
    )
    assert [(i.item_id, i.item_name, i.price, i.quantity) for i in event.items] == [
        ("a", "Shirt", 2999, 2),
        ("17", "", 580, 1),
    ]
    assert event.item_count == 3  # quantities, not entries


def test_item_without_product_id_names_its_index() -> None:
    error = rejection(
        {
            "event": "order_completed",
            "properties": {"orderId": "o", "total": 1, "items": [{"productId": "a"}, {"price": 5}]},
        }
    )
    assert error.message == "properties.items[1].productId is required"
    assert error.field == "properties.items[1].productId"


def test_item_that_is_not_an_object() -> None:
    error = rejection(
        {"event": "order_completed", "properties": {"orderId": "o", "total": 1, "items": ["a"]}}
    )
    assert (error.message, error.field) == (
        "properties.items[0] must be an object",
        "properties.items[0]",
    )


def test_items_count_too_large_for_the_column_is_400() -> None:
    # item_count is a UInt32 column: a count beyond it cannot be flushed, so it must be
    # refused here rather than acknowledged.
    error = rejection(
        {"event": "order_completed", "properties": {"orderId": "o", "total": 1, "items": 2**32}}
    )
    assert error.field == "properties.items"


def test_add_to_cart_quantity_is_the_item_quantity() -> None:
    event = track({"event": "add_to_cart", "properties": {"productId": "p", "quantity": 2}})
    assert (event.items[0].quantity, event.item_count) == (2, 2)


def test_page_view_page_and_referrer() -> None:
    event = track(
        {
            "event": "page_view",
            "properties": {"page": "/products/shirts?utm_source=ig", "referrer": "https://t.co/"},
            "context": {"page": "/ignored"},
        }
    )
    assert (event.page_url, event.page_path, event.referrer, event.utm_source) == (
        "/products/shirts?utm_source=ig",
        "/products/shirts",
        "https://t.co/",
        "ig",
    )


def test_context_page_and_user_agent_are_used() -> None:
    event = track(
        {
            "event": "order_completed",
            "properties": {"orderId": "o", "total": 1},
            "context": {
                "ip": "203.0.113.42",
                "userAgent": "Mozilla/5.0",
                "page": "/checkout/confirm",
            },
        }
    )
    assert (event.page_path, event.user_agent) == ("/checkout/confirm", "Mozilla/5.0")
    assert "203.0.113.42" not in msgspec.json.encode(event).decode()


def test_search_query_is_the_search_term() -> None:
    assert track({"event": "search", "properties": {"query": "shirts"}}).search_term == "shirts"


# Custom events --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["product_shared", "Newsletter Signup", "a", "x" * 64, "v2:cta.click-1"]
)
def test_custom_event_names_are_kept(name: str) -> None:
    event = track({"event": name, "properties": {"productId": "prod_abc123", "channel": "twitter"}})
    assert event.event_type == name
    assert event.event_name == name
    assert event.properties == {"productId": "prod_abc123", "channel": "twitter"}
    assert event.items == []


@pytest.mark.parametrize("name", ["_hidden", "-x", " x", "x" * 65, "bad/name", "émoji", "a\nb"])
def test_invalid_event_names_are_rejected(name: str) -> None:
    error = rejection({"event": name})
    assert error.field == "event"
    assert error.message.startswith("event must be 1-64 letters")


@pytest.mark.parametrize("body", [{}, {"event": ""}, {"event": None}])
def test_event_is_required(body: dict[str, Any]) -> None:
    assert rejection(body).message == "event is required"


# Event ids ------------------------------------------------------------------------------


def test_client_id_gives_a_deterministic_event_id() -> None:
    first = track({"id": "evt_abc123", "event": "page_view"})
    again = track({"id": "evt_abc123", "event": "page_view"})
    other = track({"id": "evt_abc124", "event": "page_view"})
    assert first.event_id == again.event_id
    assert other.event_id != first.event_id
    assert uuid.UUID(first.event_id).version == 5


def test_same_client_id_in_another_tenant_is_another_event() -> None:
    mine = track({"id": "evt_1", "event": "page_view"}, make_ctx(tenant_id=1))
    theirs = track({"id": "evt_1", "event": "page_view"}, make_ctx(tenant_id=2))
    assert mine.event_id != theirs.event_id


def test_without_client_id_every_event_is_new() -> None:
    ids = {track({"event": "page_view"}).event_id for _ in range(5)}
    assert len(ids) == 5
    assert all(uuid.UUID(i).version == 7 for i in ids)


# Timestamps -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "ms"),
    [
        ("2024-01-15T10:35:00Z", 1_705_314_900_000),
        ("2024-01-15T10:35:00.250Z", 1_705_314_900_250),
        ("2024-01-15T12:35:00+02:00", 1_705_314_900_000),
        ("2024-01-15T05:35:00-05:00", 1_705_314_900_000),
        ("2024-01-15T10:35:00", 1_705_314_900_000),  # naive means UTC
        ("2024-01-15 10:35:00", 1_705_314_900_000),
        (1_705_314_900_000, 1_705_314_900_000),  # epoch milliseconds
        (None, RECEIVED_AT),  # absent: the receive time
        ("", RECEIVED_AT),
    ],
)
def test_timestamps(timestamp: Any, ms: int) -> None:
    body: dict[str, Any] = {"event": "page_view"}
    if timestamp is not None:
        body["timestamp"] = timestamp
    assert track(body).timestamp == ms
    assert track(body).received_at == RECEIVED_AT


@pytest.mark.parametrize("ahead", [24 * HOUR_MS + 1, 48 * HOUR_MS])
def test_the_format_keeps_a_future_timestamp_for_the_clock_stage(ahead: int) -> None:
    # How far ahead is too far is the clock stage's rule (clamp and mark), not a 400 here.
    assert track({"event": "page_view", "timestamp": RECEIVED_AT + ahead}).timestamp == (
        RECEIVED_AT + ahead
    )


def test_sent_at_corrects_the_timestamp_through_the_clock_stage() -> None:
    ctx = make_ctx(stages=Stages([Clock()]))
    # The client clock is 2 h behind: it stamped the event 5 s before it sent it.
    sent = RECEIVED_AT - 2 * HOUR_MS
    body = {"event": "page_view", "timestamp": sent - 5000, "sentAt": sent}
    assert track(body, ctx).timestamp == RECEIVED_AT - 5000
    # A batch body's sentAt applies to events without their own (IngestContext.sent_at).
    batch_ctx = replace(ctx, sent_at=sent)
    assert track({"event": "page_view", "timestamp": sent - 5000}, batch_ctx).timestamp == (
        RECEIVED_AT - 5000
    )
    # No timestamp of its own: the receive time, never corrected.
    assert track({"event": "page_view", "sentAt": sent}, ctx).timestamp == RECEIVED_AT


def test_historical_import_takes_future_timestamps_as_given() -> None:
    ahead = RECEIVED_AT + 48 * HOUR_MS
    event = track({"event": "page_view", "timestamp": ahead}, make_ctx(historical=True))
    assert event.timestamp == ahead


@pytest.mark.parametrize("timestamp", ["yesterday", "2024-13-01T00:00:00Z", "15/01/2024"])
def test_unparseable_timestamp(timestamp: str) -> None:
    error = rejection({"event": "page_view", "timestamp": timestamp})
    assert (error.message, error.field) == ("timestamp must be an ISO 8601 timestamp", "timestamp")


def test_timestamp_before_1970() -> None:
    assert rejection({"event": "page_view", "timestamp": -1}).message == (
        "timestamp must be between 1970-01-01 and 2200-01-01 (UTC)"
    )


def test_a_list_of_items_is_not_also_kept_as_a_property() -> None:
    # Regression (issue 9, defect 2): JSON-encoded, 30 items overran the 2048-character cap.
    items = [{"productId": f"p{i}", "name": f"Product number {i}", "price": 999} for i in range(30)]
    event = track(
        {
            "event": "order_completed",
            "properties": {"orderId": "o", "total": 29970, "items": items, "note": "gift"},
        }
    )
    assert [i.item_id for i in event.items] == [f"p{i}" for i in range(30)]
    assert event.properties == {"orderId": "o", "total": "29970", "note": "gift"}


def test_a_custom_event_with_a_list_of_items_stores_them_as_items() -> None:
    event = track({"event": "wishlist_shared", "properties": {"items": [{"productId": "a"}]}})
    assert (event.event_type, [i.item_id for i in event.items], event.item_count) == (
        "wishlist_shared",
        ["a"],
        1,
    )
    assert "items" not in event.properties


def test_items_up_to_the_limit_are_accepted_and_one_more_is_400() -> None:
    ctx = make_ctx()
    limit = ctx.limits.max_items
    order = {"event": "order_completed", "properties": {"orderId": "o", "total": 1}}
    at_limit = [{"productId": f"p{i}"} for i in range(limit)]
    order["properties"]["items"] = at_limit
    assert len(track(order, ctx).items) == limit
    order["properties"]["items"] = [*at_limit, {"productId": "one-more"}]
    error = rejection(order, ctx)
    assert (error.message, error.field) == (
        f"properties.items has more than {limit} entries",
        "properties.items",
    )
