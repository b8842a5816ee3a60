"""Store reports (seed 003): products, categories, revenue trend, channels and countries.

Money is Int64 minor units of the tenant's base currency, as on ``/analytics/sales`` (the
same surface family). Every figure is over the period ``[start, end)`` and ignores flagged
events (``is_flagged = 1``). Definitions (docs/api.md repeats them):

- Products (rows of ``event_items``, so an item is counted where the event listed it):
  ``revenue`` = sum(price * quantity) over ``purchase`` rows; ``units`` = sum(quantity)
  over them; ``orders`` = distinct purchase events listing the item; ``views`` = distinct
  ``view_item`` events listing it; ``conversion_rate`` = orders / views * 100, one decimal
  (half up), 0 without views; it can exceed 100 (purchases without a tracked view).
  ``item_name`` is the latest non-empty name seen on any of those rows. These are the
  definitions of :func:`shoplens.metrics.breakdowns.top_products` plus views (that function
  has neither views nor other sort orders, hence this query).
- Categories: purchase rows of ``event_items`` grouped by ``item_category`` (empty →
  ``"uncategorized"``); revenue/units/orders as for products, so a category's revenue is
  **item revenue** (price * quantity); ``share_of_revenue`` = 100 * category revenue / the
  period's item revenue (all categories), one decimal. Item revenue is not order revenue
  (an order's ``revenue`` also carries shipping and tax, net of order discounts), so the
  report gives both totals, each named for what it is: ``item_revenue`` (what the shares
  are of) and ``order_revenue`` (the sales total, as ``/analytics/sales`` reports it).
- Revenue trend: :func:`shoplens.metrics.sales.series` (revenue, orders per bucket) with
  ``aov`` = revenue / orders per bucket, rounded half up to a minor unit, 0 without orders.
- Channels: the ``revenue-by-channel`` breakdown of :mod:`~shoplens.metrics.breakdowns`
  (purchases grouped by utm campaign/source/medium, untagged purchases left out) plus
  ``share_of_revenue`` of the period's total purchase revenue.
- Countries: the ``revenue-by-country`` breakdown (empty country → ``"unknown"``) plus
  ``share_of_revenue``.

Ordering: rows by the sort figure descending, then revenue, orders (descending) and the key,
so ties are stable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any, LiteralString

from shoplens.ingest.money import to_minor
from shoplens.meta import Tenant
from shoplens.metrics import sales
from shoplens.metrics.breakdowns import BREAKDOWNS, run_breakdown
from shoplens.metrics.parallel import gather
from shoplens.metrics.period import Period
from shoplens.metrics.sales import aov, percent
from shoplens.metrics.sql import EVENT_ITEMS, Query, bucket, run_rows
from shoplens.store import Store

SORT_BY = ("revenue", "units", "orders", "views")
UNCATEGORIZED = "uncategorized"
_SORT_COLUMNS: dict[str, LiteralString] = {
    "revenue": "revenue_minor",
    "units": "units",
    "orders": "order_count",
    "views": "view_count",
}
_PURCHASE: LiteralString = "event_type = 'purchase'"
_LINE: LiteralString = "event_items.price * toInt64(event_items.quantity)"


@dataclass(frozen=True)
class ProductStats:
    """One product's figures over a period (money in minor units)."""

    item_id: str
    item_name: str
    revenue: int
    units: int
    orders: int
    views: int

    @property
    def conversion_rate(self) -> float:
        return percent(self.orders, self.views)


@dataclass(frozen=True)
class ProductPoint:
    date: str
    revenue: int
    units: int
    views: int


@dataclass(frozen=True)
class TrendPoint:
    date: str
    revenue: int
    orders: int

    @property
    def aov(self) -> int:
        return aov(self.revenue, self.orders)


def _product_query(tenant: Tenant, period: Period) -> Query:
    """Purchase and view_item rows of ``event_items``, with the product sums selected."""
    return (
        Query.from_table(EVENT_ITEMS, tenant.id, period.start, period.end)
        .where("is_flagged = 0")
        .where("event_type IN ('purchase', 'view_item')")
        .select(f"sumIf({_LINE}, {_PURCHASE})", alias="revenue_minor")
        .select(f"sumIf(toInt64(event_items.quantity), {_PURCHASE})", alias="units")
        .select(f"uniqExactIf(event_id, {_PURCHASE})", alias="order_count")
        .select("uniqExactIf(event_id, event_type = 'view_item')", alias="view_count")
    )


def _stats(item_id: str, row: dict[str, Any]) -> ProductStats:
    return ProductStats(
        item_id=item_id,
        item_name=row["latest_name"],
        revenue=int(row["revenue_minor"]),
        units=int(row["units"]),
        orders=int(row["order_count"]),
        views=int(row["view_count"]),
    )


def top_products(
    store: Store,
    tenant: Tenant,
    period: Period,
    sort_by: str = "revenue",
    limit: int = 10,
    *,
    sold_only: bool = False,
) -> list[ProductStats]:
    """Products with a purchase or a view in ``period`` (with ``sold_only``: a unit sold),
    best ``sort_by`` first."""
    if sort_by not in _SORT_COLUMNS:
        raise ValueError(f"unknown sort_by {sort_by!r}")
    q = (
        _product_query(tenant, period)
        .select("item_id")
        .select("argMaxIf(item_name, timestamp, item_name != '')", alias="latest_name")
        .group_by("item_id")
        .having("units > {min_units}", min_units=0 if sold_only else -1)
        .order_by(_SORT_COLUMNS[sort_by], "DESC")
        .order_by("revenue_minor", "DESC")
        .order_by("order_count", "DESC")
        .order_by("item_id")
        .limit(limit)
    )
    return [_stats(row["item_id"], row) for row in run_rows(store, q)]


def product(store: Store, tenant: Tenant, period: Period, item_id: str) -> ProductStats:
    """One product's totals (zeros and an empty name when it had no rows in ``period``)."""
    q = (
        _product_query(tenant, period)
        .where("item_id = {item}", item=item_id)
        .select("argMaxIf(item_name, timestamp, item_name != '')", alias="latest_name")
    )
    [row] = run_rows(store, q)
    return _stats(item_id, row)


def product_series(
    store: Store, tenant: Tenant, period: Period, item_id: str
) -> list[ProductPoint]:
    """One product's revenue, units and views per local day of ``period``, zero-filled."""
    daily = replace(period, granularity="day")
    q = (
        _product_query(tenant, daily)
        .where("item_id = {item}", item=item_id)
        .select(bucket("timestamp", "day", daily.timezone), alias="bucket")
        .group_by("bucket")
    )
    found = {row["bucket"].astimezone(UTC): row for row in run_rows(store, q)}
    points = []
    for start in daily.buckets():
        row = found.get(start.astimezone(UTC))
        key = start.date().isoformat()
        if row is None:
            points.append(ProductPoint(key, 0, 0, 0))
        else:
            stats = _stats(item_id, {**row, "latest_name": ""})
            points.append(ProductPoint(key, stats.revenue, stats.units, stats.views))
    return points


def product_detail(
    store: Store, tenant: Tenant, period: Period, item_id: str
) -> tuple[ProductStats, list[ProductPoint]]:
    """:func:`product` and :func:`product_series` together, their statements run at once."""
    return gather(
        lambda: product(store, tenant, period, item_id),
        lambda: product_series(store, tenant, period, item_id),
    )


@dataclass(frozen=True)
class CategoryReport:
    """Per-category rows and the period's two revenue totals (minor units)."""

    rows: list[dict[str, Any]]  # {category, revenue, units, orders, share_of_revenue}
    item_revenue: int  # Σ price x quantity of purchased items: what the shares are of
    order_revenue: int  # Σ purchase revenue: the sales total


def categories(store: Store, tenant: Tenant, period: Period, limit: int = 20) -> CategoryReport:
    """Per-category rows ``{category, revenue, units, orders, share_of_revenue}`` (revenue:
    item revenue), the period's total item revenue they are shares of, and its order
    revenue (the three statements run at once)."""
    base = (
        Query.from_table(EVENT_ITEMS, tenant.id, period.start, period.end)
        .where("is_flagged = 0")
        .where(_PURCHASE)
    )
    q = base.select(
        "if(item_category = '', {unc}, item_category)", alias="category", unc=UNCATEGORIZED
    )
    q = (
        q.select(f"sum({_LINE})", alias="revenue_minor")
        .select("sum(toInt64(event_items.quantity))", alias="units")
        .select("uniqExact(event_id)", alias="order_count")
        .group_by("category")
        .order_by("revenue_minor", "DESC")
        .order_by("order_count", "DESC")
        .order_by("category")
        .limit(limit)
    )
    totals, found, order_revenue = gather(
        lambda: run_rows(store, base.select(f"sum({_LINE})", alias="revenue_minor")),
        lambda: run_rows(store, q),
        lambda: sales.totals(store, tenant, period).revenue,
    )
    total = int(totals[0]["revenue_minor"])
    rows = [
        {
            "category": row["category"],
            "revenue": int(row["revenue_minor"]),
            "units": int(row["units"]),
            "orders": int(row["order_count"]),
            "share_of_revenue": percent(int(row["revenue_minor"]), total),
        }
        for row in found
    ]
    return CategoryReport(rows, item_revenue=total, order_revenue=order_revenue)


def revenue_trend(store: Store, tenant: Tenant, period: Period) -> list[TrendPoint]:
    """:func:`sales.series` per bucket of ``period``'s granularity, with the bucket's AOV."""
    return [TrendPoint(p.date, p.revenue, p.orders) for p in sales.series(store, tenant, period)]


def _with_shares(rows: list[dict[str, Any]], currency: str, total: int) -> list[dict[str, Any]]:
    """Breakdown rows with revenue back in minor units and their share of ``total``."""
    out = []
    for row in rows:
        revenue = to_minor(row["revenue"], currency)
        item = {**row, "revenue": revenue, "share_of_revenue": percent(revenue, total)}
        if "conversion_rate" in item:
            item["conversion_rate"] = float(item["conversion_rate"])
        out.append(item)
    return out


def _breakdown_with_shares(
    store: Store, tenant: Tenant, period: Period, path: str, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """A breakdown's rows with shares of the period's purchase revenue (both statements run
    at once: the total reads the rollup while the breakdown scans raw events)."""
    total, rows = gather(
        lambda: sales.totals(store, tenant, period).revenue,
        lambda: run_breakdown(store, tenant, period, BREAKDOWNS[path], limit),
    )
    return _with_shares(rows, tenant.base_currency, total), total


def channels(
    store: Store, tenant: Tenant, period: Period, limit: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """Tagged channels ``{campaign, source, medium, revenue, orders, conversion_rate,
    share_of_revenue}`` and the period's total purchase revenue (tagged or not)."""
    return _breakdown_with_shares(store, tenant, period, "revenue-by-channel", limit)


def countries(
    store: Store, tenant: Tenant, period: Period, limit: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """``{country, revenue, orders, share_of_revenue}`` rows and the total purchase revenue."""
    return _breakdown_with_shares(store, tenant, period, "revenue-by-country", limit)
