"""Seed 002's ecommerce wire format: required fields per type, its error texts, money."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.context import IngestContext, Limits
from shoplens.ingest.event import ECOMMERCE_TYPES, Event, EventType
from shoplens.ingest.formats import decode
from shoplens.ingest.formats.ecommerce import EcommerceIn, to_event
from shoplens.ingest.money import CurrencyConverter
from shoplens.meta import Tenant


def make_ctx(base_currency: str = "USD", **fields: Any) -> IngestContext:
    tenant = Tenant(
        id=7,
        name="Acme",
        base_currency=base_currency,
        timezone="UTC",
        plan="pro",
        created_at="2024-01-01T00:00:00+00:00",
    )
    return IngestContext(tenant=tenant, received_at=1_705_315_000_000, **fields)


def track(body: dict[str, Any], ctx: IngestContext | None = None) -> Event:
    """Decode and normalize one body exactly as the track route does."""
    raw = decode(msgspec.json.encode(body), EcommerceIn)
    return to_event(raw, ctx or make_ctx())


def rejection(body: dict[str, Any], ctx: IngestContext | None = None) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        track(body, ctx)
    return caught.value


def minimal_body(spec: EventType) -> dict[str, Any]:
    """The smallest body seed 002's table accepts for an event type."""
    body: dict[str, Any] = {"event_type": spec.name}
    if spec.requires_transaction:
        body["transaction_id"] = "order_456"
    if spec.requires_revenue:
        body["revenue"] = 49.99
    if spec.requires_items:
        body["items"] = [{"item_id": "sku_1"}]
    return body


TYPES = list(ECOMMERCE_TYPES.values())


def test_the_registry_holds_seed_002s_13_types() -> None:
    assert sorted(ECOMMERCE_TYPES) == sorted(
        [
            "view_item",
            "add_to_cart",
            "remove_from_cart",
            "add_to_wishlist",
            "view_cart",
            "add_payment_info",
            "begin_checkout",
            "purchase",
            "refund",
            "search",
            "share",
            "rate",
            "spend_credits",
        ]
    )


@pytest.mark.parametrize("spec", TYPES, ids=lambda s: s.name)
def test_each_type_is_accepted_with_its_required_fields(spec: EventType) -> None:
    event = track(minimal_body(spec))
    assert event.event_type == spec.name
    assert event.event_name == spec.name
    assert event.source == "ecommerce"
    assert event.tenant_id == 7
    if spec.requires_revenue:
        assert event.revenue == 4999
    if spec.requires_transaction:
        assert event.transaction_id == "order_456"
    if spec.requires_items:
        assert [item.item_id for item in event.items] == ["sku_1"]


REQUIRED = [
    (spec.name, field)
    for spec in TYPES
    for field, needed in (
        ("transaction_id", spec.requires_transaction),
        ("revenue", spec.requires_revenue),
        ("items", spec.requires_items),
    )
    if needed
]


@pytest.mark.parametrize(("event_type", "field"), REQUIRED)
def test_each_required_field_missing_is_the_seeds_error(event_type: str, field: str) -> None:
    body = minimal_body(ECOMMERCE_TYPES[event_type])
    del body[field]
    error = rejection(body)
    assert error.status == 400
    assert error.message == f"{field} is required for {event_type} events"
    assert error.field == field


@pytest.mark.parametrize(
    ("event_type", "message"),
    [
        ("purchase", "transaction_id is required for purchase events"),
        ("refund", "transaction_id is required for refund events"),
    ],
)
def test_seed_texts_verbatim(event_type: str, message: str) -> None:
    assert rejection({"event_type": event_type, "revenue": 1}).message == message


def test_revenue_text_verbatim_for_purchase() -> None:
    error = rejection({"event_type": "purchase", "transaction_id": "o1"})
    assert error.message == "revenue is required for purchase events"


def test_empty_items_list_counts_as_missing() -> None:
    error = rejection({"event_type": "add_to_cart", "items": []})
    assert error.message == "items is required for add_to_cart events"


@pytest.mark.parametrize("body", [{}, {"event_type": ""}, {"event_type": None}])
def test_event_type_is_required(body: dict[str, Any]) -> None:
    error = rejection(body)
    assert (error.message, error.field) == ("event_type is required", "event_type")


@pytest.mark.parametrize("event_type", ["page_view", "PURCHASE", "order_completed", "buy"])
def test_unknown_event_type_is_invalid(event_type: str) -> None:
    error = rejection({"event_type": event_type})
    assert (error.message, error.field) == ("Invalid ecommerce event_type", "event_type")


@pytest.mark.parametrize("item", [{}, {"item_id": ""}, {"item_name": "T-Shirt"}])
def test_item_id_is_required(item: dict[str, Any]) -> None:
    error = rejection({"event_type": "view_item", "items": [{"item_id": "ok"}, item]})
    assert error.message == "items[1].item_id is required"
    assert error.field == "items[1].item_id"


def test_the_seeds_purchase_example_is_normalized() -> None:
    event = track(
        {
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
    )
    assert (event.revenue, event.discount, event.shipping, event.tax) == (4999, 500, 499, 375)
    assert (event.currency, event.original_currency, event.original_revenue) == (
        "USD",
        "USD",
        "49.99",
    )
    assert (event.user_id, event.coupon_code, event.transaction_id) == (
        "user_123",
        "SAVE10",
        "order_456",
    )
    [item] = event.items
    assert (item.item_id, item.item_name, item.item_category, item.item_brand) == (
        "sku_1",
        "T-Shirt",
        "Apparel",
        "MyBrand",
    )
    assert (item.item_variant, item.price, item.quantity, item.original_price) == (
        "Red / L",
        2499,
        2,
        "24.99",
    )
    assert event.item_count == 2
    assert (event.utm_campaign, event.utm_source, event.utm_medium) == ("spring-sale", "email", "")
    assert event.properties == {"campaign": "spring-sale", "source": "email"}


# Money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "revenue", "minor"),
    [
        ("USD", 49.99, 4999),
        ("USD", 0.1, 10),
        ("USD", 19.995, 2000),  # half up, from the decimal as written
        ("USD", 1234567.89, 123456789),
        ("EUR", 10, 1000),
        ("JPY", 1500, 1500),
        ("KRW", 25000, 25000),
        ("BHD", 1.234, 1234),
        ("KWD", 0.005, 5),
    ],
)
def test_revenue_becomes_minor_units_of_the_base_currency(
    base: str, revenue: float, minor: int
) -> None:
    event = track(
        {"event_type": "purchase", "transaction_id": "o", "revenue": revenue},
        make_ctx(base),
    )
    assert event.revenue == minor
    assert event.currency == base
    assert event.original_currency == base  # no currency sent: the base currency
    assert Decimal(event.original_revenue) == Decimal(repr(float(revenue)))


def test_item_prices_and_discounts_are_minor_units_too() -> None:
    event = track(
        {
            "event_type": "add_to_cart",
            "items": [{"item_id": "a", "price": 1.234, "discount": 0.5, "quantity": 3}],
        },
        make_ctx("BHD"),
    )
    [item] = event.items
    assert (item.price, item.discount, item.quantity) == (1234, 500, 3)
    assert (item.currency, item.original_currency, item.original_price) == ("BHD", "BHD", "1.234")


def test_currency_code_is_case_insensitive() -> None:
    event = track(
        {"event_type": "purchase", "transaction_id": "o", "revenue": 5, "currency": "usd"}
    )
    assert (event.revenue, event.original_currency) == (500, "USD")


@pytest.mark.parametrize(
    "body",
    [
        {"event_type": "purchase", "transaction_id": "o", "revenue": 5, "currency": "XYZ"},
        {"event_type": "view_item", "items": [{"item_id": "a", "price": 5, "currency": "XYZ"}]},
    ],
    ids=["event", "item"],
)
def test_unknown_currency_is_400_naming_it(body: dict[str, Any]) -> None:
    error = rejection(body)
    assert error.status == 400
    assert "XYZ" in error.message
    assert error.field == "currency"


def test_unknown_currency_is_rejected_even_without_an_amount() -> None:
    # An event stores original_currency whether or not it carries an amount; a code that is
    # not ISO 4217 must not be stored because no amount happened to need converting.
    error = rejection(
        {"event_type": "view_item", "currency": "XYZ", "items": [{"item_id": "a"}]},
    )
    assert "XYZ" in error.message


def test_other_currency_without_rates_is_400_naming_both() -> None:
    error = rejection(
        {"event_type": "purchase", "transaction_id": "o", "revenue": 5, "currency": "EUR"}
    )
    assert error.status == 400
    assert "EUR" in error.message and "USD" in error.message
    assert error.field == "revenue"


def test_other_item_currency_without_rates_names_the_item_field() -> None:
    error = rejection(
        {"event_type": "view_item", "items": [{"item_id": "a", "price": 5, "currency": "GBP"}]}
    )
    assert "GBP" in error.message
    assert error.field == "items[0].price"


def test_other_currency_converts_with_a_rate() -> None:
    ctx = make_ctx("USD", converter=CurrencyConverter({("EUR", "USD"): Decimal("1.10")}))
    event = track(
        {"event_type": "purchase", "transaction_id": "o", "revenue": 10, "currency": "EUR"}, ctx
    )
    assert event.revenue == 1100
    assert (event.currency, event.original_currency, event.original_revenue) == (
        "USD",
        "EUR",
        "10",
    )


@pytest.mark.parametrize("revenue", [1e17, 1e300])
def test_revenue_too_large_for_int64_minor_units_is_400(revenue: float) -> None:
    # Money is stored as Int64 minor units; an amount that does not fit cannot be flushed,
    # so it must be refused at the door rather than acknowledged.
    error = rejection({"event_type": "purchase", "transaction_id": "o", "revenue": revenue})
    assert error.field == "revenue"


# Quantity -------------------------------------------------------------------------------


def test_quantity_defaults_to_one() -> None:
    event = track({"event_type": "view_item", "items": [{"item_id": "a"}, {"item_id": "b"}]})
    assert [item.quantity for item in event.items] == [1, 1]
    assert event.item_count == 2


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (2.5, "items[0].quantity must be a whole number"),
        (-1, "items[0].quantity must be between 0 and 1000000"),
        (1_000_001, "items[0].quantity must be between 0 and 1000000"),
    ],
)
def test_bad_quantity_is_400(quantity: float, message: str) -> None:
    error = rejection(
        {"event_type": "view_item", "items": [{"item_id": "a", "quantity": quantity}]}
    )
    assert (error.message, error.field) == (message, "items[0].quantity")


def test_whole_float_quantity_is_accepted() -> None:
    event = track({"event_type": "view_item", "items": [{"item_id": "a", "quantity": 3.0}]})
    assert event.items[0].quantity == 3


# Campaign, page and limits --------------------------------------------------------------


def test_properties_campaign_source_medium_are_the_utm_fields() -> None:
    event = track(
        {
            "event_type": "purchase",
            "transaction_id": "o",
            "revenue": 1,
            "page_url": "https://shop.test/p?utm_source=google&utm_term=shoes",
            "properties": {"campaign": "spring-sale", "source": "email", "medium": "newsletter"},
        }
    )
    # properties win over the page's query string; fields they do not give come from it
    assert (event.utm_campaign, event.utm_source, event.utm_medium, event.utm_term) == (
        "spring-sale",
        "email",
        "newsletter",
        "shoes",
    )
    assert event.page_path == "/p"


def test_search_term_comes_from_the_field_or_properties() -> None:
    assert track({"event_type": "search", "search_term": "shoes"}).search_term == "shoes"
    assert track({"event_type": "search", "properties": {"search_term": "hats"}}).search_term == (
        "hats"
    )


def test_ids_may_be_integers() -> None:
    event = track({"event_type": "purchase", "transaction_id": 456, "revenue": 1, "user_id": 123})
    assert (event.transaction_id, event.user_id) == ("456", "123")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": "view_cart", "user_id": "u" * 11}, "user_id"),
        ({"event_type": "view_cart", "session_id": "s" * 11}, "session_id"),
        ({"event_type": "view_cart", "coupon_code": "c" * 11}, "coupon_code"),
        ({"event_type": "view_item", "items": [{"item_id": "i" * 11}]}, "items[0].item_id"),
        (
            {"event_type": "view_item", "items": [{"item_id": "a", "item_name": "n" * 11}]},
            "items[0].item_name",
        ),
        ({"event_type": "view_cart", "properties": {"campaign": "x" * 11}}, "properties.campaign"),
    ],
)
def test_string_length_cap_names_the_field(body: dict[str, Any], field: str) -> None:
    error = rejection(body, make_ctx(limits=Limits(max_string_length=10)))
    assert error.message == f"{field} is longer than 10 characters"
    assert error.field == field


def test_string_at_the_cap_is_accepted() -> None:
    event = track(
        {"event_type": "view_cart", "user_id": "u" * 10},
        make_ctx(limits=Limits(max_string_length=10)),
    )
    assert event.user_id == "u" * 10


def test_property_count_cap_names_the_field() -> None:
    ctx = make_ctx(limits=Limits(max_properties=2))
    assert (
        len(track({"event_type": "view_cart", "properties": {"a": "1", "b": "2"}}, ctx).properties)
        == 2
    )
    error = rejection(
        {"event_type": "view_cart", "properties": {"a": "1", "b": "2", "c": "3"}}, ctx
    )
    assert (error.message, error.field) == ("properties has more than 2 keys", "properties")


def test_item_count_cap() -> None:
    ctx = make_ctx(limits=Limits(max_items=2))
    error = rejection(
        {"event_type": "view_item", "items": [{"item_id": str(i)} for i in range(3)]}, ctx
    )
    assert (error.message, error.field) == ("items has more than 2 entries", "items")


# Type errors through formats.decode ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"event_type": "purchase", "revenue": "49.99"}', "revenue"),
        (b'{"event_type": 5}', "event_type"),
        (
            b'{"event_type": "view_item", "items": [{"item_id": "a", "price": {}}]}',
            "items[0].price",
        ),
        (b'{"event_type": "view_item", "items": [{}, {"quantity": "2"}]}', "items[1].quantity"),
        (b'{"event_type": "view_item", "items": "sku_1"}', "items"),
        (b'{"event_type": "view_cart", "user_id": true}', "user_id"),
        (b'{"event_type": "view_cart", "context": {"page": 1}}', "context.page"),
    ],
)
def test_decode_names_the_wrongly_typed_field(body: bytes, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(body, EcommerceIn)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: Expected ")


def test_decode_prefixes_the_path_for_batch_members() -> None:
    with pytest.raises(BadRequest) as caught:
        decode(b'{"revenue": "x"}', EcommerceIn, prefix="events[3]")
    assert caught.value.field == "events[3].revenue"


@pytest.mark.parametrize(
    ("body", "start"),
    [(b"[1]", "body: Expected `object`"), (b"{", "Request body is not valid JSON")],
)
def test_decode_of_a_body_that_is_not_an_object(body: bytes, start: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(body, EcommerceIn)
    assert caught.value.message.startswith(start)
    assert caught.value.field is None


def test_whole_amounts_keep_their_form_as_sent() -> None:
    """An integer amount (whole yen) is kept as "6708", not "6708.0"."""
    from shoplens.ingest.context import IngestContext
    from shoplens.ingest.formats import decode, ecommerce
    from shoplens.meta import Tenant

    ctx = IngestContext(tenant=Tenant(1, "Tokyo", "JPY", "Asia/Tokyo", "pro", ""))
    raw = decode(
        b'{"event_type": "purchase", "transaction_id": "o1", "revenue": 6708,'
        b' "items": [{"item_id": "a", "price": 3354, "quantity": 2}]}',
        ecommerce.EcommerceIn,
    )
    event = ecommerce.to_event(raw, ctx)
    assert (event.revenue, event.original_revenue) == (6708, "6708")
    assert (event.items[0].price, event.items[0].original_price) == (3354, "3354")
