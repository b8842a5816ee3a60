"""The flusher: durable WAL records into the real chDB store, exactly once.

Events reach the flusher the way they do in production: appended to a real WAL whose writer
task hands each synced record to ``Flusher.add``. Crashes are simulated on disk (the WAL's
files and checkpoint as a dead process left them) and recovered by fresh instances.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from shoplens.ingest.event import Event, Item
from shoplens.ingest.flusher import Flusher
from shoplens.ingest.wal import Checkpoint, Position, WriteAheadLog
from shoplens.store import Store
from tests.conftest import rows
from tests.ingest.stored import assert_stored_exactly_once

ENCODER = msgspec.msgpack.Encoder()
Range = tuple[Position, Position]


class FailingStoreDouble:
    """The real store, except that its first ``failures`` inserts raise.

    A double because a store outage cannot be produced on demand here: the embedded chDB
    store runs inside the test process and cannot be stopped or cut off from the network.
    With ``land_first`` each failing insert reaches the real store before the error is
    raised: an insert that landed but whose answer was lost (a timeout), which is what the
    dedup tokens are for. Every insert's (table, token) is recorded, failed ones included.
    """

    kind = "embedded"
    cluster = None

    def __init__(self, store: Store, failures: int, *, land_first: bool = False) -> None:
        self.store = store
        self.failures = failures
        self.land_first = land_first
        self.inserts: list[tuple[str, str]] = []

    def query(self, sql: str, params: Any = None) -> pa.Table:
        return self.store.query(sql, params)

    def command(self, sql: str, params: Any = None) -> None:
        self.store.command(sql, params)

    def insert(self, table: str, batch: pa.Table, dedup_token: str) -> None:
        self.inserts.append((table, dedup_token))
        failing = len(self.inserts) <= self.failures
        if failing and not self.land_first:
            raise ConnectionError("store double: connection refused")
        self.store.insert(table, batch, dedup_token)
        if failing:
            raise ConnectionError("store double: the answer to the insert was lost")

    def close(self) -> None:
        pass

    def tokens(self, table: str) -> list[str]:
        return [token for t, token in self.inserts if t == table]


def now_ms() -> int:
    return int(time.time() * 1000)


def order(tenant_id: int, n: int) -> Event:
    """A purchase with two items and a property, all values derived from ``n``."""
    at = now_ms()
    items = [
        Item(f"sku-{n}-a", item_name=f"Mug {n}", price=1000 + n, quantity=2),
        Item(f"sku-{n}-b", item_name=f"Tee {n}", price=2500, quantity=1 + n % 3),
    ]
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type="purchase",
        event_name="Order Completed",
        source="test",
        timestamp=at,
        received_at=at,
        user_id=f"user-{n}",
        visitor_id=f"visitor-{n}",
        transaction_id=f"T-{n}",
        currency="USD",
        revenue=sum(i.price * i.quantity for i in items),
        item_count=len(items),
        properties={"n": str(n)},
        items=items,
    )


def orders(tenant_id: int, records: int, per_record: int) -> list[list[Event]]:
    """``records`` WAL records (one submit each) of ``per_record`` orders."""
    return [
        [order(tenant_id, r * per_record + i) for i in range(per_record)] for r in range(records)
    ]


def flat(batches: list[list[Event]]) -> list[Event]:
    return [event for batch in batches for event in batch]


def open_wal(path: Path, segment_bytes: int = 1 << 20) -> WriteAheadLog:
    return WriteAheadLog(path, segment_bytes=segment_bytes, max_bytes=1 << 30)


@asynccontextmanager
async def writer(wal: WriteAheadLog, flusher: Flusher) -> AsyncIterator[None]:
    """The WAL writer task, handing every synced record to the flusher (as the pipeline
    wires them)."""
    task = asyncio.create_task(wal.run(flusher.add))
    try:
        yield
    finally:
        wal.close()
        await asyncio.wait_for(task, timeout=5)


async def append(wal: WriteAheadLog, batches: list[list[Event]]) -> list[Range]:
    return [await wal.append(ENCODER.encode(batch), batch) for batch in batches]


def write(wal: WriteAheadLog, flusher: Flusher, batches: list[list[Event]]) -> list[Range]:
    async def scenario() -> list[Range]:
        async with writer(wal, flusher):
            return await append(wal, batches)

    return asyncio.run(scenario())


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def stored_count(store: Store, tenant_id: int) -> int:
    return rows(store, "SELECT count() AS n FROM events WHERE tenant_id = {t:UInt32}", t=tenant_id)[
        0
    ]["n"]


# flushing ----------------------------------------------------------------------------------


def test_flush_stores_events_and_items_with_their_values(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    batches = orders(tenant, records=2, per_record=3)
    flushed: list[list[Event]] = []
    wal = open_wal(tmp_path)
    flusher = Flusher(store, wal, interval=60, max_rows=10**6, on_flushed=flushed.append)
    ranges = write(wal, flusher, batches)
    assert flusher.pending_rows == 6

    assert asyncio.run(flusher.flush()) is True

    events = flat(batches)
    got = rows(
        store,
        "SELECT toString(event_id) AS event_id, event_type, transaction_id, user_id, revenue, "
        "toUnixTimestamp64Milli(timestamp) AS ts, item_count, properties "
        "FROM events WHERE tenant_id = {t:UInt32} ORDER BY transaction_id",
        t=tenant,
    )
    assert got == [
        {
            "event_id": e.event_id,
            "event_type": "purchase",
            "transaction_id": e.transaction_id,
            "user_id": e.user_id,
            "revenue": e.revenue,
            "ts": e.timestamp,
            "item_count": 2,
            "properties": list(e.properties.items()),
        }
        for e in sorted(events, key=lambda e: e.transaction_id)
    ]
    items = rows(
        store,
        "SELECT toString(event_id) AS event_id, item_index, item_id, item_name, price, quantity, "
        "transaction_id FROM event_items WHERE tenant_id = {t:UInt32} "
        "ORDER BY transaction_id, item_index",
        t=tenant,
    )
    assert items == [
        {
            "event_id": e.event_id,
            "item_index": i,
            "item_id": item.item_id,
            "item_name": item.item_name,
            "price": item.price,
            "quantity": item.quantity,
            "transaction_id": e.transaction_id,
        }
        for e in sorted(events, key=lambda e: e.transaction_id)
        for i, item in enumerate(e.items)
    ]
    assert_stored_exactly_once(store, tenant, events)
    assert wal.checkpoint == Checkpoint(ranges[-1][1])
    assert open_wal(tmp_path).checkpoint == Checkpoint(ranges[-1][1])
    assert flusher.pending_rows == 0
    assert (flusher.stats.flushes, flusher.stats.events) == (1, 6)
    assert flushed == [events]


def test_flush_with_nothing_buffered_inserts_nothing(tmp_path: Path, store: Store) -> None:
    double = FailingStoreDouble(store, failures=0)
    flusher = Flusher(double, open_wal(tmp_path), interval=60, max_rows=10)

    assert asyncio.run(flusher.flush()) is True
    assert double.inserts == []
    assert flusher.stats.flushes == 0


def test_events_without_items_insert_no_item_rows(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    views = [msgspec.structs.replace(order(tenant, i), items=[], item_count=0) for i in range(3)]
    double = FailingStoreDouble(store, failures=0)
    wal = open_wal(tmp_path)
    flusher = Flusher(double, wal, interval=60, max_rows=10**6)
    write(wal, flusher, [views])

    assert asyncio.run(flusher.flush()) is True

    assert [table for table, _ in double.inserts] == ["events"]
    assert_stored_exactly_once(store, tenant, views)


def test_interval_flush_stores_events_without_reaching_max_rows(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    batches = orders(tenant, records=3, per_record=1)
    wal = open_wal(tmp_path)
    flusher = Flusher(store, wal, interval=0.05, max_rows=10**6)

    async def scenario() -> None:
        runner = asyncio.create_task(flusher.run())
        async with writer(wal, flusher):
            await append(wal, batches)
            await wait_until(lambda: flusher.stats.events == 3)
            assert stored_count(store, tenant) == 3  # before any shutdown flush
        flusher.stop()
        await asyncio.wait_for(runner, timeout=5)

    asyncio.run(scenario())
    assert_stored_exactly_once(store, tenant, flat(batches))


def test_max_rows_flushes_at_once_and_the_rest_waits_for_a_trigger(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    first, second, rest = orders(tenant, records=3, per_record=2)
    wal = open_wal(tmp_path)
    flusher = Flusher(store, wal, interval=3600, max_rows=4)

    async def scenario() -> None:
        runner = asyncio.create_task(flusher.run())
        async with writer(wal, flusher):
            await append(wal, [first])
            await asyncio.sleep(0.3)
            assert (flusher.stats.flushes, flusher.pending_rows) == (0, 2)  # 2 < max_rows

            await append(wal, [second])  # 4 rows: flush now, not in an hour
            await wait_until(lambda: flusher.stats.events == 4)
            assert stored_count(store, tenant) == 4

            await append(wal, [rest])
            await asyncio.sleep(0.3)
            assert (flusher.stats.flushes, flusher.pending_rows) == (1, 2)
        flusher.stop()  # shutdown flushes what is left
        await asyncio.wait_for(runner, timeout=5)

    asyncio.run(scenario())
    assert flusher.stats.flushes == 2
    assert_stored_exactly_once(store, tenant, first + second + rest)


def test_records_handed_over_while_the_intent_is_saved_go_to_the_next_batch(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    """The WAL writer keeps handing records over while a flush saves its intent (in a
    worker thread); they belong to the next batch and must not fall out of the buffer."""
    tenant = make_tenant().id
    first, second = orders(tenant, records=2, per_record=2)
    wal = open_wal(tmp_path)
    flusher = Flusher(store, wal, interval=60, max_rows=10**6)
    durable: list[tuple[Position, Position, list[Event]]] = []

    async def scenario() -> None:
        # Real records; handed to the flusher by hand to control when each one arrives.
        task = asyncio.create_task(wal.run(lambda s, e, v: durable.append((s, e, v))))
        await append(wal, [first, second])
        wal.close()
        await task

        flusher.add(*durable[0])
        flushing = asyncio.create_task(flusher.flush())
        await asyncio.sleep(0)  # the flush is now saving its intent in a worker thread
        flusher.add(*durable[1])
        assert await flushing is True
        assert flusher.pending_rows == 2
        assert await flusher.flush() is True

    asyncio.run(scenario())
    assert wal.checkpoint == Checkpoint(durable[1][1])
    assert_stored_exactly_once(store, tenant, first + second)


# crashes and recovery ----------------------------------------------------------------------


@pytest.mark.parametrize("segment_bytes", [1 << 20, 1500], ids=["one segment", "many segments"])
def test_crash_after_insert_before_checkpoint_is_stored_exactly_once(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any], segment_bytes: int
) -> None:
    tenant = make_tenant().id
    batches = orders(tenant, records=6, per_record=3)
    wal_dir, crashed_dir = tmp_path / "wal", tmp_path / "crashed"
    wal = open_wal(wal_dir, segment_bytes)
    flusher = Flusher(store, wal, interval=60, max_rows=10**6)
    ranges = write(wal, flusher, batches)
    start, end = ranges[0][0], ranges[-1][1]
    if segment_bytes < 1 << 20:
        assert start.segment < end.segment, "the range should span segments"

    # The log's files as they are when the flush begins; then the real flush inserts...
    shutil.copytree(wal_dir, crashed_dir)
    assert asyncio.run(flusher.flush()) is True
    # ...and the process dies before the checkpoint advances: on disk, only the intent.
    open_wal(crashed_dir, segment_bytes).save_checkpoint(Checkpoint(Position(0, 0), (start, end)))

    restarted = open_wal(crashed_dir, segment_bytes)
    assert restarted.checkpoint.inflight == (start, end)
    recovering = Flusher(store, restarted, interval=60, max_rows=10**6)
    replayed = recovering.recover()

    assert replayed == 18
    assert restarted.checkpoint == Checkpoint(end)
    assert open_wal(crashed_dir).checkpoint == Checkpoint(end)
    assert recovering.pending_rows == 0
    assert_stored_exactly_once(store, tenant, flat(batches))


def test_crash_after_insert_recovers_the_range_and_buffers_what_follows(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    flushed_part, later_part = orders(tenant, records=2, per_record=2)
    wal = open_wal(tmp_path)
    flusher = Flusher(store, wal, interval=60, max_rows=10**6)

    async def scenario() -> tuple[Range, Range]:
        async with writer(wal, flusher):
            [first] = await append(wal, [flushed_part])
            assert await flusher.flush()
            [second] = await append(wal, [later_part])
        return first, second

    first, second = asyncio.run(scenario())
    # Dead after inserting the first range, before its checkpoint advanced.
    wal.save_checkpoint(Checkpoint(Position(0, 0), first))

    recovering = Flusher(store, open_wal(tmp_path), interval=60, max_rows=10**6)
    assert recovering.recover() == 4
    assert recovering.wal.checkpoint == Checkpoint(first[1])
    assert recovering.pending_rows == 2
    assert [e.event_id for e in recovering.replayed_events()] == [e.event_id for e in later_part]
    assert asyncio.run(recovering.flush())

    assert recovering.wal.checkpoint == Checkpoint(second[1])
    assert_stored_exactly_once(store, tenant, flushed_part + later_part)


def test_crash_before_the_insert_landed_stores_the_range_once(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    batches = orders(tenant, records=2, per_record=2)
    wal = open_wal(tmp_path)
    flusher = Flusher(FailingStoreDouble(store, failures=1), wal, interval=0.01, max_rows=10**6)
    ranges = write(wal, flusher, batches)

    assert asyncio.run(flusher.flush()) is False  # and then the process dies
    assert stored_count(store, tenant) == 0
    assert open_wal(tmp_path).checkpoint.inflight == (ranges[0][0], ranges[-1][1])

    recovering = Flusher(store, open_wal(tmp_path), interval=60, max_rows=10**6)
    assert recovering.recover() == 4
    assert_stored_exactly_once(store, tenant, flat(batches))
    assert Flusher(store, open_wal(tmp_path), interval=60, max_rows=10**6).recover() == 0


# retries -----------------------------------------------------------------------------------


def test_failed_insert_is_retried_as_the_same_batch_with_the_same_token(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    early, late = orders(tenant, records=2, per_record=2)
    double = FailingStoreDouble(store, failures=2)
    wal = open_wal(tmp_path)
    flusher = Flusher(double, wal, interval=0.01, max_rows=10**6)

    async def scenario() -> tuple[Range, Range]:
        async with writer(wal, flusher):
            [a] = await append(wal, [early])
            assert await flusher.flush() is False
            assert open_wal(tmp_path).checkpoint == Checkpoint(Position(0, 0), a)
            [b] = await append(wal, [late])  # arrives while the store is down
            assert await flusher.flush() is False
            assert await flusher.flush() is True  # the first batch, and only it
            assert flusher.pending_rows == 2
            assert await flusher.flush() is True  # then the events that waited
        return a, b

    a, b = asyncio.run(scenario())

    assert double.tokens("events") == [f"{wal.token(*a)}-events"] * 3 + [f"{wal.token(*b)}-events"]
    assert double.tokens("event_items") == [f"{wal.token(*a)}-items", f"{wal.token(*b)}-items"]
    assert (flusher.stats.failures, flusher.stats.flushes) == (2, 2)
    assert "connection refused" in flusher.stats.last_error
    assert wal.checkpoint == Checkpoint(b[1])
    assert_stored_exactly_once(store, tenant, early + late)


def test_retried_insert_that_had_landed_is_not_stored_twice(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    """The insert reached ClickHouse but its answer was lost: the retry carries the same
    token, so neither the raw tables nor the rollups fed by MVs count it twice."""
    tenant = make_tenant().id
    batches = orders(tenant, records=3, per_record=2)
    double = FailingStoreDouble(store, failures=1, land_first=True)
    flushed: list[list[Event]] = []
    wal = open_wal(tmp_path)
    flusher = Flusher(double, wal, interval=0.01, max_rows=10**6, on_flushed=flushed.append)
    ranges = write(wal, flusher, batches)

    assert asyncio.run(flusher.flush()) is False
    assert flushed == []
    assert asyncio.run(flusher.flush()) is True

    token = wal.token(ranges[0][0], ranges[-1][1])
    assert double.tokens("events") == [f"{token}-events"] * 2
    assert flushed == [flat(batches)]
    assert_stored_exactly_once(store, tenant, flat(batches))


# shutdown ----------------------------------------------------------------------------------


def test_drain_stores_everything_buffered(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    batches = orders(tenant, records=4, per_record=2)
    wal = open_wal(tmp_path)
    flusher = Flusher(store, wal, interval=3600, max_rows=10**6)
    ranges = write(wal, flusher, batches)

    assert asyncio.run(flusher.drain()) is True

    assert flusher.pending_rows == 0
    assert open_wal(tmp_path).checkpoint == Checkpoint(ranges[-1][1])
    assert_stored_exactly_once(store, tenant, flat(batches))


def test_drain_retries_a_failing_store_within_its_attempts(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    batches = orders(tenant, records=2, per_record=2)
    wal = open_wal(tmp_path)
    flusher = Flusher(FailingStoreDouble(store, failures=2), wal, interval=0.01, max_rows=10**6)
    write(wal, flusher, batches)

    assert asyncio.run(flusher.drain(attempts=3)) is True
    assert_stored_exactly_once(store, tenant, flat(batches))


def test_drain_gives_up_on_a_dead_store_and_the_next_start_stores_everything_once(
    tmp_path: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    batches = orders(tenant, records=3, per_record=2)
    wal = open_wal(tmp_path)
    dead = FailingStoreDouble(store, failures=10**6)
    flusher = Flusher(dead, wal, interval=0.01, max_rows=10**6)
    write(wal, flusher, batches)

    assert asyncio.run(flusher.drain(attempts=2)) is False
    assert len(dead.inserts) == 2
    assert flusher.pending_rows == 6
    assert stored_count(store, tenant) == 0

    recovering = Flusher(store, open_wal(tmp_path), interval=60, max_rows=10**6)
    assert recovering.recover() == 6
    assert_stored_exactly_once(store, tenant, flat(batches))
