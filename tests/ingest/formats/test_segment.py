"""Segment / RudderStack messages → canonical Events: calls, spec events, money, context."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from shoplens.errors import BadRequest, PayloadTooLarge
from shoplens.ingest.context import IngestContext, Limits
from shoplens.ingest.event import Event
from shoplens.ingest.formats import segment
from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.rejections import Rejected
from shoplens.meta import MetaStore
from tests.conftest import TenantKeys

RECEIVED = 1_705_315_000_000  # 2024-01-15T10:36:40Z
MakeCtx = Callable[..., IngestContext]


@pytest.fixture
def make_ctx(make_tenant: Callable[..., TenantKeys], meta: MetaStore) -> MakeCtx:
    """A context for a fresh real tenant (from the metadata store) in ``base_currency``."""

    def build(base_currency: str = "USD", **fields: Any) -> IngestContext:
        tenant = meta.tenant(make_tenant("Segment shop", base_currency=base_currency).id)
        assert tenant is not None
        return IngestContext(tenant=tenant, received_at=RECEIVED, **fields)

    return build


@pytest.fixture
def ctx(make_ctx: MakeCtx) -> IngestContext:
    return make_ctx()


def encode(body: dict[str, Any]) -> bytes:
    return msgspec.json.encode(body)


def call(ctx: IngestContext, kind: str, **body: Any) -> Event:
    """One message through the single-call path, as ``/v1/<kind>`` runs it."""
    body.setdefault("userId", "u-1")
    return segment.one(encode(body), kind, ctx)


def track(
    ctx: IngestContext, event: str, props: dict[str, Any] | None = None, **body: Any
) -> Event:
    return call(ctx, "track", event=event, properties=props or {}, **body)


def rejected(fn: Callable[[], object]) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        fn()
    return caught.value


# Written out here (not derived from SPEC_EVENTS) so the test checks the table's content.
EXPECTED_TYPES = {
    "Products Searched": "search",
    "Product List Viewed": "view_item_list",
    "Product Clicked": "select_item",
    "Product Viewed": "view_item",
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Cart Viewed": "view_cart",
    "Checkout Started": "begin_checkout",
    "Payment Info Entered": "add_payment_info",
    "Order Completed": "purchase",
    "Order Refunded": "refund",
    "Product Added to Wishlist": "add_to_wishlist",
    "Product Shared": "share",
    "Product Reviewed": "rate",
    "Coupon Applied": "coupon_applied",
}
# Enough for every spec event's requirements at once.
FULL_PROPS = {
    "order_id": "o-1",
    "total": 30,
    "product_id": "p-1",
    "price": 10,
    "products": [{"product_id": "p-1", "price": 10}],
    "query": "shoes",
}


def test_the_spec_table_covers_the_e_commerce_spec_v2_events() -> None:
    assert {name: spec.event_type for name, spec in segment.SPEC_EVENTS.items()} == EXPECTED_TYPES


@pytest.mark.parametrize(("name", "event_type"), EXPECTED_TYPES.items())
def test_spec_event_names_map_to_canonical_types(
    ctx: IngestContext, name: str, event_type: str
) -> None:
    event = track(ctx, name, FULL_PROPS)
    assert (event.event_type, event.event_name, event.source) == (event_type, name, "segment")
    assert event.tenant_id == ctx.tenant.id


def test_unknown_names_are_custom_events_under_the_name_as_sent(ctx: IngestContext) -> None:
    event = track(ctx, "Signed Up", {"plan": "pro", "seats": 3, "extra": {"a": [1]}})
    assert (event.event_type, event.event_name) == ("Signed Up", "Signed Up")
    assert event.properties == {"plan": "pro", "seats": "3", "extra": '{"a":[1]}'}
    assert (event.revenue, event.items) == (0, [])


def test_a_custom_event_stores_its_products_as_items(ctx: IngestContext) -> None:
    # Regression (issue 9, defect 2): JSON-encoded, 25+ products overran the 2048 cap.
    products = [{"product_id": f"p-{i}", "name": f"Product {i}", "price": 9.99} for i in range(30)]
    event = track(ctx, "Order Updated", {"order_id": "o-1", "products": products})
    assert [(i.item_id, i.price) for i in event.items] == [(f"p-{i}", 999) for i in range(30)]
    assert event.item_count == 30
    assert event.properties == {"order_id": "o-1"}


def test_track_needs_an_event_name(ctx: IngestContext) -> None:
    error = rejected(lambda: call(ctx, "track", properties={}))
    assert (error.message, error.field) == ("event is required for track calls", "event")


def test_products_searched_keeps_the_query_as_search_term(ctx: IngestContext) -> None:
    event = track(ctx, "Products Searched", {"query": "blue hotpants"})
    assert event.search_term == "blue hotpants"


def test_order_completed_maps_order_money_and_products_to_items(ctx: IngestContext) -> None:
    event = track(
        ctx,
        "Order Completed",
        {
            "order_id": "50314b8e9bcf000000000000",
            "total": 27.5,
            "revenue": 25.0,
            "shipping": 3,
            "tax": 2,
            "discount": 2.5,
            "coupon": "hasbros",
            "currency": "usd",
            "products": [
                {
                    "product_id": "507f1f77bcf86cd799439011",
                    "sku": "45790-32",
                    "name": "Monopoly: 3rd Edition",
                    "price": 19,
                    "quantity": 1,
                    "category": "Games",
                    "brand": "Hasbro",
                    "variant": "Classic",
                    "coupon": "toys",
                    "image_url": "https://www.example.com/product/path.jpg",
                    "url": "https://www.example.com/product/path",
                },
                {"sku": "46493-32", "name": "Uno Card Game", "price": 3.99, "quantity": 2},
            ],
        },
    )
    assert (event.event_type, event.transaction_id) == ("purchase", "50314b8e9bcf000000000000")
    # revenue wins over total (Segment's revenue excludes shipping and tax)
    assert (event.revenue, event.original_revenue, event.original_currency) == (2500, "25.0", "USD")
    assert (event.shipping, event.tax, event.discount) == (300, 200, 250)
    assert (event.coupon_code, event.currency, event.item_count) == ("hasbros", "USD", 3)
    first, second = event.items
    assert (first.item_id, first.item_name, first.item_category) == (
        "507f1f77bcf86cd799439011",
        "Monopoly: 3rd Edition",
        "Games",
    )
    assert (first.item_brand, first.item_variant, first.coupon_code) == (
        "Hasbro",
        "Classic",
        "toys",
    )
    assert first.item_image_url == "https://www.example.com/product/path.jpg"
    assert (first.price, first.original_price, first.quantity) == (1900, "19", 1)
    assert (second.item_id, second.price, second.quantity) == ("46493-32", 399, 2)  # sku fallback
    # products are stored as items, not also as a (long) JSON property
    assert "products" not in event.properties
    assert event.properties["order_id"] == "50314b8e9bcf000000000000"


def test_order_completed_falls_back_to_total(ctx: IngestContext) -> None:
    event = track(ctx, "Order Completed", {"order_id": "o-2", "total": "49.99"})
    assert (event.revenue, event.original_revenue) == (4999, "49.99")


@pytest.mark.parametrize("name", ["Order Completed", "Order Refunded"])
def test_orders_need_an_order_id(ctx: IngestContext, name: str) -> None:
    error = rejected(lambda: track(ctx, name, {"revenue": 10}))
    assert error.message == f"properties.order_id is required for {name} calls"
    assert error.field == "properties.order_id"


def test_order_completed_needs_revenue_or_total(ctx: IngestContext) -> None:
    error = rejected(lambda: track(ctx, "Order Completed", {"order_id": "o-3"}))
    assert error.message == (
        "properties.revenue or properties.total is required for Order Completed calls"
    )
    assert error.field == "properties.revenue"


def test_single_product_events_read_product_fields_from_the_top_level(
    ctx: IngestContext,
) -> None:
    event = track(
        ctx,
        "Product Added",
        {
            "cart_id": "skdjsidjsdkdj29j",
            "product_id": "507f1f77bcf86cd799439011",
            "name": "Monopoly: 3rd Edition",
            "price": 18.99,
            "quantity": 2,
            "brand": "Hasbro",
            "url": "https://www.example.com/product/path",
        },
    )
    assert (event.event_type, event.cart_id, event.item_count) == (
        "add_to_cart",
        "skdjsidjsdkdj29j",
        2,
    )
    [item] = event.items
    assert (item.item_id, item.price, item.quantity, item.item_brand) == (
        "507f1f77bcf86cd799439011",
        1899,
        2,
        "Hasbro",
    )
    assert event.properties["url"] == "https://www.example.com/product/path"


def test_sku_stands_in_for_a_missing_product_id(ctx: IngestContext) -> None:
    [item] = track(ctx, "Product Viewed", {"sku": "G-32"}).items
    assert item.item_id == "G-32"


def test_events_about_one_product_need_its_id(ctx: IngestContext) -> None:
    error = rejected(lambda: track(ctx, "Product Added", {"name": "Monopoly"}))
    assert error.message == "properties.product_id is required for Product Added calls"
    assert error.field == "properties.product_id"


def test_each_product_of_a_list_needs_an_id(ctx: IngestContext) -> None:
    props = {"products": [{"product_id": "a"}, {"name": "no id"}]}
    error = rejected(lambda: track(ctx, "Cart Viewed", props))
    assert error.message == "properties.products[1].product_id is required"
    assert error.field == "properties.products[1].product_id"


def test_products_must_be_an_array_of_objects(ctx: IngestContext) -> None:
    error = rejected(lambda: track(ctx, "Cart Viewed", {"products": {"product_id": "a"}}))
    assert error.field == "properties.products"
    error = rejected(lambda: track(ctx, "Cart Viewed", {"products": ["a"]}))
    assert (error.message, error.field) == (
        "properties.products[0] must be an object",
        "properties.products[0]",
    )


def test_products_over_the_item_limit_are_refused(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(limits=Limits(max_items=2))
    products = [{"product_id": str(i)} for i in range(3)]
    error = rejected(lambda: track(ctx, "Cart Viewed", {"products": products}))
    assert error.message == "properties.products has more than 2 entries"


def test_product_list_viewed_names_the_list_on_each_item(ctx: IngestContext) -> None:
    event = track(
        ctx,
        "Product List Viewed",
        {"list_id": "hot_deals_1", "category": "Deals", "products": [{"product_id": "a"}]},
    )
    [item] = event.items
    assert (item.item_list_id, item.item_list_name) == ("hot_deals_1", "Deals")


def test_coupon_applied_takes_its_coupon_name(ctx: IngestContext) -> None:
    event = track(ctx, "Coupon Applied", {"coupon_id": "c-1", "coupon_name": "SUMMER10"})
    assert (event.event_type, event.coupon_code) == ("coupon_applied", "SUMMER10")


# --- money -----------------------------------------------------------------------------


def test_decimal_amounts_become_exact_minor_units(ctx: IngestContext) -> None:
    event = track(ctx, "Order Completed", {"order_id": "o", "revenue": 0.29, "tax": 1.005})
    assert (event.revenue, event.tax) == (29, 101)  # half up, never 28.999…


def test_a_zero_decimal_base_currency_stores_whole_yen(make_ctx: MakeCtx) -> None:
    ctx = make_ctx("JPY")
    event = track(
        ctx,
        "Order Completed",
        {"order_id": "o", "revenue": 1500, "products": [{"product_id": "a", "price": 500.4}]},
    )
    assert (event.revenue, event.currency, event.original_currency) == (1500, "JPY", "JPY")
    assert event.items[0].price == 500  # rounded to whole yen


def test_other_currencies_convert_into_the_base_with_a_rate(make_ctx: MakeCtx) -> None:
    ctx = make_ctx("JPY", converter=CurrencyConverter({("USD", "JPY"): Decimal("150")}))
    event = track(
        ctx,
        "Order Completed",
        {
            "order_id": "o",
            "revenue": 19.99,
            "currency": "USD",
            "products": [{"product_id": "a", "price": 9.99}],
        },
    )
    assert (event.revenue, event.original_revenue, event.original_currency) == (
        2999,  # 2998.5 yen, half up
        "19.99",
        "USD",
    )
    [item] = event.items
    assert (item.price, item.original_price, item.original_currency) == (1499, "9.99", "USD")


def test_a_currency_without_a_rate_is_a_400_naming_the_amount(ctx: IngestContext) -> None:
    error = rejected(
        lambda: track(ctx, "Order Completed", {"order_id": "o", "total": 5, "currency": "EUR"})
    )
    assert error.field == "properties.total"
    assert "No exchange rate from EUR to USD" in error.message


def test_an_unknown_currency_is_a_400_naming_it(ctx: IngestContext) -> None:
    error = rejected(lambda: track(ctx, "Product Viewed", {"product_id": "a", "currency": "XXZ"}))
    assert (error.message, error.field) == ("Unknown currency 'XXZ'", "properties.currency")


def test_a_non_numeric_amount_is_a_400(ctx: IngestContext) -> None:
    props = {"products": [{"product_id": "a", "price": "cheap"}]}
    error = rejected(lambda: track(ctx, "Cart Viewed", props))
    assert (error.message, error.field) == (
        "properties.products[0].price must be a number",
        "properties.products[0].price",
    )


# --- common fields and context --------------------------------------------------------------


def test_context_maps_to_page_campaign_device_and_agent(ctx: IngestContext) -> None:
    event = track(
        ctx,
        "Product Viewed",
        {"product_id": "a"},
        anonymousId="anon-1",
        context={
            "page": {
                "url": "https://shop.example/p/a?utm_source=news&utm_term=boots",
                "referrer": "https://google.com/",
                "title": "Boots",
            },
            "campaign": {"source": "google", "medium": "cpc", "name": "spring", "content": "ad1"},
            "device": {"type": "ios", "id": "B5372DB0"},
            "os": {"name": "iOS", "version": "17.2"},
            "userAgent": "Mozilla/5.0 (iPhone)",
            "ip": "203.0.113.7",
            "locale": "en-US",
            "library": {"name": "analytics.js", "version": "next-1.0"},
            "referrer": {"id": "x", "type": "dataxu"},  # an object in analytics.js: ignored
        },
    )
    assert (event.user_id, event.anonymous_id) == ("u-1", "anon-1")
    assert (event.page_url, event.page_path, event.page_title, event.referrer) == (
        "https://shop.example/p/a?utm_source=news&utm_term=boots",
        "/p/a",
        "Boots",
        "https://google.com/",
    )
    # context.campaign wins; the page URL's utm_* only fill what it left empty
    assert (event.utm_source, event.utm_medium, event.utm_campaign) == ("google", "cpc", "spring")
    assert (event.utm_term, event.utm_content) == ("boots", "ad1")
    assert (event.device_type, event.os, event.user_agent) == ("ios", "iOS", "Mozilla/5.0 (iPhone)")
    assert event.properties["locale"] == "en-US"


def test_the_user_agent_is_the_messages_never_a_server_sdks(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(user_agent="analytics-python/2.3.0")
    assert track(ctx, "Order Shipped").user_agent == ""


def test_the_ip_is_never_kept_in_the_event(ctx: IngestContext) -> None:
    event = track(ctx, "Signed Up", context={"ip": "203.0.113.7"})
    assert event.ip_hash == ""  # seed 004's ip_hash is for landing-page events only
    assert b"203.0.113.7" not in msgspec.json.encode(event)


def test_a_wrongly_typed_context_field_is_a_400_naming_it(ctx: IngestContext) -> None:
    error = rejected(lambda: track(ctx, "Signed Up", context={"page": {"url": 5}}))
    assert error.field == "context.page.url"


def test_message_id_gives_a_deterministic_event_id_per_tenant(make_ctx: MakeCtx) -> None:
    ctx, other = make_ctx(), make_ctx()
    first = track(ctx, "Signed Up", messageId="ajs-next-1")
    again = track(ctx, "Signed Up", messageId="ajs-next-1")
    elsewhere = track(other, "Signed Up", messageId="ajs-next-1")
    assert first.event_id == again.event_id != elsewhere.event_id
    assert track(ctx, "Signed Up").event_id != track(ctx, "Signed Up").event_id


def test_timestamps_are_iso_then_original_timestamp_then_receive_time(
    ctx: IngestContext,
) -> None:
    iso = "2024-01-15T09:00:00.250Z"
    assert track(ctx, "A", timestamp=iso).timestamp == 1_705_309_200_250
    # RudderStack sends originalTimestamp; sentAt is accepted and does not shift the time
    rudder = track(ctx, "A", originalTimestamp=iso, sentAt="2024-01-15T10:00:00Z")
    assert rudder.timestamp == 1_705_309_200_250
    assert track(ctx, "A").timestamp == RECEIVED
    error = rejected(lambda: track(ctx, "A", timestamp="yesterday"))
    assert error.field == "timestamp"


def test_every_call_needs_a_user_or_anonymous_id(ctx: IngestContext) -> None:
    error = rejected(lambda: segment.one(encode({"event": "A"}), "track", ctx))
    assert (error.message, error.field) == ("userId or anonymousId is required", "userId")
    event = segment.one(encode({"event": "A", "anonymousId": 42}), "track", ctx)
    assert event.anonymous_id == "42"


def test_the_route_names_the_call_whatever_the_body_says(ctx: IngestContext) -> None:
    event = call(ctx, "page", type="track", event="ignored")
    assert event.event_type == "page_view"


def test_an_event_over_the_event_limit_is_a_413(ctx: IngestContext) -> None:
    big = {"userId": "u", "event": "A", "properties": {"blob": "x" * (32 * 1024)}}
    with pytest.raises(PayloadTooLarge):
        segment.one(encode(big), "track", ctx)


# --- other calls -------------------------------------------------------------------------


def test_page_calls_are_page_views_with_their_own_page_fields(ctx: IngestContext) -> None:
    event = call(
        ctx,
        "page",
        name="Pricing",
        category="Docs",
        properties={
            "url": "https://shop.example/pricing?utm_medium=email",
            "path": "/pricing",
            "title": "Pricing — Shop",
            "referrer": "https://news.example/",
        },
        context={"page": {"url": "https://stale.example/", "title": "Stale", "referrer": "r"}},
    )
    assert (event.event_type, event.event_name) == ("page_view", "page")
    assert (event.properties["name"], event.properties["category"]) == ("Pricing", "Docs")
    assert (event.page_url, event.page_path, event.page_title, event.referrer) == (
        "https://shop.example/pricing?utm_medium=email",
        "/pricing",
        "Pricing — Shop",
        "https://news.example/",
    )
    assert event.utm_medium == "email"


def test_a_page_without_own_fields_uses_the_context_page(ctx: IngestContext) -> None:
    event = call(ctx, "page", context={"page": {"url": "https://shop.example/a/b", "title": "B"}})
    assert (event.page_path, event.page_title) == ("/a/b", "B")


def test_screen_calls_are_screen_views_titled_with_the_screen_name(ctx: IngestContext) -> None:
    event = call(ctx, "screen", name="Home", properties={"variation": "blue"})
    assert (event.event_type, event.event_name, event.page_title) == (
        "screen_view",
        "screen",
        "Home",
    )
    assert event.properties == {"variation": "blue", "name": "Home"}


def test_identify_stores_traits_as_string_properties(ctx: IngestContext) -> None:
    event = call(
        ctx,
        "identify",
        traits={"email": "peter@example.com", "age": 31, "address": {"city": "Oslo"}},
    )
    assert event.event_type == "identify"
    assert event.properties == {
        "email": "peter@example.com",
        "age": "31",
        "address": '{"city":"Oslo"}',
    }


def test_identify_keeps_rudderstack_context_traits_under_top_level_traits(
    ctx: IngestContext,
) -> None:
    # RudderStack's SDKs send identify traits in context.traits (regression: they were dropped).
    event = call(
        ctx,
        "identify",
        anonymousId="anon-7",
        context={"traits": {"email": "old@example.com", "name": "Peter", "plan": None}},
        traits={"email": "new@example.com"},
    )
    assert event.properties == {"email": "new@example.com", "name": "Peter"}
    only_context = call(ctx, "identify", context={"traits": {"email": "a@example.com"}})
    assert only_context.properties == {"email": "a@example.com"}


def test_identify_context_traits_are_validated_like_traits(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    error = rejected(lambda: call(ctx, "identify", context={"traits": ["email"]}))
    assert error.field == "context.traits" and "object" in error.message
    limit = ctx.limits.max_properties
    half = {f"c{i}": "x" for i in range(limit // 2 + 1)}
    other = {f"t{i}": "x" for i in range(limit // 2 + 1)}
    error = rejected(lambda: call(ctx, "identify", context={"traits": half}, traits=other))
    assert error.field == "traits" and str(limit) in error.message


def test_alias_stores_the_previous_id(ctx: IngestContext) -> None:
    event = call(ctx, "alias", previousId="anon-9")
    assert (event.event_type, event.user_id, event.properties) == (
        "alias",
        "u-1",
        {"previousId": "anon-9"},
    )
    error = rejected(lambda: call(ctx, "alias"))
    assert (error.message, error.field) == ("previousId is required for alias calls", "previousId")


def test_group_stores_group_id_and_traits(ctx: IngestContext) -> None:
    event = call(ctx, "group", groupId="g-1", traits={"name": "Initech"})
    assert (event.event_type, event.properties) == ("group", {"name": "Initech", "groupId": "g-1"})
    assert rejected(lambda: call(ctx, "group")).field == "groupId"


# --- batch -----------------------------------------------------------------------------------


def test_a_batch_maps_every_message_under_the_batch_context(ctx: IngestContext) -> None:
    body = {
        "batch": [
            {"type": "identify", "userId": "u", "traits": {"plan": "pro"}},
            {"type": "track", "userId": "u", "event": "Signed Up", "context": {"locale": "nb"}},
            {"type": "page", "anonymousId": "a", "name": "Home"},
        ],
        "context": {"device": {"type": "android"}, "locale": "en"},
        "integrations": {"All": False},
        "sentAt": "2024-01-15T10:00:00Z",
        "writeKey": "pk_ignored_here",
    }
    events, rejections = segment.batch_events(encode(body), ctx)
    assert rejections == []
    assert [e.event_type for e in events] == ["identify", "Signed Up", "page_view"]
    assert [e.device_type for e in events] == ["android"] * 3
    # a message's own context fields win over the batch's
    assert [e.properties.get("locale") for e in events] == ["en", "nb", "en"]


def test_invalid_messages_are_reported_and_the_valid_ones_kept(ctx: IngestContext) -> None:
    # Regression (issue 9, defect 4): one invalid message used to reject the whole batch.
    body = {
        "batch": [
            {"type": "track", "userId": "u", "event": "A", "messageId": "m-0"},
            {"type": "track", "userId": "u", "messageId": "m-1"},
            {"type": "track", "userId": "u", "event": "C"},
            "not a message",
        ]
    }
    events, rejections = segment.batch_events(encode(body), ctx)
    assert [e.event_name for e in events] == ["A", "C"]
    assert rejections == [
        Rejected(1, "m-1", "event", "event is required for track calls"),
        Rejected(3, "", None, "body: Expected `object`, got `str`"),
    ]


@pytest.mark.parametrize(
    ("message", "rule", "field"),
    [
        ({"userId": "u"}, "type is required", "type"),
        (
            {"type": "click", "userId": "u"},
            "type must be one of: track, page, screen, identify, alias, group",
            "type",
        ),
        (
            {"type": "track", "userId": ["u"], "event": "A"},
            "userId: Expected `int | str | null`, got `array`",
            "userId",
        ),
        (
            {"type": "track", "userId": "u", "event": "Order Completed", "properties": {}},
            "properties.order_id is required for Order Completed calls",
            "properties.order_id",
        ),
    ],
)
def test_batch_rejections_name_the_message_field_and_rule(
    ctx: IngestContext, message: dict[str, Any], rule: str, field: str
) -> None:
    message = {"messageId": 42, **message}  # an integer messageId is reported as text
    events, rejections = segment.batch_events(encode({"batch": [message]}), ctx)
    assert (events, rejections) == ([], [Rejected(0, "42", field, rule)])


@pytest.mark.parametrize("body", [{}, {"batch": []}, {"batch": None}])
def test_a_batch_needs_messages(ctx: IngestContext, body: dict[str, Any]) -> None:
    error = rejected(lambda: segment.batch_events(encode(body), ctx))
    assert (error.message, error.field) == ("batch is required and must not be empty", "batch")


def test_an_oversized_batch_message_is_rejected_alone(ctx: IngestContext) -> None:
    big = {"type": "track", "userId": "u", "event": "A", "properties": {"b": "x" * 33_000}}
    body = {"batch": [{"type": "track", "userId": "u", "event": "A"}, {**big, "messageId": "b"}]}
    events, rejections = segment.batch_events(encode(body), ctx)
    assert len(events) == 1
    assert rejections == [Rejected(1, "b", None, "message is larger than 32768 bytes")]


def test_write_key_is_read_from_the_body_when_present() -> None:
    assert segment.write_key(b'{"writeKey": "pk_abc", "event": "A"}') == "pk_abc"
    assert segment.write_key(b'{"event": "A"}') is None
    assert segment.write_key(b'{"writeKey": 5}') is None
    assert segment.write_key(b"not json") is None
