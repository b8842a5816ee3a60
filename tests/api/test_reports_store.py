"""Seed 003's store report routes over HTTP, against answers computed in plain Python.

Events go in through the real ingestion API (``/v1/api/analytics/ecommerce/batch``) at noon
UTC on whole days ago (one "today", between midnight and now); countries, which ingestion
cannot fill yet, are inserted straight into the store. The tenant is UTC, so a period is the
run of UTC dates ``[first, last]``, and expectations filter the fixture by date.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.store import Store
from tests.conftest import NOW, TODAY, TenantKeys, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"
TOP = "/analytics/products/top"
CATEGORIES = "/analytics/categories"
TREND = "/analytics/revenue/trend"
CHANNELS = "/analytics/revenue/by-channel"
GEO = "/analytics/geographic"
ROUTES = [TOP, "/analytics/products/sku_1", CATEGORIES, TREND, CHANNELS, GEO]
LIMITED = [TOP, CATEGORIES, CHANNELS, GEO]

MIDNIGHT = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)
SPRING = {"campaign": "spring-sale", "source": "email", "medium": "newsletter"}
SUMMER = {"campaign": "summer", "source": "google", "medium": "cpc"}


def at(days_ago: int) -> str:
    """Noon UTC ``days_ago`` days ago; for 0, halfway between midnight and now (today)."""
    moment = MIDNIGHT + (NOW - MIDNIGHT) / 2 if days_ago == 0 else MIDNIGHT.replace(hour=12)
    return (moment - timedelta(days=days_ago)).isoformat()


def item(sku: str, price: float = 0, qty: int = 1, name: str = "", cat: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"item_id": sku, "price": price, "quantity": qty}
    if name:
        out["item_name"] = name
    if cat:
        out["item_category"] = cat
    return out


def purchase(
    revenue: float, days_ago: int, items: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    return {
        "event_type": "purchase",
        "transaction_id": f"tx-{uuid.uuid4().hex[:12]}",
        "revenue": revenue,
        "user_id": "u1",
        "timestamp": at(days_ago),
        "items": items,
        **fields,
    }


def view(user: str, days_ago: int, skus: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "event_type": "view_item",
        "user_id": user,
        "timestamp": at(days_ago),
        "items": [item(s) for s in skus],
        **fields,
    }


FIXTURE: list[dict[str, Any]] = [
    purchase(49.99, 2, [item("sku_1", 24.99, 2, "T-Shirt", "Apparel")], properties=SPRING),
    purchase(
        100.00, 3,
        [item("sku_2", 60.00, 1, "Hoodie", "Apparel"), item("sku_1", 20.00, 2, "T-Shirt v2")],
        properties=SPRING, user_id="u2",
    ),
    purchase(15.50, 5, [item("sku_1", 15.50)], properties=SUMMER, user_id="u3"),
    purchase(7.25, 0, [item("sku_3", 7.25, 1, "Socks", "Accessories")]),
    purchase(0.01, 4, [], properties={"source": "email"}, user_id="u4"),
    purchase(3.00, 9, [item("sku_3", 1.50, 2, "Socks", "Accessories")], properties=SUMMER),
    # Outside the default 30 days.
    purchase(500.00, 40, [item("sku_old", 500.00, 1, "Old", "Vintage")], properties=SUMMER),
    view("u1", 2, ["sku_1"], properties=SPRING),
    view("u5", 3, ["sku_1", "sku_2"], properties=SPRING),
    view("u6", 1, ["sku_4"]),
    view("u7", 6, ["sku_1"], properties=SUMMER),
    view("u8", 0, ["sku_1", "sku_3"]),
    view("u9", 40, ["sku_old"]),
]  # fmt: skip


def day_of(e: dict[str, Any]) -> date:
    return datetime.fromisoformat(e["timestamp"]).date()


def last(days: int) -> tuple[date, date]:
    return TODAY - timedelta(days=days - 1), TODAY


DEFAULT = last(30)


def within(events: list[dict[str, Any]], window: tuple[date, date]) -> list[dict[str, Any]]:
    return [e for e in events if window[0] <= day_of(e) <= window[1]]


def minor(amount: float | Decimal) -> int:
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), ROUND_HALF_UP))


def pct(part: int, whole: int) -> float:
    if not whole:
        return 0.0
    return float((Decimal(part * 100) / whole).quantize(Decimal("0.1"), ROUND_HALF_UP))


def expected_products(
    events: list[dict[str, Any]], window: tuple[date, date] = DEFAULT, sort_by: str = "revenue"
) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for e in sorted(within(events, window), key=lambda e: e["timestamp"]):
        if e["event_type"] not in ("purchase", "view_item"):
            continue
        for it in e["items"]:
            p = found.setdefault(
                it["item_id"],
                {"product_id": it["item_id"], "product_name": "", "revenue": 0, "units": 0,
                 "o": set(), "v": set()},
            )  # fmt: skip
            p["product_name"] = it.get("item_name") or p["product_name"]
            if e["event_type"] == "purchase":
                p["revenue"] += minor(it["price"]) * it["quantity"]
                p["units"] += it["quantity"]
                p["o"].add(e["transaction_id"])
            else:
                p["v"].add(id(e))
    rows = []
    for p in found.values():
        orders, views = len(p.pop("o")), len(p.pop("v"))
        rows.append({**p, "orders": orders, "views": views, "conversion_rate": pct(orders, views)})
    rows.sort(key=lambda r: (-r[sort_by], -r["revenue"], -r["orders"], r["product_id"]))
    return rows


def expected_categories(
    events: list[dict[str, Any]], window: tuple[date, date] = DEFAULT
) -> list[dict[str, Any]]:
    revenue: dict[str, int] = defaultdict(int)
    units: dict[str, int] = defaultdict(int)
    orders: dict[str, set[str]] = defaultdict(set)
    for e in within(events, window):
        if e["event_type"] == "purchase":
            for it in e["items"]:
                cat = it.get("item_category") or "uncategorized"
                revenue[cat] += minor(it["price"]) * it["quantity"]
                units[cat] += it["quantity"]
                orders[cat].add(e["transaction_id"])
    total = sum(revenue.values())
    cats = sorted(revenue, key=lambda c: (-revenue[c], -len(orders[c]), c))
    return [
        {"category": c, "revenue": revenue[c], "units": units[c], "orders": len(orders[c]),
         "share_of_revenue": pct(revenue[c], total)}
        for c in cats
    ]  # fmt: skip


def purchases(
    events: list[dict[str, Any]], window: tuple[date, date] = DEFAULT
) -> list[dict[str, Any]]:
    return [e for e in within(events, window) if e["event_type"] == "purchase"]


def expected_channels(
    events: list[dict[str, Any]], window: tuple[date, date] = DEFAULT
) -> list[dict[str, Any]]:
    revenue: dict[tuple[str, ...], int] = defaultdict(int)
    orders: dict[tuple[str, ...], int] = defaultdict(int)
    visitors: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for e in within(events, window):
        key = tuple(e.get("properties", {}).get(k, "") for k in ("campaign", "source", "medium"))
        if not any(key):
            continue
        visitors[key].add(e["user_id"])
        if e["event_type"] == "purchase":
            revenue[key] += minor(e["revenue"])
            orders[key] += 1
    total = sum(minor(e["revenue"]) for e in purchases(events, window))
    keys = sorted(orders, key=lambda k: (-revenue[k], -orders[k], k))
    return [
        {"campaign": k[0], "source": k[1], "medium": k[2], "revenue": revenue[k],
         "orders": orders[k], "conversion_rate": pct(orders[k], len(visitors[k])),
         "share_of_revenue": pct(revenue[k], total)}
        for k in keys
    ]  # fmt: skip


def echo(label: str, window: tuple[date, date] = DEFAULT) -> dict[str, Any]:
    return {
        "time_range": label,
        "start_date": window[0].isoformat(),
        "end_date": window[1].isoformat(),
        "currency": "USD",
    }


def load(client: TestClient, keys: TenantKeys, events: list[dict[str, Any]]) -> None:
    response = client.post(BATCH, json={"events": events}, headers=keys.pk)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "accepted": len(events)}
    wait_stored(client)


def get(client: TestClient, keys: TenantKeys, route: str, **params: Any) -> Any:
    response = client.get(route, params=params, headers=keys.sk)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    keys = make_tenant("store reports shop", plan="pro")
    # a year of raw events (pro's limit; the default is 90 days): time_range=year looks back
    # to January 1st
    kept = client.patch(
        "/analytics/settings", json={"retention": {"rawEvents": 365}}, headers=keys.sk
    )
    assert kept.status_code == 200
    load(client, keys, FIXTURE)
    return keys


def test_top_products_match_plain_python_for_every_sort(
    client: TestClient, shop: TenantKeys
) -> None:
    body = get(client, shop, TOP)
    assert body == {
        **echo("30d"),
        "sort_by": "revenue",
        "limit": 10,
        "products": expected_products(FIXTURE),
    }
    assert body["products"][0] == {
        "product_id": "sku_1",
        "product_name": "T-Shirt",  # the latest non-empty name (2 days ago, not 3)
        "revenue": 4998 + 4000 + 1550,
        "units": 5,
        "orders": 3,
        "views": 4,  # u1, u5, u7, u8
        "conversion_rate": 75.0,
    }
    # A product only viewed is listed, with zero sales.
    assert {"product_id": "sku_4", "views": 1, "revenue": 0}.items() <= next(
        p for p in body["products"] if p["product_id"] == "sku_4"
    ).items()
    for sort_by in ("revenue", "units", "orders", "views"):
        got = get(client, shop, TOP, sort_by=sort_by.upper(), limit=3)
        assert got["sort_by"] == sort_by
        assert got["products"] == expected_products(FIXTURE, sort_by=sort_by)[:3]
    wide = get(client, shop, TOP, time_range="custom", start_date=str(TODAY - timedelta(days=59)),
               end_date=str(TODAY))  # fmt: skip
    assert wide["products"] == expected_products(FIXTURE, last(60))
    assert wide["products"][0]["product_id"] == "sku_old"


def test_sort_by_and_limit_are_validated(client: TestClient, shop: TenantKeys) -> None:
    response = client.get(TOP, params={"sort_by": "price"}, headers=shop.sk)
    assert response.status_code == 400
    assert response.json()["field"] == "sort_by"
    assert "revenue, units, orders, views" in response.text
    for route in LIMITED:
        for bad in ("0", "101", "abc", "-1", "1.5"):
            response = client.get(route, params={"limit": bad}, headers=shop.sk)
            assert response.status_code == 400, (route, bad)
            assert response.json()["field"] == "limit"
    assert len(get(client, shop, TOP, limit=1)["products"]) == 1
    assert len(get(client, shop, CATEGORIES, limit=1)["categories"]) == 1


def test_product_detail_has_totals_and_a_zero_filled_daily_series(
    client: TestClient, shop: TenantKeys
) -> None:
    body = get(client, shop, "/analytics/products/sku_1", time_range="custom",
               start_date=str(TODAY - timedelta(days=6)), end_date=str(TODAY))  # fmt: skip
    window = last(7)
    [expected] = [p for p in expected_products(FIXTURE, window) if p["product_id"] == "sku_1"]
    series = []  # newest first, as every series of this surface
    for n in range(7):
        day = TODAY - timedelta(days=n)
        rows = [p for p in expected_products(FIXTURE, (day, day)) if p["product_id"] == "sku_1"]
        row = rows[0] if rows else {"revenue": 0, "units": 0, "views": 0}
        series.append({"date": day.isoformat(), "revenue": row["revenue"], "units": row["units"],
                       "views": row["views"]})  # fmt: skip
    assert body == {**echo("custom", window), **expected, "granularity": "day", "series": series}
    assert sum(p["revenue"] for p in body["series"]) == body["revenue"]
    assert len(get(client, shop, "/analytics/products/sku_1")["series"]) == 30

    unknown = get(client, shop, "/analytics/products/nope")
    assert unknown["product_name"] == ""
    assert [unknown[k] for k in ("revenue", "units", "orders", "views", "conversion_rate")] == [
        0, 0, 0, 0, 0.0
    ]  # fmt: skip
    assert {p["revenue"] for p in unknown["series"]} == {0}


def test_top_is_not_taken_for_a_product_id(client: TestClient, shop: TenantKeys) -> None:
    assert "products" in get(client, shop, TOP)
    assert get(client, shop, "/analytics/products/top%20hat")["product_id"] == "top hat"
    load(client, shop, [purchase(5.0, 1, [item("SKU/1/L", 5.0, 1, "Slashed")])])
    slashed = get(client, shop, "/analytics/products/SKU/1/L")
    assert (slashed["product_id"], slashed["product_name"], slashed["revenue"]) == (
        "SKU/1/L", "Slashed", 500
    )  # fmt: skip


def test_categories_with_uncategorized_and_shares(client: TestClient, shop: TenantKeys) -> None:
    body = get(client, shop, CATEGORIES)
    expected = expected_categories(FIXTURE)
    item_total = sum(c["revenue"] for c in expected)
    order_total = sum(minor(e["revenue"]) for e in purchases(FIXTURE))
    assert body == {
        **echo("30d"),
        "total_revenue": order_total,
        "total_item_revenue": item_total,
        "categories": expected,
    }
    # 49.99 for two 24.99 shirts, and a 0.01 order without items: the totals differ
    assert order_total - item_total == 2
    assert [c["category"] for c in expected] == ["Apparel", "uncategorized", "Accessories"]
    assert body["categories"][1]["revenue"] == 5550  # 20.00 x 2 + 15.50, no category sent


def test_categories_total_revenue_is_order_revenue_as_on_every_store_report(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    """Regression: /analytics/categories' total_revenue was item revenue (Σ price x
    quantity) while every sibling report's is order revenue; an order with shipping made
    the two disagree. Seed 002's purchase: 49.99 with 4.99 shipping and 3.75 tax (41.25 of
    items)."""
    keys = make_tenant("categories totals", plan="pro")
    order = purchase(
        49.99, 1, [item("sku_1", 41.25, 1, "Hoodie", "Apparel")], shipping=4.99, tax=3.75
    )
    sent = client.post(BATCH, json={"events": [order]}, headers=keys.pk)
    assert sent.status_code == 200, sent.text
    wait_stored(client)
    body = get(client, keys, CATEGORIES)
    assert (body["total_revenue"], body["total_item_revenue"]) == (4999, 4125)
    assert body["categories"] == [
        {"category": "Apparel", "revenue": 4125, "units": 1, "orders": 1, "share_of_revenue": 100.0}
    ]
    for sibling in ("/analytics/sales", GEO, CHANNELS, TREND):
        assert get(client, keys, sibling)["total_revenue"] == body["total_revenue"], sibling


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_revenue_trend_reuses_the_sales_series_with_aov(
    client: TestClient, shop: TenantKeys, granularity: str
) -> None:
    body = get(client, shop, TREND, granularity=granularity)
    sales = get(client, shop, "/analytics/sales", granularity=granularity)
    assert [(p["date"], p["revenue"], p["orders"]) for p in body["series"]] == [
        (p["date"], p["revenue"], p["orders"]) for p in sales["series"]
    ]
    for p in body["series"]:
        if p["orders"]:
            want = int((Decimal(p["revenue"]) / p["orders"]).quantize(1, ROUND_HALF_UP))
            assert p["aov"] == want
        else:
            assert p["aov"] == 0
    bought = purchases(FIXTURE)
    revenue = sum(minor(e["revenue"]) for e in bought)
    assert {k: body[k] for k in ("granularity", "total_revenue", "total_orders")} == {
        "granularity": granularity,
        "total_revenue": revenue,
        "total_orders": len(bought),
    }
    assert body["average_order_value"] == int(
        (Decimal(revenue) / len(bought)).quantize(1, ROUND_HALF_UP)
    )
    dates = [p["date"] for p in body["series"]]
    assert dates == sorted(dates, reverse=True)  # newest first, as /analytics/sales
    if granularity == "day":
        by_day: dict[str, int] = defaultdict(int)
        for e in bought:
            by_day[day_of(e).isoformat()] += minor(e["revenue"])
        assert {p["date"]: p["revenue"] for p in body["series"] if p["revenue"]} == by_day
        assert len(body["series"]) == 30


def test_revenue_by_channel_reshapes_the_channel_breakdown(
    client: TestClient, shop: TenantKeys
) -> None:
    body = get(client, shop, CHANNELS)
    total = sum(minor(e["revenue"]) for e in purchases(FIXTURE))
    assert body == {**echo("30d"), "total_revenue": total, "channels": expected_channels(FIXTURE)}
    assert body["channels"][0] == {
        "campaign": "spring-sale",
        "source": "email",
        "medium": "newsletter",
        "revenue": 14999,
        "orders": 2,
        "conversion_rate": 66.7,  # 2 orders / 3 visitors (u1, u2, u5)
        "share_of_revenue": pct(14999, total),
    }


def test_geographic_groups_country_with_shares(
    client: TestClient, store: Store, shop: TenantKeys
) -> None:
    ms = int((MIDNIGHT - timedelta(days=1)).timestamp() * 1000)

    def direct(revenue: int, country: str, flagged: int = 0) -> Event:
        return Event(
            tenant_id=shop.id, event_id=str(uuid.uuid4()), event_type="purchase",
            event_name="purchase", source="test", timestamp=ms, received_at=ms,
            revenue=revenue, is_flagged=flagged, visitor_id="v", country=country,
        )  # fmt: skip

    rows = [direct(30000, "US"), direct(12000, "GB"), direct(8000, "US"), direct(10**9, "FR", 1)]
    store.insert("events", events_table(rows), f"test-store-geo-{uuid.uuid4()}")
    ingested = sum(minor(e["revenue"]) for e in purchases(FIXTURE))
    total = ingested + 50000
    body = get(client, shop, GEO)
    groups = sorted(
        [("US", 38000, 2), ("GB", 12000, 1), ("unknown", ingested, len(purchases(FIXTURE)))],
        key=lambda g: -g[1],
    )
    assert body == {
        **echo("30d"),
        "total_revenue": total,
        "countries": [
            {"country": c, "revenue": r, "orders": n, "share_of_revenue": pct(r, total)}
            for c, r, n in groups
        ],
    }


def test_time_range_styles_select_calendar_periods(client: TestClient, shop: TenantKeys) -> None:
    starts = {
        "today": TODAY,
        "week": TODAY - timedelta(days=TODAY.weekday()),
        "month": TODAY.replace(day=1),
        "quarter": TODAY.replace(month=(TODAY.month - 1) // 3 * 3 + 1, day=1),
        "year": TODAY.replace(month=1, day=1),
    }
    for label, first in starts.items():
        window = (first, TODAY)
        body = get(client, shop, TOP, time_range=label)
        assert body == {
            **echo(label, window),
            "sort_by": "revenue",
            "limit": 10,
            "products": expected_products(FIXTURE, window),
        }, label
        cats = get(client, shop, CATEGORIES, time_range=label)
        assert cats["categories"] == expected_categories(FIXTURE, window), label
        chans = get(client, shop, CHANNELS, time_range=label)
        assert chans["channels"] == expected_channels(FIXTURE, window), label
    today = get(client, shop, TOP, time_range="today")["products"]
    assert {p["product_id"] for p in today} == {"sku_1", "sku_3"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"time_range": "decade"}, "time_range"),
        ({"time_range": "custom", "start_date": "2026-01-01"}, "end_date"),
        ({"time_range": "custom", "end_date": "2026-01-01"}, "start_date"),
        ({"start_date": "nope", "end_date": "2026-01-01"}, "start_date"),
        ({"start_date": "2026-01-02", "end_date": "2026-01-01"}, "start_date"),
        ({"time_range": "week", "start_date": "2026-01-01"}, "start_date"),
        ({"time_range": "week", "period": "7d"}, "time_range"),
    ],
)
def test_bad_periods_are_400_naming_the_parameter(
    client: TestClient, tenant: TenantKeys, params: dict[str, str], field: str
) -> None:
    for route in ROUTES:
        response = client.get(route, params=params, headers=tenant.sk)
        assert response.status_code == 400, (route, response.text)
        assert response.json()["field"] == field


def test_bad_granularity_is_400(client: TestClient, tenant: TenantKeys) -> None:
    for value, params in (("fortnight", {}), ("hour", {"time_range": "year"})):
        if value == "hour" and (TODAY - TODAY.replace(month=1, day=1)).days < 31:
            continue  # early January: a year to date is short enough for hours
        response = client.get(TREND, params={"granularity": value, **params}, headers=tenant.sk)
        assert response.status_code == 400, value
        assert response.json()["field"] == "granularity"


def test_no_data_is_zeros_and_empty_lists(client: TestClient, tenant: TenantKeys) -> None:
    assert get(client, tenant, TOP)["products"] == []
    assert get(client, tenant, CATEGORIES) == {
        **echo("30d"),
        "total_revenue": 0,
        "total_item_revenue": 0,
        "categories": [],
    }
    assert get(client, tenant, CHANNELS) == {**echo("30d"), "total_revenue": 0, "channels": []}
    assert get(client, tenant, GEO) == {**echo("30d"), "total_revenue": 0, "countries": []}
    trend = get(client, tenant, TREND)
    assert (trend["total_revenue"], trend["total_orders"], trend["average_order_value"]) == (
        0,
        0,
        0,
    )
    assert {(p["revenue"], p["orders"], p["aov"]) for p in trend["series"]} == {(0, 0, 0)}
    first = TODAY - timedelta(days=12)  # an explicit range with no data, inside retention
    days = [str(first + timedelta(days=n)) for n in range(3)]
    product = get(client, tenant, "/analytics/products/sku_1", start_date=days[0],
                  end_date=days[-1])  # fmt: skip
    assert product["start_date"] == days[0]
    assert [p["date"] for p in product["series"]] == days[::-1]  # newest first


def test_tenants_see_only_their_own_data(
    client: TestClient, shop: TenantKeys, make_tenant: Callable[..., TenantKeys]
) -> None:
    other = make_tenant("other store", plan="pro")
    load(client, other, [purchase(999.0, 1, [item("sku_1", 999.0, 1, "Other", "Other")],
                                  properties=SPRING)])  # fmt: skip
    assert get(client, shop, TOP)["products"] == expected_products(FIXTURE)
    assert get(client, shop, CATEGORIES)["categories"] == expected_categories(FIXTURE)
    assert get(client, shop, CHANNELS)["channels"] == expected_channels(FIXTURE)
    assert get(client, other, "/analytics/products/sku_1")["revenue"] == 99900
    assert [c["category"] for c in get(client, other, CATEGORIES)["categories"]] == ["Other"]
    assert get(client, other, TREND)["total_revenue"] == 99900


def test_publishable_keys_are_refused(client: TestClient, tenant: TenantKeys) -> None:
    for route in ROUTES:
        assert client.get(route, headers=tenant.pk).status_code == 403
        assert client.get(route).status_code == 401
