"""Rebuilding rollup hours reproduces exactly what the materialized views wrote."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.store import Store
from shoplens.store.rollups import ROLLUPS, rebuild
from tests.conftest import rows

HOUR_MS = 3_600_000
BASE_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def shop_events(tenant_id: int, rng: random.Random, n: int = 120) -> list[Event]:
    out = []
    for i in range(n):
        kind = rng.choice(["page_view", "view_item", "purchase", "refund"])
        items = (
            [Item(item_id=f"sku-{rng.randrange(4)}", price=rng.randrange(100, 900), quantity=2)]
            if kind != "page_view"
            else []
        )
        ms = BASE_MS + rng.randrange(5) * HOUR_MS + rng.randrange(HOUR_MS)
        out.append(
            Event(
                tenant_id=tenant_id,
                event_id=str(uuid.UUID(int=rng.getrandbits(128))),
                event_type=kind,
                event_name=kind,
                source="test",
                timestamp=ms,
                received_at=ms,
                user_id=f"u{rng.randrange(9)}" if rng.random() < 0.6 else "",
                visitor_id=f"v{rng.randrange(30)}",
                session_id=f"s{i % 17}",
                revenue=rng.randrange(1000) if kind in ("purchase", "refund") else 0,
                item_count=2 * len(items),
                is_flagged=int(rng.random() < 0.1),
                items=items,
            )
        )
    return out


def snapshot(store: Store, table: str, tenant_id: int) -> list[dict[str, Any]]:
    """The rollup's rows for a tenant, merged and with sketches finalized, in key order."""
    columns = {
        "events_hourly": "hour, event_type, is_flagged, sum(events) AS events, "
        "sum(revenue) AS revenue, sum(discount) AS discount, sum(items) AS items, "
        "uniqMerge(visitors) AS visitors, uniqMerge(users) AS users, "
        "uniqMerge(sessions) AS sessions",
        "items_hourly": "hour, event_type, item_id, is_flagged, sum(events) AS events, "
        "sum(quantity) AS quantity, sum(revenue) AS revenue",
    }[table]
    keys = columns.split(", sum(")[0]
    return rows(
        store,
        f"SELECT {columns} FROM {table} WHERE tenant_id = {{t:UInt32}} "
        f"GROUP BY {keys} ORDER BY {keys}",
        t=tenant_id,
    )


def test_a_rebuild_of_every_hour_equals_what_the_views_wrote(
    store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant, neighbour = make_tenant("rollups").id, make_tenant("rollups-neighbour").id
    rng = random.Random(5)
    for tenant_id in (tenant, neighbour):
        events = shop_events(tenant_id, rng)
        store.insert("events", events_table(events), f"rollups-{uuid.uuid4()}")
        store.insert("event_items", items_table(events), f"rollups-items-{uuid.uuid4()}")
    before = {r.table: snapshot(store, r.table, tenant) for r in ROLLUPS}
    theirs = {r.table: snapshot(store, r.table, neighbour) for r in ROLLUPS}
    assert all(before.values())
    hours = [f"2026-01-01 0{h}:00:00" for h in range(5)]
    for rollup in ROLLUPS:
        rebuild(store, rollup, tenant, hours)
        rebuild(store, rollup, tenant, hours)  # twice: not swallowed by insert dedup
    assert {r.table: snapshot(store, r.table, tenant) for r in ROLLUPS} == before
    assert {r.table: snapshot(store, r.table, neighbour) for r in ROLLUPS} == theirs


def test_a_rebuild_follows_the_raw_rows(store: Store, make_tenant: Callable[..., Any]) -> None:
    tenant = make_tenant("rollups-follow").id
    events = shop_events(tenant, random.Random(9), n=60)
    store.insert("events", events_table(events), f"rollups-{uuid.uuid4()}")
    store.command(
        "DELETE FROM events WHERE tenant_id = {t:UInt32} AND event_type = 'purchase'",
        {"t": tenant},
    )
    rebuild(store, ROLLUPS[0], tenant, [f"2026-01-01 0{h}:00:00" for h in range(5)])
    totals: dict[tuple[str, int], int] = {}
    for r in snapshot(store, "events_hourly", tenant):
        key = (r["event_type"], r["is_flagged"])
        totals[key] = totals.get(key, 0) + r["events"]
    expected: dict[tuple[str, int], int] = {}
    for e in events:
        if e.event_type != "purchase":
            key = (e.event_type, e.is_flagged)
            expected[key] = expected.get(key, 0) + 1
    assert totals == expected
