"""Customer metrics on the real chDB store: the cohort matrix against plain Python, the journey.

Rows go in through the real insert path (``events_table``/``items_table`` + ``store.insert``)
with a fixed ``now``; expectations are computed from the same fixture rows, never by SQL.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import customers
from shoplens.store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)


def event(tenant_id: int, at: datetime, event_type: str, **fields: Any) -> Event:
    ms = (at - EPOCH) // MS
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_name=event_type,
        source="test",
        timestamp=ms,
        received_at=ms,
        **fields,
    )


def insert(store: Store, events: list[Event]) -> None:
    token = f"test-customers-{uuid.uuid4()}"
    store.insert("events", events_table(events), token)
    if any(e.items for e in events):
        store.insert("event_items", items_table(events), f"{token}-items")


@pytest.fixture
def new_tenant(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[..., Tenant]:
    def make(timezone: str = "UTC", currency: str = "USD") -> Tenant:
        keys = make_tenant("customers", timezone=timezone, base_currency=currency, plan="pro")
        tenant = meta.tenant(keys.id)
        assert tenant is not None
        return tenant

    return make


def local_month(ms: int, tz: str) -> int:
    local = (EPOCH + ms * MS).astimezone(ZoneInfo(tz))
    return local.year * 12 + local.month - 1


def expected(events: list[Event], tz: str, months: int, now: datetime) -> customers.CohortReport:
    """The cohort matrix from the rows alone: unflagged, non-guest purchases before ``now``."""
    now_ms = (now - EPOCH) // MS
    buys = [
        e
        for e in events
        if e.event_type == "purchase" and e.user_id and not e.is_flagged and e.timestamp < now_ms
    ]
    first: dict[str, int] = {}
    for e in buys:
        first[e.user_id] = min(first.get(e.user_id, 10**9), local_month(e.timestamp, tz))
    cells: dict[tuple[int, int], int] = defaultdict(int)
    for e in buys:
        cohort = first[e.user_id]
        cells[cohort, local_month(e.timestamp, tz) - cohort] += e.revenue
    current = local_month(now_ms, tz)
    return customers.CohortReport(
        [
            customers.Cohort(
                date(m // 12, m % 12 + 1, 1),
                sum(1 for c in first.values() if c == m),
                [cells[m, k] for k in range(current - m + 1)],
            )
            for m in range(current, current - months, -1)
        ]
    )


def random_events(tenant_id: int, seed: str, n: int = 600) -> list[Event]:
    """Purchases (some guest, some flagged), refunds and views over ~40 months, a few ahead."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=40 * 31)
    out = []
    for _ in range(n):
        at = start + timedelta(milliseconds=rng.randrange(int((NOW - start) / MS) + 86_400_000))
        kind = rng.choice(["purchase", "purchase", "purchase", "refund", "view_item"])
        user = rng.choice([f"u{i}" for i in range(150)] + [""])
        fields: dict[str, Any] = {"user_id": user, "is_flagged": int(rng.random() < 0.1)}
        if kind in ("purchase", "refund"):
            fields |= {"transaction_id": f"t{rng.random()}", "revenue": rng.randrange(1, 50_000)}
        out.append(event(tenant_id, at, kind, **fields))
    return out


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata", "America/New_York"])
@pytest.mark.parametrize("months", [1, 6, 36])
def test_cohorts_match_python(
    store: Store, new_tenant: Callable[..., Tenant], timezone: str, months: int
) -> None:
    tenant = new_tenant(timezone)
    events = random_events(tenant.id, f"{timezone}-{months}")
    insert(store, events)
    report = customers.cohorts(store, tenant, months, NOW)
    want = expected(events, timezone, months, NOW)
    assert report == want
    assert len(report.cohorts) == months and report.cohorts[0].month == date(2026, 3, 1)
    if months == 36:
        assert want.total_purchasing_users > 30  # the fixture really exercises the matrix


def test_the_cohort_is_the_first_purchase_ever_and_flagged_or_guest_rows_do_not_count(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    old = datetime(2020, 5, 1, tzinfo=UTC)
    feb = datetime(2026, 2, 10, tzinfo=UTC)
    insert(
        store,
        [
            event(tenant.id, old, "purchase", user_id="veteran", revenue=100),
            event(tenant.id, feb, "purchase", user_id="veteran", revenue=200),
            event(tenant.id, feb, "purchase", user_id="new", revenue=300),
            event(tenant.id, feb, "refund", user_id="new", revenue=300),
            event(tenant.id, feb - timedelta(days=60), "purchase", user_id="new", is_flagged=1),
            event(tenant.id, feb, "purchase", user_id="", revenue=5_000),
            event(tenant.id, feb, "spend_credits", user_id="new", revenue=40),
        ],
    )
    report = customers.cohorts(store, tenant, 2, NOW)
    assert report.cohorts == [
        customers.Cohort(date(2026, 3, 1), 0, [0]),
        customers.Cohort(date(2026, 2, 1), 1, [300, 0]),  # refund not subtracted
    ]
    assert (report.total_purchasing_users, report.avg_ltv) == (1, 300)


def test_avg_ltv_is_rounded_half_up_and_zero_without_users() -> None:
    march = date(2026, 3, 1)
    report = customers.CohortReport(
        [customers.Cohort(march, 2, [3]), customers.Cohort(march, 0, [0])]
    )
    assert report.avg_ltv == 2  # 1.5 half up
    assert customers.CohortReport([customers.Cohort(march, 0, [0])]).avg_ltv == 0


@pytest.mark.parametrize("months", [0, 37])
def test_months_out_of_range_is_a_value_error(
    store: Store, new_tenant: Callable[..., Tenant], months: int
) -> None:
    with pytest.raises(ValueError, match="months"):
        customers.cohorts(store, new_tenant(), months, NOW)


def test_user_journey_keeps_the_newest_events_oldest_first(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant, other = new_tenant(), new_tenant()
    base = datetime(2026, 3, 1, 9, tzinfo=UTC)
    mine = [
        event(
            tenant.id, base + timedelta(minutes=i), "view_item", user_id="u", items=[Item(f"s{i}")]
        )
        for i in range(5)
    ]
    tied = [event(tenant.id, base + timedelta(hours=1), "view_cart", user_id="u") for _ in range(2)]
    later = event(
        tenant.id,
        NOW + timedelta(hours=20),  # ingestion accepts up to 24 h ahead
        "purchase",
        user_id="u",
        transaction_id="t1",
        revenue=1234,
        items=[Item("a", item_name="A"), Item("b")],
    )
    insert(store, [*mine, *tied, later])
    insert(store, [event(tenant.id, base, "view_item", user_id="u", is_flagged=1)])
    insert(store, [event(tenant.id, base, "view_item", user_id="v")])
    insert(store, [event(other.id, base, "view_item", user_id="u")])

    journey = customers.user_journey(store, tenant, "u", NOW)
    assert [e.event_type for e in journey] == ["view_item"] * 5 + ["view_cart"] * 2 + ["purchase"]
    assert [e.timestamp for e in journey[:5]] == [base + timedelta(minutes=i) for i in range(5)]
    tie_ids = sorted(e.event_id for e in tied)  # ties go by event_id
    assert [e.event_id for e in journey[5:7]] == tie_ids
    assert journey[-1] == customers.JourneyEvent(
        later.event_id,
        "purchase",
        NOW + timedelta(hours=20),
        "t1",
        1234,
        [customers.JourneyItem("a", "A"), customers.JourneyItem("b", "")],
    )
    assert [i.item_id for e in journey[:5] for i in e.items] == [f"s{i}" for i in range(5)]
    assert all(e.revenue is None and e.transaction_id == "" for e in journey[:7])

    newest = customers.user_journey(store, tenant, "u", NOW, limit=3)
    assert [e.event_type for e in newest] == ["view_cart", "view_cart", "purchase"]
    assert customers.user_journey(store, tenant, "nobody", NOW) == []
