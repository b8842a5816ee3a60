"""Rebuilding hourly rollups from raw rows, for maintenance that removes raw rows.

The rollups (``events_hourly``, ``items_hourly``) are fed by materialized views on insert;
they hold sums and distinct-count sketches, so removing one user's raw rows cannot be
subtracted from them. Per-user deletion therefore deletes the rollup rows of the tenant's
affected hours and aggregates those hours again from the raw rows that remain.

The SELECTs below are the materialized views' (migrations/0001_events.sql) restricted to one
tenant and a set of hours; tests/store/test_rollups.py checks that a rebuild reproduces
exactly what the views wrote. Migrations are history and are never edited, so a migration
that changes a view must change its entry here too (that test fails until it does).

TRICKY: the rebuild INSERT runs with ``insert_deduplicate = 0``. The rollup tables keep a
deduplication window, and a rebuilt block identical to an earlier one (the same hours
rebuilt twice) would otherwise be dropped silently, losing the hours.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoplens.store.base import Store

_HOURS = "{hours:Array(DateTime('UTC'))}"
_TENANT = "{tenant_id:UInt32}"


@dataclass(frozen=True)
class Rollup:
    table: str
    source: str
    select: str


ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        "events_hourly",
        "events",
        f"""
SELECT tenant_id,
       toStartOfHour(timestamp) AS hour,
       event_type,
       is_flagged,
       count() AS events,
       sum(events.revenue) AS revenue,
       sum(events.discount) AS discount,
       sum(events.shipping) AS shipping,
       sum(events.tax) AS tax,
       sum(toUInt64(events.item_count)) AS items,
       uniqState(visitor_id) AS visitors,
       uniqStateIf(user_id, user_id != '') AS users,
       uniqStateIf(session_id, session_id != '') AS sessions
FROM events
WHERE tenant_id = {_TENANT} AND toStartOfHour(timestamp) IN {_HOURS}
GROUP BY tenant_id, hour, event_type, is_flagged""",
    ),
    Rollup(
        "items_hourly",
        "event_items",
        f"""
SELECT tenant_id,
       toStartOfHour(timestamp) AS hour,
       event_type,
       item_id,
       is_flagged,
       count() AS events,
       sum(toInt64(event_items.quantity)) AS quantity,
       sum(event_items.price * event_items.quantity) AS revenue
FROM event_items
WHERE tenant_id = {_TENANT} AND toStartOfHour(timestamp) IN {_HOURS}
GROUP BY tenant_id, hour, event_type, item_id, is_flagged""",
    ),
)


def rebuild(store: Store, rollup: Rollup, tenant_id: int, hours: list[str]) -> None:
    """Replace ``tenant_id``'s rows of ``rollup`` for ``hours`` ("YYYY-MM-DD HH:00:00" UTC)
    with an aggregation of the raw rows now in its source table.

    The caller holds the flusher's insert lock: an insert landing between the delete and
    the re-aggregation would be counted twice.
    """
    if not hours:
        return
    params = {"tenant_id": tenant_id, "hours": hours}
    store.command(
        f"DELETE FROM {rollup.table} WHERE tenant_id = {_TENANT} AND hour IN {_HOURS}", params
    )
    store.command(
        f"INSERT INTO {rollup.table} {rollup.select} SETTINGS insert_deduplicate = 0", params
    )
