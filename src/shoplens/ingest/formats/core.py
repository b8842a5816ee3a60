"""Seeds 000/001: ``POST /analytics/event`` and ``/analytics/event/batch``.

Amounts are integers in minor units (``"total": 6578`` is $65.78). The seeds' standard
events map to the canonical ecommerce types so every report sees one vocabulary; any
other name is a custom event kept under its own name.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from shoplens.errors import BadRequest
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event, Item
from shoplens.ingest.formats import ContextIn
from shoplens.ingest.money import exponent
from shoplens.ingest.normalize import (
    apply_page,
    convert,
    event_id,
    finish,
    finish_items,
    identifier,
    minor_amount,
    properties,
    quantity,
    sent_at,
    text,
    timestamp_ms,
)

# The seeds' standard event names → canonical type (seed 002's vocabulary), as data.
STANDARD_EVENTS: dict[str, str] = {
    "page_view": "page_view",
    "product_view": "view_item",
    "add_to_cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "checkout_started": "begin_checkout",
    "payment_completed": "add_payment_info",
    "order_completed": "purchase",
    "order_refunded": "refund",
    "search": "search",
}
# Types that describe one product (productId in properties).
_PRODUCT_TYPES = {"view_item", "add_to_cart", "remove_from_cart"}
_ORDER_TYPES = {"purchase", "refund"}
_CUSTOM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\- ]{0,63}$")


class CoreEventIn(msgspec.Struct):
    event: str | None = None
    id: str | None = None
    userId: str | int | None = None
    anonymousId: str | None = None
    sessionId: str | None = None
    timestamp: str | int | None = None
    sentAt: str | int | None = None  # extension (ingest.clock)
    properties: dict[str, Any] | None = None
    context: ContextIn | None = None


class CoreBatchIn(msgspec.Struct):
    events: list[msgspec.Raw] | None = None
    #: extension: the client's send time, for clock-skew correction (``ingest.clock``)
    sentAt: str | int | None = None


def _product_item(props: dict[str, Any], currency: str, ctx: IngestContext, at_ms: int) -> Item:
    product_id = identifier(props.get("productId"), "properties.productId", ctx)
    if not product_id:
        raise BadRequest("properties.productId is required", field="properties.productId")
    price, original = convert(
        ctx,
        minor_amount(props.get("price"), "properties.price", currency),
        currency,
        "properties.price",
        at_ms=at_ms,
    )
    return Item(
        item_id=product_id,
        item_name=text(props.get("name"), "properties.name", ctx),
        item_category=text(props.get("category"), "properties.category", ctx),
        item_brand=text(props.get("brand"), "properties.brand", ctx),
        item_variant=text(props.get("variantId"), "properties.variantId", ctx),
        price=price,
        quantity=quantity(props.get("quantity"), "properties.quantity"),
        currency=ctx.tenant.base_currency,
        original_price=original,
        original_currency=currency,
    )


def _order_items(value: list[Any], currency: str, ctx: IngestContext, at_ms: int) -> list[Item]:
    """``items`` given as a list of product objects (an order's, a checkout's, or a custom
    event's); at most ``max_items`` of them."""
    if len(value) > ctx.limits.max_items:
        raise BadRequest(
            f"properties.items has more than {ctx.limits.max_items} entries",
            field="properties.items",
        )
    items = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise BadRequest(
                f"properties.items[{i}] must be an object", field=f"properties.items[{i}]"
            )
        try:
            items.append(_product_item(entry, currency, ctx, at_ms))
        except BadRequest as exc:
            field = f"properties.items[{i}].{(exc.field or '').removeprefix('properties.')}"
            raise BadRequest(exc.message.replace(exc.field or "", field), field=field) from None
    return items


def client_id(raw: CoreEventIn, ctx: IngestContext) -> str | None:
    """The client's own ``id`` (resending it is the same event), or None."""
    return text(raw.id, "id", ctx) or None


def to_event(raw: CoreEventIn, ctx: IngestContext) -> Event:
    if not raw.event:
        raise BadRequest("event is required", field="event")
    if not _CUSTOM_NAME.match(raw.event):
        raise BadRequest(
            "event must be 1-64 letters, digits, spaces or _.:- starting with a letter or digit",
            field="event",
        )
    kind = STANDARD_EVENTS.get(raw.event, raw.event)
    source_props = raw.properties or {}
    # A list of products is stored as items (event_items), not as one property string:
    # JSON-encoded it would overrun the string cap for any order of 25 or more items.
    listed = isinstance(source_props.get("items"), list) and kind not in _PRODUCT_TYPES
    kept = {k: v for k, v in source_props.items() if k != "items"} if listed else source_props
    props = properties(kept, "properties", ctx)
    currency = text(source_props.get("currency"), "properties.currency", ctx).upper()
    currency = currency or ctx.tenant.base_currency
    exponent(currency)  # an unknown code is a 400 even when no amount needs it
    context = raw.context or ContextIn()

    event = Event(
        tenant_id=ctx.tenant.id,
        event_id=event_id(ctx, client_id(raw, ctx)),
        event_type=kind,
        event_name=raw.event,
        source="core",
        timestamp=timestamp_ms(raw.timestamp, "timestamp", ctx),
        received_at=ctx.received_at,
        user_id=identifier(raw.userId, "userId", ctx),
        anonymous_id=text(raw.anonymousId, "anonymousId", ctx),
        session_id=text(raw.sessionId, "sessionId", ctx),
        cart_id=identifier(source_props.get("cartId"), "properties.cartId", ctx),
        user_agent=text(context.userAgent, "context.userAgent", ctx) or ctx.user_agent,
        currency=ctx.tenant.base_currency,
        original_currency=currency,
        coupon_code=text(source_props.get("coupon"), "properties.coupon", ctx),
        search_term=text(source_props.get("query"), "properties.query", ctx),
        properties=props,
    )
    page = source_props.get("page") if kind == "page_view" else None
    apply_page(
        event,
        text(page or context.page, "context.page", ctx),
        text(source_props.get("referrer") or context.referrer, "properties.referrer", ctx),
    )

    items: list[Item] = []
    if kind in _PRODUCT_TYPES:
        items = [_product_item(source_props, currency, ctx, event.timestamp)]
    elif kind in _ORDER_TYPES or kind == "begin_checkout":
        if kind in _ORDER_TYPES:
            order_id = identifier(source_props.get("orderId"), "properties.orderId", ctx)
            if not order_id:
                raise BadRequest(
                    f"properties.orderId is required for {raw.event} events",
                    field="properties.orderId",
                )
            if source_props.get("total") is None:
                raise BadRequest(
                    f"properties.total is required for {raw.event} events", field="properties.total"
                )
            event.transaction_id = order_id
        amount = minor_amount(source_props.get("total"), "properties.total", currency)
        event.revenue, event.original_revenue = convert(
            ctx, amount, currency, "properties.total", at_ms=event.timestamp
        )
    if listed:
        items = _order_items(source_props["items"], currency, ctx, event.timestamp)
    finish_items(event, items)
    if not items:
        count = source_props.get("items", source_props.get("itemCount"))
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            if count > 2**32 - 1:  # item_count is UInt32
                field = "properties.items" if "items" in source_props else "properties.itemCount"
                raise BadRequest(f"{field} is too large", field=field)
            event.item_count = count
    return finish(
        event,
        ctx,
        forwarded_ip=text(context.ip, "context.ip", ctx),
        sent_at=sent_at(raw.timestamp, raw.sentAt, "sentAt", ctx),
    )
