"""Seed 002: ``POST /v1/api/analytics/ecommerce/{track,batch}``.

Amounts are decimals in ``currency`` (default: the tenant's base currency); items carry
seed 002's item fields. ``properties.campaign/source/medium`` are the campaign the event
belongs to (revenue-by-channel and attribution read them), as the seed's example shows.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shoplens.errors import BadRequest
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import ECOMMERCE_TYPES, Event, Item
from shoplens.ingest.formats import ContextIn
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

MAX_BATCH = 100


class ItemIn(msgspec.Struct):
    item_id: str | int | None = None
    item_name: str | None = None
    item_category: str | None = None
    item_brand: str | None = None
    item_variant: str | None = None
    item_list_name: str | None = None
    item_list_id: str | None = None
    item_image_url: str | None = None
    price: int | float | None = None
    quantity: float | None = None
    currency: str | None = None
    coupon_code: str | None = None
    discount: int | float | None = None


class EcommerceIn(msgspec.Struct):
    event_type: str | None = None
    transaction_id: str | int | None = None
    revenue: int | float | None = None
    currency: str | None = None
    user_id: str | int | None = None
    anonymous_id: str | None = None
    session_id: str | None = None
    cart_id: str | None = None
    coupon_code: str | None = None
    discount: int | float | None = None
    shipping: int | float | None = None
    tax: int | float | None = None
    items: list[ItemIn] | None = None
    properties: dict[str, Any] | None = None
    timestamp: str | int | None = None
    sentAt: str | int | None = None  # extension (ingest.clock)
    search_term: str | None = None
    page_url: str | None = None
    referrer: str | None = None
    context: ContextIn | None = None


class BatchIn(msgspec.Struct):
    events: list[msgspec.Raw] | None = None
    #: extension: the client's send time, for clock-skew correction (``ingest.clock``)
    sentAt: str | int | None = None


def to_item(raw: ItemIn, index: int, currency: str, ctx: IngestContext, at_ms: int) -> Item:
    field = f"items[{index}]"
    item_id = identifier(raw.item_id, f"{field}.item_id", ctx)
    if not item_id:
        raise BadRequest(f"{field}.item_id is required", field=f"{field}.item_id")
    item_currency = (raw.currency or currency).upper()
    exponent(item_currency)
    price, original_price = convert(
        ctx,
        major_amount(raw.price, f"{field}.price"),
        item_currency,
        f"{field}.price",
        at_ms=at_ms,
    )
    discount, _ = convert(
        ctx,
        major_amount(raw.discount, f"{field}.discount"),
        item_currency,
        f"{field}.discount",
        at_ms=at_ms,
    )
    return Item(
        item_id=item_id,
        item_name=text(raw.item_name, f"{field}.item_name", ctx),
        item_category=text(raw.item_category, f"{field}.item_category", ctx),
        item_brand=text(raw.item_brand, f"{field}.item_brand", ctx),
        item_variant=text(raw.item_variant, f"{field}.item_variant", ctx),
        item_list_name=text(raw.item_list_name, f"{field}.item_list_name", ctx),
        item_list_id=text(raw.item_list_id, f"{field}.item_list_id", ctx),
        item_image_url=text(raw.item_image_url, f"{field}.item_image_url", ctx),
        price=price,
        quantity=quantity(raw.quantity, f"{field}.quantity"),
        currency=ctx.tenant.base_currency,
        original_price=original_price,
        original_currency=item_currency,
        coupon_code=text(raw.coupon_code, f"{field}.coupon_code", ctx),
        discount=discount,
    )


def _base(
    ctx: IngestContext, value: int | float | None, currency: str, field: str, at_ms: int
) -> int:
    """An optional order-level amount in base minor units (0 when absent)."""
    return convert(ctx, major_amount(value, field), currency, field, at_ms=at_ms)[0]


def to_event(raw: EcommerceIn, ctx: IngestContext) -> Event:
    """Apply seed 002's rules (required fields per type, its error texts) and normalize."""
    if not raw.event_type:
        raise BadRequest("event_type is required", field="event_type")
    spec = ECOMMERCE_TYPES.get(raw.event_type)
    if spec is None:
        raise BadRequest("Invalid ecommerce event_type", field="event_type")
    name = spec.name
    transaction_id = identifier(raw.transaction_id, "transaction_id", ctx)
    if spec.requires_transaction and not transaction_id:
        raise BadRequest(f"transaction_id is required for {name} events", field="transaction_id")
    if spec.requires_revenue and raw.revenue is None:
        raise BadRequest(f"revenue is required for {name} events", field="revenue")
    if spec.requires_items and not raw.items:
        raise BadRequest(f"items is required for {name} events", field="items")
    if raw.items and len(raw.items) > ctx.limits.max_items:
        raise BadRequest(f"items has more than {ctx.limits.max_items} entries", field="items")

    currency = (raw.currency or ctx.tenant.base_currency).upper()
    exponent(currency)  # an unknown code is a 400 even when no amount needs it
    props = properties(raw.properties, "properties", ctx)
    at_ms = timestamp_ms(raw.timestamp, "timestamp", ctx)  # amounts convert at its day's rate
    revenue, original_revenue = convert(
        ctx, major_amount(raw.revenue, "revenue"), currency, "revenue", at_ms=at_ms
    )
    context = raw.context or ContextIn()
    event = Event(
        tenant_id=ctx.tenant.id,
        event_id=event_id(ctx, None),
        event_type=name,
        event_name=name,
        source="ecommerce",
        timestamp=at_ms,
        received_at=ctx.received_at,
        user_id=identifier(raw.user_id, "user_id", ctx),
        anonymous_id=text(raw.anonymous_id, "anonymous_id", ctx),
        session_id=text(raw.session_id, "session_id", ctx),
        cart_id=text(raw.cart_id, "cart_id", ctx),
        utm_source=props.get("source", "")[:256],
        utm_medium=props.get("medium", "")[:256],
        utm_campaign=props.get("campaign", "")[:256],
        user_agent=text(context.userAgent, "context.userAgent", ctx) or ctx.user_agent,
        transaction_id=transaction_id,
        currency=ctx.tenant.base_currency,
        revenue=revenue,
        discount=_base(ctx, raw.discount, currency, "discount", at_ms),
        shipping=_base(ctx, raw.shipping, currency, "shipping", at_ms),
        tax=_base(ctx, raw.tax, currency, "tax", at_ms),
        original_currency=currency,
        original_revenue=original_revenue,
        coupon_code=text(raw.coupon_code, "coupon_code", ctx),
        search_term=text(raw.search_term or props.get("search_term"), "search_term", ctx),
        properties=props,
    )
    apply_page(
        event,
        text(raw.page_url or context.page, "page_url", ctx),
        text(raw.referrer or context.referrer, "referrer", ctx),
    )
    items = raw.items or []
    finish_items(event, [to_item(item, i, currency, ctx, at_ms) for i, item in enumerate(items)])
    return finish(
        event,
        ctx,
        forwarded_ip=text(context.ip, "context.ip", ctx),
        sent_at=sent_at(raw.timestamp, raw.sentAt, "sentAt", ctx),
    )
