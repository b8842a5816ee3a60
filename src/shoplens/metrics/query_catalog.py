"""What the custom query (``POST /analytics/query``) can ask for: metrics and dimensions as data.

Every entry is SQL written here, in code; a request only names entries. docs/metrics.md
documents each one (tests/metrics/test_query_catalog.py fails when an entry is missing
there), and ``GET /analytics/query/catalog`` lists them with their descriptions.

A query is answered at one of two grains:

- ``events``: one row per event (the ``events`` table).
- ``items``: one row per purchased/viewed/carted item (``event_items``), used as soon as a
  dimension or filter is about products (product, product_name, product_category, brand).
  Event-level dimensions are then read from the item's event through a join.

A metric has an aggregate for each grain it can be answered at (``None``: it cannot, and a
query combining it with a product dimension is refused with the list of what is allowed).
Every money metric excludes flagged events (``is_flagged != 0``) and is Int64 minor units of
the tenant's base currency in SQL, returned as integer minor units (the core surface's unit,
seeds 000/001; ``aov`` rounded half up to a whole minor unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, LiteralString

from shoplens.metrics.funnel import CART_ABANDONMENT_RATE_SQL

Grain = Literal["events", "items"]
Kind = Literal["money", "count", "percent"]

_PURCHASE = "event_type = 'purchase' AND is_flagged = 0"
_REFUND = "event_type = 'refund' AND is_flagged = 0"


@dataclass(frozen=True)
class Metric:
    """One metric: an aggregate over events rows and/or over item rows."""

    name: str
    description: str
    kind: Kind
    events: LiteralString | None
    items: LiteralString | None = None
    #: needs the all-history first-purchase subquery bound as ``{first_buyers}``
    needs_first_buyers: bool = False
    #: the event types its aggregate reads (None: every type); a query whose metrics all
    #: name types reads only those rows — ``event_type`` leads the sorting key
    types: tuple[str, ...] | None = None

    def sql(self, grain: Grain) -> LiteralString | None:
        return self.events if grain == "events" else self.items


@dataclass(frozen=True)
class Dimension:
    """One dimension: its expression at each grain (``None``: not available there).

    ``time`` dimensions are buckets of ``timestamp`` in the tenant's time zone;
    ``item_only`` dimensions force the items grain. At the items grain an event-level
    dimension is read from the joined event (column ``e_<name>``).
    """

    name: str
    description: str
    column: LiteralString | None = None  # the events column (events grain)
    item_column: LiteralString | None = None  # the event_items column (items grain)
    time: bool = False

    @property
    def item_only(self) -> bool:
        return self.column is None and not self.time


def _m(
    name: str,
    description: str,
    kind: Kind,
    events: LiteralString | None,
    items: LiteralString | None = None,
    *,
    types: tuple[str, ...] | None = None,
    needs_first_buyers: bool = False,
) -> Metric:
    return Metric(name, description, kind, events, items, needs_first_buyers, types)


_SALES = ("purchase",)
_REFUNDS = ("refund",)
_SALES_AND_REFUNDS = ("purchase", "refund")


_REVENUE = f"sumIf(revenue, {_PURCHASE})"
_ITEM_REVENUE = f"sumIf(price * quantity, {_PURCHASE})"
_REFUND_AMOUNT = f"sumIf(revenue, {_REFUND})"
_ITEM_REFUND_AMOUNT = f"sumIf(price * quantity, {_REFUND})"
_ORDERS = f"countIf({_PURCHASE})"
_ITEM_ORDERS = f"uniqExactIf(event_id, {_PURCHASE})"

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _m(
            "revenue",
            "Gross revenue: sum of purchase revenue (items grain: price x quantity of the "
            "purchased items).",
            "money",
            _REVENUE,
            _ITEM_REVENUE,
            types=_SALES,
        ),
        _m(
            "net_revenue",
            "Revenue minus refunded amounts.",
            "money",
            f"{_REVENUE} - {_REFUND_AMOUNT}",
            f"{_ITEM_REVENUE} - {_ITEM_REFUND_AMOUNT}",
            types=_SALES_AND_REFUNDS,
        ),
        _m(
            "orders",
            "Number of purchases (items grain: purchases containing the item).",
            "count",
            _ORDERS,
            _ITEM_ORDERS,
            types=_SALES,
        ),
        _m(
            "aov",
            "Average order value: revenue / orders (0 without orders).",
            "money",
            f"if({_ORDERS} = 0, 0, {_REVENUE} / {_ORDERS})",
            f"if({_ITEM_ORDERS} = 0, 0, {_ITEM_REVENUE} / {_ITEM_ORDERS})",
            types=_SALES,
        ),
        _m(
            "units",
            "Units sold: the quantities of the purchased items.",
            "count",
            f"sumIf(item_count, {_PURCHASE})",
            f"sumIf(quantity, {_PURCHASE})",
            types=_SALES,
        ),
        _m(
            "refunds",
            "Number of refunds (items grain: refunds containing the item).",
            "count",
            f"countIf({_REFUND})",
            f"uniqExactIf(event_id, {_REFUND})",
            types=_REFUNDS,
        ),
        _m(
            "refund_amount",
            "Refunded amount (items grain: price x quantity of the refunded items).",
            "money",
            _REFUND_AMOUNT,
            _ITEM_REFUND_AMOUNT,
            types=_REFUNDS,
        ),
        _m("visitors", "Distinct visitors (visitor_id).", "count", "uniq(visitor_id)"),
        _m(
            "sessions",
            "Distinct sessions (events with a session id).",
            "count",
            "uniqIf(session_id, session_id != '')",
        ),
        _m(
            "pageviews",
            "Page view events.",
            "count",
            "countIf(event_type = 'page_view')",
            types=("page_view",),
        ),
        _m(
            "product_views",
            "Product views (view_item; items grain: viewed items).",
            "count",
            "countIf(event_type = 'view_item')",
            "countIf(event_type = 'view_item')",
            types=("view_item",),
        ),
        _m(
            "add_to_carts",
            "Add-to-cart events (items grain: items added).",
            "count",
            "countIf(event_type = 'add_to_cart')",
            "countIf(event_type = 'add_to_cart')",
            types=("add_to_cart",),
        ),
        _m(
            "checkouts",
            "Checkouts started (begin_checkout events).",
            "count",
            "countIf(event_type = 'begin_checkout')",
            types=("begin_checkout",),
        ),
        _m(
            "events",
            "Every event of any type.",
            "count",
            "count()",
            None,
        ),
        _m(
            "customers",
            "Distinct identified customers (user_id) with a purchase.",
            "count",
            f"uniqExactIf(user_id, {_PURCHASE} AND user_id != '')",
            f"uniqExactIf(user_id, {_PURCHASE} AND user_id != '')",
            types=_SALES,
        ),
        _m(
            "conversion_rate",
            "100 x visitors with a purchase / visitors, one decimal.",
            "percent",
            "if(uniq(visitor_id) = 0, 0, "
            f"100 * uniqIf(visitor_id, {_PURCHASE}) / uniq(visitor_id))",
        ),
        _m(
            "cart_abandonment_rate",
            "100 x carts abandoned / carts, one decimal: a cart is a visitor with an "
            "add_to_cart; it is abandoned unless a purchase follows the last add_to_cart "
            "(the one definition, docs/metrics.md).",
            "percent",
            CART_ABANDONMENT_RATE_SQL,
            types=("add_to_cart", "purchase"),
        ),
        _m(
            "new_customers",
            "Customers whose first purchase ever falls in the period.",
            "count",
            f"uniqExactIf(user_id, {_PURCHASE} AND user_id != '' AND user_id IN {{first_buyers}})",
            f"uniqExactIf(user_id, {_PURCHASE} AND user_id != '' AND user_id IN {{first_buyers}})",
            needs_first_buyers=True,
            types=_SALES,
        ),
        _m(
            "returning_customers",
            "Customers with a purchase in the period and one before it.",
            "count",
            f"uniqExactIf(user_id, {_PURCHASE} AND user_id != '' "
            "AND user_id NOT IN {first_buyers})",
            f"uniqExactIf(user_id, {_PURCHASE} AND user_id != '' "
            "AND user_id NOT IN {first_buyers})",
            needs_first_buyers=True,
            types=_SALES,
        ),
    )
}


def _d(
    name: str,
    description: str,
    column: LiteralString | None,
    item_column: LiteralString | None = None,
) -> Dimension:
    return Dimension(name, description, column, item_column)


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("hour", "Local hour (tenant time zone).", time=True),
        Dimension("day", "Local date (tenant time zone).", time=True),
        Dimension("week", "Local week, starting Monday.", time=True),
        Dimension("month", "Local month.", time=True),
        _d("product", "Product id (item_id).", None, "item_id"),
        _d("product_name", "Product name as sent with the item.", None, "item_name"),
        _d("product_category", "Product category as sent with the item.", None, "item_category"),
        _d("brand", "Product brand as sent with the item.", None, "item_brand"),
        _d("country", "Country (ISO 3166-1 alpha-2) from the IP.", "country"),
        _d("region", "Region (subdivision) from the IP where known.", "region"),
        _d("city", "City from the IP where known.", "city"),
        _d("device", "Device type: desktop, mobile, tablet, bot, server.", "device_type"),
        _d("platform", "Platform sent by the client or read from the User-Agent.", "platform"),
        _d("os", "Operating system from the User-Agent.", "os"),
        _d("browser", "Browser from the User-Agent.", "browser"),
        _d("source", "utm_source (or the referrer's source).", "utm_source"),
        _d("medium", "utm_medium.", "utm_medium"),
        _d("campaign", "utm_campaign.", "utm_campaign"),
        _d("channel", "Channel: direct, organic search, paid search, social, email...", "channel"),
        _d("coupon", "Order coupon code.", "coupon_code"),
        _d(
            "currency",
            "Currency the amounts were sent in (before conversion).",
            "original_currency",
        ),
        _d("page", "Page path.", "page_path"),
        _d("referrer", "Referrer URL.", "referrer"),
        _d("event", "Event type (page_view, view_item, purchase...).", "event_type", "event_type"),
    )
}
