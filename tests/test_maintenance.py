"""The maintenance task: salts destroyed on time, deletions run, retention when due."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoplens import deletion
from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.maintenance import Maintenance
from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import rows


def test_a_round_destroys_expired_salts_and_the_old_fixed_ip_salt(
    store: Store, tmp_path: Path, make_tenant: Callable[..., Any]
) -> None:
    meta = MetaStore(tmp_path / "meta.sqlite3")
    today = int(time.time() // 86_400)
    for day in (today - 3, today - 2, today - 1, today):
        meta.day_salt(day, f"salt-{day}".encode())
    shop = meta.create_tenant("old salt")
    meta.set_setting(shop.id, "ip_salt", "fixed")
    maintenance = Maintenance(store, meta, threading.Lock(), retention_interval=None)

    async def one_round() -> None:
        task = asyncio.create_task(maintenance.run())
        await asyncio.sleep(0.3)
        maintenance.stop()
        await task

    asyncio.run(one_round())
    assert sorted(meta.salts()) == [today - 1, today]
    assert meta.get_setting(shop.id, "ip_salt") is None
    meta.close()


def own_meta(path: Path) -> MetaStore:
    """A metadata store whose tenant ids start far above the session's: retention runs over
    every tenant of its metadata store, and the chDB store is shared by all tests, so this
    meta's tenants must not share an id with any other test's."""
    meta = MetaStore(path)
    meta._conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('tenants', 4000000000)")
    return meta


def test_a_round_runs_queued_deletions_and_retention_when_due(store: Store, tmp_path: Path) -> None:
    meta = own_meta(tmp_path / "meta.sqlite3")
    shop = meta.create_tenant("maintained", plan="pro")
    assert shop.id > 4_000_000_000
    old = int((time.time() - 400 * 86_400) * 1000)  # past every window
    fresh = int(time.time() * 1000)
    events = [
        Event(
            tenant_id=shop.id,
            event_id=str(uuid.uuid4()),
            event_type="page_view",
            event_name="page_view",
            source="test",
            timestamp=ts,
            received_at=ts,
            user_id=user,
        )
        for ts, user in [(old, "old"), (fresh, "gone"), (fresh, "kept")]
    ]
    store.insert("events", events_table(events), f"maintenance-{uuid.uuid4()}")
    deletion.request(meta, shop.id, "gone")
    Maintenance(store, meta, threading.Lock(), retention_interval=3600).run_once()

    left = rows(store, "SELECT user_id FROM events WHERE tenant_id = {t:UInt32}", t=shop.id)
    assert [r["user_id"] for r in left] == ["kept"]
    assert deletion.history(meta, shop.id, "gone")[0].status == "done"
    # the last run is remembered: not due again within the interval
    store.insert("events", events_table([_copy(events[0])]), f"maintenance-{uuid.uuid4()}")
    Maintenance(store, meta, threading.Lock(), retention_interval=3600).run_once()
    assert len(rows(store, "SELECT 1 FROM events WHERE tenant_id = {t:UInt32}", t=shop.id)) == 2
    meta.close()


def _copy(event: Event) -> Event:
    return Event(
        tenant_id=event.tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event.event_type,
        event_name=event.event_name,
        source=event.source,
        timestamp=event.timestamp,
        received_at=event.received_at,
        user_id="old-again",
    )


def test_a_retention_round_stops_between_tenants_when_the_server_stops(
    store: Store, tmp_path: Path
) -> None:
    meta = own_meta(tmp_path / "meta.sqlite3")
    first, second = meta.create_tenant("one"), meta.create_tenant("two")
    maintenance = Maintenance(store, meta, threading.Lock(), retention_interval=3600)
    walk = maintenance._tenants_until_stopped()
    assert next(walk).id == first.id
    maintenance.stop()
    assert list(walk) == []  # "two" waits for the next start
    assert second.id != first.id
    maintenance.run_once()
    assert meta.get_setting(0, "retention_last_run") is None  # not a full round: not saved
    meta.close()
