"""Funnels and cart abandonment, from raw events, per person.

Definitions (docs/api.md and docs/metrics.md repeat them). Every figure is over the period
``[start, end)``, ignores events marked ``is_flagged = 1`` and events without a
``visitor_id`` (anonymous id, user id or IP hash, whichever the event had first). Funnels and
carts count *people* (:data:`shoplens.metrics.identity.PERSON`, joined by
:func:`per_person`): a visitor's anonymous events and the events of the user it is linked to
are one person's.

- A funnel is DATA: a list of :class:`Step` (the name a surface shows, the canonical event
  type it counts, optional :class:`StepFilter` on a column or a property).
  :data:`CORE_STEPS` is seed 000's five stages, :data:`ECOMMERCE_STEPS` seed 002's six
  steps; :mod:`shoplens.metrics.funnel_steps` parses custom ones.
- ``count`` of step *k*: persons who did step 1, then step 2, …, then step *k*, in that
  order, with step *k* at most the conversion window after step 1 (ClickHouse
  ``windowFunnel``; the default window is the whole period: a person who views on Monday
  and buys on Friday of a 7-day period converted). Steps done out of order do not count
  (add_to_cart before view_item reaches only view_item unless a later add_to_cart follows
  the view). Order is by millisecond timestamps; steps in the same millisecond count in
  either order. ``strict`` order: the next step must be the person's very next event (any
  other event in between, of any type, breaks the chain: windowFunnel's ``strict_order``
  over all the person's events).
- ``rate``: 100 * count / the previous step's count (the first step is 100, or 0 when
  nobody reached it); ``overall_rate``: 100 * count / the first step's count;
  ``drop_off``: the previous step's count - count (0 for the first step) and
  ``drop_off_rate``: 100 * drop_off / the previous step's count; ``conversion_rate``:
  100 * last / first. Rates are rounded half up to one decimal and 0 when the denominator
  is 0.

Cart abandonment, THE definition (every surface that shows an abandonment rate uses
:func:`cart_state` and :func:`cart_counts`: the v1 overview's ``cart_abandonment_rate``, the
core funnel's ``abandonmentRate``, seed 003's ``cart_abandonment_rate`` and seed 002's
cart-abandonment report), per person (one person = one cart):

- ``carts``: persons with an ``add_to_cart`` in the period; ``completed``: those whose
  last ``purchase`` is at or after their last ``add_to_cart``; ``abandoned``: the rest
  (including a person who bought and then added more without buying again, and one who
  bought before ever adding to the cart).
- ``abandonment_rate``: 100 * abandoned / carts.
- ``abandoned_revenue`` (seed 002's report only): the value of the abandoned carts as last
  seen: the sum over their ``add_to_cart`` items of price * quantity minus their
  ``remove_from_cart`` items' price * quantity, counting only events after the person's
  last purchase in the period (the items of a bought cart are not in the abandoned one),
  never below 0 in total. Minor units.

The ordered funnel's drop-off from its add_to_cart step to its purchase step is a different
figure (it requires the steps before, in order); it is the purchase step's ``drop_off_rate``
chain, never called abandonment.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import LiteralString

from shoplens.meta import Tenant
from shoplens.metrics.identity import PERSON, with_links
from shoplens.metrics.period import Period
from shoplens.metrics.rounding import percent
from shoplens.metrics.sql import EVENT_ITEMS, EVENTS, VISITOR, Expr, Query, run_rows
from shoplens.store import Store

__all__ = [
    "CART_ABANDONMENT_RATE_SQL",
    "CORE_STEPS",
    "ECOMMERCE_STEPS",
    "CartAbandonment",
    "CartOutcome",
    "Funnel",
    "Step",
    "StepCount",
    "StepFilter",
    "cart_abandonment",
    "cart_counts",
    "cart_outcome",
    "cart_state",
    "funnel",
    "per_person",
]

_CART_TYPES = ("add_to_cart", "remove_from_cart", "purchase")
_CART_FLOW = ("add_to_cart", "purchase")
#: windowFunnel's mode for ``strict`` funnels.
_STRICT_MODE = "strict_order"


@dataclass(frozen=True)
class StepFilter:
    """``column = value`` (an ``events`` column from the whitelist in
    :mod:`shoplens.metrics.funnel_steps`) or, with ``column`` empty, ``properties[key] =
    value``; ``negate`` makes it ``!=`` (a missing property is ``''``)."""

    key: str  # as the client wrote it, e.g. "page_path" or "properties.plan"
    value: str
    column: str = ""
    prop: str = ""
    negate: bool = False

    def condition(self, tag: str) -> Expr:
        """This filter as SQL, its values bound under names starting with ``tag``."""
        op = "!=" if self.negate else "="
        if self.column:
            return Expr(f"{self.column} {op} {{{tag}v}}", {f"{tag}v": self.value})
        return Expr(
            f"properties[{{{tag}k}}] {op} {{{tag}v}}", {f"{tag}k": self.prop, f"{tag}v": self.value}
        )


@dataclass(frozen=True)
class Step:
    """One funnel step: the name a surface shows, the canonical event type it counts, and
    the filters an event of that type must also pass."""

    name: str
    event_type: str
    filters: tuple[StepFilter, ...] = field(default=())

    def condition(self, tag: str) -> Expr:
        """``event_type = … AND <filters>``, its values bound under names starting with ``tag``."""
        parts = [Expr(f"event_type = {{{tag}}}", {tag: self.event_type})]
        parts += [f.condition(f"{tag}f{j}") for j, f in enumerate(self.filters)]
        return Expr(
            " AND ".join(p.template for p in parts),
            {k: v for p in parts for k, v in p.values.items()},
        )


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
    """A step's persons and its drop-off from the previous and the first step."""

    name: str
    event_type: str
    count: int
    previous: int  # the previous step's count (the first step: its own)
    first: int  # the first step's count

    @property
    def rate(self) -> float:
        """Percent of the previous step (the first: 100, or 0 when empty)."""
        return percent(self.count, self.previous)

    @property
    def overall_rate(self) -> float:
        return percent(self.count, self.first)

    @property
    def drop_off(self) -> int:
        return self.previous - self.count

    @property
    def drop_off_rate(self) -> float:
        return percent(self.drop_off, self.previous)


@dataclass(frozen=True)
class CartOutcome:
    """Carts (persons who added to cart) and the completed ones, by THE definition."""

    carts: int
    completed: int

    @property
    def abandoned(self) -> int:
        return self.carts - self.completed

    @property
    def abandonment_rate(self) -> float:
        return percent(self.abandoned, self.carts)


@dataclass(frozen=True)
class CartAbandonment(CartOutcome):
    abandoned_revenue: int = 0  # minor units of the base currency


@dataclass(frozen=True)
class Funnel:
    """Ordered person counts per step, with the rates every surface shows; ``carts`` when
    asked for (the core surface shows the cart abandonment rate beside its funnel)."""

    steps: list[StepCount]
    carts: CartOutcome | None = None

    @property
    def conversion_rate(self) -> float:
        return percent(self.steps[-1].count, self.steps[0].count) if self.steps else 0.0


def per_person(tenant: Tenant, period: Period, types: Collection[str] | None) -> Query:
    """Events of ``types`` (None: every type) in ``period``, unflagged, with a visitor,
    grouped by :data:`PERSON` (output ``person``); callers add their per-person columns."""
    q = (
        with_links(Query.from_table(EVENTS, tenant.id, period.start, period.end))
        .where("is_flagged = 0")
        .where("visitor_id != ''")
    )
    if types is not None:
        q = q.where("event_type IN {types}", types=sorted(set(types)))
    return q.select(PERSON, alias="person").group_by("person")


def cart_state(grouped: Query) -> Query:
    """Add the person's cart columns to a :func:`per_person` query that reads (at least)
    the ``add_to_cart`` and ``purchase`` events: ``bought``, ``last_purchase``, ``adds``,
    ``last_add``.

    TRICKY: maxIf over no matching rows is the epoch, so ``bought``/``adds`` guard every
    comparison of the times (:data:`_COMPLETED`).
    """
    return (
        grouped.select("countIf(event_type = 'purchase')", alias="bought")
        .select("maxIf(timestamp, event_type = 'purchase')", alias="last_purchase")
        .select("countIf(event_type = 'add_to_cart')", alias="adds")
        .select("maxIf(timestamp, event_type = 'add_to_cart')", alias="last_add")
    )


#: A person's cart was completed: a purchase at or after their last add_to_cart.
_COMPLETED: LiteralString = "adds > 0 AND bought > 0 AND last_purchase >= last_add"


def cart_counts(over: Query) -> Query:
    """Add ``carts`` and ``completed`` to a query over a :func:`cart_state` subquery."""
    return over.select("countIf(adds > 0)", alias="carts").select(
        f"countIf({_COMPLETED})", alias="completed"
    )


_MS: LiteralString = "toUnixTimestamp64Milli(timestamp)"
#: The cart abandonment rate as ONE aggregate over any set of event rows (the custom
#: query's ``cart_abandonment_rate`` metric, per dimension group): the same definition as
#: :func:`cart_state`/:func:`cart_counts`, per visitor id (the custom query joins no
#: identity links: a visitor who later signed in is a cart of their own there), with each
#: visitor's last add_to_cart and last purchase (epoch ms, 0 for none) gathered by
#: ``maxMap`` instead of a GROUP BY person.
#: A cart is abandoned when its last add is after its last purchase (``a > b``).
#: TRICKY: maxMap takes several value arrays and returns (keys, maxima…) aligned by key,
#: so one pass pairs each person's two times; looking one Map up per key of another
#: (``m[k]``) is a linear scan per lookup — 40x slower at a million events (measured).
#: The alias ``cart_times_`` names the tuple once for the whole SELECT.
CART_ABANDONMENT_RATE_SQL: LiteralString = (
    "if(arrayCount(a -> a > 0, (maxMapIf(([" + VISITOR + "], "
    "[if(event_type = 'add_to_cart', " + _MS + ", 0)], "
    "[if(event_type = 'purchase', " + _MS + ", 0)]), "
    "event_type IN ('add_to_cart', 'purchase') AND is_flagged = 0 AND visitor_id != '')"
    " AS cart_times_).2) = 0, 0, "
    "100 * arrayCount((a, b) -> a > b, cart_times_.2, cart_times_.3)"
    " / arrayCount(a -> a > 0, cart_times_.2))"
)


def cart_outcome(store: Store, tenant: Tenant, period: Period) -> CartOutcome:
    """Carts and completed carts of ``period`` (the abandonment rate's two numbers)."""
    per = cart_state(per_person(tenant, period, _CART_FLOW))
    [row] = run_rows(store, cart_counts(Query.from_query(per)))
    return CartOutcome(int(row["carts"]), int(row["completed"]))


def _level_expr(steps: tuple[Step, ...], window_ms: int, strict: bool) -> Expr:
    """``windowFunnel(window[, 'strict_order'])(ms, <step 1>, …)``: the deepest step reached
    in order.

    TRICKY: windowFunnel rejects DateTime64; a UInt64 of epoch milliseconds keeps the
    columns' precision (toDateTime would tie every step done within one second). Its
    parameters must be constants: bound parameters are, as chDB and the server substitute
    them before analysis. One event can satisfy two consecutive steps at once (steps
    ``page_view`` then ``page_view:page_path=/pricing``: a single pricing view reaches both);
    docs/api.md says how to make such steps exclusive.
    """
    conditions = [s.condition(f"s{i}") for i, s in enumerate(steps)]
    mode = ", {mode}" if strict else ""
    template = (
        f"windowFunnel({{window}}{mode})(toUInt64(toUnixTimestamp64Milli(timestamp)), "
        + ", ".join(f"({c.template})" for c in conditions)
        + ")"
    )
    values: dict[str, object] = {"window": window_ms}
    if strict:
        values["mode"] = _STRICT_MODE
    for c in conditions:
        values.update(c.values)
    return Expr(template, values)


def funnel(
    store: Store,
    tenant: Tenant,
    period: Period,
    steps: tuple[Step, ...],
    *,
    window: timedelta | None = None,
    strict: bool = False,
    where: Expr | None = None,
    carts: bool = False,
) -> Funnel:
    """Persons reaching each of ``steps`` in order within ``period`` (and ``window`` of
    their first step; None: the whole period), with ``strict`` order or not, over events
    that also pass ``where`` (the custom query's filters); with ``carts``, the period's
    :class:`CartOutcome` from the same scan."""
    if not steps:
        raise ValueError("a funnel needs at least one step")
    span = window if window is not None else period.end - period.start
    # Strict order needs every event of the person (any one breaks the chain); otherwise
    # only the steps' types (and the cart flow's) are read: event_type leads the sort key.
    types = None if strict else tuple(s.event_type for s in steps)
    if types is not None and carts:
        types += _CART_FLOW
    per = per_person(tenant, period, types)
    if where is not None:
        per = per.where(where)
    per = per.select(_level_expr(steps, int(span.total_seconds() * 1000), strict), alias="level")
    if carts:
        per = cart_state(per)
    reached = Query.from_query(per)
    for i in range(len(steps)):
        reached = reached.select(Expr(f"countIf(level >= {{l{i}}})", {f"l{i}": i + 1}), f"n{i}")
    if carts:
        reached = cart_counts(reached)
    [row] = run_rows(store, reached)
    counts = [int(row[f"n{i}"]) for i in range(len(steps))]
    out = [
        StepCount(step.name, step.event_type, count, counts[i - 1] if i else count, counts[0])
        for i, (step, count) in enumerate(zip(steps, counts, strict=True))
    ]
    outcome = CartOutcome(int(row["carts"]), int(row["completed"])) if carts else None
    return Funnel(out, outcome)


def cart_abandonment(store: Store, tenant: Tenant, period: Period) -> CartAbandonment:
    """Carts, completed ones (:func:`cart_state`, :func:`cart_counts`), and the abandoned
    carts' value.

    One statement, one pass over the period's cart events: each add/remove event brings
    its items' net value (``event_items`` grouped by event, joined on ``event_id``), each
    person collects (event, time, value) of those events beside their cart state, and the
    outer query counts carts and sums the value of the abandoned ones' events after the
    last purchase.
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
    # The (event, time, value) tuples are made distinct: a re-sent event stored twice (same
    # event_id, until the table merges) must not count its items twice.
    per = (
        cart_state(per_person(tenant, period, _CART_TYPES).join(lines, using="event_id"))
        .select(
            "arrayDistinct(groupArrayIf((event_id, timestamp, line_net),"
            " event_type IN ('add_to_cart', 'remove_from_cart')))",
            alias="cart_lines",
        )
        .having("adds > 0")
    )
    counts = cart_counts(Query.from_query(per)).select(
        "sumIf(arraySum(x -> if(bought = 0 OR x.2 > last_purchase, x.3, 0), cart_lines),"
        f" NOT ({_COMPLETED}))",
        alias="net",
    )
    [row] = run_rows(store, counts)
    return CartAbandonment(
        carts=int(row["carts"]),
        completed=int(row["completed"]),
        abandoned_revenue=max(0, int(row["net"] or 0)),
    )
