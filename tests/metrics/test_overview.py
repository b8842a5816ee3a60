"""Core overview metrics on the real chDB store: real-time stats and the customer summary.

Rows go in through the real insert path with a fixed ``now``; expectations are computed in
plain Python from the same fixture rows.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import overview
from shoplens.metrics.period import parse_period
from shoplens.store import Store
from tests.metrics.test_customers import EPOCH, MS, event, insert

# 01:00 in Tokyo on 2026-03-21, still 2026-03-20 in UTC and New York.
NOW = datetime(2026, 3, 20, 16, 0, tzinfo=UTC)


@pytest.fixture
def new_tenant(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[..., Tenant]:
    def make(timezone: str = "UTC") -> Tenant:
        tenant = meta.tenant(make_tenant("overview", timezone=timezone, plan="pro").id)
        assert tenant is not None
        return tenant

    return make


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def test_realtime_windows_pages_and_flags(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    t = tenant.id
    insert(
        store,
        [
            event(t, ago(minutes=1), "page_view", visitor_id="a", page_path="/a"),
            event(t, ago(minutes=2), "page_view", visitor_id="a", page_path="/b"),
            event(t, ago(minutes=4), "page_view", visitor_id="b", page_path="/a"),
            event(t, ago(minutes=7), "page_view", visitor_id="c", page_path="/c"),
            event(t, ago(minutes=29), "view_item", visitor_id="d", page_path="/c"),
            event(t, ago(minutes=31), "page_view", visitor_id="e", page_path="/z"),
            event(t, ago(minutes=1), "page_view", visitor_id="f", page_path="/f", is_flagged=1),
            event(t, ago(minutes=1), "add_to_cart", visitor_id="g"),  # no page: not listed
            event(t, NOW + timedelta(minutes=1), "page_view", visitor_id="h", page_path="/h"),
            event(t, ago(minutes=3), "purchase", visitor_id="a", revenue=1500, transaction_id="1"),
        ],
    )
    stats = overview.realtime(store, tenant, NOW)
    assert stats.minutes == 5
    assert stats.active_visitors == 3  # a, b, g (c is 7 min ago, f flagged, h in the future)
    assert stats.recent_orders == 1
    assert stats.top_pages == [
        overview.PageVisitors("/a", 2),
        overview.PageVisitors("/c", 2),
        overview.PageVisitors("/b", 1),
    ]
    assert (stats.orders_today, stats.revenue_today, stats.today) == (1, 1500, date(2026, 3, 20))
    assert overview.realtime(store, tenant, NOW, minutes=10).active_visitors == 4
    assert overview.realtime(store, tenant, NOW, minutes=1).active_visitors == 2
    with pytest.raises(ValueError):
        overview.realtime(store, tenant, NOW, minutes=61)


def test_top_pages_are_capped_at_ten(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    rows = [
        event(tenant.id, ago(minutes=2), "page_view", visitor_id=f"v{j}", page_path=f"/p{i:02}")
        for i in range(12)
        for j in range(i + 1)
    ]
    insert(store, rows)
    pages = overview.realtime(store, tenant, NOW).top_pages
    assert [(p.page, p.visitors) for p in pages] == [(f"/p{i:02}", i + 1) for i in range(11, 1, -1)]


@pytest.mark.parametrize(
    ("timezone", "counted"),
    [
        ("UTC", {"early", "late", "dawn"}),
        ("Asia/Tokyo", {"early"}),
        ("America/New_York", {"early", "late"}),
    ],
)
def test_today_is_the_tenants_local_day(
    store: Store, new_tenant: Callable[..., Tenant], timezone: str, counted: set[str]
) -> None:
    tenant = new_tenant(timezone)
    sent = {
        "early": (ago(minutes=30), 700),  # 15:30 UTC = 00:30 Tokyo (21st)
        "late": (ago(hours=1, minutes=30), 300),  # 14:30 UTC = 23:30 Tokyo (20th)
        "dawn": (ago(hours=12, minutes=30), 40),  # 03:30 UTC = 23:30 New York (19th)
        "old": (ago(hours=20), 5),  # 20:00 UTC on the 19th
    }
    insert(
        store,
        [
            event(tenant.id, at, "purchase", user_id=k, revenue=r, transaction_id=k)
            for k, (at, r) in sent.items()
        ],
    )
    stats = overview.realtime(store, tenant, NOW)
    assert stats.today == NOW.astimezone(ZoneInfo(timezone)).date()
    assert stats.orders_today == len(counted)
    assert stats.revenue_today == sum(sent[k][1] for k in counted)


def test_empty_tenant_is_all_zeros(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    stats = overview.realtime(store, tenant, NOW)
    assert (stats.active_visitors, stats.recent_orders, stats.orders_today) == (0, 0, 0)
    assert (stats.revenue_today, stats.top_pages) == (0, [])
    period = parse_period({"period": "30d"}, timezone="UTC", now=NOW)
    summary = overview.customer_summary(store, tenant, period)
    assert (summary.total_customers, summary.new_customers, summary.returning_customers) == (
        0,
        0,
        0,
    )
    assert (summary.average_ltv, summary.retention_rate) == (0, 0.0)
    assert len(summary.cohorts) == 6
    assert all(c.acquired == 0 and not any(c.retained) for c in summary.cohorts)


# -- customers ---------------------------------------------------------------------------
def local_month(at_ms: int, tz: str) -> int:
    local = (EPOCH + at_ms * MS).astimezone(ZoneInfo(tz))
    return local.year * 12 + local.month - 1


def expected_summary(events: list[Any], tz: str, query: dict[str, str]) -> dict[str, Any]:
    """Every customer figure from the rows alone."""
    period = parse_period(query, timezone=tz, now=NOW)
    start, end = ((t - EPOCH) // MS for t in (period.start, period.end))
    buys = [
        e
        for e in events
        if e.event_type == "purchase" and e.user_id and not e.is_flagged and e.timestamp < end
    ]
    in_period = {e.user_id for e in buys if e.timestamp >= start}
    first = {u: min(e.timestamp for e in buys if e.user_id == u) for u in {e.user_id for e in buys}}
    new = {u for u in in_period if first[u] >= start}
    lifetime = sum(e.revenue for e in buys if e.user_id in in_period)
    ltv = Decimal(lifetime) / len(in_period) if in_period else Decimal(0)
    last = period.last_day.year * 12 + period.last_day.month - 1
    first_month = period.first_day.year * 12 + period.first_day.month - 1
    months = min(max(last - first_month + 1, 6), 36)
    cohort = {u: local_month(ms, tz) for u, ms in first.items()}
    bought: dict[tuple[int, int], set[str]] = defaultdict(set)
    for e in buys:
        bought[cohort[e.user_id], local_month(e.timestamp, tz) - cohort[e.user_id]].add(e.user_id)
    cohorts = [
        (
            date(m // 12, m % 12 + 1, 1),
            sum(1 for c in cohort.values() if c == m),
            [len(bought[m, k]) for k in range(1, last - m + 1)],
        )
        for m in range(last, last - months, -1)
    ]
    return {
        "total": len(in_period),
        "new": len(new),
        "returning": len(in_period - new),
        "ltv": int(ltv.quantize(Decimal(1), rounding=ROUND_HALF_UP)),
        "cohorts": cohorts,
    }


def random_purchases(tenant_id: int, seed: str, n: int = 500) -> list[Any]:
    """Purchases (some guest, some flagged), refunds and views over ~14 months, a few ahead."""
    rng = random.Random(seed)
    begin = NOW - timedelta(days=430)
    out = []
    for _ in range(n):
        at = begin + timedelta(milliseconds=rng.randrange(int((NOW - begin) / MS) + 86_400_000))
        kind = rng.choice(["purchase", "purchase", "purchase", "refund", "view_item"])
        fields: dict[str, Any] = {
            "user_id": rng.choice([f"u{i}" for i in range(80)] + [""]),
            "is_flagged": int(rng.random() < 0.1),
        }
        if kind in ("purchase", "refund"):
            fields |= {"transaction_id": f"t{rng.random()}", "revenue": rng.randrange(1, 50_000)}
        out.append(event(tenant_id, at, kind, **fields))
    return out


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata", "America/New_York"])
@pytest.mark.parametrize(
    "query",
    [
        {"period": "30d"},
        {"period": "12m"},
        {"time_range": "quarter"},
        {"time_range": "custom", "start_date": "2025-06-10", "end_date": "2025-09-03"},
        {"days": "400"},
    ],
)
def test_customer_summary_matches_python(
    store: Store, new_tenant: Callable[..., Tenant], timezone: str, query: dict[str, str]
) -> None:
    tenant = new_tenant(timezone)
    events = random_purchases(tenant.id, f"{timezone}-{sorted(query.items())}")
    insert(store, events)
    period = parse_period(query, timezone=timezone, now=NOW)
    got = overview.customer_summary(store, tenant, period)
    want = expected_summary(events, timezone, query)
    assert (got.total_customers, got.new_customers, got.returning_customers) == (
        want["total"],
        want["new"],
        want["returning"],
    )
    assert got.average_ltv == want["ltv"]
    assert [(c.month, c.acquired, c.retained) for c in got.cohorts] == want["cohorts"]
    assert want["total"] > 5 and any(any(c.retained) for c in got.cohorts)


def test_new_versus_returning(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    t = tenant.id
    insert(
        store,
        [
            event(t, ago(days=100), "purchase", user_id="back", revenue=1000),
            event(t, ago(days=3), "purchase", user_id="back", revenue=500),
            event(t, ago(days=5), "purchase", user_id="fresh", revenue=200),
            event(t, ago(days=2), "purchase", user_id="fresh", revenue=300),
            event(t, ago(days=50), "purchase", user_id="gone", revenue=9000),
            event(t, ago(days=60), "purchase", user_id="flag", revenue=1, is_flagged=1),
            event(t, ago(days=1), "purchase", user_id="flag", revenue=4),
            event(t, ago(days=1), "purchase", user_id="", revenue=77),  # guest
        ],
    )
    period = parse_period({"period": "7d"}, timezone="UTC", now=NOW)
    got = overview.customer_summary(store, tenant, period)
    assert (got.total_customers, got.new_customers, got.returning_customers) == (3, 2, 1)
    assert got.average_ltv == 668  # (1500 + 500 + 4) / 3
    assert got.retention_rate == 33.3
