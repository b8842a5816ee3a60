"""``/analytics/customers/segments`` over HTTP, against an RFM computed in plain Python.

Purchases go in through the real ingestion API at noon UTC on whole days ago (UTC tenant,
so local days are UTC dates); a flagged purchase is inserted straight into the store.
"""

from __future__ import annotations

import math
import uuid
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
SETTINGS = "/analytics/settings"
ROUTE = "/analytics/customers/segments"

MIDNIGHT = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)

# The documented rules, restated independently of shoplens.metrics.segments.
RULES: list[tuple[str, str, tuple[int, int], tuple[int, int], tuple[int, int]]] = [
    ("Champions", "r 4-5, f 4-5, m 4-5", (4, 5), (4, 5), (4, 5)),
    ("Loyal", "r 3-5, f 3-5", (3, 5), (3, 5), (1, 5)),
    ("Potential loyalists", "r 3-5, f 2", (3, 5), (2, 2), (1, 5)),
    ("New customers", "r 4-5, f 1", (4, 5), (1, 1), (1, 5)),
    ("Can't lose them", "r 1-2, f 4-5, m 4-5", (1, 2), (4, 5), (4, 5)),
    ("At risk", "r 1-2, f 3-5", (1, 2), (3, 5), (1, 5)),
    ("Hibernating", "r 2-3, f 1-2", (2, 3), (1, 2), (1, 5)),
    ("Lost", "r 1, f 1-2", (1, 1), (1, 2), (1, 5)),
]


def at(days_ago: int) -> str:
    """Noon UTC ``days_ago`` days ago; for 0, halfway between midnight and now."""
    moment = MIDNIGHT + (NOW - MIDNIGHT) / 2 if days_ago == 0 else MIDNIGHT.replace(hour=12)
    return (moment - timedelta(days=days_ago)).isoformat()


def buy(user: str, revenue: float, days_ago: int) -> dict[str, Any]:
    return {
        "event_type": "purchase",
        "transaction_id": f"tx-{uuid.uuid4().hex[:12]}",
        "revenue": revenue,
        "user_id": user,
        "timestamp": at(days_ago),
        "items": [],
    }


def bought(user: str, revenue: float, *days_ago: int) -> list[dict[str, Any]]:
    return [buy(user, revenue, d) for d in days_ago]


FIXTURE: list[dict[str, Any]] = [
    *bought("champ", 120.00, 0, 9, 20, 50, 70, 130),  # r5 f5, top spender
    *bought("champ2", 80.00, 3, 15, 33, 44),  # r5 f4
    *bought("loyal", 10.00, 45, 60, 75),  # r4 f3, small spend
    *bought("potential", 25.50, 70, 85),  # r3 f2
    *bought("new", 19.99, 1),  # r5 f1
    *bought("new2", 5.00, 30),  # r5 f1 (30 days: still r 5)
    *bought("cantlose", 300.00, 100, 120, 150, 200, 250),  # r2 f4, big spend
    *bought("atrisk", 2.00, 95, 96, 97),  # r2 f3, small
    *bought("hib", 40.00, 91, 160),  # r2 f2
    *bought("hib3", 15.00, 61),  # r3 f1
    *bought("lost", 9.99, 181),  # r1 f1
    *bought("lost2", 9.99, 300, 364),  # r1 f2 (364: after noon, noon 365 days ago is too old)
    buy("", 999.00, 1),  # a guest: nobody's
    {
        "event_type": "view_item",
        "user_id": "viewer",
        "timestamp": at(1),
        "items": [{"item_id": "sku_1", "price": 1, "quantity": 1}],
    },
]


def minor(amount: float) -> int:
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), ROUND_HALF_UP))


def one_decimal(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.1"), ROUND_HALF_UP))


def expected(events: list[dict[str, Any]], as_of: date) -> tuple[int, list[dict[str, Any]]]:
    """(total customers, the segment rows) from the rules above, all history to ``as_of``."""
    users: dict[str, dict[str, Any]] = {}
    for e in events:
        day = datetime.fromisoformat(e["timestamp"]).date()
        if e["event_type"] != "purchase" or not e["user_id"] or day > as_of:
            continue
        u = users.setdefault(e["user_id"], {"last": day, "f": 0, "m": 0})
        u["last"], u["f"], u["m"] = max(u["last"], day), u["f"] + 1, u["m"] + minor(e["revenue"])
    n = len(users)
    acc = {name: [0, 0, 0, 0] for name, *_ in RULES}
    for u in users.values():
        recency = (as_of - u["last"]).days
        r = 5 if recency <= 30 else 4 if recency <= 60 else 3 if recency <= 90 else (
            2 if recency <= 180 else 1)  # fmt: skip
        f = min(u["f"], 3) if u["f"] <= 3 else 4 if u["f"] <= 5 else 5
        m = math.ceil(5 * sum(v["m"] <= u["m"] for v in users.values()) / n)
        name = next(
            rule[0]
            for rule in RULES
            if all(lo <= s <= hi for s, (lo, hi) in zip((r, f, m), rule[2:], strict=True))
        )
        for i, v in enumerate((1, u["m"], u["f"], recency)):
            acc[name][i] += v
    rows = []
    for name, rule, *_ in RULES:
        customers, revenue, orders, recency_sum = acc[name]
        rows.append({
            "segment": name,
            "rule": rule,
            "customers": customers,
            "share_of_customers": one_decimal(Decimal(customers * 100) / n) if n else 0.0,
            "revenue": revenue,
            "avg_order_value": int((Decimal(revenue) / orders).quantize(1, ROUND_HALF_UP))
            if orders else 0,
            "avg_recency_days": one_decimal(Decimal(recency_sum) / customers)
            if customers else 0.0,
        })  # fmt: skip
    return n, rows


def load(client: TestClient, keys: TenantKeys, events: list[dict[str, Any]]) -> None:
    # Events up to a year old: live ingestion refuses anything older than the tenant's
    # raw-event retention (90 days unless set; ingest.clock), so keep a year (pro's limit).
    kept = client.patch(SETTINGS, json={"retention": {"rawEvents": 365}}, headers=keys.sk)
    assert kept.status_code == 200, kept.text
    response = client.post(BATCH, json={"events": events}, headers=keys.pk)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "accepted": len(events)}
    wait_stored(client)


def get(client: TestClient, keys: TenantKeys, **params: Any) -> Any:
    response = client.get(ROUTE, params=params, headers=keys.sk)
    assert response.status_code == 200, response.text
    return response.json()


def without_descriptions(body: dict[str, Any]) -> dict[str, Any]:
    assert all(s["description"] for s in body["segments"])
    return {**body, "segments": [{k: v for k, v in s.items() if k != "description"}
                                 for s in body["segments"]]}  # fmt: skip


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    keys = make_tenant("segments shop", plan="pro")
    load(client, keys, FIXTURE)
    return keys


def test_segments_match_plain_python_rfm(client: TestClient, shop: TenantKeys) -> None:
    body = get(client, shop)
    total, rows = expected(FIXTURE, TODAY)
    assert without_descriptions(body) == {
        "time_range": "30d",
        "start_date": (TODAY - timedelta(days=29)).isoformat(),
        "end_date": TODAY.isoformat(),
        "currency": "USD",
        "total_customers": total,
        "segments": rows,
    }
    # Every customer once (the guest and the viewer are not customers), every segment hit.
    assert total == 12 == sum(s["customers"] for s in body["segments"])
    assert all(s["customers"] for s in body["segments"])
    champions = body["segments"][0]
    assert (champions["segment"], champions["customers"], champions["revenue"]) == (
        "Champions", 2, 6 * 12000 + 4 * 8000
    )  # fmt: skip


def test_the_period_end_is_the_as_of_day(client: TestClient, shop: TenantKeys) -> None:
    for end in (TODAY - timedelta(days=10), TODAY - timedelta(days=100)):
        body = get(client, shop, time_range="custom", start_date=str(end - timedelta(days=6)),
                   end_date=str(end))  # fmt: skip
        total, rows = expected(FIXTURE, end)
        assert (body["end_date"], body["total_customers"]) == (str(end), total)
        assert without_descriptions(body)["segments"] == rows
    # The start does not matter: only the end day does.
    month = get(client, shop, time_range="month")
    assert without_descriptions(month)["segments"] == expected(FIXTURE, TODAY)[1]


def flagged_purchase(tenant_id: int, ms: int, user: str) -> Event:
    return Event(
        tenant_id=tenant_id, event_id=str(uuid.uuid4()), event_type="purchase",
        event_name="purchase", source="test", timestamp=ms, received_at=ms,
        revenue=10**9, is_flagged=1, visitor_id="v", user_id=user,
    )  # fmt: skip


def test_flagged_purchases_are_excluded(client: TestClient, store: Store, shop: TenantKeys) -> None:
    ms = int((MIDNIGHT - timedelta(days=1)).timestamp() * 1000)
    flagged = [flagged_purchase(shop.id, ms, user) for user in ("lost", "fraudster")]
    store.insert("events", events_table(flagged), f"test-segments-flagged-{uuid.uuid4()}")
    assert without_descriptions(get(client, shop))["segments"] == expected(FIXTURE, TODAY)[1]


def test_no_data_lists_every_segment_with_zeros(client: TestClient, tenant: TenantKeys) -> None:
    body = get(client, tenant)
    assert body["total_customers"] == 0
    assert [s["segment"] for s in body["segments"]] == [r[0] for r in RULES]
    for s in body["segments"]:
        assert (s["customers"], s["share_of_customers"], s["revenue"], s["avg_order_value"],
                s["avg_recency_days"]) == (0, 0.0, 0, 0, 0.0)  # fmt: skip


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"time_range": "decade"}, "time_range"),
        ({"time_range": "custom", "start_date": "2026-01-01"}, "end_date"),
        ({"time_range": "custom", "end_date": "2026-01-01"}, "start_date"),
        ({"start_date": "nope", "end_date": "2026-01-01"}, "start_date"),
        ({"start_date": "2026-01-02", "end_date": "2026-01-01"}, "start_date"),
        ({"time_range": "week", "period": "7d"}, "time_range"),
    ],
)
def test_bad_periods_are_400_naming_the_parameter(
    client: TestClient, tenant: TenantKeys, params: dict[str, str], field: str
) -> None:
    response = client.get(ROUTE, params=params, headers=tenant.sk)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


def test_tenants_see_only_their_own_customers(
    client: TestClient, shop: TenantKeys, make_tenant: Callable[..., TenantKeys]
) -> None:
    other = make_tenant("other segments shop", plan="pro")
    load(client, other, bought("champ", 5000.00, 1, 2, 3, 4, 5, 6))
    assert without_descriptions(get(client, shop))["segments"] == expected(FIXTURE, TODAY)[1]
    theirs = get(client, other)
    assert theirs["total_customers"] == 1
    assert theirs["segments"][0]["customers"] == 1  # a lone customer scores m 5: Champions
    assert theirs["segments"][0]["revenue"] == 6 * 500000


def test_publishable_keys_are_refused(client: TestClient, tenant: TenantKeys) -> None:
    assert client.get(ROUTE, headers=tenant.pk).status_code == 403
    assert client.get(ROUTE).status_code == 401
