"""Assertions the durability tests share."""

from __future__ import annotations

from shoplens.ingest.event import Event
from shoplens.store import Store
from tests.conftest import rows


def assert_stored_exactly_once(store: Store, tenant_id: int, events: list[Event]) -> None:
    """Every event (and item, and property) once in the raw tables, and the hourly rollups
    fed by materialized views agree with them (a retried insert that reached an MV twice
    would inflate the rollups even when the raw table dropped it)."""
    t = {"t": tenant_id}
    ids = rows(
        store,
        "SELECT toString(event_id) AS id FROM events WHERE tenant_id = {t:UInt32} ORDER BY id",
        **t,
    )
    assert [r["id"] for r in ids] == sorted(e.event_id for e in events)

    item_keys = rows(
        store,
        "SELECT toString(event_id) AS id, item_index FROM event_items "
        "WHERE tenant_id = {t:UInt32} ORDER BY id, item_index",
        **t,
    )
    expected_items = sorted((e.event_id, i) for e in events for i in range(len(e.items)))
    assert [(r["id"], r["item_index"]) for r in item_keys] == expected_items

    properties = rows(
        store, "SELECT count() AS n FROM event_properties WHERE tenant_id = {t:UInt32}", **t
    )
    assert properties[0]["n"] == sum(len(e.properties) for e in events)

    hourly = rows(
        store,
        "SELECT sum(events) AS n, sum(revenue) AS rev FROM events_hourly "
        "WHERE tenant_id = {t:UInt32}",
        **t,
    )[0]
    assert hourly == {"n": len(events), "rev": sum(e.revenue for e in events)}

    items_hourly = rows(
        store,
        "SELECT sum(events) AS n, sum(quantity) AS qty, sum(revenue) AS rev FROM items_hourly "
        "WHERE tenant_id = {t:UInt32}",
        **t,
    )[0]
    all_items = [i for e in events for i in e.items]
    assert items_hourly == {
        "n": len(all_items),
        "qty": sum(i.quantity for i in all_items),
        "rev": sum(i.price * i.quantity for i in all_items),
    }
