"""The custom query against an independent computation in plain Python over the same events.

A seeded shop of a few hundred events (rows inserted through the real insert path into the
real store, carrying enrichment fields directly) is asked a matrix of metrics x dimensions x
filters; every answer is recomputed here from the Event objects.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import query
from shoplens.metrics.query_catalog import DIMENSIONS, METRICS
from shoplens.store import Store

TZ = "America/New_York"
ZONE = ZoneInfo(TZ)
FIRST, LAST = date(2026, 3, 2), date(2026, 3, 15)  # DST starts 2026-03-08 in New York
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
COUNTRIES = ["US", "DE", "FR", "", "O'Brien'); DROP TABLE events; --"]
DEVICES = ["desktop", "mobile", "tablet"]
CHANNELS = ["direct", "organic_search", "paid_search", "email"]
PRODUCTS = [
    ("sku-1", "Shoes", "Acme", 4999),
    ("sku-2", "Shoes", "Zeta", 12000),
    ("sku-3", "Hats", "Acme", 1550),
    ("sku-4", "Bags", "Nova", 8999),
]


def local_ms(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).timestamp() * 1000)


def make_events(tenant_id: int, seed: int = 11) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []
    # days before the period too (new vs returning customers) and just after it
    days = [FIRST + timedelta(days=d) for d in range(-6, (LAST - FIRST).days + 3)]
    for n in range(450):
        day = rng.choice(days)
        # hours 0 and 23 local: the period's edges are local midnights
        ms = local_ms(day, rng.choice([0, 1, 9, 13, 18, 23]), rng.randrange(60))
        kind = rng.choices(
            ["page_view", "view_item", "add_to_cart", "begin_checkout", "purchase", "refund"],
            weights=[30, 20, 12, 6, 10, 3],
        )[0]
        visitor = f"v{rng.randrange(40)}"
        user = f"u{rng.randrange(25)}" if rng.random() < 0.7 else ""
        fields: dict[str, Any] = {
            "user_id": user,
            "visitor_id": visitor,
            "session_id": f"s{rng.randrange(80)}" if rng.random() < 0.9 else "",
            "country": rng.choice(COUNTRIES),
            "device_type": rng.choice(DEVICES),
            "channel": rng.choice(CHANNELS),
            "utm_source": rng.choice(["google", "newsletter", ""]),
            "page_path": rng.choice(["/", "/shoes", "/hats"]),
            "original_currency": rng.choice(["USD", "EUR"]),
            "is_flagged": 1 if rng.random() < 0.08 else 0,
        }
        items: list[Item] = []
        if kind in ("view_item", "add_to_cart", "purchase", "refund"):
            for sku, category, brand, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
                items.append(
                    Item(
                        item_id=sku,
                        item_name=f"{category} {sku}",
                        item_category=category,
                        item_brand=brand,
                        price=price,
                        quantity=rng.randint(1, 3),
                    )
                )
        if kind in ("purchase", "refund"):
            fields["transaction_id"] = f"t{n}"
            fields["revenue"] = sum(i.price * i.quantity for i in items)
            fields["coupon_code"] = rng.choice(["", "", "SPRING10"])
            fields["item_count"] = sum(i.quantity for i in items)
        events.append(
            Event(
                tenant_id=tenant_id,
                event_id=str(uuid.UUID(int=rng.getrandbits(128))),
                event_type=kind,
                event_name=kind,
                source="test",
                timestamp=ms,
                received_at=ms,
                items=items,
                **fields,
            )
        )
    return events


@pytest.fixture(scope="module")
def shop(store: Store, meta: MetaStore) -> tuple[Tenant, list[Event]]:
    tenant = meta.create_tenant("query-shop", timezone=TZ, plan="pro")
    events = make_events(tenant.id)
    store.insert("events", events_table(events), f"test-query-{uuid.uuid4()}")
    store.insert("event_items", items_table(events), f"test-query-items-{uuid.uuid4()}")
    # Another tenant with the same rows: never in any answer.
    other = meta.create_tenant("query-other", timezone=TZ, plan="pro")
    theirs = make_events(other.id, seed=12)
    store.insert("events", events_table(theirs), f"test-query-{uuid.uuid4()}")
    store.insert("event_items", items_table(theirs), f"test-query-items-{uuid.uuid4()}")
    return tenant, events


# --- the independent computation -------------------------------------------------------

EVENT_FIELDS = {
    "country": "country",
    "device": "device_type",
    "channel": "channel",
    "source": "utm_source",
    "page": "page_path",
    "currency": "original_currency",
    "coupon": "coupon_code",
    "event": "event_type",
}
ITEM_FIELDS = {
    "product": "item_id",
    "product_name": "item_name",
    "product_category": "item_category",
    "brand": "item_brand",
}


def in_range(ms: int, first: date, last: date) -> bool:
    day = datetime.fromtimestamp(ms / 1000, ZONE).date()
    return first <= day <= last


def dim_value(name: str, event: Event, item: Item | None) -> Any:
    local = datetime.fromtimestamp(event.timestamp / 1000, ZONE)
    if name == "day":
        return local.date().isoformat()
    if name == "month":
        return local.date().replace(day=1).isoformat()
    if name in ITEM_FIELDS:
        assert item is not None
        return getattr(item, ITEM_FIELDS[name])
    return getattr(event, EVENT_FIELDS[name])


def first_purchase(events: list[Event]) -> dict[str, int]:
    firsts: dict[str, int] = {}
    for e in events:
        if e.event_type == "purchase" and not e.is_flagged and e.user_id:
            firsts[e.user_id] = min(firsts.get(e.user_id, e.timestamp), e.timestamp)
    return firsts


def money(minor: Decimal | int) -> int:
    """The answer's unit: integer minor units, averages rounded half up."""
    return int(Decimal(minor).quantize(Decimal(1), ROUND_HALF_UP))


def pct(part: int, whole: int) -> float:
    if not whole:
        return 0.0
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def event_metrics(
    rows: list[Event], period_start_ms: int, firsts: dict[str, int]
) -> dict[str, Any]:
    ok = [e for e in rows if not e.is_flagged]
    bought = [e for e in ok if e.event_type == "purchase"]
    refunded = [e for e in ok if e.event_type == "refund"]
    revenue = sum(e.revenue for e in bought)
    refund_amount = sum(e.revenue for e in refunded)
    visitors = {e.visitor_id for e in rows}
    buyers = {e.visitor_id for e in bought}
    last_add: dict[str, int] = {}  # the cart definition: a purchase after the last add
    last_buy: dict[str, int] = {}
    for e in ok:
        if e.visitor_id and e.event_type in ("add_to_cart", "purchase"):
            last = last_add if e.event_type == "add_to_cart" else last_buy
            last[e.visitor_id] = max(last.get(e.visitor_id, 0), e.timestamp)
    abandoned = sum(last_buy.get(v, -1) < t for v, t in last_add.items())
    customers = {e.user_id for e in bought if e.user_id}
    new = {u for u in customers if firsts[u] >= period_start_ms}
    return {
        "revenue": money(revenue),
        "net_revenue": money(revenue - refund_amount),
        "orders": len(bought),
        "aov": money(Decimal(revenue) / len(bought)) if bought else 0,
        "units": sum(e.item_count for e in bought),
        "refunds": len(refunded),
        "refund_amount": money(refund_amount),
        "visitors": len(visitors),
        "sessions": len({e.session_id for e in rows if e.session_id}),
        "pageviews": sum(e.event_type == "page_view" for e in rows),
        "product_views": sum(e.event_type == "view_item" for e in rows),
        "add_to_carts": sum(e.event_type == "add_to_cart" for e in rows),
        "checkouts": sum(e.event_type == "begin_checkout" for e in rows),
        "events": len(rows),
        "customers": len(customers),
        "conversion_rate": pct(len(buyers), len(visitors)),
        "cart_abandonment_rate": pct(abandoned, len(last_add)),
        "new_customers": len(new),
        "returning_customers": len(customers - new),
    }


def item_metrics(
    rows: list[tuple[Event, Item]], period_start_ms: int, firsts: dict[str, int]
) -> dict[str, Any]:
    ok = [(e, i) for e, i in rows if not e.is_flagged]
    bought = [(e, i) for e, i in ok if e.event_type == "purchase"]
    refunded = [(e, i) for e, i in ok if e.event_type == "refund"]
    revenue = sum(i.price * i.quantity for _, i in bought)
    refund_amount = sum(i.price * i.quantity for _, i in refunded)
    orders = len({e.event_id for e, _ in bought})
    customers = {e.user_id for e, _ in bought if e.user_id}
    new = {u for u in customers if firsts[u] >= period_start_ms}
    return {
        "revenue": money(revenue),
        "net_revenue": money(revenue - refund_amount),
        "orders": orders,
        "aov": money(Decimal(revenue) / orders) if orders else 0,
        "units": sum(i.quantity for _, i in bought),
        "refunds": len({e.event_id for e, _ in refunded}),
        "refund_amount": money(refund_amount),
        "product_views": sum(e.event_type == "view_item" for e, _ in rows),
        "add_to_carts": sum(e.event_type == "add_to_cart" for e, _ in rows),
        "customers": len(customers),
        "new_customers": len(new),
        "returning_customers": len(customers - new),
    }


Predicate = Callable[[Event, Item | None], bool]


def expected(
    events: list[Event],
    metrics: list[str],
    dimensions: list[str],
    keep: Predicate = lambda e, i: True,
    first: date = FIRST,
    last: date = LAST,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    firsts = first_purchase(events)
    start_ms = local_ms(first, 0)
    item_grain = any(d in ITEM_FIELDS for d in dimensions)
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for e in events:
        if not in_range(e.timestamp, first, last):
            continue
        for item in e.items if item_grain else [None]:
            if keep(e, item):
                groups[tuple(dim_value(d, e, item) for d in dimensions)].append(
                    (e, item) if item_grain else e
                )
    compute = item_metrics if item_grain else event_metrics
    return {
        key: {m: v for m, v in compute(rows, start_ms, firsts).items() if m in metrics}
        for key, rows in groups.items()
    }


def ask(store: Store, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body.setdefault("start", FIRST.isoformat())
    body.setdefault("end", LAST.isoformat())
    body.setdefault("limit", 1000)
    return query.run(store, tenant, query.parse(body, tenant, NOW))


def by_key(answer: dict[str, Any], dimensions: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {}
    for row in answer["results"]:
        out[tuple(row[d] for d in dimensions)] = {
            k: v
            for k, v in row.items()
            if k not in dimensions and k not in ("comparison", "change")
        }
    return out


def same(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]]) -> None:
    assert got.keys() == want.keys()
    for key, metrics in want.items():
        for name, value in metrics.items():
            assert got[key][name] == pytest.approx(value), (key, name)


EVENT_METRICS = [m for m in METRICS]
ITEM_METRICS = [m for m, spec in METRICS.items() if spec.items is not None]


@pytest.mark.parametrize(
    "dimensions",
    [[], ["day"], ["country"], ["device", "channel"], ["month", "currency"], ["event"], ["coupon"]],
)
def test_every_event_metric_by_event_dimensions(
    store: Store, shop: tuple[Tenant, list[Event]], dimensions: list[str]
) -> None:
    tenant, events = shop
    answer = ask(store, tenant, metrics=EVENT_METRICS, dimensions=dimensions)
    want = expected(events, EVENT_METRICS, dimensions)
    same(by_key(answer, dimensions), want)
    assert answer["total_rows"] == len(want)
    total = expected(events, EVENT_METRICS, [])[()]
    for name, value in total.items():
        assert answer["totals"][name] == pytest.approx(value), name


@pytest.mark.parametrize(
    "dimensions",
    [["product"], ["product_category"], ["product_category", "country"], ["brand", "day"]],
)
def test_item_metrics_by_product_dimensions_and_joined_event_dimensions(
    store: Store, shop: tuple[Tenant, list[Event]], dimensions: list[str]
) -> None:
    tenant, events = shop
    answer = ask(store, tenant, metrics=ITEM_METRICS, dimensions=dimensions)
    assert answer["meta"]["grain"] == "items"
    same(by_key(answer, dimensions), expected(events, ITEM_METRICS, dimensions))


FILTERS: list[tuple[Any, Predicate]] = [
    ([["is", "country", ["US", "DE"]]], lambda e, i: e.country in ("US", "DE")),
    ([["is_not", "device", ["mobile"]]], lambda e, i: e.device_type != "mobile"),
    ([["contains", "page", ["SHO"]]], lambda e, i: "sho" in e.page_path),
    ([["contains_not", "source", ["goo", "news"]]], lambda e, i: e.utm_source == ""),
    ([["matches", "channel", ["^(paid|organic)_"]]], lambda e, i: "_search" in e.channel),
    ([["matches_not", "page", ["^/$"]]], lambda e, i: e.page_path != "/"),
    (
        [["or", [["is", "country", ["FR"]], ["is", "device", ["tablet"]]]]],
        lambda e, i: e.country == "FR" or e.device_type == "tablet",
    ),
    (
        [["not", ["and", [["is", "country", ["US"]], ["is", "channel", ["direct"]]]]]],
        lambda e, i: not (e.country == "US" and e.channel == "direct"),
    ),
    (
        [["is", "country", [COUNTRIES[-1]]]],  # an injection attempt is just a value
        lambda e, i: e.country == COUNTRIES[-1],
    ),
    ({"country": "DE", "period": "ignored-by-explicit-dates"}, lambda e, i: e.country == "DE"),
]


@pytest.mark.parametrize(("filters", "keep"), FILTERS)
def test_dimension_filters(
    store: Store, shop: tuple[Tenant, list[Event]], filters: Any, keep: Predicate
) -> None:
    tenant, events = shop
    if isinstance(filters, dict):
        filters = {k: v for k, v in filters.items() if k != "period"}
    metrics = ["revenue", "orders", "visitors", "events"]
    answer = ask(store, tenant, metrics=metrics, dimensions=["day"], filters=filters)
    same(by_key(answer, ["day"]), expected(events, metrics, ["day"], keep))


def test_a_product_filter_switches_to_item_rows(
    store: Store, shop: tuple[Tenant, list[Event]]
) -> None:
    tenant, events = shop
    answer = ask(
        store,
        tenant,
        metrics=["revenue", "units"],
        dimensions=["country"],
        filters=[["is", "product_category", ["Shoes"]]],
    )
    keep: Predicate = lambda e, i: i is not None and i.item_category == "Shoes"  # noqa: E731
    want = expected(events, ["revenue", "units"], ["country", "product"], keep)
    merged: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (country, _), metrics in want.items():
        for name, value in metrics.items():
            merged[(country,)][name] += value
    same(by_key(answer, ["country"]), {k: dict(v) for k, v in merged.items()})


def test_metric_filters_apply_after_aggregation_and_count_in_total_rows(
    store: Store, shop: tuple[Tenant, list[Event]]
) -> None:
    tenant, events = shop
    want = expected(events, ["revenue", "orders"], ["day"])
    kept = {k: v for k, v in want.items() if v["revenue"] > 30_000 and v["orders"] >= 2}
    answer = ask(
        store,
        tenant,
        metrics=["revenue", "orders"],
        dimensions=["day"],
        filters=[["gt", "revenue", 30_000], ["gte", "orders", 2]],
    )
    same(by_key(answer, ["day"]), kept)
    assert answer["total_rows"] == len(kept) and 0 < len(kept) < len(want)


def test_order_and_offset_pagination(store: Store, shop: tuple[Tenant, list[Event]]) -> None:
    tenant, events = shop
    want = expected(events, ["revenue"], ["day"])
    ordered = sorted(want.items(), key=lambda kv: (-kv[1]["revenue"], kv[0]))
    pages = [
        ask(
            store,
            tenant,
            metrics=["revenue"],
            dimensions=["day"],
            orderBy="revenue:desc",
            limit=4,
            offset=offset,
        )
        for offset in range(0, len(want) + 4, 4)
    ]
    seen = [(row["day"],) for page in pages for row in page["results"]]
    assert seen == [key for key, _ in ordered]
    assert {page["total_rows"] for page in pages} == {len(want)}
    assert pages[-1]["results"] == []


def test_default_order_is_time_ascending_then_first_metric(
    store: Store, shop: tuple[Tenant, list[Event]]
) -> None:
    tenant, _ = shop
    by_day = ask(store, tenant, metrics=["orders"], dimensions=["day"])
    days = [row["day"] for row in by_day["results"]]
    assert days == sorted(days) and by_day["query"]["orderBy"] == ["day:asc"]
    by_country = ask(store, tenant, metrics=["orders", "revenue"], dimensions=["country"])
    orders = [row["orders"] for row in by_country["results"]]
    assert orders == sorted(orders, reverse=True)
    assert by_country["query"]["orderBy"] == ["orders:desc", "country:asc"]


def test_days_follow_the_tenants_time_zone(store: Store, shop: tuple[Tenant, list[Event]]) -> None:
    tenant, events = shop
    answer = ask(store, tenant, metrics=["events"], dimensions=["day"])
    days = {row["day"] for row in answer["results"]}
    assert min(days) == FIRST.isoformat() and max(days) == LAST.isoformat()
    # events at 00:xx and 23:xx local on the edges are in, those a minute outside are not
    inside = sum(in_range(e.timestamp, FIRST, LAST) for e in events)
    assert answer["totals"]["events"] == inside


@pytest.mark.parametrize("compare", ["previous_period", "year_over_year"])
def test_compare_returns_both_values_and_the_change(
    store: Store, shop: tuple[Tenant, list[Event]], compare: str
) -> None:
    tenant, events = shop
    first, last = date(2026, 3, 9), date(2026, 3, 15)
    if compare == "previous_period":
        before_first, before_last = date(2026, 3, 2), date(2026, 3, 8)
    else:
        before_first, before_last = date(2025, 3, 9), date(2025, 3, 15)
    metrics = ["revenue", "orders", "visitors"]
    answer = ask(
        store,
        tenant,
        metrics=metrics,
        dimensions=["day"],
        start=first.isoformat(),
        end=last.isoformat(),
        compare=compare,
    )
    now = expected(events, metrics, ["day"], first=first, last=last)
    before = expected(events, metrics, ["day"], first=before_first, last=before_last)
    shift = first - before_first
    for row in answer["results"]:
        day = date.fromisoformat(row["day"])
        previous = before.get(((day - shift).isoformat(),))
        if compare == "year_over_year":
            assert previous is None and row["comparison"] is None
            assert row["change"] == {m: None for m in metrics}
            continue
        assert previous is not None
        assert row["comparison"] == pytest.approx(previous)
        for m in metrics:
            p, c = Decimal(str(previous[m])), Decimal(str(now[(row["day"],)][m]))
            want = float(((c - p) * 100 / p).quantize(Decimal("0.1"), ROUND_HALF_UP)) if p else None
            assert row["change"][m] == want
    assert answer["comparison"]["period"]["start"] == before_first.isoformat()
    assert answer["comparison"]["period"]["end"] == before_last.isoformat()
    previous_total = expected(events, metrics, [], first=before_first, last=before_last)
    assert answer["comparison"]["totals"] == pytest.approx(
        previous_total.get((), dict.fromkeys(metrics, 0))
    )


def test_seed_example_shape(store: Store, shop: tuple[Tenant, list[Event]]) -> None:
    tenant, events = shop
    body = {
        "metrics": ["revenue", "orders", "aov"],
        "dimensions": ["product_category", "region"],
        "filters": {"period": "30d", "currency": "USD"},
        "orderBy": "revenue:desc",
        "limit": 20,
    }
    spec = query.parse(body, tenant, NOW)
    assert spec.grain == "items" and spec.period.days == 30 and spec.limit == 20
    answer = query.run(store, tenant, spec)
    first = spec.period.first_day
    want = expected(events, ["revenue", "orders", "aov"], ["product_category"], first=first,
                    last=spec.period.last_day)  # fmt: skip
    got = {(r["product_category"],): r for r in answer["results"]}
    assert {k: r["region"] for k, r in got.items()} == dict.fromkeys(want, "")
    same({k: {m: r[m] for m in ("revenue", "orders", "aov")} for k, r in got.items()}, want)


# --- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "mentions"),
    [
        ({}, "metrics", "revenue"),
        ({"metrics": ["profit"]}, "metrics", "net_revenue"),
        ({"metrics": ["revenue"], "dimensions": ["planet"]}, "dimensions", "product_category"),
        ({"metrics": ["visitors"], "dimensions": ["product"]}, "metrics", "units"),
        ({"metrics": ["revenue"], "dimensions": ["day", "week"]}, "dimensions", "one time"),
        (
            {"metrics": ["revenue"], "filters": [["like", "country", ["US"]]]},
            "filters[0]",
            "is_not",
        ),
        ({"metrics": ["revenue"], "filters": [["is", "day", ["x"]]]}, "filters[0]", "period"),
        ({"metrics": ["revenue"], "filters": [["gt", "orders", 1]]}, "filters", "not in metrics"),
        ({"metrics": ["revenue"], "filters": [["gt", "revenue", "1"]]}, "filters[0]", "number"),
        (
            {"metrics": ["revenue"], "filters": [["or", [["gt", "revenue", 1]]]]},
            "filters[0][1][0]",
            "top level",
        ),
        (
            {"metrics": ["revenue"], "filters": [["matches", "page", ["("]]]},
            "filters[0]",
            "regular",
        ),
        ({"metrics": ["revenue"], "filters": {"currency": "EUR"}}, "filters.currency", "USD"),
        ({"metrics": ["revenue"], "orderBy": "orders:desc"}, "orderBy", "revenue"),
        ({"metrics": ["revenue"], "orderBy": "revenue:sideways"}, "orderBy", "asc"),
        ({"metrics": ["revenue"], "limit": 0}, "limit", "1 to 1000"),
        ({"metrics": ["revenue"], "offset": -1}, "offset", "0 to"),
        ({"metrics": ["revenue"], "compare": "last_week"}, "compare", "year_over_year"),
        ({"metrics": ["revenue"], "period": "5y"}, "period", "30d"),
        ({"metrics": ["revenue"], "sql": "SELECT 1"}, "sql", "metrics"),
    ],
)
def test_bad_requests_name_the_field_and_what_is_allowed(
    shop: tuple[Tenant, list[Event]], body: dict[str, Any], field: str, mentions: str
) -> None:
    tenant, _ = shop
    with pytest.raises(BadRequest) as caught:
        query.parse(body, tenant, NOW)
    assert caught.value.field == field
    assert mentions in caught.value.message


def test_the_catalog_lists_every_metric_and_dimension() -> None:
    listed = query.catalog()
    assert [m["name"] for m in listed["metrics"]] == list(METRICS)
    assert [d["name"] for d in listed["dimensions"]] == list(DIMENSIONS)
    assert all(entry["description"] for entry in listed["metrics"] + listed["dimensions"])


def test_only_the_event_types_the_metrics_read_are_scanned(
    store: Store, shop: tuple[Tenant, list[Event]]
) -> None:
    tenant, events = shop
    pruned = query.parse(
        {"metrics": ["revenue", "refunds"], "dimensions": ["country"], **PERIOD}, tenant, NOW
    )
    assert pruned.types == ["purchase", "refund"]
    sql, params = query._base(pruned, tenant, pruned.period).select("count()").compile()
    assert "event_type IN {types:Array(String)}" in sql
    assert params["types"] == ["purchase", "refund"]
    answer = query.run(store, tenant, pruned)
    same(by_key(answer, ["country"]), expected(events, ["revenue", "refunds"], ["country"]))
    everything = query.parse({"metrics": ["revenue", "visitors"], **PERIOD}, tenant, NOW)
    assert everything.types is None


PERIOD = {"start": FIRST.isoformat(), "end": LAST.isoformat()}
