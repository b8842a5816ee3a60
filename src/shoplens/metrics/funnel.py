"""Funnels and cart abandonment, from raw events, per visitor.

Definitions (docs/api.md repeats them). Every figure is over the period ``[start, end)``,
ignores events marked ``is_flagged = 1`` and events without a ``visitor_id`` (anonymous id,
user id or IP hash, whichever the event had first). Funnels count *people*
(:mod:`shoplens.metrics.identity`): a visitor's anonymous events and the events of the user
it is linked to are one person's.

- A funnel is DATA: a list of :class:`Step` (the name a surface shows, the canonical event
  type it counts). :data:`CORE_STEPS` is seed 000's five stages, :data:`ECOMMERCE_STEPS`
  seed 002's six steps.
- ``count`` of step *k*: visitors who did step 1, then step 2, …, then step *k*, in that
  order, inside the period (ClickHouse ``windowFunnel`` with a window of the whole period:
  a visitor who views on Monday and buys on Friday of a 7-day period converted). Steps done
  out of order do not count (add_to_cart before view_item reaches only view_item unless a
  later add_to_cart follows the view). Order is by millisecond timestamps; steps in the
  same millisecond count in either order.
- ``rate`` (core) / ``percentage`` (v1): 100 * count / the previous step's count (the first
  step is 100, or 0 when nobody reached it); ``conversion_rate``: 100 * last / first;
  ``abandonment_rate`` (core): 100 * (1 - ordered purchasers / ordered cart adders), from
  the funnel's add_to_cart and purchase steps. Rates are rounded half up to one decimal and
  0 when the denominator is 0.

Cart abandonment (seed 002), per visitor (one visitor = one cart):

- ``carts``: visitors with an ``add_to_cart`` in the period; ``completed``: those whose
  last ``purchase`` is at or after their last ``add_to_cart``; ``abandoned``: the rest
  (including a visitor who bought and then added more without buying again).
- ``abandoned_revenue``: the value of the abandoned carts as last seen: the sum over their
  ``add_to_cart`` items of price * quantity minus their ``remove_from_cart`` items' price *
  quantity, counting only events after the visitor's last purchase in the period (the
  items of a bought cart are not in the abandoned one), never below 0 in total. Minor units.
- ``abandonment_rate``: 100 * abandoned / carts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import LiteralString

from shoplens.meta import Tenant
from shoplens.metrics.identity import PERSON, with_links
from shoplens.metrics.period import Period
from shoplens.metrics.sales import percent
from shoplens.metrics.sql import EVENT_ITEMS, EVENTS, VISITOR, Expr, Query, run_rows
from shoplens.store import Store

_CART_TYPES = ["add_to_cart", "remove_from_cart", "purchase"]


@dataclass(frozen=True)
class Step:
    """One funnel step: the name a surface shows and the canonical event type it counts."""

    name: str
    event_type: str


CORE_STEPS: tuple[Step, ...] = (
    Step("Product Views", "view_item"),
    Step("Add to Cart", "add_to_cart"),
    Step("Checkout Started", "begin_checkout"),
    Step("Payment Completed", "add_payment_info"),
    Step("Order Confirmed", "purchase"),
)
ECOMMERCE_STEPS: tuple[Step, ...] = tuple(
    Step(t, t)
    for t in (
        "view_item",
        "add_to_cart",
        "view_cart",
        "begin_checkout",
        "add_payment_info",
        "purchase",
    )
)


@dataclass(frozen=True)
class StepCount:
    name: str
    event_type: str
    count: int
    rate: float  # percent of the previous step (the first: 100, or 0 when empty)


@dataclass(frozen=True)
class Funnel:
    """Ordered visitor counts per step, with the rates every surface shows."""

    steps: list[StepCount]

    @property
    def conversion_rate(self) -> float:
        return percent(self.steps[-1].count, self.steps[0].count) if self.steps else 0.0

    @property
    def abandonment_rate(self) -> float:
        """100 * (1 - purchasers / cart adders), from the ordered add_to_cart and purchase."""
        by_type = {s.event_type: s.count for s in self.steps}
        carts, bought = by_type.get("add_to_cart", 0), by_type.get("purchase", 0)
        return percent(carts - bought, carts)


@dataclass(frozen=True)
class CartAbandonment:
    carts: int
    completed: int
    abandoned_revenue: int  # minor units of the base currency

    @property
    def abandoned(self) -> int:
        return self.carts - self.completed

    @property
    def abandonment_rate(self) -> float:
        return percent(self.abandoned, self.carts)


def _level_expr(steps: tuple[Step, ...], window_ms: int) -> Expr:
    """``windowFunnel(window)(ms, event_type = {s0}, …)``: the deepest step reached in order.

    TRICKY: windowFunnel rejects DateTime64; a UInt64 of epoch milliseconds keeps the
    columns' precision (toDateTime would tie every step done within one second).
    """
    conditions = ", ".join(f"event_type = {{s{i}}}" for i in range(len(steps)))
    template = (
        f"windowFunnel({{window}})(toUInt64(toUnixTimestamp64Milli(timestamp)), {conditions})"
    )
    values: dict[str, object] = {f"s{i}": s.event_type for i, s in enumerate(steps)}
    return Expr(template, {"window": window_ms, **values})


def funnel(store: Store, tenant: Tenant, period: Period, steps: tuple[Step, ...]) -> Funnel:
    """Visitors reaching each of ``steps`` in order within ``period``."""
    if not steps:
        raise ValueError("a funnel needs at least one step")
    window_ms = int((period.end - period.start).total_seconds() * 1000)
    per_visitor = (
        with_links(Query.from_table(EVENTS, tenant.id, period.start, period.end))
        .where("is_flagged = 0")
        .where("visitor_id != ''")
        .where("event_type IN {types}", types=sorted({s.event_type for s in steps}))
        .select(PERSON, alias="visitor")
        .select(_level_expr(steps, window_ms), alias="level")
        .group_by("visitor")
    )
    reached = Query.from_query(per_visitor)
    for i in range(len(steps)):
        reached = reached.select(Expr(f"countIf(level >= {{l{i}}})", {f"l{i}": i + 1}), f"n{i}")
    [row] = run_rows(store, reached)
    counts = [int(row[f"n{i}"]) for i in range(len(steps))]
    out = []
    for i, (step, count) in enumerate(zip(steps, counts, strict=True)):
        rate = (100.0 if count else 0.0) if i == 0 else percent(count, counts[i - 1])
        out.append(StepCount(step.name, step.event_type, count, rate))
    return Funnel(out)


def cart_abandonment(store: Store, tenant: Tenant, period: Period) -> CartAbandonment:
    """Carts (visitors who added to cart), completed ones, and the abandoned carts' value.

    One statement, one pass over the period's cart events: each add/remove event brings
    its items' net value (``event_items`` grouped by event, joined on ``event_id``), each
    visitor collects (event, time, value) of those events beside their last purchase and
    last add, and the outer query counts carts and sums the value of the abandoned ones'
    events after the last purchase.
    """
    lines = (
        Query.from_table(EVENT_ITEMS, tenant.id, period.start, period.end)
        .where("is_flagged = 0")
        .where("event_type IN ('add_to_cart', 'remove_from_cart')")
        .select("event_id")
        .select(
            "sumIf(price * quantity, event_type = 'add_to_cart')"
            " - sumIf(price * quantity, event_type = 'remove_from_cart')",
            alias="line_net",
        )
        .group_by("event_id")
    )
    # TRICKY: maxIf over no matching rows is the epoch, so "bought" guards every comparison.
    # The (event, time, value) tuples are made distinct: a re-sent event stored twice (same
    # event_id, until the table merges) must not count its items twice.
    per_visitor = (
        Query.from_table(EVENTS, tenant.id, period.start, period.end)
        .join(lines, using="event_id")
        .where("is_flagged = 0")
        .where("visitor_id != ''")
        .where("event_type IN {types}", types=_CART_TYPES)
        .select(VISITOR, alias="visitor")
        .select("countIf(event_type = 'purchase')", alias="bought")
        .select("maxIf(timestamp, event_type = 'purchase')", alias="last_purchase")
        .select("countIf(event_type = 'add_to_cart')", alias="adds")
        .select("maxIf(timestamp, event_type = 'add_to_cart')", alias="last_add")
        .select(
            "arrayDistinct(groupArrayIf((event_id, timestamp, line_net),"
            " event_type IN ('add_to_cart', 'remove_from_cart')))",
            alias="cart_lines",
        )
        .group_by("visitor")
        .having("adds > 0")
    )
    done: LiteralString = "bought > 0 AND last_purchase >= last_add"
    counts = (
        Query.from_query(per_visitor)
        .select("count()", alias="carts")
        .select(f"countIf({done})", alias="completed")
        .select(
            "sumIf(arraySum(x -> if(bought = 0 OR x.2 > last_purchase, x.3, 0), cart_lines),"
            f" NOT ({done}))",
            alias="net",
        )
    )
    [row] = run_rows(store, counts)
    return CartAbandonment(
        carts=int(row["carts"]),
        completed=int(row["completed"]),
        abandoned_revenue=max(0, int(row["net"] or 0)),
    )
