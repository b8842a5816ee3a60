"""Sales: revenue, orders, refunds, AOV, items sold, cart rates and a zero-filled series.

Definitions (docs/api.md repeats them). Every figure is over the period ``[start, end)`` and
ignores events marked ``is_flagged = 1`` (stored for review, never counted). Money is Int64
minor units of the tenant's base currency (amounts are converted at ingestion).

- ``revenue``: sum of ``purchase`` revenue; ``orders``: number of ``purchase`` events
  (already de-duplicated by transaction id at ingestion).
- ``refunds``: number of ``refund`` events; ``refund_amount``: sum of their revenue (sent
  as a positive amount); ``net_revenue = revenue - refund_amount``.
- ``aov = revenue / orders`` rounded half up to a whole minor unit, 0 without orders.
- ``items_sold``: sum of purchases' item quantities (``item_count``).
- ``add_to_cart_rate``: 100 * persons with an ``add_to_cart`` / persons with a
  ``view_item``; ``cart_abandonment_rate``: the one cart abandonment rate, defined in
  :mod:`shoplens.metrics.funnel` (100 * carts without a purchase at or after their last
  ``add_to_cart`` / carts). Rates are rounded half up to one decimal and 0 when the
  denominator is 0. Persons are :data:`shoplens.metrics.funnel.PERSON` (today the
  ``visitor_id``: anonymous id, user id or IP hash, whichever the event had first).
- ``growth(current, previous)``: ``(current - previous) / previous * 100`` to one decimal,
  None when ``previous`` is 0; the previous period is :meth:`Period.previous`.

Planner: revenue, orders, refunds and items are sums by event type and hour, which the
``events_hourly`` rollup answers exactly; it is used when the period's bounds and every
bucket boundary fall on whole UTC hours (true for every whole-hour-offset zone), else the raw
``events`` table is read. Both give identical numbers (tests/metrics/test_sales.py). The
visitor rates always read raw events: they need per-visitor sets, not hourly counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Literal

from shoplens.meta import Tenant
from shoplens.metrics import funnel
from shoplens.metrics.parallel import gather
from shoplens.metrics.period import Period
from shoplens.metrics.rounding import one_decimal, percent, round_half_up
from shoplens.metrics.sql import (
    EPOCH,
    EVENTS,
    EVENTS_HOURLY,
    Query,
    Table,
    bucket,
    run_rows,
)
from shoplens.store import Store

Source = Literal["raw", "rollup"]
_HOUR = timedelta(hours=1)
_SALES_TYPES = ["purchase", "refund"]
_FUNNEL_TYPES = ["view_item", "add_to_cart", "purchase"]


@dataclass(frozen=True)
class SalesTotals:
    """The additive sales figures of one period (minor units and counts)."""

    revenue: int
    orders: int
    refunds: int
    refund_amount: int
    items_sold: int

    @property
    def net_revenue(self) -> int:
        return self.revenue - self.refund_amount

    @property
    def aov(self) -> int:
        """Average order value in minor units, rounded half up; 0 without orders."""
        return aov(self.revenue, self.orders)


@dataclass(frozen=True)
class CartRates:
    """Visitor counts behind the cart rates, and the rates (percent, one decimal)."""

    viewers: int
    carts: int
    abandoned: int

    @property
    def add_to_cart_rate(self) -> float:
        return percent(self.carts, self.viewers)

    @property
    def cart_abandonment_rate(self) -> float:
        return percent(self.abandoned, self.carts)


@dataclass(frozen=True)
class SeriesPoint:
    """One bucket: its local key (YYYY-MM-DD, or an ISO datetime for hours) and figures."""

    date: str
    revenue: int
    orders: int


@dataclass(frozen=True)
class Growth:
    revenue: float | None
    orders: float | None


@dataclass(frozen=True)
class SalesReport:
    """Everything the sales routes show for one period."""

    period: Period
    totals: SalesTotals
    previous: SalesTotals
    rates: CartRates
    series: list[SeriesPoint]

    @property
    def growth(self) -> Growth:
        return Growth(
            growth(self.totals.revenue, self.previous.revenue),
            growth(self.totals.orders, self.previous.orders),
        )


def aov(revenue: int, orders: int) -> int:
    """Average order value: revenue / orders rounded half up to a minor unit; 0 without orders."""
    return round_half_up(Decimal(revenue) / orders, 0) if orders else 0


def growth(current: int, previous: int) -> float | None:
    """Percent change to one decimal (half up); None when there is nothing to compare to."""
    return one_decimal(Decimal(current - previous) * 100 / previous) if previous else None


def plan(period: Period) -> Source:
    """``rollup`` when the hourly rollup answers ``period`` exactly, else ``raw``.

    Exact means the bounds and every bucket start are whole UTC hours: an hourly row then
    falls wholly inside one bucket (a zone with a :30 offset, now or in its history, fails).
    """
    instants = [period.start, period.end, *(b.astimezone(UTC) for b in period.buckets())]
    return "rollup" if all((t - EPOCH) % _HOUR == timedelta(0) for t in instants) else "raw"


def _table(source: Source) -> Table:
    return EVENTS_HOURLY if source == "rollup" else EVENTS


def _sales_query(tenant: Tenant, period: Period, source: Source) -> Query:
    """Unflagged purchase and refund rows of the period, with the sums selected."""
    q = Query.from_table(_table(source), tenant.id, period.start, period.end)
    q = q.where("is_flagged = 0").where("event_type IN {types}", types=_SALES_TYPES)
    if source == "rollup":
        return (
            q.select("sumIf(revenue, event_type = 'purchase')", alias="sales")
            .select("sumIf(events, event_type = 'purchase')", alias="orders")
            .select("sumIf(events, event_type = 'refund')", alias="refunds")
            .select("sumIf(revenue, event_type = 'refund')", alias="refund_amount")
            .select("sumIf(items, event_type = 'purchase')", alias="items_sold")
        )
    return (
        q.select("sumIf(revenue, event_type = 'purchase')", alias="sales")
        .select("countIf(event_type = 'purchase')", alias="orders")
        .select("countIf(event_type = 'refund')", alias="refunds")
        .select("sumIf(revenue, event_type = 'refund')", alias="refund_amount")
        .select("sumIf(toUInt64(item_count), event_type = 'purchase')", alias="items_sold")
    )


def totals(
    store: Store, tenant: Tenant, period: Period, source: Source | None = None
) -> SalesTotals:
    """Revenue, orders, refunds and items sold over ``period`` (planner picks the table)."""
    [row] = run_rows(store, _sales_query(tenant, period, source or plan(period)))
    return SalesTotals(
        revenue=int(row["sales"]),
        orders=int(row["orders"]),
        refunds=int(row["refunds"]),
        refund_amount=int(row["refund_amount"]),
        items_sold=int(row["items_sold"]),
    )


def series(
    store: Store, tenant: Tenant, period: Period, source: Source | None = None
) -> list[SeriesPoint]:
    """Revenue and orders per bucket of ``period``'s granularity, zero-filled, oldest first."""
    source = source or plan(period)
    table = _table(source)
    q = Query.from_table(table, tenant.id, period.start, period.end)
    q = (
        q.where("is_flagged = 0")
        .where("event_type = 'purchase'")
        .select(bucket(table.time_column, period.granularity, period.timezone), alias="bucket")
        .select("sum(revenue)", alias="sales")
        .select("sum(events)" if source == "rollup" else "count()", alias="orders")
        .group_by("bucket")
    )
    found = {
        row["bucket"].astimezone(UTC): (int(row["sales"]), int(row["orders"]))
        for row in run_rows(store, q)
    }
    points = []
    for start in period.buckets():
        revenue, orders = found.get(start.astimezone(UTC), (0, 0))
        key = start.isoformat() if period.granularity == "hour" else start.date().isoformat()
        points.append(SeriesPoint(key, revenue, orders))
    return points


def cart_rates(store: Store, tenant: Tenant, period: Period) -> CartRates:
    """Persons who viewed an item, added to cart, and abandoned their cart (the one
    definition: :func:`shoplens.metrics.funnel.cart_state`), in one per-person scan."""
    per_person = funnel.cart_state(
        funnel.per_person(tenant, period, _FUNNEL_TYPES).select(
            "max(event_type = 'view_item')", alias="viewed"
        )
    )
    q = funnel.cart_counts(
        Query.from_query(per_person).select("countIf(viewed = 1)", alias="viewers")
    )
    [row] = run_rows(store, q)
    carts = int(row["carts"])
    return CartRates(int(row["viewers"]), carts, carts - int(row["completed"]))


def totals_and_rates(store: Store, tenant: Tenant, period: Period) -> tuple[SalesTotals, CartRates]:
    """:func:`totals` and :func:`cart_rates` of ``period``, their statements run at once."""
    return gather(lambda: totals(store, tenant, period), lambda: cart_rates(store, tenant, period))


def sales_report(store: Store, tenant: Tenant, period: Period) -> SalesReport:
    """Totals, the previous period's totals (for growth), cart rates and the series.

    The four statements are independent and run at the same time (the cart rates, a
    per-visitor scan of raw events, is the slowest; the other three read the rollup)."""
    previous = period.previous()
    rates, current, before, points = gather(
        lambda: cart_rates(store, tenant, period),
        lambda: totals(store, tenant, period),
        lambda: totals(store, tenant, previous),
        lambda: series(store, tenant, period),
    )
    return SalesReport(period=period, totals=current, previous=before, rates=rates, series=points)
