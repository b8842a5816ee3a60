"""Flagged sales on the real chDB store: what the sales totals leave out, from raw events
and from the hourly rollup alike, per tenant and period.

Rows go in through the real insert path (``events_table`` + ``store.insert``, which fires
the rollup's materialized view), dated relative to now.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import sales
from shoplens.metrics.fraud import FlaggedSales, flagged_sales
from shoplens.metrics.period import parse_period
from shoplens.store import Store

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def event(tenant_id: int, hours_ago: float, event_type: str, **fields: Any) -> Event:
    ms = int((NOW - timedelta(hours=hours_ago)).timestamp() * 1000)
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


@pytest.fixture
def new_tenant(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[..., Tenant]:
    def make(timezone: str = "UTC") -> Tenant:
        tenant = meta.tenant(make_tenant("fraud", timezone=timezone, plan="pro").id)
        assert tenant is not None
        return tenant

    return make


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])  # rollup-able, raw only
def test_flagged_sales_are_what_the_totals_leave_out(
    store: Store, new_tenant: Callable[..., Tenant], timezone: str
) -> None:
    tenant, other = new_tenant(timezone), new_tenant(timezone)
    rows = [
        event(tenant.id, 30, "purchase", revenue=1_000),
        event(tenant.id, 30, "purchase", revenue=2_500, is_flagged=1),
        event(tenant.id, 50.5, "purchase", revenue=4_000, is_flagged=1),
        event(tenant.id, 50, "refund", revenue=700, is_flagged=1),  # not an order
        event(tenant.id, 51, "add_to_cart", is_flagged=1),
        event(tenant.id, 24 * 20, "purchase", revenue=9_000, is_flagged=1),  # before 7 days
        event(other.id, 30, "purchase", revenue=8_000, is_flagged=1),  # another tenant's
    ]
    store.insert("events", events_table(rows), f"test-flagged-sales-{uuid.uuid4()}")
    week = parse_period({"days": "7"}, timezone=timezone, now=NOW)
    month = parse_period({"days": "30"}, timezone=timezone, now=NOW)
    sources: list[sales.Source] = ["raw", "rollup"] if sales.plan(week) == "rollup" else ["raw"]
    assert sources == (["raw", "rollup"] if timezone == "UTC" else ["raw"])
    for source in [None, *sources]:
        assert flagged_sales(store, tenant, week, source) == FlaggedSales(2, 6_500), source
        assert flagged_sales(store, tenant, month, source) == FlaggedSales(3, 15_500), source
        assert flagged_sales(store, other, week, source) == FlaggedSales(1, 8_000), source
    # Beside the totals: the unflagged purchase is counted there, and only there.
    totals = sales.totals(store, tenant, week)
    assert (totals.revenue, totals.orders) == (1_000, 1)


def test_no_flags_is_zeros(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    period = parse_period({"days": "7"}, timezone=tenant.timezone, now=NOW)
    assert flagged_sales(store, tenant, period) == FlaggedSales(0, 0)
