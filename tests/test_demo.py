"""The demo shop generator: deterministic, exactly sized, valid for the real ingestion
handlers, shaped like a shop (funnel, orders, refunds, campaigns, devices), and loadable
end to end through the running pipeline into the store."""

from __future__ import annotations

import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice, pairwise

import msgspec
import pytest
from fastapi.testclient import TestClient

from shoplens.demo import BATCH_EVENTS, generate
from shoplens.ingest import bulk, handlers
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import ECOMMERCE_TYPES, Event
from shoplens.meta import Tenant
from shoplens.store import Store
from tests.conftest import TenantKeys, rows, wait_stored

NOW = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
FUNNEL = ("view_item", "add_to_cart", "begin_checkout", "add_payment_info", "purchase")


def shop(currency: str = "USD", timezone: str = "America/New_York") -> Tenant:
    return Tenant(1, "Demo Shop", currency, timezone, "pro", "2026-01-01T00:00:00+00:00")


def normalize(tenant: Tenant, payloads: list[tuple[str, bytes]]) -> tuple[list[Event], list[str]]:
    """Every body through the handlers the HTTP routes and bulk loads use."""
    ctx = IngestContext(tenant=tenant, historical=True)
    events: list[Event] = []
    errors: list[str] = []
    for name, body in payloads:
        batch_type, event_type, to_event = bulk.BATCH_FORMATS[name]
        raws = handlers.batch_list(body, batch_type, max_events=None, empty="empty", too_many="")
        outcome = handlers.many(raws, event_type, to_event, ctx)
        events.extend(outcome.events)
        errors.extend(outcome.errors)
    return events, errors


@pytest.fixture(scope="module")
def usd() -> tuple[list[tuple[str, bytes]], list[Event]]:
    payloads = list(generate(shop(), events=10_000, days=60, seed=11, now=NOW))
    events, errors = normalize(shop(), payloads)
    assert errors == []
    return payloads, events


def by_type(events: list[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.event_type].append(event)
    return grouped


# -- shape of the output -------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_shop() -> None:
    def run(seed: int) -> list[tuple[str, bytes]]:
        return list(generate(shop(), events=2000, days=14, seed=seed, now=NOW))

    assert run(3) == run(3)
    assert run(3) != run(4)


@pytest.mark.parametrize(("events", "days"), [(1, 90), (37, 1), (2500, 3), (12_345, 90)])
def test_exactly_the_events_asked_for_in_batches(events: int, days: int) -> None:
    payloads = list(generate(shop(), events=events, days=days, now=NOW))

    sizes = [len(msgspec.json.decode(body)["events"]) for _, body in payloads]
    assert sum(sizes) == events
    assert all(0 < size <= BATCH_EVENTS for size in sizes)
    assert {name for name, _ in payloads} <= set(bulk.BATCH_FORMATS)


def test_streams_a_big_shop_without_building_it() -> None:
    """The first batches of a 10-million-event shop come out of a small, flat heap."""
    tracemalloc.start()
    try:
        payloads = generate(shop(), events=10_000_000, days=90, now=NOW)
        sizes = [len(body) for _, body in islice(payloads, 30)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sizes) == 30
    assert peak < 40 * 1024 * 1024


def test_nothing_asked_nothing_generated() -> None:
    assert list(generate(shop(), events=0, days=30, now=NOW)) == []


def test_timestamps_spread_over_the_window(usd: tuple[list, list[Event]]) -> None:
    _, events = usd
    start = int((NOW - timedelta(days=60)).timestamp() * 1000)
    end = int(NOW.timestamp() * 1000)
    stamps = [event.timestamp for event in events]

    assert start <= min(stamps) and max(stamps) <= end
    # Every week of the window has traffic, the last month more than the first (growth).
    weeks = Counter((stamp - start) // (7 * 86_400_000) for stamp in stamps)
    assert set(weeks) == set(range(9))
    assert sum(weeks[w] for w in range(4, 8)) > sum(weeks[w] for w in range(4))


# -- valid for the real handlers, in any currency ------------------------------------------
def test_every_event_normalizes(usd: tuple[list, list[Event]]) -> None:
    payloads, events = usd
    assert len(events) == 10_000
    assert {name for name, _ in payloads} == {"core", "ecommerce"}
    ecommerce = {e.event_type for e in events if e.source == "ecommerce"}
    assert ecommerce >= set(ECOMMERCE_TYPES) - {"spend_credits"}  # rare: loyal customers
    assert {e.event_name for e in events if e.source == "core"} >= {"page_view", "sign_up"}


@pytest.mark.parametrize(("currency", "digits"), [("JPY", 0), ("EUR", 2), ("KWD", 3), ("INR", 2)])
def test_other_base_currencies(currency: str, digits: int) -> None:
    tenant = shop(currency, "Asia/Tokyo")
    payloads = list(generate(tenant, events=3000, days=30, now=NOW))
    events, errors = normalize(tenant, payloads)

    assert errors == []
    orders = [e for e in events if e.event_type == "purchase"]
    assert orders
    assert {(e.currency, e.original_currency) for e in orders} == {(currency, currency)}
    assert all(Decimal(e.original_revenue).scaleb(digits) == e.revenue for e in orders)
    raw = [e for _, body in payloads for e in msgspec.json.decode(body)["events"]]
    prices = [item["price"] for e in raw for item in e.get("items", [])]
    prices += [e[f] for e in raw if e.get("event_type") == "purchase" for f in ("revenue", "tax")]
    if digits == 0:  # zero-decimal currencies are sent in whole units
        assert all(isinstance(price, int) for price in prices)
    else:
        assert all(Decimal(repr(price)).as_tuple().exponent >= -digits for price in prices)


def test_orders_add_up(usd: tuple[list, list[Event]]) -> None:
    """revenue = items - discount + shipping + tax, in minor units, for every order."""
    orders = by_type(usd[1])["purchase"]
    assert len(orders) >= 20
    for order in orders:
        subtotal = sum(item.price * item.quantity for item in order.items)
        assert order.revenue == subtotal - order.discount + order.shipping + order.tax
        assert order.revenue > 0 and order.items and order.currency == "USD"
        assert all(
            item.item_name and item.item_category and item.item_brand for item in order.items
        )
        assert Decimal(order.original_revenue) * 100 == order.revenue
    assert any(order.coupon_code and order.discount > 0 for order in orders)
    assert any(order.tax > 0 for order in orders)


# -- shaped like a shop --------------------------------------------------------------------
def test_funnel_narrows(usd: tuple[list, list[Event]]) -> None:
    grouped = by_type(usd[1])
    counts = [len(grouped[step]) for step in FUNNEL]
    sessions = [len({e.session_id for e in grouped[step]}) for step in FUNNEL]

    assert all(a >= b > 0 for a, b in pairwise(counts)), counts
    assert all(a >= b > 0 for a, b in pairwise(sessions)), sessions
    carts = len({e.cart_id for e in grouped["add_to_cart"]})
    assert 0.5 < 1 - len(grouped["purchase"]) / carts < 0.85  # most carts are abandoned


def test_orders_unique_and_refunds_reference_them(usd: tuple[list, list[Event]]) -> None:
    grouped = by_type(usd[1])
    orders = {e.transaction_id: e for e in grouped["purchase"]}
    refunds = grouped["refund"]

    assert len(orders) == len(grouped["purchase"])
    assert refunds
    for refund in refunds:
        order = orders[refund.transaction_id]
        assert refund.revenue == order.revenue
        assert refund.timestamp > order.timestamp
    assert len({r.transaction_id for r in refunds}) == len(refunds)


def test_visits_carry_devices_places_and_campaigns(usd: tuple[list, list[Event]]) -> None:
    payloads, events = usd
    raw = [e for _, body in payloads for e in msgspec.json.decode(body)["events"]]
    contexts = [e["context"] for e in raw if "context" in e]
    agents = {c["userAgent"] for c in contexts}

    assert any("iPhone" in a for a in agents) and any("Android" in a for a in agents)
    assert any("Windows NT" in a for a in agents) and any("iPad" in a for a in agents)
    assert len({c["ip"].split(".")[0] for c in contexts}) >= 8
    assert all(c["page"].startswith("https://www.demo-shop.shop/") for c in contexts)
    # Campaign visits: utm tags on the landing page, properties on the shop's events.
    tagged = [e for e in events if e.source == "ecommerce" and e.utm_campaign]
    assert tagged and all(e.utm_source and e.utm_medium for e in tagged)
    assert any(e.event_type == "purchase" for e in tagged)
    landings = [e for e in events if e.event_type == "page_view" and "utm_source=" in e.page_url]
    assert landings and all(e.utm_campaign for e in landings)
    referrers = {e.referrer.split("/")[2] for e in events if e.referrer.startswith("https://")}
    assert {"www.google.com", "www.demo-shop.shop"} <= referrers


def test_customers_come_back(usd: tuple[list, list[Event]]) -> None:
    events = usd[1]
    buyers = Counter(e.user_id for e in events if e.event_type == "purchase" and e.user_id)
    users = {e.user_id for e in events if e.user_id}
    anonymous = {e.anonymous_id for e in events if not e.user_id}

    assert any(n > 1 for n in buyers.values())  # repeat customers
    assert len(users) > len(buyers) and anonymous  # logged-in and anonymous visitors
    searches = [e for e in events if e.event_type == "search"]
    assert searches and all(e.search_term for e in searches)


# -- end to end through the running pipeline -----------------------------------------------
def test_loads_through_the_pipeline_into_the_store(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("Demo Shop", plan="pro")
    state = client.app.state.shoplens  # type: ignore[attr-defined]
    tenant = state.meta.tenant(keys.id)
    payloads = list(generate(tenant, events=3000, days=20, seed=5))
    bodies = [msgspec.json.decode(body)["events"] for _, body in payloads]
    orders = {e["transaction_id"] for b in bodies for e in b if e.get("event_type") == "purchase"}
    refunds = sum(e.get("event_type") == "refund" for b in bodies for e in b)

    assert client.portal is not None
    stats = client.portal.call(bulk.load, state.pipeline, tenant, payloads)
    wait_stored(client)

    assert (stats.accepted, stats.duplicates, stats.rejected) == (3000, 0, 0)
    [stored] = rows(
        store,
        "SELECT count() AS events, countIf(event_type = 'purchase') AS purchases, "
        "uniqExactIf(transaction_id, event_type = 'purchase') AS orders, "
        "countIf(event_type = 'refund') AS refunds, countIf(event_type = 'page_view') AS views "
        "FROM events WHERE tenant_id = {t:UInt32}",
        t=tenant.id,
    )
    assert stored["events"] == 3000
    assert stored["purchases"] == stored["orders"] == len(orders) > 0
    assert stored["refunds"] == refunds
    assert stored["views"] > 1000
    [items] = rows(
        store,
        "SELECT count() AS n FROM event_items WHERE tenant_id = {t:UInt32} "
        "AND event_type = 'purchase'",
        t=tenant.id,
    )
    assert items["n"] >= len(orders)
