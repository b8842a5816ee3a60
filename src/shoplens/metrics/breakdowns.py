"""Revenue breakdowns (seed 002): purchases grouped by one whitelisted dimension set.

The registry is data: a :class:`Breakdown` names its grouping columns (``events`` columns,
checked against the whitelist at import), the response keys they become, and the optional
extra figures it reports. Adding a breakdown is one entry in :data:`BREAKDOWNS` (the routes
are generated from it) plus one test row.

Definitions (every figure excludes flagged events, ``is_flagged = 1``):

- ``revenue``: sum of the purchases' ``revenue`` (Int64 minor units of the base currency),
  returned as a Decimal in major units, rounded to the currency's digits.
- ``orders``: number of purchase events (one per transaction: ingestion de-duplicates by
  ``transaction_id``).
- ``conversion_rate`` (channels): ``orders / visitors * 100``, one decimal, where visitors
  are the distinct ``visitor_id`` values of *any* event in the period that carried the same
  campaign/source/medium. Several orders by one visitor count separately, so it can exceed
  100. Untagged traffic (campaign, source and medium all empty) is not a channel and is
  left out; a part that is empty on a tagged event is reported as ``""``.
- ``avg_discount`` (coupons): mean ``discount`` of the orders with that ``coupon_code``
  (orders without a coupon are left out), computed exactly, rounded to the currency.
- devices / platforms / countries: the typed ``device_type``/``platform``/``country``
  columns, filled at ingestion by the enrichment stage (``ingest/enrich.py``) from the IP
  and User-Agent; an empty value (no IP or UA, a private address) is ``"unknown"``.
- top products (:func:`top_products`): purchase rows of ``event_items``; ``revenue`` =
  sum(price * quantity), ``quantity`` = sum(quantity), ``orders`` = distinct events,
  ``item_name`` = the latest non-empty name. Always read from the raw table: the
  ``items_hourly`` rollup has neither names nor distinct orders (it counts item rows, so
  an order listing one SKU twice would count twice).

Rows are ordered by revenue (desc), then orders (desc), then the keys, so ties are stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, LiteralString

from shoplens.ingest.money import from_minor
from shoplens.meta import Tenant
from shoplens.metrics.period import Period
from shoplens.metrics.sql import EVENT_ITEMS, EVENTS, VISITOR, Expr, Query, run_rows
from shoplens.store import Store

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
UNKNOWN = "unknown"
EXTRAS = ("conversion_rate", "avg_discount")


@dataclass(frozen=True)
class Dimension:
    """One grouping column and the response key it becomes."""

    column: str
    key: str
    unknown: str | None = None  # the label for an empty value (None: report "" as is)


@dataclass(frozen=True)
class Breakdown:
    """One revenue breakdown: ``GET /v1/api/analytics/ecommerce/<path>`` → ``{<key>: [...]}``.

    ``only`` is an extra predicate on the events counted (written in code, no values);
    ``extras`` are figures from :data:`EXTRAS` beyond revenue and orders.
    """

    path: str
    key: str
    dimensions: tuple[Dimension, ...]
    only: LiteralString | None = None
    extras: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for dimension in self.dimensions:
            if dimension.column not in EVENTS.columns:
                raise ValueError(f"{dimension.column!r} is not an events column")
        if unknown := set(self.extras) - set(EXTRAS):
            raise ValueError(f"unknown extras {sorted(unknown)}")


BREAKDOWNS: dict[str, Breakdown] = {
    b.path: b
    for b in (
        Breakdown(
            "revenue-by-channel",
            "channels",
            (
                Dimension("utm_campaign", "campaign"),
                Dimension("utm_source", "source"),
                Dimension("utm_medium", "medium"),
            ),
            only="utm_campaign != '' OR utm_source != '' OR utm_medium != ''",
            extras=("conversion_rate",),
        ),
        Breakdown(
            "revenue-by-coupon",
            "coupons",
            (Dimension("coupon_code", "coupon_code"),),
            only="coupon_code != ''",
            extras=("avg_discount",),
        ),
        Breakdown(
            "revenue-by-device", "devices", (Dimension("device_type", "device_type", UNKNOWN),)
        ),
        Breakdown(
            "revenue-by-platform", "platforms", (Dimension("platform", "platform", UNKNOWN),)
        ),
        Breakdown("revenue-by-country", "countries", (Dimension("country", "country", UNKNOWN),)),
    )
}


def _grouping(dimension: Dimension) -> Expr:
    # Column names come from the registry, checked against the whitelist above.
    column = dimension.column
    if dimension.unknown is None:
        return Expr(column)
    return Expr(f"if({column} = '', {{unknown}}, {column})", {"unknown": dimension.unknown})


def breakdown_query(breakdown: Breakdown, tenant_id: int, period: Period, limit: int) -> Query:
    """The one query of a breakdown: grouped purchases (and visitors, for conversion)."""
    q = Query.from_table(EVENTS, tenant_id, period.start, period.end).where("is_flagged = 0")
    keys = [f"key_{i}" for i in range(len(breakdown.dimensions))]
    for dimension, alias in zip(breakdown.dimensions, keys, strict=True):
        q = q.select(_grouping(dimension), alias=alias)
    q = q.select("countIf(event_type = 'purchase')", alias="order_count")
    q = q.select("sumIf(events.revenue, event_type = 'purchase')", alias="revenue_minor")
    if "avg_discount" in breakdown.extras:
        q = q.select("sumIf(events.discount, event_type = 'purchase')", alias="discount_minor")
    if "conversion_rate" in breakdown.extras:
        # Visitors come from every event type, so the type filter is the purchase count's.
        q = q.select(f"uniqExactIf({VISITOR}, visitor_id != '')", alias="visitor_count")
    else:
        q = q.where("event_type = 'purchase'")
    if breakdown.only is not None:
        q = q.where(breakdown.only)
    q = q.group_by(*keys).having("order_count > 0")
    q = q.order_by("revenue_minor", "DESC").order_by("order_count", "DESC")
    for key in keys:
        q = q.order_by(key)
    return q.limit(limit)


def run_breakdown(
    store: Store, tenant: Tenant, period: Period, breakdown: Breakdown, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """The breakdown's rows in its response shape, money as Decimals in the base currency."""
    currency = tenant.base_currency
    out = []
    for row in run_rows(store, breakdown_query(breakdown, tenant.id, period, limit)):
        item: dict[str, Any] = {d.key: row[f"key_{i}"] for i, d in enumerate(breakdown.dimensions)}
        orders = int(row["order_count"])
        item["revenue"] = from_minor(row["revenue_minor"], currency)
        item["orders"] = orders
        if "conversion_rate" in breakdown.extras:
            visitors = int(row["visitor_count"])
            rate = Decimal(orders * 100) / visitors if visitors else Decimal(0)
            item["conversion_rate"] = rate.quantize(Decimal("0.1"), ROUND_HALF_UP)
        if "avg_discount" in breakdown.extras:
            item["avg_discount"] = from_minor(Decimal(row["discount_minor"]) / orders, currency)
        out.append(item)
    return out


def top_products(
    store: Store, tenant: Tenant, period: Period, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """Best-selling items by revenue: ``{item_id, item_name, revenue, quantity, orders}``."""
    q = (
        Query.from_table(EVENT_ITEMS, tenant.id, period.start, period.end)
        .where("event_type = 'purchase'")
        .where("is_flagged = 0")
        .select("item_id")
        .select("argMaxIf(item_name, timestamp, item_name != '')", alias="latest_name")
        .select("sum(event_items.price * toInt64(event_items.quantity))", alias="revenue_minor")
        .select("sum(toInt64(event_items.quantity))", alias="units")
        .select("uniqExact(event_id)", alias="order_count")
        .group_by("item_id")
        .order_by("revenue_minor", "DESC")
        .order_by("order_count", "DESC")
        .order_by("item_id")
        .limit(limit)
    )
    currency = tenant.base_currency
    return [
        {
            "item_id": row["item_id"],
            "item_name": row["latest_name"],
            "revenue": from_minor(row["revenue_minor"], currency),
            "quantity": int(row["units"]),
            "orders": int(row["order_count"]),
        }
        for row in run_rows(store, q)
    ]
