"""Retention: each tenant's windows, bounded by its plan, dropping exactly what is past them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shoplens import retention
from shoplens.errors import BadRequest
from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.meta import MetaStore, Tenant
from shoplens.store import Store
from tests.conftest import rows

NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
TODAY = datetime(2026, 11, 23, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def at(instant: datetime, tenant_id: int, label: str) -> Event:
    ms = int(instant.timestamp() * 1000)
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type="purchase",
        event_name=label,
        source="test",
        timestamp=ms,
        received_at=ms,
        user_id="u1",
        revenue=100,
        properties={"label": label},
        items=[Item(item_id="sku", price=100)],
    )


def load(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"retention-{uuid.uuid4()}")
    store.insert("event_items", items_table(events), f"retention-items-{uuid.uuid4()}")


def labels(store: Store, table: str, tenant_id: int) -> list[str]:
    if table == "events":
        sql = "SELECT event_name AS l FROM events WHERE tenant_id = {t:UInt32} ORDER BY timestamp"
    elif table == "event_properties":
        sql = (
            "SELECT value AS l FROM event_properties WHERE tenant_id = {t:UInt32} "
            "ORDER BY timestamp"
        )
    else:  # the earliest day left
        column = "hour" if "hourly" in table else "timestamp"
        sql = (
            f"SELECT formatDateTime(min({column}), '%F') AS l "
            f"FROM {table} WHERE tenant_id = {{t:UInt32}}"
        )
    return [r["l"] for r in rows(store, sql, t=tenant_id)]


def tenant(meta: MetaStore, make_tenant: Callable[..., Any], plan: str = "pro") -> Tenant:
    found = meta.tenant(make_tenant(f"retention-{plan}", plan=plan).id)
    assert found is not None
    return found


def test_defaults_come_from_seed_000_bounded_by_the_plan(
    meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    pro, free = tenant(meta, make_tenant), tenant(meta, make_tenant, "free")
    assert retention.of(meta, pro) == retention.Retention(90, 730)
    assert retention.of(meta, free) == retention.Retention(30, 730)  # free keeps 30 days raw
    assert retention.of(meta, pro).body() == {
        "rawEvents": 90,
        "aggregatedMetrics": 730,
        "customerProfiles": None,
        "modelData": 365,
    }


def test_rollup_reports_look_back_the_aggregated_window_within_the_plan(
    meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    pro, free = tenant(meta, make_tenant), tenant(meta, make_tenant, "free")
    enterprise = tenant(meta, make_tenant, "enterprise")
    assert retention.aggregated_days(meta, pro) == 365  # 730 kept, the plan shows 365
    assert retention.aggregated_days(meta, free) == 30
    assert retention.aggregated_days(meta, enterprise) == 730
    retention.update(meta, enterprise, {"retention": {"aggregatedMetrics": 1000}})
    assert retention.aggregated_days(meta, enterprise) == 1000
    retention.update(meta, pro, {"retention": {"rawEvents": 30, "aggregatedMetrics": 200}})
    assert (retention.raw_days(meta, pro), retention.aggregated_days(meta, pro)) == (30, 200)
    forever = {"rawEvents": None, "aggregatedMetrics": None}
    retention.update(meta, enterprise, {"retention": forever})
    assert retention.aggregated_days(meta, enterprise) is None


def test_update_validates_and_keeps_the_other_window(
    meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    pro = tenant(meta, make_tenant)
    assert retention.update(meta, pro, {"retention": {"rawEvents": 30}}) == retention.Retention(
        30, 730
    )
    assert retention.update(
        meta, pro, {"retention": {"aggregatedMetrics": 60}}
    ) == retention.Retention(30, 60)
    for body, field in [
        ({"retention": {"rawEvents": 366}}, "retention.rawEvents"),  # pro keeps 365 at most
        ({"retention": {"rawEvents": 0}}, "retention.rawEvents"),
        ({"retention": {"rawEvents": "90"}}, "retention.rawEvents"),
        ({"retention": {"rawEvents": 90, "aggregatedMetrics": 60}}, "retention.aggregatedMetrics"),
        ({"retention": {"customerProfiles": 10}}, "retention.customerProfiles"),
        ({"retention": {}}, "retention"),
        ({"other": 1}, "retention"),
    ]:
        with pytest.raises(BadRequest) as caught:
            retention.update(meta, pro, body)
        assert caught.value.field == field, body
    assert retention.of(meta, pro) == retention.Retention(30, 60)  # refused changes kept nothing


def test_enforce_drops_exactly_what_is_past_each_window(
    store: Store, meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    shop, neighbour = tenant(meta, make_tenant), tenant(meta, make_tenant)
    retention.update(meta, shop, {"retention": {"rawEvents": 10, "aggregatedMetrics": 20}})
    raw_cutoff, rollup_cutoff = TODAY - timedelta(days=10), TODAY - timedelta(days=20)
    load(
        store,
        [
            at(rollup_cutoff - timedelta(hours=1), shop.id, "rollup-gone"),
            at(raw_cutoff - MS, shop.id, "raw-gone"),
            at(raw_cutoff, shop.id, "kept-at-cutoff"),
            at(NOW, shop.id, "kept-now"),
            # the neighbour keeps the default 90 days: the same old rows stay
            at(raw_cutoff - MS, neighbour.id, "neighbour-old"),
        ],
    )
    # only these tenants: the store is shared with other tests' old rows
    report = retention.enforce(store, meta, NOW, [shop, neighbour])

    assert labels(store, "events", shop.id) == ["kept-at-cutoff", "kept-now"]
    assert labels(store, "event_properties", shop.id) == ["kept-at-cutoff", "kept-now"]
    assert labels(store, "event_items", shop.id) == [raw_cutoff.strftime("%F")]
    # rollups keep the hours raw rows left, up to their own (longer) window
    assert labels(store, "events_hourly", shop.id) == [(raw_cutoff - MS).strftime("%F")]
    assert report[shop.id] == {
        "events": 2,
        "event_items": 2,
        "event_properties": 2,
        "events_hourly": 1,
        "items_hourly": 1,
    }
    assert neighbour.id not in report
    assert labels(store, "events", neighbour.id) == ["neighbour-old"]
    assert retention.enforce(store, meta, NOW, [shop]) == {}  # nothing left to drop


def test_a_plan_downgrade_shortens_the_window(
    meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    pro = tenant(meta, make_tenant)
    retention.update(meta, pro, {"retention": {"rawEvents": 200, "aggregatedMetrics": 300}})
    meta.update_tenant(pro.id, plan="free")
    downgraded = meta.tenant(pro.id)
    assert downgraded is not None
    assert retention.of(meta, downgraded) == retention.Retention(30, 300)


def test_forever_only_on_plans_without_a_limit(
    store: Store, meta: MetaStore, make_tenant: Callable[..., Any]
) -> None:
    pro, enterprise = tenant(meta, make_tenant), tenant(meta, make_tenant, "enterprise")
    with pytest.raises(BadRequest) as caught:
        retention.update(meta, pro, {"retention": {"rawEvents": None}})
    assert caught.value.field == "retention.rawEvents" and "365" in caught.value.message
    forever = {"retention": {"rawEvents": None, "aggregatedMetrics": None}}
    assert retention.update(meta, enterprise, forever) == retention.Retention(None, None)
    assert retention.raw_days(meta, enterprise) is None
    load(store, [at(datetime(2010, 12, 1, tzinfo=UTC), enterprise.id, "ancient")])
    assert retention.enforce(store, meta, NOW, [enterprise]) == {}
    assert labels(store, "events", enterprise.id) == ["ancient"]
    # rollups cannot be kept for less than forever when raw rows are kept forever
    with pytest.raises(BadRequest) as caught:
        retention.update(meta, enterprise, {"retention": {"aggregatedMetrics": 730}})
    assert caught.value.field == "retention.aggregatedMetrics"
