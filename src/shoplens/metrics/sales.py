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
  denominator is 0. Persons are :data:`shoplens.metrics.identity.PERSON`: a visitor and
  the user it is linked to are one person.
- ``growth(current, previous)``: ``(current - previous) / previous * 100`` to one decimal,
  None when ``previous`` is 0; the previous period is :meth:`Period.previous`. With a
  ``currency`` filter (raw events only) growth is None when the previous period starts
  before the raw-event window: its orders are partly deleted.
- ``currency`` (optional filter): only orders and refunds placed in that currency (the
  ``original_currency`` the client sent); amounts stay in the base currency.

Planner: revenue, orders, refunds and items are sums by event type and hour, which the
``events_hourly`` rollup answers exactly; it is used when the period's bounds and every
bucket boundary fall on whole UTC hours (true for every whole-hour-offset zone), else the raw
``events`` table is read. Both give identical numbers (tests/metrics/test_sales.py).

Past the raw-event retention window (``Period.raw_from``; the rollups are kept longer) only
the rollup holds the period, so it is read even when the zone's local midnight is not a
whole UTC hour (+05:30, +05:45): each hourly row then counts in the bucket its UTC hour
starts in, so up to 45 minutes of orders around a local midnight land on the neighbouring
day. A ``currency`` filter always reads raw events (the rollups do not keep the currency).
The visitor rates always read raw events, over the part of the period they still hold:
they need per-visitor sets, not hourly counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
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
    """Everything ``/analytics/sales`` shows for one period."""

    period: Period
    totals: SalesTotals
    previous: SalesTotals | None  # None: the previous period's data is partly deleted
    series: list[SeriesPoint]

    @property
    def growth(self) -> Growth:
        if self.previous is None:
            return Growth(None, None)
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


def plan(period: Period, currency: str | None = None) -> Source:
    """``rollup`` when the hourly rollup answers ``period`` exactly, or when part of the
    period is past the raw-event window (only the rollup holds it); else ``raw``. A
    ``currency`` filter is always ``raw``: the rollup has no currency column.

    Exact means the bounds and every bucket start are whole UTC hours: an hourly row then
    falls wholly inside one bucket (a zone with a :30 offset, now or in its history, fails).
    """
    if currency is not None:
        return "raw"
    instants = [period.start, period.end, *(b.astimezone(UTC) for b in period.buckets())]
    if all((t - EPOCH) % _HOUR == timedelta(0) for t in instants):
        return "rollup"
    return "rollup" if period.raw_from is not None and period.start < period.raw_from else "raw"


def _table(source: Source) -> Table:
    return EVENTS_HOURLY if source == "rollup" else EVENTS


def _ceil_hour(instant: datetime) -> datetime:
    return instant + (-(instant - EPOCH) % _HOUR)


def rows_of(
    source: Source, tenant: Tenant, period: Period, currency: str | None = None, flagged: int = 0
) -> Query:
    """The rows of ``period`` in ``source`` with ``is_flagged = flagged`` (unflagged by
    default), orders in ``currency`` only if given.

    On the rollup the bounds are rounded up to whole hours (a no-op when :func:`plan` found
    them whole): the hours that start inside the period, each counted once."""
    if source == "rollup":
        if currency is not None:
            raise ValueError("the rollup cannot filter by currency")
        start, end = _ceil_hour(period.start), _ceil_hour(period.end)
    else:
        start, end = period.start, period.end
    q = Query.from_table(_table(source), tenant.id, start, end)
    q = q.where("is_flagged = {flagged}", flagged=flagged)
    return q if currency is None else q.where("original_currency = {currency}", currency=currency)


def _sales_query(tenant: Tenant, period: Period, source: Source, currency: str | None) -> Query:
    """Unflagged purchase and refund rows of the period, with the sums selected."""
    q = rows_of(source, tenant, period, currency)
    q = q.where("event_type IN {types}", types=_SALES_TYPES)
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
    store: Store,
    tenant: Tenant,
    period: Period,
    source: Source | None = None,
    currency: str | None = None,
) -> SalesTotals:
    """Revenue, orders, refunds and items sold over ``period`` (planner picks the table),
    of the orders and refunds placed in ``currency`` when given."""
    source = source or plan(period, currency)
    [row] = run_rows(store, _sales_query(tenant, period, source, currency))
    return SalesTotals(
        revenue=int(row["sales"]),
        orders=int(row["orders"]),
        refunds=int(row["refunds"]),
        refund_amount=int(row["refund_amount"]),
        items_sold=int(row["items_sold"]),
    )


def series(
    store: Store,
    tenant: Tenant,
    period: Period,
    source: Source | None = None,
    currency: str | None = None,
) -> list[SeriesPoint]:
    """Revenue and orders per bucket of ``period``'s granularity, zero-filled, oldest first
    (of the orders placed in ``currency`` when given)."""
    source = source or plan(period, currency)
    q = rows_of(source, tenant, period, currency)
    time_column = _table(source).time_column
    q = (
        q.where("event_type = 'purchase'")
        .select(bucket(time_column, period.granularity, period.timezone), alias="bucket")
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
    definition: :func:`shoplens.metrics.funnel.cart_state`), in one per-person scan over the
    part of ``period`` inside the raw-event window (all of it, usually)."""
    start = max(period.start, period.raw_from or period.start)
    if start >= period.end:
        return CartRates(0, 0, 0)
    per_person = funnel.cart_state(
        funnel.per_person(tenant, replace(period, start=start), _FUNNEL_TYPES).select(
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


def sales_report(
    store: Store, tenant: Tenant, period: Period, currency: str | None = None
) -> SalesReport:
    """Totals, the previous period's totals (for growth) and the series, of the orders
    placed in ``currency`` when given.

    The three statements are independent and run at the same time (each reads the rollup
    when :func:`plan` allows, the raw events otherwise). A previous period that only raw
    events could answer but which starts before the raw window is not compared with."""
    previous = period.previous()
    past_raw = period.raw_from is not None and previous.start < period.raw_from
    comparable = not (past_raw and plan(previous, currency) == "raw")
    current, before, points = gather(
        lambda: totals(store, tenant, period, currency=currency),
        lambda: totals(store, tenant, previous, currency=currency) if comparable else None,
        lambda: series(store, tenant, period, currency=currency),
    )
    return SalesReport(period=period, totals=current, previous=before, series=points)
