"""The write-ahead log: real segment files in a temp dir, read back by fresh instances.

A fresh ``WriteAheadLog`` on the same directory is what a restarted process sees, so
"on disk" is checked by opening a new instance and replaying its ``records()``.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from shoplens.errors import Unavailable
from shoplens.ingest.wal import Checkpoint, Position, WriteAheadLog

HEADER = 8  # length (u32) + crc32 (u32) before every payload
START = Position(0, 0)
Durable = list[tuple[Position, Position, Any]]


def open_wal(
    path: Path, *, segment_bytes: int = 1 << 20, max_bytes: int = 1 << 30
) -> WriteAheadLog:
    return WriteAheadLog(path, segment_bytes=segment_bytes, max_bytes=max_bytes)


def segment_file(path: Path, segment: int) -> Path:
    """Segments are named ``0000000001.wal``… (the module's documented layout)."""
    return path / f"{segment:010d}.wal"


def replay(path: Path, start: Position = START) -> list[bytes]:
    """What a restarted process would replay: a new instance on the same directory."""
    return [payload for _, _, payload in open_wal(path).records(start)]


def payloads(count: int, size: int = 20) -> list[bytes]:
    return [f"r{i:06d}-".encode().ljust(size, b"x") for i in range(count)]


@asynccontextmanager
async def writing(
    wal: WriteAheadLog, on_durable: Callable[[Position, Position, Any], None] | None = None
) -> AsyncIterator[Durable]:
    """Run the writer task; yields the (start, end, value) it reported durable, in order.
    On exit: close the log and wait (bounded) for the writer to finish."""
    durable: Durable = []

    def record(start: Position, end: Position, value: Any) -> None:
        durable.append((start, end, value))
        if on_durable is not None:
            on_durable(start, end, value)

    writer = asyncio.create_task(wal.run(record))
    try:
        yield durable
    finally:
        wal.close()
        await asyncio.wait_for(writer, timeout=5)


def append_sequentially(wal: WriteAheadLog, items: list[bytes]) -> list[tuple[Position, Position]]:
    async def scenario() -> list[tuple[Position, Position]]:
        async with writing(wal):
            return [await wal.append(p, i) for i, p in enumerate(items)]

    return asyncio.run(scenario())


def assert_contiguous(ranges: list[tuple[Position, Position]], sizes: list[int]) -> None:
    """Each record starts where the previous one ended (within a segment) and spans its
    header plus payload."""
    for (start, end), size in zip(ranges, sizes, strict=True):
        assert end == Position(start.segment, start.offset + HEADER + size)
    for (_, prev_end), (start, _) in itertools.pairwise(ranges):
        assert start == prev_end or (start.segment > prev_end.segment and start.offset == 0)


# appending ---------------------------------------------------------------------------------


def test_append_returns_contiguous_positions_in_append_order(tmp_path: Path) -> None:
    items = payloads(5)
    ranges = append_sequentially(open_wal(tmp_path), items)

    assert ranges[0][0] == Position(1, 0)
    assert_contiguous(ranges, [len(p) for p in items])
    assert all(start.segment == 1 for start, _ in ranges)


def test_append_returns_only_once_the_record_is_on_disk(tmp_path: Path) -> None:
    wal = open_wal(tmp_path)

    async def scenario() -> None:
        async with writing(wal) as durable:
            for i, payload in enumerate(payloads(4)):
                start, end = await wal.append(payload, f"value-{i}")
                # A restarted process would replay this record already...
                assert replay(tmp_path)[-1] == payload
                assert len(replay(tmp_path)) == i + 1
                # ...and the flusher was handed it, in order, before the appender heard back.
                assert durable[-1] == (start, end, f"value-{i}")

    asyncio.run(scenario())
    assert replay(tmp_path) == payloads(4)


def test_records_yield_positions_matching_what_append_returned(tmp_path: Path) -> None:
    items = payloads(6)
    ranges = append_sequentially(open_wal(tmp_path), items)

    replayed = list(open_wal(tmp_path).records(START))

    assert [(start, end) for start, end, _ in replayed] == ranges
    assert [payload for _, _, payload in replayed] == items


def test_500_concurrent_appends_land_in_call_order_with_contiguous_positions(
    tmp_path: Path,
) -> None:
    wal = open_wal(tmp_path)
    items = payloads(500, size=37)

    async def scenario() -> tuple[list[tuple[Position, Position]], Durable]:
        async with writing(wal) as durable:
            ranges = await asyncio.gather(*(wal.append(p, i) for i, p in enumerate(items)))
        return list(ranges), durable

    ranges, durable = asyncio.run(scenario())

    assert_contiguous(ranges, [len(p) for p in items])
    assert ranges == sorted(ranges)  # call order is log order
    assert [value for _, _, value in durable] == list(range(500))  # handed on in log order
    assert [(s, e) for s, e, _ in durable] == ranges
    assert replay(tmp_path) == items


def test_concurrent_appends_are_group_committed(tmp_path: Path) -> None:
    """Group commit, observed from outside: when the writer reports the first record of a
    burst durable, the segment file already holds most of the burst (one write + one
    fdatasync for many appends), so far fewer distinct file sizes are seen than records."""
    wal = open_wal(tmp_path)
    seen_sizes: list[int] = []

    def on_durable(start: Position, end: Position, value: Any) -> None:
        seen_sizes.append(segment_file(tmp_path, start.segment).stat().st_size)

    async def scenario() -> None:
        async with writing(wal, on_durable):
            await asyncio.gather(*(wal.append(p, None) for p in payloads(500)))

    asyncio.run(scenario())

    assert len(seen_sizes) == 500
    assert len(set(seen_sizes)) < 50, "each append was written and synced on its own"
    assert seen_sizes[0] > HEADER + 20


# segments ----------------------------------------------------------------------------------


def test_segments_rotate_before_a_record_would_cross_segment_bytes(tmp_path: Path) -> None:
    # 40-byte payloads are 48-byte records: two fit in 100 bytes, a third would not.
    items = payloads(7, size=40)
    ranges = append_sequentially(open_wal(tmp_path, segment_bytes=100), items)

    assert [start.segment for start, _ in ranges] == [1, 1, 2, 2, 3, 3, 4]
    assert [start.offset for start, _ in ranges] == [0, 48, 0, 48, 0, 48, 0]
    wal = open_wal(tmp_path, segment_bytes=100)
    assert wal.segments() == [1, 2, 3, 4]
    assert all(segment_file(tmp_path, s).stat().st_size <= 100 for s in wal.segments())
    assert replay(tmp_path) == items


def test_a_record_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path: Path) -> None:
    items = [b"small", b"L" * 300, b"after"]
    ranges = append_sequentially(open_wal(tmp_path, segment_bytes=100), items)

    assert [start for start, _ in ranges] == [Position(1, 0), Position(2, 0), Position(3, 0)]
    assert replay(tmp_path) == items


def test_a_new_instance_never_appends_to_an_old_segment(tmp_path: Path) -> None:
    first = append_sequentially(open_wal(tmp_path), [b"one", b"two"])
    size_before = segment_file(tmp_path, 1).stat().st_size

    second = append_sequentially(open_wal(tmp_path), [b"three"])

    assert first[-1][1].segment == 1
    assert second[0][0] == Position(2, 0)
    assert segment_file(tmp_path, 1).stat().st_size == size_before
    assert replay(tmp_path) == [b"one", b"two", b"three"]


def test_positions_are_not_reused_when_every_segment_file_is_gone(tmp_path: Path) -> None:
    """Tokens are built from positions; a reused position would make ClickHouse silently
    drop new data, so numbering continues after the checkpoint even with no files left."""
    wal = open_wal(tmp_path, segment_bytes=100)
    ranges = append_sequentially(wal, payloads(5, size=40))
    wal.save_checkpoint(Checkpoint(ranges[-1][1]))
    for segment in wal.segments():
        segment_file(tmp_path, segment).unlink()

    again = append_sequentially(open_wal(tmp_path, segment_bytes=100), [b"new"])

    assert again[0][0].segment > ranges[-1][1].segment


# torn tails --------------------------------------------------------------------------------


def _damage_last_record(path: Path, last: tuple[Position, Position], how: str) -> None:
    start, end = last
    file = segment_file(path, start.segment)
    data = bytearray(file.read_bytes())
    if how == "truncated payload":
        del data[end.offset - 1 :]
    elif how == "truncated header":
        del data[start.offset + 5 :]
    elif how == "corrupt payload byte":
        data[start.offset + HEADER + 3] ^= 0xFF
    elif how == "corrupt length":
        data[start.offset] ^= 0x01
    file.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "how", ["truncated payload", "truncated header", "corrupt payload byte", "corrupt length"]
)
def test_replay_stops_at_a_torn_last_record(tmp_path: Path, how: str) -> None:
    items = payloads(4)
    ranges = append_sequentially(open_wal(tmp_path), items)

    _damage_last_record(tmp_path, ranges[-1], how)

    assert replay(tmp_path) == items[:3]


def test_replay_stops_at_a_corrupt_record_and_skips_what_follows_in_its_segment(
    tmp_path: Path,
) -> None:
    items = payloads(4)
    ranges = append_sequentially(open_wal(tmp_path), items)
    _damage_last_record(tmp_path, ranges[1], "corrupt payload byte")

    assert replay(tmp_path) == items[:1]


def test_after_a_torn_tail_new_records_go_to_a_new_segment_and_replay(tmp_path: Path) -> None:
    items = payloads(3)
    ranges = append_sequentially(open_wal(tmp_path), items)
    _damage_last_record(tmp_path, ranges[-1], "truncated payload")

    after = append_sequentially(open_wal(tmp_path), [b"after the crash"])

    assert after[0][0] == Position(2, 0)
    assert replay(tmp_path) == [*items[:2], b"after the crash"]


def test_records_between_start_and_end_across_segments(tmp_path: Path) -> None:
    items = payloads(7, size=40)
    ranges = append_sequentially(open_wal(tmp_path, segment_bytes=100), items)
    start, end = ranges[1][0], ranges[5][0]  # [record 1, record 5)

    got = list(open_wal(tmp_path).records(start, end))

    assert [payload for _, _, payload in got] == items[1:5]
    assert [(s, e) for s, e, _ in got] == ranges[1:5]


# checkpoint --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "checkpoint",
    [
        Checkpoint(Position(3, 120)),
        Checkpoint(Position(3, 120), (Position(3, 120), Position(5, 64))),
        Checkpoint(Position(0, 0)),
    ],
    ids=["flushed", "with inflight", "initial"],
)
def test_checkpoint_round_trips_through_a_new_instance(
    tmp_path: Path, checkpoint: Checkpoint
) -> None:
    open_wal(tmp_path).save_checkpoint(checkpoint)

    loaded = open_wal(tmp_path).checkpoint

    assert loaded == checkpoint
    assert isinstance(loaded.flushed, Position)
    if checkpoint.inflight:
        assert loaded.inflight is not None
        assert all(isinstance(p, Position) for p in loaded.inflight)


def test_a_fresh_log_starts_with_nothing_flushed(tmp_path: Path) -> None:
    wal = open_wal(tmp_path)

    assert wal.checkpoint == Checkpoint(Position(0, 0), None)
    assert wal.segments() == []
    assert wal.unflushed_bytes() == 0


def test_save_checkpoint_deletes_only_wholly_flushed_segments(tmp_path: Path) -> None:
    items = payloads(8, size=40)  # two records per segment: segments 1..4
    ranges = append_sequentially(open_wal(tmp_path, segment_bytes=100), items)
    wal = open_wal(tmp_path, segment_bytes=100)
    assert wal.segments() == [1, 2, 3, 4]

    wal.save_checkpoint(Checkpoint(ranges[2][1]))  # mid segment 2: segment 1 is done
    assert wal.segments() == [2, 3, 4]

    wal.save_checkpoint(Checkpoint(ranges[3][1]))  # the end of segment 2 is not yet past it
    assert wal.segments() == [2, 3, 4]

    wal.save_checkpoint(Checkpoint(ranges[4][1], (ranges[5][0], ranges[6][1])))
    assert wal.segments() == [3, 4]
    assert replay(tmp_path, wal.checkpoint.flushed) == items[5:]


def test_unflushed_bytes_counts_records_after_the_checkpoint(tmp_path: Path) -> None:
    items = payloads(6, size=40)  # 48-byte records, two per 100-byte segment
    ranges = append_sequentially(open_wal(tmp_path, segment_bytes=100), items)
    wal = open_wal(tmp_path, segment_bytes=100)

    assert wal.unflushed_bytes() == 6 * 48
    wal.save_checkpoint(Checkpoint(ranges[0][1]))
    assert wal.unflushed_bytes() == 5 * 48
    wal.save_checkpoint(Checkpoint(ranges[3][1]))
    assert wal.unflushed_bytes() == 2 * 48
    wal.save_checkpoint(Checkpoint(ranges[5][1]))
    assert wal.unflushed_bytes() == 0
    assert open_wal(tmp_path, segment_bytes=100).unflushed_bytes() == 0


def test_unflushed_bytes_grows_with_appends_on_a_live_log(tmp_path: Path) -> None:
    wal = open_wal(tmp_path)
    seen: list[int] = []

    async def scenario() -> None:
        async with writing(wal):
            for payload in payloads(3, size=10):
                await wal.append(payload, None)
                seen.append(wal.unflushed_bytes())

    asyncio.run(scenario())
    assert seen == [18, 36, 54]


# refusing appends --------------------------------------------------------------------------


def test_append_is_refused_with_503_when_the_backlog_is_full(tmp_path: Path) -> None:
    wal = open_wal(tmp_path, max_bytes=100)

    async def scenario() -> None:
        async with writing(wal) as durable:
            first = await wal.append(b"a" * 50, "first")  # 58 bytes unflushed
            with pytest.raises(Unavailable) as refused:
                await wal.append(b"b" * 50, "refused")
            assert refused.value.status == 503
            assert refused.value.retry_after is not None and refused.value.retry_after > 0
            assert [v for _, _, v in durable] == ["first"]

            # Once the flusher has stored what was there, there is room again.
            wal.save_checkpoint(Checkpoint(first[1]))
            await wal.append(b"c" * 50, "after flush")

    asyncio.run(scenario())
    assert replay(tmp_path) == [b"a" * 50, b"c" * 50]


def test_append_is_refused_with_503_once_closed(tmp_path: Path) -> None:
    wal = open_wal(tmp_path)

    async def scenario() -> None:
        async with writing(wal):
            await wal.append(b"before", None)
        with pytest.raises(Unavailable) as refused:
            await wal.append(b"after close", None)
        assert refused.value.status == 503
        assert refused.value.retry_after is not None

    asyncio.run(scenario())
    assert replay(tmp_path) == [b"before"]


def test_close_with_appends_pending_writes_them_and_stops_the_writer(tmp_path: Path) -> None:
    """Shutdown while requests are mid-append (pipeline.stop() closes the log, then awaits
    the writer): the pending records are written and acked, and the writer exits."""
    wal = open_wal(tmp_path)

    async def scenario() -> list[tuple[Position, Position]]:
        writer = asyncio.create_task(wal.run(lambda start, end, value: None))
        await asyncio.sleep(0)  # the writer is waiting for work
        appends = [asyncio.create_task(wal.append(p, None)) for p in payloads(3)]
        await asyncio.sleep(0)  # the appends are queued for the writer
        wal.close()
        try:
            await asyncio.wait_for(writer, timeout=2)
        except TimeoutError:
            wal._file.close()  # the cancelled writer left its segment open
            pytest.fail("the writer never exited after close() with appends pending")
        return [await a for a in appends]

    ranges = asyncio.run(scenario())
    assert len(ranges) == 3
    assert replay(tmp_path) == payloads(3)


def test_close_before_the_writer_ever_ran_lets_it_exit(tmp_path: Path) -> None:
    """A pipeline stopped right after start(): close() comes before the writer's first step."""
    wal = open_wal(tmp_path)

    async def scenario() -> None:
        writer = asyncio.create_task(wal.run(lambda start, end, value: None))
        wal.close()
        await asyncio.wait_for(writer, timeout=2)

    asyncio.run(scenario())
    assert replay(tmp_path) == []


def test_a_failed_write_acks_nothing_and_the_log_recovers(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    wal = open_wal(wal_dir)

    async def scenario() -> Durable:
        async with writing(wal) as durable:
            shutil.rmtree(wal_dir)  # the disk went away: the segment cannot be created
            results = await asyncio.gather(
                wal.append(b"lost-1", 1), wal.append(b"lost-2", 2), return_exceptions=True
            )
            assert all(isinstance(r, Unavailable) and r.status == 503 for r in results)
            assert all(isinstance(r, Unavailable) and r.retry_after for r in results)
            assert durable == []

            wal_dir.mkdir()  # the disk is back
            await wal.append(b"kept", 3)
            return durable

    durable = asyncio.run(scenario())
    assert [v for _, _, v in durable] == [3]
    assert replay(wal_dir) == [b"kept"]


def test_records_of_a_refused_batch_are_not_replayed_after_a_failed_rotation(
    tmp_path: Path,
) -> None:
    """A batch that rotates mid-way and then fails to open the next segment (EMFILE, ENOSPC;
    here: a directory squatting the next segment's name) is refused as a whole, so none of
    it may be replayed later ("a rejected event is reported, not half-stored")."""
    wal = open_wal(tmp_path, segment_bytes=100)
    segment_file(tmp_path, 2).mkdir()  # segment 2 cannot be opened

    burst = payloads(3, size=40)  # 48-byte records: two fit segment 1, the third does not

    async def scenario() -> list[object]:
        async with writing(wal):
            results = await asyncio.gather(
                *(wal.append(p, p) for p in burst), return_exceptions=True
            )
            segment_file(tmp_path, 2).rmdir()  # the condition clears
            await wal.append(b"later", None)  # and the log takes appends again
            return results

    results = asyncio.run(scenario())
    refused = [p for p, r in zip(burst, results, strict=True) if isinstance(r, BaseException)]

    assert all(isinstance(r, Unavailable) for r in results if isinstance(r, BaseException))
    assert refused, "the failed rotation was not reported to anyone"
    replayed = replay(tmp_path)
    assert not set(refused) & set(replayed), "refused records are replayed later"
    assert replayed[-1] == b"later"


# tokens ------------------------------------------------------------------------------------


def test_token_is_unique_per_range_and_names_the_log(tmp_path: Path) -> None:
    wal = open_wal(tmp_path)
    a = (Position(1, 0), Position(1, 48))
    b = (Position(1, 48), Position(1, 96))
    c = (Position(2, 0), Position(2, 48))

    tokens = {wal.token(*a), wal.token(*b), wal.token(*c), wal.token(a[0], b[1])}

    assert len(tokens) == 4
    assert all(wal.wal_id in token for token in tokens)


def test_token_is_stable_across_restarts_of_the_same_log(tmp_path: Path) -> None:
    """Recovery re-inserts the in-flight range with the token of the first attempt."""
    start, end = Position(1, 0), Position(1, 48)
    first = open_wal(tmp_path)
    append_sequentially(first, [b"x"])

    again = open_wal(tmp_path)

    assert again.wal_id == first.wal_id
    assert again.token(start, end) == first.token(start, end)


def test_a_fresh_directory_gets_a_different_wal_id(tmp_path: Path) -> None:
    """A wiped WAL restarts positions at segment 1: only a new wal_id keeps its tokens from
    colliding with the old log's (ClickHouse would drop the new data as duplicates)."""
    start, end = Position(1, 0), Position(1, 48)
    old = open_wal(tmp_path / "old")
    new = open_wal(tmp_path / "new")

    assert old.wal_id != new.wal_id
    assert old.token(start, end) != new.token(start, end)
