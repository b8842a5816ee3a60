"""The ingestion pipeline end to end: submit → WAL → flusher → the real store, across
clean restarts and crashes (a pipeline abandoned mid-flight, as a killed process leaves it)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shoplens.config import Settings
from shoplens.errors import Unavailable
from shoplens.ingest.event import Event
from shoplens.ingest.pipeline import IngestPipeline, SubmitResult
from shoplens.store import Store
from tests.conftest import rows
from tests.ingest.stored import assert_stored_exactly_once


def event(
    tenant_id: int, event_type: str = "page_view", transaction_id: str = "", **fields: Any
) -> Event:
    at = int(time.time() * 1000)
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_name=event_type,
        source="test",
        timestamp=at,
        received_at=at,
        transaction_id=transaction_id,
        revenue=4999 if event_type in ("purchase", "refund") else 0,
        **fields,
    )


def make_settings(tmp_path: Path, meta_file: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"flush_interval": 0.05, "flush_max_rows": 10_000} | overrides
    return Settings(data_dir=tmp_path / "data", meta_file=meta_file, **values)


def never_flushing(tmp_path: Path, meta_file: Path) -> Settings:
    """A flusher that only flushes when stopped: acked events stay in the WAL alone."""
    return make_settings(tmp_path, meta_file, flush_interval=3600, flush_max_rows=10**6)


async def crash(pipeline: IngestPipeline) -> None:
    """The process dies: its tasks stop where they are, nothing more is flushed, and the
    OS closes its WAL file (reaching into the pipeline is the point: no clean stop)."""
    for task in pipeline._tasks:
        task.cancel()
    await asyncio.gather(*pipeline._tasks, return_exceptions=True)
    if pipeline.wal._file is not None:
        pipeline.wal._file.close()


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def stored_ids(store: Store, tenant_id: int) -> list[str]:
    return [
        r["id"]
        for r in rows(
            store,
            "SELECT toString(event_id) AS id FROM events WHERE tenant_id = {t:UInt32} ORDER BY id",
            t=tenant_id,
        )
    ]


def hourly_events(store: Store, tenant_id: int) -> int:
    return rows(
        store,
        "SELECT sum(events) AS n FROM events_hourly WHERE tenant_id = {t:UInt32}",
        t=tenant_id,
    )[0]["n"]


# replay ------------------------------------------------------------------------------------


def test_start_replays_acked_events_that_were_never_flushed(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    batches = [
        [event(tenant), event(tenant, "add_to_cart")],
        [event(tenant, "purchase", "T-1")],
        [event(tenant) for _ in range(5)],
    ]
    acked = [e for batch in batches for e in batch]

    async def before_crash() -> None:
        pipeline = IngestPipeline(never_flushing(tmp_path, meta_file), store)
        await pipeline.start()
        for batch in batches:
            assert await pipeline.submit(batch) == SubmitResult(len(batch), 0)
        await crash(pipeline)

    asyncio.run(before_crash())
    assert stored_ids(store, tenant) == []

    async def after_restart() -> int:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        replayed = await pipeline.start()
        await pipeline.stop()
        return replayed

    assert asyncio.run(after_restart()) == len(acked)
    assert_stored_exactly_once(store, tenant, acked)

    async def restart_again() -> int:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        replayed = await pipeline.start()
        await pipeline.stop()
        return replayed

    assert asyncio.run(restart_again()) == 0
    assert_stored_exactly_once(store, tenant, acked)


def test_start_replays_only_what_the_crashed_pipeline_had_not_flushed(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    flushed = [event(tenant) for _ in range(4)]
    pending = [event(tenant) for _ in range(3)]

    async def before_crash() -> None:
        settings = make_settings(tmp_path, meta_file, flush_interval=3600, flush_max_rows=4)
        pipeline = IngestPipeline(settings, store)
        await pipeline.start()
        await pipeline.submit(flushed)  # reaches max_rows: flushed
        await wait_until(lambda: pipeline.flusher.stats.events == 4)
        await pipeline.submit(pending)  # acked, below max_rows: not flushed
        await crash(pipeline)

    asyncio.run(before_crash())
    assert_stored_exactly_once(store, tenant, flushed)

    async def after_restart() -> int:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        replayed = await pipeline.start()
        await pipeline.stop()
        return replayed

    assert asyncio.run(after_restart()) == 3
    assert_stored_exactly_once(store, tenant, flushed + pending)


def test_stop_stores_everything_acked(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    events = [event(tenant) for _ in range(10)]

    async def scenario() -> int:
        pipeline = IngestPipeline(never_flushing(tmp_path, meta_file), store)
        await pipeline.start()
        for e in events:
            await pipeline.submit([e])
        await pipeline.stop()
        assert pipeline.flusher.pending_rows == 0
        assert pipeline.wal.unflushed_bytes() == 0
        restarted = IngestPipeline(never_flushing(tmp_path, meta_file), store)
        replayed = await restarted.start()
        await restarted.stop()
        return replayed

    assert asyncio.run(scenario()) == 0
    assert_stored_exactly_once(store, tenant, events)


def test_submit_right_after_start_is_accepted(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    """The app's lifespan and `shoplens import` submit as soon as start() returns."""
    tenant = make_tenant().id
    e = event(tenant)

    async def scenario() -> SubmitResult:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        await pipeline.start()
        try:
            return await pipeline.submit([e])
        finally:
            await pipeline.stop()

    assert asyncio.run(scenario()) == SubmitResult(1, 0)
    assert_stored_exactly_once(store, tenant, [e])


# de-duplication ----------------------------------------------------------------------------


def test_submit_reports_accepted_and_duplicate_counts(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    first, repeat = event(tenant, "purchase", "T-9"), event(tenant, "purchase", "T-9")
    view, refund = event(tenant), event(tenant, "refund", "T-9")

    async def scenario() -> list[SubmitResult]:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        await pipeline.start()
        results = [
            await pipeline.submit([first, repeat, view]),
            await pipeline.submit([refund, event(tenant, "purchase", "T-9")]),
            await pipeline.submit([event(tenant, "purchase", "T-9")]),
        ]
        await pipeline.stop()
        return results

    assert asyncio.run(scenario()) == [SubmitResult(2, 1), SubmitResult(1, 1), SubmitResult(0, 1)]
    assert_stored_exactly_once(store, tenant, [first, view, refund])


@pytest.mark.parametrize("shutdown", ["clean stop", "crash"])
def test_a_purchase_is_deduplicated_across_a_restart(
    tmp_path: Path,
    meta_file: Path,
    store: Store,
    make_tenant: Callable[..., Any],
    shutdown: str,
) -> None:
    """After a clean stop the index is rebuilt from the store; after a crash, from what
    the WAL replays."""
    tenant = make_tenant().id
    original = event(tenant, "purchase", "ORDER-1")

    async def first_run() -> None:
        pipeline = IngestPipeline(never_flushing(tmp_path, meta_file), store)
        await pipeline.start()
        assert await pipeline.submit([original]) == SubmitResult(1, 0)
        if shutdown == "crash":
            await crash(pipeline)
        else:
            await pipeline.stop()

    async def second_run() -> SubmitResult:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        await pipeline.start()
        result = await pipeline.submit([event(tenant, "purchase", "ORDER-1")])
        await pipeline.stop()
        return result

    asyncio.run(first_run())
    assert asyncio.run(second_run()) == SubmitResult(0, 1)
    assert_stored_exactly_once(store, tenant, [original])


def test_a_refused_submit_does_not_count_as_seen(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    too_big = event(tenant, "purchase", "ORDER-2", properties={"note": "x" * 5000})
    retry = event(tenant, "purchase", "ORDER-2")

    async def scenario() -> SubmitResult:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file, wal_max_bytes=2000), store)
        await pipeline.start()
        with pytest.raises(Unavailable):  # the WAL backlog bound refuses it
            await pipeline.submit([too_big])
        result = await pipeline.submit([retry])
        await pipeline.stop()
        return result

    assert asyncio.run(scenario()) == SubmitResult(1, 0)
    assert_stored_exactly_once(store, tenant, [retry])


def test_a_submit_the_wal_encoder_refuses_releases_its_claim(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    # An event no Int64 holds (what an absurd sentAt once produced) fails in the WAL
    # encoder, before any append: the retry must still be stored, not answered as a dup.
    tenant = make_tenant().id
    unencodable = event(tenant, "purchase", "ORDER-3")
    unencodable.timestamp = -(2**70)
    retry = event(tenant, "purchase", "ORDER-3")

    async def scenario() -> SubmitResult:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        await pipeline.start()
        with pytest.raises(OverflowError):
            await pipeline.submit([unencodable])
        result = await pipeline.submit([retry])
        await pipeline.stop()
        return result

    assert asyncio.run(scenario()) == SubmitResult(1, 0)
    assert_stored_exactly_once(store, tenant, [retry])


def test_a_cancelled_submit_that_still_reached_the_wal_keeps_its_claim(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    """The WAL append is shielded: a caller cancelled mid-submit (client gone, timeout)
    still gets its purchase stored, so a retry of that purchase is a duplicate."""
    tenant = make_tenant().id
    original = event(tenant, "purchase", "ORDER-3")

    async def scenario() -> SubmitResult:
        pipeline = IngestPipeline(never_flushing(tmp_path, meta_file), store)
        await pipeline.start()
        submit = asyncio.create_task(pipeline.submit([original]))
        await asyncio.sleep(0)  # the record is queued for the writer
        submit.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await submit
        await wait_until(lambda: pipeline.flusher.pending_rows == 1)  # durable after all
        result = await pipeline.submit([event(tenant, "purchase", "ORDER-3")])
        await pipeline.stop()
        return result

    result = asyncio.run(scenario())
    assert original.event_id in stored_ids(store, tenant)  # the cancelled submit got in
    assert result == SubmitResult(0, 1)
    assert_stored_exactly_once(store, tenant, [original])


# shutdown ----------------------------------------------------------------------------------


def test_stop_with_submits_in_flight_stores_exactly_what_it_acked(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    events = [event(tenant) for _ in range(20)]

    async def scenario() -> list[object]:
        pipeline = IngestPipeline(never_flushing(tmp_path, meta_file), store)
        await pipeline.start()
        submits = [asyncio.create_task(pipeline.submit([e])) for e in events]
        await asyncio.sleep(0)  # every submit is waiting on the WAL
        await asyncio.wait_for(pipeline.stop(), timeout=10)
        return await asyncio.gather(*submits, return_exceptions=True)

    results = asyncio.run(scenario())

    assert all(r == SubmitResult(1, 0) or isinstance(r, Unavailable) for r in results)
    acked = [e for e, r in zip(events, results, strict=True) if r == SubmitResult(1, 0)]
    assert acked, "nothing queued before stop() was written"
    assert_stored_exactly_once(store, tenant, acked)


@pytest.mark.parametrize("shutdown", ["clean stop", "crash"])
def test_a_client_id_is_deduplicated_across_a_restart(
    tmp_path: Path,
    meta_file: Path,
    store: Store,
    make_tenant: Callable[..., Any],
    shutdown: str,
) -> None:
    """As for purchases: rebuilt from the store after a clean stop, from the WAL replay
    after a crash. The resend has its own receive time, as a retry without a timestamp."""
    tenant = make_tenant().id
    client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}:message-1"))  # a UUIDv5
    original = event(tenant)
    original.event_id = client_id

    async def first_run() -> None:
        pipeline = IngestPipeline(never_flushing(tmp_path, meta_file), store)
        await pipeline.start()
        assert await pipeline.submit([original]) == SubmitResult(1, 0)
        if shutdown == "crash":
            await crash(pipeline)
        else:
            await pipeline.stop()

    async def second_run() -> SubmitResult:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        await pipeline.start()
        resend = event(tenant)
        resend.event_id, resend.received_at = client_id, original.received_at + 1000
        result = await pipeline.submit([resend])
        await pipeline.stop()
        return result

    asyncio.run(first_run())
    assert asyncio.run(second_run()) == SubmitResult(0, 1)
    assert_stored_exactly_once(store, tenant, [original])
