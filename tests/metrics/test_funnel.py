"""Funnel and cart-abandonment metrics on the real chDB store, against plain-Python answers.

Rows go in through the real insert path (``events_table``/``items_table`` + ``store.insert``);
expectations are computed in Python from the same fixture rows, never by re-running SQL.
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import funnel, query, sales
from shoplens.metrics.funnel_steps import parse_steps_text
from shoplens.metrics.period import Period, parse_period
from shoplens.metrics.rounding import percent
from shoplens.store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REES46 = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "rees46_2019_oct_head.csv"
)
MS = timedelta(milliseconds=1)
NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)


def event(tenant_id: int, at: datetime, event_type: str, visitor: str, **fields: Any) -> Event:
    ms = (at - EPOCH) // MS
    fields.setdefault("event_name", event_type)
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        source="test",
        timestamp=ms,
        received_at=ms,
        visitor_id=visitor,
        **fields,
    )


def insert(store: Store, events: list[Event]) -> None:
    token = f"test-funnel-{uuid.uuid4()}"
    store.insert("events", events_table(events), token)
    items = items_table(events)
    if items.num_rows:
        store.insert("event_items", items, token + "-items")


@pytest.fixture
def new_tenant(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[..., Tenant]:
    def make(timezone: str = "UTC") -> Tenant:
        keys = make_tenant("funnel", timezone=timezone, plan="pro")
        tenant = meta.tenant(keys.id)
        assert tenant is not None
        return tenant

    return make


def period(tenant: Tenant, **query: str) -> Period:
    return parse_period(query, timezone=tenant.timezone, now=NOW)


# -- independent expectations --------------------------------------------------------------


def at(e: Event) -> datetime:
    return EPOCH + e.timestamp * MS


def kept(events: list[Event], p: Period) -> list[Event]:
    return [e for e in events if p.start <= at(e) < p.end and not e.is_flagged and e.visitor_id]


def expected_counts(events: list[Event], p: Period, steps: tuple[funnel.Step, ...]) -> list[int]:
    """Greedy in-order matching per visitor: the deepest step reached in sequence."""
    by_visitor: dict[str, list[Event]] = {}
    for e in kept(events, p):
        by_visitor.setdefault(e.visitor_id, []).append(e)
    counts = [0] * len(steps)
    for visitor_events in by_visitor.values():
        level = 0
        for e in sorted(visitor_events, key=lambda e: e.timestamp):
            if level < len(steps) and e.event_type == steps[level].event_type:
                level += 1
        for i in range(level):
            counts[i] += 1
    return counts


def matches(e: Event, step: funnel.Step) -> bool:
    def passes(f: funnel.StepFilter) -> bool:
        value = getattr(e, f.column) if f.column else e.properties.get(f.prop, "")
        return (value != f.value) if f.negate else (value == f.value)

    return e.event_type == step.event_type and all(passes(f) for f in step.filters)


def expected_window_counts(
    events: list[Event], p: Period, steps: tuple[funnel.Step, ...], window: timedelta
) -> list[int]:
    """The deepest step reached in order with every step at most ``window`` after a
    first-step event (the best over all first-step events), per visitor."""
    by_visitor: dict[str, list[Event]] = {}
    for e in kept(events, p):
        by_visitor.setdefault(e.visitor_id, []).append(e)
    counts = [0] * len(steps)
    for visitor_events in by_visitor.values():
        ordered = sorted(visitor_events, key=lambda e: e.timestamp)
        best = 0
        for i, first in enumerate(ordered):
            if not matches(first, steps[0]):
                continue
            level = 1
            for e in ordered[i + 1 :]:
                if at(e) - at(first) > window or level == len(steps):
                    break
                if matches(e, steps[level]):
                    level += 1
            best = max(best, level)
        for i in range(best):
            counts[i] += 1
    return counts


def expected_carts(events: list[Event], p: Period) -> tuple[int, int, int]:
    """(carts, completed, abandoned value) by seed 002's definition in funnel.py."""
    by_visitor: dict[str, list[Event]] = {}
    for e in kept(events, p):
        by_visitor.setdefault(e.visitor_id, []).append(e)
    carts = completed = value = 0
    for evs in by_visitor.values():
        adds = [e.timestamp for e in evs if e.event_type == "add_to_cart"]
        buys = [e.timestamp for e in evs if e.event_type == "purchase"]
        if not adds:
            continue
        carts += 1
        if buys and max(buys) >= max(adds):
            completed += 1
            continue
        since = max(buys) if buys else -1
        for e in evs:
            if e.timestamp > since and e.event_type in ("add_to_cart", "remove_from_cart"):
                sign = 1 if e.event_type == "add_to_cart" else -1
                value += sign * sum(i.price * i.quantity for i in e.items)
    return carts, completed, max(value, 0)


# -- tests ---------------------------------------------------------------------------------


def test_steps_are_data_with_canonical_types() -> None:
    assert [(s.name, s.event_type) for s in funnel.CORE_STEPS] == [
        ("Product Views", "view_item"),
        ("Add to Cart", "add_to_cart"),
        ("Checkout Started", "begin_checkout"),
        ("Payment Completed", "add_payment_info"),
        ("Order Confirmed", "purchase"),
    ]
    assert [s.name for s in funnel.ECOMMERCE_STEPS] == [
        "view_item",
        "add_to_cart",
        "view_cart",
        "begin_checkout",
        "add_payment_info",
        "purchase",
    ]


def test_out_of_order_steps_do_not_count(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    t0 = datetime(2026, 3, 18, 10, 0, tzinfo=UTC)
    steps = [s.event_type for s in funnel.CORE_STEPS]
    events = [
        # in order, a millisecond apart: reaches every stage
        *(event(tenant.id, t0 + i * MS, t, "inorder") for i, t in enumerate(steps)),
        # bought first, viewed later: only Product Views
        event(tenant.id, t0, "purchase", "backwards"),
        event(tenant.id, t0 + MS, "add_to_cart", "backwards"),
        event(tenant.id, t0 + 2 * MS, "view_item", "backwards"),
        # add_to_cart before the view, then a second add after it: two stages
        event(tenant.id, t0, "add_to_cart", "retry"),
        event(tenant.id, t0 + timedelta(hours=1), "view_item", "retry"),
        event(tenant.id, t0 + timedelta(days=1), "add_to_cart", "retry"),
        # a skipped stage stops the chain: views, carts, then pays without a checkout
        event(tenant.id, t0, "view_item", "skipper"),
        event(tenant.id, t0 + MS, "add_to_cart", "skipper"),
        event(tenant.id, t0 + 2 * MS, "add_payment_info", "skipper"),
        event(tenant.id, t0 + 3 * MS, "purchase", "skipper"),
    ]
    insert(store, events)
    p = period(tenant, period="7d")
    result = funnel.funnel(store, tenant, p, funnel.CORE_STEPS, carts=True)
    assert [s.count for s in result.steps] == [4, 3, 1, 1, 1]
    assert [s.count for s in result.steps] == expected_counts(events, p, funnel.CORE_STEPS)
    assert [s.rate for s in result.steps] == [100.0, 75.0, 33.3, 100.0, 100.0]
    assert [s.overall_rate for s in result.steps] == [100.0, 75.0, 25.0, 25.0, 25.0]
    assert [(s.drop_off, s.drop_off_rate) for s in result.steps] == [
        (0, 0.0),
        (1, 25.0),
        (2, 66.7),
        (0, 0.0),
        (0, 0.0),
    ]
    assert result.conversion_rate == 25.0
    # the cart definition, not the ordered funnel: "skipper" completed its cart (a purchase
    # after its add), "backwards" did not (its purchase came first), nor "retry"
    assert result.carts == funnel.CartOutcome(4, 2) == funnel.cart_outcome(store, tenant, p)
    assert expected_carts(events, p)[:2] == (4, 2)
    assert result.carts.abandonment_rate == 50.0


def test_random_visitors_match_python(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    rng = random.Random(7)
    path = [s.event_type for s in funnel.ECOMMERCE_STEPS]
    noise = [*path, "remove_from_cart", "page_view"]
    events = []
    for v in range(300):
        # a walk down the funnel that stops at random, with random stray events mixed in
        kinds = path[: rng.randint(1, len(path))]
        kinds += [rng.choice(noise) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.3:
            rng.shuffle(kinds)
        when = NOW - timedelta(days=rng.uniform(0, 40))
        for kind in kinds:
            when += timedelta(minutes=rng.uniform(0.001, 3000))
            items = [Item("sku", price=rng.randint(1, 5000), quantity=rng.randint(1, 3))]
            events.append(
                event(
                    tenant.id,
                    when,
                    kind,
                    f"v{v}",
                    items=items if kind in ("add_to_cart", "remove_from_cart") else [],
                    is_flagged=int(rng.random() < 0.05),
                )
            )
    insert(store, events)
    seen: list[list[int]] = []
    for query_ in ({"period": "7d"}, {"period": "30d"}, {"days": "3"}):
        p = period(tenant, **query_)
        for steps in (funnel.CORE_STEPS, funnel.ECOMMERCE_STEPS):
            got = [s.count for s in funnel.funnel(store, tenant, p, steps).steps]
            assert got == expected_counts(events, p, steps), (query_, steps[0].name)
            seen.append(got)
        for window in (timedelta(hours=1), timedelta(days=2)):
            steps = funnel.ECOMMERCE_STEPS
            got = [s.count for s in funnel.funnel(store, tenant, p, steps, window=window).steps]
            assert got == expected_window_counts(events, p, steps, window), (query_, window)
            assert got != seen[-1], "the window should exclude some slow converters"
        carts = funnel.cart_abandonment(store, tenant, p)
        assert (carts.carts, carts.completed, carts.abandoned_revenue) == expected_carts(events, p)
        assert carts.abandonment_rate == percent(carts.carts - carts.completed, carts.carts)
        assert 0 < carts.completed < carts.carts and carts.abandoned_revenue > 0
        # THE definition, wherever an abandonment rate is shown
        outcome = funnel.CartOutcome(carts.carts, carts.completed)
        assert funnel.cart_outcome(store, tenant, p) == outcome
        assert funnel.funnel(store, tenant, p, funnel.CORE_STEPS, carts=True).carts == outcome
        rates = sales.cart_rates(store, tenant, p)
        assert (rates.carts, rates.abandoned) == (carts.carts, carts.abandoned)
        spec = query.parse({"metrics": ["cart_abandonment_rate"], **query_}, tenant, NOW)
        totals = query.run(store, tenant, spec)["totals"]
        assert totals["cart_abandonment_rate"] == carts.abandonment_rate
    assert all(counts[2] > 0 for counts in seen[:4]), seen  # the data reaches deep steps


def test_flagged_and_anonymous_rows_are_excluded(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    t0 = datetime(2026, 3, 18, 10, 0, tzinfo=UTC)
    item = [Item("sku", price=1000, quantity=2)]
    insert(
        store,
        [
            event(tenant.id, t0, "view_item", "a"),
            event(tenant.id, t0 + MS, "add_to_cart", "a", items=item),
            event(tenant.id, t0 + 2 * MS, "purchase", "a", is_flagged=1),
            event(tenant.id, t0, "view_item", "b", is_flagged=1),
            event(tenant.id, t0, "view_item", ""),
        ],
    )
    p = period(tenant, period="7d")
    result = funnel.funnel(store, tenant, p, funnel.CORE_STEPS)
    assert [s.count for s in result.steps] == [1, 1, 0, 0, 0]
    carts = funnel.cart_abandonment(store, tenant, p)
    assert (carts.carts, carts.completed, carts.abandoned, carts.abandoned_revenue) == (
        1,
        0,
        1,
        2000,
    )


def test_cart_value_is_the_latest_cart(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    t0 = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    h = timedelta(hours=1)

    def add(when: datetime, who: str, price: int, qty: int, kind: str = "add_to_cart") -> Event:
        return event(tenant.id, when, kind, who, items=[Item("sku", price=price, quantity=qty)])

    insert(
        store,
        [
            # bought a 50.00 cart, then added 7.00 and left: abandoned, worth 7.00
            add(t0, "again", 5000, 1),
            event(tenant.id, t0 + h, "purchase", "again", revenue=5000),
            add(t0 + 2 * h, "again", 700, 1),
            # added 3 x 10.00, removed 1: abandoned, worth 20.00
            add(t0, "remover", 1000, 3),
            add(t0 + h, "remover", 1000, 1, "remove_from_cart"),
            # added and bought: completed
            add(t0, "buyer", 9900, 1),
            event(tenant.id, t0 + h, "purchase", "buyer", revenue=9900),
            # bought without a cart event: not a cart
            event(tenant.id, t0, "purchase", "direct", revenue=100),
        ],
    )
    carts = funnel.cart_abandonment(store, tenant, period(tenant, period="7d"))
    assert (carts.carts, carts.completed, carts.abandoned) == (3, 1, 2)
    assert carts.abandoned_revenue == 2700
    assert carts.abandonment_rate == 66.7


def test_period_bounds_are_local_midnights(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant("America/New_York")
    p = period(tenant, days="3")  # local 2026-03-18 .. 2026-03-20
    just_before, first = p.start - MS, p.start
    insert(
        store,
        [
            event(tenant.id, just_before, "view_item", "early"),
            event(tenant.id, first + timedelta(hours=1), "add_to_cart", "early"),
            event(tenant.id, first, "view_item", "edge"),
            event(tenant.id, first + MS, "add_to_cart", "edge"),
        ],
    )
    result = funnel.funnel(store, tenant, p, funnel.CORE_STEPS)
    # "early" viewed a millisecond before the period: its add_to_cart has no view before it
    assert [s.count for s in result.steps][:2] == [1, 1]


def test_an_empty_period_is_zeros(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    p = period(tenant, period="7d")
    result = funnel.funnel(store, tenant, p, funnel.ECOMMERCE_STEPS, carts=True)
    assert [(s.count, s.rate, s.overall_rate, s.drop_off) for s in result.steps] == [
        (0, 0.0, 0.0, 0)
    ] * 6
    assert (result.conversion_rate, result.carts) == (0.0, funnel.CartOutcome(0, 0))
    carts = funnel.cart_abandonment(store, tenant, p)
    assert (carts.carts, carts.completed, carts.abandoned_revenue, carts.abandonment_rate) == (
        0,
        0,
        0,
        0.0,
    )


def test_filtered_steps_match_python(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    t0 = datetime(2026, 3, 18, 10, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)

    def ev(i: int, kind: str, who: str, **fields: Any) -> Event:
        return event(tenant.id, t0 + i * minute, kind, who, **fields)

    events = [
        ev(0, "page_view", "a", page_path="/pricing"),
        ev(1, "signup", "a", event_name="Signed Up", properties={"plan": "pro"}),
        ev(0, "page_view", "b", page_path="/pricing"),
        ev(1, "signup", "b", properties={"plan": "free"}),
        ev(0, "page_view", "c", page_path="/"),
        ev(1, "signup", "c", properties={"plan": "pro"}),
        ev(0, "page_view", "d", page_path="/pricing", country="DE"),
        ev(1, "signup", "d"),  # no plan property: "" (not "free", not "pro")
    ]
    insert(store, events)
    p = period(tenant, period="7d")
    for text, want in [
        ("page_view:page_path=/pricing,signup:properties.plan=pro", [3, 1]),
        ("page_view:page_path=/pricing,signup:properties.plan!=free", [3, 2]),
        ("page_view:page=/pricing;country!=DE,signup", [2, 2]),
        ("page_view,signup:event_name=Signed Up", [4, 1]),
        ("page_view:properties.plan=pro,signup", [0, 0]),
    ]:
        steps = parse_steps_text(text, "steps")
        assert steps is not None
        got = [s.count for s in funnel.funnel(store, tenant, p, steps).steps]
        assert got == want == expected_counts_filtered(events, p, steps), text


def expected_counts_filtered(
    events: list[Event], p: Period, steps: tuple[funnel.Step, ...]
) -> list[int]:
    return expected_window_counts(events, p, steps, p.end - p.start)


def test_strict_order_is_windowfunnels_strict_order(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    """Strict: from the first step on, an event that is neither a step already reached nor
    the next one ends the person's funnel (ClickHouse's ``strict_order``; docs/api.md)."""
    tenant = new_tenant()
    t0 = datetime(2026, 3, 18, 10, 0, tzinfo=UTC)
    walks = {
        "direct": ["view_item", "add_to_cart", "purchase"],
        "repeat": ["view_item", "add_to_cart", "view_item", "purchase"],  # earlier step: ok
        "noise-first": ["page_view", "view_item", "add_to_cart"],  # before step 1: ignored
        "noise-between": ["view_item", "page_view", "add_to_cart", "purchase"],
        # a clean run after the interruption does not count either
        "retry": ["view_item", "search", "view_item", "add_to_cart"],
    }
    insert(
        store,
        [
            event(tenant.id, t0 + i * timedelta(minutes=1), kind, who)
            for who, kinds in walks.items()
            for i, kind in enumerate(kinds)
        ],
    )
    p = period(tenant, period="7d")
    steps = parse_steps_text("view_item,add_to_cart,purchase", "steps")
    assert steps is not None
    strict = funnel.funnel(store, tenant, p, steps, strict=True)
    assert [s.count for s in strict.steps] == [5, 3, 2]
    loose = funnel.funnel(store, tenant, p, steps)
    assert [s.count for s in loose.steps] == [5, 5, 3]


def rees46(tenant_id: int, end: datetime) -> list[Event]:
    """The REES46 clickstream sample (view/cart/purchase only: no checkout events), moved so
    that its three hours end at ``end``; ``user_id`` is the visitor."""
    with REES46.open() as f:
        raw = list(csv.DictReader(f))
    times = [datetime.strptime(r["event_time"], "%Y-%m-%d %H:%M:%S UTC") for r in raw]
    shift = end - max(times).replace(tzinfo=UTC)
    kinds = {"view": "view_item", "cart": "add_to_cart", "purchase": "purchase"}
    out = []
    for r, when in zip(raw, times, strict=True):
        price = int(Decimal(r["price"]) * 100)
        out.append(
            event(
                tenant_id,
                when.replace(tzinfo=UTC) + shift,
                kinds[r["event_type"]],
                r["user_id"],
                items=[Item(r["product_id"], price=price, quantity=1)],
                revenue=price if r["event_type"] == "purchase" else 0,
            )
        )
    return out


@pytest.mark.skipif(not REES46.is_file(), reason=f"dataset {REES46} is missing")
def test_a_real_shop_without_checkout_events(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    """REES46 sends view, cart and purchase only: seed 000's funnel shows 0 orders, custom
    steps show its buyers, and every abandonment figure is the one definition."""
    tenant = new_tenant()
    events = rees46(tenant.id, NOW - timedelta(days=1))
    insert(store, events)
    p = period(tenant, period="7d")
    assert funnel.funnel(store, tenant, p, funnel.CORE_STEPS).steps[-1].count == 0
    steps = parse_steps_text("product_view,add_to_cart,purchase", "steps")
    assert steps is not None
    got = [s.count for s in funnel.funnel(store, tenant, p, steps).steps]
    assert got == expected_counts(events, p, steps)
    assert got[-1] > 0
    carts, completed, value = expected_carts(events, p)
    report = funnel.cart_abandonment(store, tenant, p)
    assert (report.carts, report.completed, report.abandoned_revenue) == (carts, completed, value)
    core = funnel.funnel(store, tenant, p, funnel.CORE_STEPS, carts=True).carts
    assert core is not None
    rates = sales.cart_rates(store, tenant, p)
    spec = query.parse({"metrics": ["cart_abandonment_rate"], "period": "7d"}, tenant, NOW)
    metric = query.run(store, tenant, spec)["totals"]["cart_abandonment_rate"]
    assert (
        report.abandonment_rate
        == core.abandonment_rate
        == rates.cart_abandonment_rate
        == metric
        == percent(carts - completed, carts)
    )
