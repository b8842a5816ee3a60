"""Segment / RudderStack HTTP Tracking API messages → canonical Events.

A message is one of six calls, named by its ``type``: track, page, screen, identify, alias
and group. Every call shares the common fields (``userId``/``anonymousId``, ``messageId``,
``timestamp``, ``context``). ``track`` calls named after Segment's E-commerce spec v2
events become the canonical ecommerce types (``SPEC_EVENTS``): their decimal, major-unit
amounts are converted to the tenant's base currency and their products become items. Any
other event name is a custom event kept under the name as sent.

A batch is not all-or-nothing, as Segment's API is not (SDKs drop a batch answered 400):
its valid messages are accepted and each invalid one (a broken rule, a message over the
event size limit) is reported by index, messageId, field and rule (``ingest.rejections``).
Only a body that is not JSON or has no messages is a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from shoplens.errors import BadRequest, PayloadTooLarge
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import ECOMMERCE_TYPES, Event, Item
from shoplens.ingest.formats import decode
from shoplens.ingest.handlers import check_event_size
from shoplens.ingest.money import exponent
from shoplens.ingest.normalize import (
    apply_page,
    convert,
    event_id,
    finish,
    finish_items,
    identifier,
    major_amount,
    properties,
    quantity,
    sent_at,
    text,
    timestamp_ms,
)
from shoplens.ingest.rejections import Rejected

SOURCE = "segment"
MAX_EVENT_NAME = 200  # event_type is LowCardinality: keep custom names name-sized
_SHORT = 256  # cap of the LowCardinality context columns (utm_*, device, os), as elsewhere

# Products carried by a spec event: none, one (its fields at the top level of
# ``properties``) or a list (``properties.products``).
NONE, ONE, LIST = "none", "one", "list"


@dataclass(frozen=True)
class SpecEvent:
    """A Segment E-commerce spec v2 event: its canonical type and where its products are."""

    event_type: str
    products: str = NONE


# Segment's E-commerce spec v2 names → canonical types, as data: one entry per event.
# What each canonical type requires (order id, revenue, a product) is ECOMMERCE_TYPES'.
SPEC_EVENTS: dict[str, SpecEvent] = {
    "Products Searched": SpecEvent("search"),
    "Product List Viewed": SpecEvent("view_item_list", LIST),
    "Product Clicked": SpecEvent("select_item", ONE),
    "Product Viewed": SpecEvent("view_item", ONE),
    "Product Added": SpecEvent("add_to_cart", ONE),
    "Product Removed": SpecEvent("remove_from_cart", ONE),
    "Cart Viewed": SpecEvent("view_cart", LIST),
    "Checkout Started": SpecEvent("begin_checkout", LIST),
    "Payment Info Entered": SpecEvent("add_payment_info"),
    "Order Completed": SpecEvent("purchase", LIST),
    "Order Refunded": SpecEvent("refund", LIST),
    "Product Added to Wishlist": SpecEvent("add_to_wishlist", ONE),
    "Product Shared": SpecEvent("share", ONE),
    "Product Reviewed": SpecEvent("rate", ONE),
    "Coupon Applied": SpecEvent("coupon_applied"),
}
# Calls other than track → their event type (track's comes from its event name).
CALL_TYPES: dict[str, str] = {
    "page": "page_view",
    "screen": "screen_view",
    "identify": "identify",
    "alias": "alias",
    "group": "group",
}
CALLS = ("track", *CALL_TYPES)


# Only the context fields shoplens reads are declared; msgspec ignores the rest
# (library, screen, referrer — an object in analytics.js —, …).
class PageContext(msgspec.Struct):
    url: str | None = None
    path: str | None = None
    referrer: str | None = None
    title: str | None = None


class CampaignContext(msgspec.Struct):
    source: str | None = None
    medium: str | None = None
    name: str | None = None
    term: str | None = None
    content: str | None = None


class DeviceContext(msgspec.Struct):
    type: str | None = None


class OsContext(msgspec.Struct):
    name: str | None = None


class ContextIn(msgspec.Struct):
    page: PageContext | None = None
    campaign: CampaignContext | None = None
    device: DeviceContext | None = None
    os: OsContext | None = None
    userAgent: str | None = None
    ip: str | None = None
    locale: str | None = None
    # RudderStack's SDKs send an identify's traits here instead of in top-level ``traits``.
    traits: dict[str, Any] | None = None


class MessageIn(msgspec.Struct):
    type: str | None = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    userId: str | int | None = None
    anonymousId: str | int | None = None
    previousId: str | int | None = None
    groupId: str | int | None = None
    messageId: str | int | None = None
    timestamp: str | int | None = None
    originalTimestamp: str | int | None = None
    sentAt: str | int | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: ContextIn | None = None


class BatchIn(msgspec.Struct):
    batch: list[msgspec.Raw] | None = None
    context: ContextIn | None = None
    sentAt: str | int | None = None


class _WriteKeyIn(msgspec.Struct):
    writeKey: str | None = None


# --- entry points --------------------------------------------------------------------


def write_key(body: bytes) -> str | None:
    """``writeKey`` from a body (analytics.js sends it there), or None if absent/unreadable."""
    try:
        return decode(body, _WriteKeyIn).writeKey or None
    except BadRequest:
        return None


def one(body: bytes, call: str, ctx: IngestContext) -> Event:
    """The body of a single-call route (``/v1/track`` …): the route names the call."""
    check_event_size(len(body), ctx)
    message = decode(body, MessageIn)
    message.type = call
    return to_event(message, ctx)


class BatchOutcome(NamedTuple):
    """A ``/v1/batch`` body: the events of its valid messages and the invalid ones."""

    events: list[Event]
    rejected: list[Rejected]


class _MessageIdIn(msgspec.Struct):
    messageId: Any = None


def _message_id(raw: msgspec.Raw) -> str:
    """The messageId of a message that may be invalid, for its report ("" if unreadable)."""
    try:
        value = msgspec.json.decode(raw, type=_MessageIdIn).messageId
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    return value[:_SHORT] if isinstance(value, str) else "" if value is None else str(value)


def batch_events(body: bytes, ctx: IngestContext) -> BatchOutcome:
    """The valid messages of a ``/v1/batch`` body as events, and the invalid ones."""
    batch = decode(body, BatchIn)
    if not batch.batch:
        raise BadRequest("batch is required and must not be empty", field="batch")
    outcome = BatchOutcome([], [])
    for i, raw in enumerate(batch.batch):
        try:
            if len(raw) > ctx.limits.max_event_bytes:
                raise PayloadTooLarge(f"message is larger than {ctx.limits.max_event_bytes} bytes")
            message = decode(raw, MessageIn)
            message.context = _merged(batch.context, message.context)
            if message.sentAt is None:  # analytics-node stamps the batch, not each message
                message.sentAt = batch.sentAt
            outcome.events.append(to_event(message, ctx))
        except (BadRequest, PayloadTooLarge) as exc:
            outcome.rejected.append(Rejected(i, _message_id(raw), exc.field, exc.message))
    return outcome


def to_event(raw: MessageIn, ctx: IngestContext) -> Event:
    """One message → Event. Its IP goes to the stages as a fact and is never stored."""
    build = _BUILDERS.get(raw.type or "")
    if build is None:
        if not raw.type:
            raise BadRequest("type is required", field="type")
        raise BadRequest(f"type must be one of: {', '.join(CALLS)}", field="type")
    event = _common(raw, ctx)
    build(event, raw, ctx)
    context = raw.context or ContextIn()
    # A page/screen call's own url/path/referrer/title describe the page better than
    # the context's (Segment's page spec); other calls only have the context's.
    own = (raw.properties or {}) if raw.type in ("page", "screen") else {}
    _apply_page_fields(event, context.page or PageContext(), own, ctx)
    if raw.type == "screen" and not event.page_title:
        event.page_title = text(raw.name, "name", ctx)
    if context.locale:
        event.properties.setdefault("locale", text(context.locale, "context.locale", ctx))
    # Segment uses the request's address when the message has none, as analytics.js relies
    # on (a browser cannot know its IP); ``finish`` decides whether that is the shopper's.
    return finish(
        event,
        ctx,
        forwarded_ip=text(context.ip, "context.ip", ctx),
        sent_at=sent_at(_client_time(raw), raw.sentAt, "sentAt", ctx),
    )


# --- common fields ---------------------------------------------------------------------


def _merged(outer: ContextIn | None, inner: ContextIn | None) -> ContextIn | None:
    """A batch's top-level context under a message's own: the message's fields win."""
    if outer is None or inner is None:
        return inner or outer
    return ContextIn(
        **{
            name: getattr(inner, name) if getattr(inner, name) is not None else getattr(outer, name)
            for name in ContextIn.__struct_fields__
        }
    )


def _timestamp(raw: MessageIn, ctx: IngestContext) -> int:
    """``timestamp`` (Segment) or ``originalTimestamp`` (RudderStack), else receive time.

    This is the client's clock. The clock stage corrects it with ``sentAt`` as Segment
    does (``timestamp = receivedAt - (sentAt - originalTimestamp)``, ``ingest.clock``).
    Retries stay idempotent: the event id comes from ``messageId``, so a resent message is
    the same row id, and a client clock within the skew tolerance is not corrected at all,
    so the retry's timestamp — part of the sorting key ReplacingMergeTree collapses on — is
    identical too. A clock off by more than the tolerance is corrected per attempt, and its
    retries may differ by their latency difference (``Clock.correct``).
    """
    if raw.timestamp is not None:
        return timestamp_ms(raw.timestamp, "timestamp", ctx)
    return timestamp_ms(raw.originalTimestamp, "originalTimestamp", ctx)


def _client_time(raw: MessageIn) -> str | int | None:
    return raw.timestamp if raw.timestamp is not None else raw.originalTimestamp


def _short(value: str | None, field: str, ctx: IngestContext) -> str:
    return text(value, field, ctx)[:_SHORT]


def _common(raw: MessageIn, ctx: IngestContext) -> Event:
    user_id = identifier(raw.userId, "userId", ctx)
    anonymous_id = identifier(raw.anonymousId, "anonymousId", ctx)
    if not user_id and not anonymous_id:
        raise BadRequest("userId or anonymousId is required", field="userId")
    context = raw.context or ContextIn()
    campaign = context.campaign or CampaignContext()
    # The user agent gets no fallback to the request's: analytics.js always sends
    # context.userAgent, so the request's is a server SDK's, not the shopper's.
    kind = raw.type or ""
    return Event(
        tenant_id=ctx.tenant.id,
        event_id=event_id(ctx, identifier(raw.messageId, "messageId", ctx) or None),
        event_type=CALL_TYPES.get(kind, kind),
        event_name=kind,
        source=SOURCE,
        timestamp=_timestamp(raw, ctx),
        received_at=ctx.received_at,
        user_id=user_id,
        anonymous_id=anonymous_id,
        utm_source=_short(campaign.source, "context.campaign.source", ctx),
        utm_medium=_short(campaign.medium, "context.campaign.medium", ctx),
        utm_campaign=_short(campaign.name, "context.campaign.name", ctx),
        utm_term=_short(campaign.term, "context.campaign.term", ctx),
        utm_content=_short(campaign.content, "context.campaign.content", ctx),
        device_type=_short((context.device or DeviceContext()).type, "context.device.type", ctx),
        os=_short((context.os or OsContext()).name, "context.os.name", ctx),
        user_agent=text(context.userAgent, "context.userAgent", ctx),
        currency=ctx.tenant.base_currency,
        original_currency=ctx.tenant.base_currency,
    )


def _apply_page_fields(
    event: Event, page: PageContext, own: dict[str, Any], ctx: IngestContext
) -> None:
    def pick(key: str) -> str:
        if own.get(key) is not None:
            return text(own[key], f"properties.{key}", ctx)
        return text(getattr(page, key), f"context.page.{key}", ctx)

    apply_page(event, pick("url"), pick("referrer"))
    path = pick("path")
    if path:
        event.page_path = path
    event.page_title = pick("title")


# --- calls -----------------------------------------------------------------------------


def _track(event: Event, raw: MessageIn, ctx: IngestContext) -> None:
    name = text(raw.event, "event", ctx)
    if not name:
        raise BadRequest("event is required for track calls", field="event")
    if len(name) > MAX_EVENT_NAME:
        raise BadRequest(f"event is longer than {MAX_EVENT_NAME} characters", field="event")
    spec = SPEC_EVENTS.get(name)
    source = raw.properties or {}
    event.event_name = name
    event.event_type = spec.event_type if spec else name
    # A products array is stored as items; JSON-encoded it would also overrun the
    # property length cap for any real order. That holds for the spec's list events and
    # for custom ones too (the spec's Order Updated, Product List Filtered, …).
    custom_list = spec is None and isinstance(source.get("products"), list)
    listed = custom_list or (spec is not None and spec.products == LIST)
    kept = {k: v for k, v in source.items() if k != "products"} if listed else source
    event.properties = properties(kept, "properties", ctx)
    if spec:
        _ecommerce(event, spec, source, ctx)
    elif custom_list:
        as_list = SpecEvent(event.event_type, LIST)
        items = _items(as_list, source, _currency(source, ctx), ctx, event.timestamp)
        finish_items(event, items)


def _page(event: Event, raw: MessageIn, ctx: IngestContext) -> None:
    props = properties(raw.properties, "properties", ctx)
    for key, value in (("name", raw.name), ("category", raw.category)):
        if value is not None:
            props.setdefault(key, text(value, key, ctx))
    event.properties = props


def _identify(event: Event, raw: MessageIn, ctx: IngestContext) -> None:
    """Traits from ``context.traits`` (RudderStack) and ``traits`` (Segment); on a key
    sent in both, the top-level one wins."""
    context = properties((raw.context or ContextIn()).traits, "context.traits", ctx)
    merged = context | properties(raw.traits, "traits", ctx)
    if len(merged) > ctx.limits.max_properties:
        raise BadRequest(
            f"traits and context.traits have more than {ctx.limits.max_properties} keys",
            field="traits",
        )
    event.properties = merged


def _alias(event: Event, raw: MessageIn, ctx: IngestContext) -> None:
    previous_id = identifier(raw.previousId, "previousId", ctx)
    if not previous_id:
        raise BadRequest("previousId is required for alias calls", field="previousId")
    if not event.user_id:
        raise BadRequest("userId is required for alias calls", field="userId")
    event.properties = {"previousId": previous_id}


def _group(event: Event, raw: MessageIn, ctx: IngestContext) -> None:
    group_id = identifier(raw.groupId, "groupId", ctx)
    if not group_id:
        raise BadRequest("groupId is required for group calls", field="groupId")
    event.properties = properties(raw.traits, "traits", ctx) | {"groupId": group_id}


_BUILDERS: dict[str, Callable[[Event, MessageIn, IngestContext], None]] = {
    "track": _track,
    "page": _page,
    "screen": _page,
    "identify": _identify,
    "alias": _alias,
    "group": _group,
}


# --- e-commerce spec ---------------------------------------------------------------------


def _currency(props: dict[str, Any], ctx: IngestContext) -> str:
    currency = text(props.get("currency"), "properties.currency", ctx).upper()
    if not currency:
        return ctx.tenant.base_currency
    try:
        exponent(currency)
    except BadRequest as exc:
        raise BadRequest(exc.message, field="properties.currency") from None
    return currency


_COUPON_KEYS = ("coupon", "coupon_name", "coupon_id")


def _ecommerce(event: Event, spec: SpecEvent, props: dict[str, Any], ctx: IngestContext) -> None:
    """Order, money and product fields of a spec event; requirements per canonical type."""
    label = event.event_name
    rules = ECOMMERCE_TYPES.get(spec.event_type)
    order_id = identifier(props.get("order_id"), "properties.order_id", ctx)
    if rules and rules.requires_transaction and not order_id:
        raise BadRequest(
            f"properties.order_id is required for {label} calls", field="properties.order_id"
        )
    # Segment's revenue excludes shipping and tax, total includes them: revenue first.
    revenue_field = "revenue" if props.get("revenue") is not None else "total"
    revenue = major_amount(props.get(revenue_field), f"properties.{revenue_field}")
    if rules and rules.requires_revenue and revenue is None:
        raise BadRequest(
            f"properties.revenue or properties.total is required for {label} calls",
            field="properties.revenue",
        )
    currency = _currency(props, ctx)
    event.transaction_id = order_id
    event.original_currency = currency
    event.revenue, event.original_revenue = convert(
        ctx, revenue, currency, f"properties.{revenue_field}", at_ms=event.timestamp
    )
    for name in ("shipping", "tax", "discount"):
        field = f"properties.{name}"
        amount = major_amount(props.get(name), field)
        setattr(event, name, convert(ctx, amount, currency, field, at_ms=event.timestamp)[0])
    # Coupon Applied names its coupon coupon_name/coupon_id; orders say coupon.
    coupon_key = next((k for k in _COUPON_KEYS if props.get(k) is not None), "coupon")
    event.coupon_code = identifier(props.get(coupon_key), f"properties.{coupon_key}", ctx)
    event.cart_id = identifier(props.get("cart_id"), "properties.cart_id", ctx)
    if spec.event_type == "search":
        event.search_term = text(props.get("query"), "properties.query", ctx)
    items = _items(spec, props, currency, ctx, event.timestamp)
    if rules and rules.requires_items and not items:
        raise BadRequest(
            f"properties.product_id is required for {label} calls", field="properties.product_id"
        )
    finish_items(event, items)


def _items(
    spec: SpecEvent, props: dict[str, Any], currency: str, ctx: IngestContext, at_ms: int
) -> list[Item]:
    if spec.products == ONE:
        item = _item(props, "properties", currency, ctx, at_ms)
        return [item] if item else []
    if spec.products != LIST or props.get("products") is None:
        return []
    products = props["products"]
    if not isinstance(products, list):
        raise BadRequest("properties.products must be an array", field="properties.products")
    if len(products) > ctx.limits.max_items:
        raise BadRequest(
            f"properties.products has more than {ctx.limits.max_items} entries",
            field="properties.products",
        )
    items = []
    for i, product in enumerate(products):
        field = f"properties.products[{i}]"
        if not isinstance(product, dict):
            raise BadRequest(f"{field} must be an object", field=field)
        item = _item(product, field, currency, ctx, at_ms)
        if item is None:
            raise BadRequest(f"{field}.product_id is required", field=f"{field}.product_id")
        if spec.event_type == "view_item_list":
            # The list's id and category name the list every product was seen in.
            item.item_list_id = identifier(props.get("list_id"), "properties.list_id", ctx)
            item.item_list_name = text(props.get("category"), "properties.category", ctx)
        items.append(item)
    return items


def _item(
    product: dict[str, Any], field: str, currency: str, ctx: IngestContext, at_ms: int
) -> Item | None:
    """A Segment product (``product_id``, else ``sku``) → Item; None without either id."""
    item_id = identifier(product.get("product_id"), f"{field}.product_id", ctx) or identifier(
        product.get("sku"), f"{field}.sku", ctx
    )
    if not item_id:
        return None
    price, original_price = convert(
        ctx,
        major_amount(product.get("price"), f"{field}.price"),
        currency,
        f"{field}.price",
        at_ms=at_ms,
    )
    return Item(
        item_id=item_id,
        item_name=text(product.get("name"), f"{field}.name", ctx),
        item_category=text(product.get("category"), f"{field}.category", ctx),
        item_brand=text(product.get("brand"), f"{field}.brand", ctx),
        item_variant=text(product.get("variant"), f"{field}.variant", ctx),
        item_image_url=text(product.get("image_url"), f"{field}.image_url", ctx),
        price=price,
        quantity=quantity(product.get("quantity"), f"{field}.quantity"),
        currency=ctx.tenant.base_currency,
        original_price=original_price,
        original_currency=currency,
        coupon_code=text(product.get("coupon"), f"{field}.coupon", ctx),
    )
