"""The canonical Event every wire format is normalized to, and the event-type registry.

Field order matters: it is the column order of the ``events`` table (``items`` aside), so
a batch is turned into Arrow columns by transposing ``astuple`` rows (see ``columns.py``).
Timestamps are epoch milliseconds (UTC); money is Int64 minor units of the tenant's base
currency, with the amount as sent kept as a decimal string beside its currency.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


class Item(msgspec.Struct, array_like=True, omit_defaults=True):
    item_id: str
    item_name: str = ""
    item_category: str = ""
    item_brand: str = ""
    item_variant: str = ""
    item_list_name: str = ""
    item_list_id: str = ""
    item_image_url: str = ""
    price: int = 0  # base-currency minor units, per unit
    quantity: int = 1
    currency: str = ""
    original_price: str = "0"
    original_currency: str = ""
    coupon_code: str = ""
    discount: int = 0


class Event(msgspec.Struct, array_like=True, omit_defaults=True):
    tenant_id: int
    event_id: str
    event_type: str
    event_name: str
    source: str
    timestamp: int  # epoch ms, UTC
    received_at: int  # epoch ms, UTC
    user_id: str = ""
    anonymous_id: str = ""
    visitor_id: str = ""
    session_id: str = ""
    cart_id: str = ""
    page_url: str = ""
    page_path: str = ""
    page_title: str = ""
    referrer: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    channel: str = ""
    device_type: str = ""
    platform: str = ""
    os: str = ""
    browser: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    user_agent: str = ""
    ip_hash: str = ""
    transaction_id: str = ""
    currency: str = ""
    revenue: int = 0
    discount: int = 0
    shipping: int = 0
    tax: int = 0
    original_currency: str = ""
    original_revenue: str = "0"
    coupon_code: str = ""
    search_term: str = ""
    item_count: int = 0
    is_flagged: int = 0
    fraud_reasons: list[str] = msgspec.field(default_factory=list)
    properties: dict[str, str] = msgspec.field(default_factory=dict)
    items: list[Item] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class EventType:
    """What an ecommerce event type requires (seed 002's table)."""

    name: str
    description: str
    requires_items: bool = False
    requires_transaction: bool = False
    requires_revenue: bool = False


# Seed 002's 13 ecommerce event types, as data: one entry per type.
ECOMMERCE_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("view_item", "User views a product page", requires_items=True),
        EventType("add_to_cart", "Item added to cart", requires_items=True),
        EventType("remove_from_cart", "Item removed from cart", requires_items=True),
        EventType("add_to_wishlist", "Item added to wishlist", requires_items=True),
        EventType("view_cart", "User views their cart"),
        EventType("add_payment_info", "Payment method entered"),
        EventType("begin_checkout", "Checkout flow started"),
        EventType("purchase", "Order completed", requires_transaction=True, requires_revenue=True),
        EventType("refund", "Order refunded", requires_transaction=True, requires_revenue=True),
        EventType("search", "Product search performed"),
        EventType("share", "Product shared"),
        EventType("rate", "Product rated"),
        EventType("spend_credits", "Loyalty credits redeemed", requires_revenue=True),
    )
}

# Event types whose transaction_id is de-duplicated (seed 002).
DEDUPLICATED_TYPES = frozenset({"purchase", "refund"})
