"""RFM segments: the scoring and segment data, and the query on rows inserted straight into
the store (flagged rows, guests, history before the period, local days, m ties)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import segments as rfm
from shoplens.metrics.period import Period, parse_period
from shoplens.store import Store
from tests.conftest import NOW

NOON = NOW.replace(hour=12, minute=0, second=0, microsecond=0)


def purchase(tenant_id: int, when: datetime, revenue: int, user: str, **fields: Any) -> Event:
    ms = int(when.timestamp() * 1000)
    return Event(
        tenant_id=tenant_id, event_id=str(uuid.uuid4()), event_type="purchase",
        event_name="purchase", source="test", timestamp=ms, received_at=ms,
        visitor_id=f"visitor-{user}",
        user_id=user, revenue=revenue, **fields,
    )  # fmt: skip


def insert(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"test-segments-{uuid.uuid4()}")


@pytest.fixture
def make_shop(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[..., Tenant]:
    def make(**fields: Any) -> Tenant:
        tenant = meta.tenant(make_tenant("segments", plan="pro", **fields).id)
        assert tenant is not None
        return tenant

    return make


def days(n: int, tenant: Tenant) -> Period:
    return parse_period({"days": str(n)}, timezone=tenant.timezone, now=NOW)


def ago(n: int) -> datetime:
    return NOON - timedelta(days=n)


def by_name(stats: list[rfm.SegmentStats]) -> dict[str, tuple[int, int, int, int]]:
    return {
        s.segment.name: (s.customers, s.revenue, s.purchases, s.recency_days)
        for s in stats
        if s.customers
    }


@pytest.mark.parametrize(
    ("recency", "score"),
    [(0, 5), (30, 5), (31, 4), (60, 4), (61, 3), (90, 3), (91, 2), (180, 2), (181, 1)],
)
def test_r_score_thresholds(recency: int, score: int) -> None:
    assert rfm.r_score(recency) == score


@pytest.mark.parametrize(
    ("purchases", "score"), [(1, 1), (2, 2), (3, 3), (4, 4), (5, 4), (6, 5), (60, 5)]
)
def test_f_score_thresholds(purchases: int, score: int) -> None:
    assert rfm.f_score(purchases) == score


def test_m_scores_are_quintiles_with_ties_scoring_high() -> None:
    assert rfm.m_scores([100]) == [5]
    assert rfm.m_scores([7, 7, 7]) == [5, 5, 5]
    assert rfm.m_scores(list(range(10))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert rfm.m_scores([1, 2, 2, 3, 4]) == [1, 3, 3, 4, 5]


def test_every_score_cell_has_a_segment_and_rules_read_well() -> None:
    names = [s.name for s in rfm.SEGMENTS]
    assert names == [
        "Champions", "Loyal", "Potential loyalists", "New customers", "Can't lose them",
        "At risk", "Hibernating", "Lost",
    ]  # fmt: skip
    cells = list(itertools.product(rfm.SCORES, repeat=3))
    assert len(cells) == 125
    reached = {rfm.segment_of(*cell).name for cell in cells}
    assert reached == set(names)  # no segment is shadowed by an earlier one
    assert rfm.SEGMENTS[0].rule == "r 4-5, f 4-5, m 4-5"
    assert rfm.SEGMENTS[3].rule == "r 4-5, f 1"
    assert rfm.segment_of(5, 5, 3).name == "Loyal"
    assert rfm.segment_of(2, 5, 5).name == "Can't lose them"
    assert rfm.segment_of(2, 5, 3).name == "At risk"
    assert rfm.segment_of(1, 1, 5).name == "Lost"


def test_rfm_reads_all_history_to_the_period_end_without_flagged_or_guests(
    store: Store, make_shop: Callable[..., Tenant]
) -> None:
    shop = make_shop()
    t = shop.id
    insert(store, [
        # u1: 4 purchases, last yesterday, the top spender → Champions.
        *(purchase(t, ago(n), 10000, "u1") for n in (1, 40, 100, 400)),
        # u2: bought once, 200 days ago (long before a 30-day period) → Lost.
        purchase(t, ago(200), 500, "u2"),
        # u3: once, 10 days ago → New customers.
        purchase(t, ago(10), 700, "u3"),
        # Flagged and guest purchases count nowhere.
        purchase(t, ago(1), 10**9, "u4", is_flagged=1),
        purchase(t, ago(1), 10**9, "u3", is_flagged=1),
        purchase(t, ago(1), 10**9, ""),
    ])  # fmt: skip
    stats = rfm.segments(store, shop, days(30, shop))
    assert [s.segment.name for s in stats] == [s.name for s in rfm.SEGMENTS]
    assert by_name(stats) == {
        "Champions": (1, 40000, 4, 1),
        "New customers": (1, 700, 1, 10),
        "Lost": (1, 500, 1, 200),
    }
    champions = stats[0]
    assert (champions.avg_order_value, champions.avg_recency_days) == (10000, 1.0)
    assert champions.share_of(3) == 33.3
    empty = stats[1]
    assert (empty.customers, empty.avg_order_value, empty.avg_recency_days) == (0, 0, 0.0)

    # As of 50 days ago: u1 had 2 purchases (100, 400 days ago), u3 was not a customer.
    first = ago(55).date()
    earlier = parse_period(
        {"start": str(first), "end": str(ago(50).date())}, timezone="UTC", now=NOW
    )
    assert by_name(rfm.segments(store, shop, earlier)) == {
        # u1: r=4 (50 days), f=2 → Potential loyalists; u2: 150 days, f 1 → Hibernating.
        "Potential loyalists": (1, 20000, 2, 50),
        "Hibernating": (1, 500, 1, 150),
    }


def test_recency_counts_the_tenants_local_days(
    store: Store, make_shop: Callable[..., Tenant]
) -> None:
    shop = make_shop(timezone="America/New_York")
    period = days(7, shop)
    # 03:00 UTC on the period's last day is still the day before in New York.
    last: date = period.last_day
    insert(store, [purchase(shop.id, datetime(last.year, last.month, last.day, 3, tzinfo=UTC),
                            1234, "ny")])  # fmt: skip
    assert by_name(rfm.segments(store, shop, period)) == {"New customers": (1, 1234, 1, 1)}


def test_m_quintiles_in_the_store_match_python(
    store: Store, make_shop: Callable[..., Tenant]
) -> None:
    shop = make_shop()
    spend = [100, 200, 200, 300, 400, 500, 500, 500, 900, 1000, 50]
    insert(store, [purchase(shop.id, ago(2), m, f"c{i}") for i, m in enumerate(spend)])
    want: dict[str, list[int]] = {}
    for m, m_score in zip(spend, rfm.m_scores(spend), strict=True):
        name = rfm.segment_of(5, 1, m_score).name
        acc = want.setdefault(name, [0, 0, 0, 0])
        for i, v in enumerate((1, m, 1, 2)):
            acc[i] += v
    assert by_name(rfm.segments(store, shop, days(30, shop))) == {
        k: tuple(v) for k, v in want.items()
    }
    # r=5, f=1: all New customers whatever m; with 4 purchases the top fifth are Champions.
    insert(store, [purchase(shop.id, ago(3), 1, f"c{i}") for i in range(len(spend))
                   for _ in range(3)])  # fmt: skip
    stats = by_name(rfm.segments(store, shop, days(30, shop)))
    # m >= 4: the top 2/5 by spend (k/n > 3/5): 500, 500, 500, 900, 1000 (+3 each).
    assert stats["Champions"][0] == 5
    assert stats["Loyal"][0] == 6
