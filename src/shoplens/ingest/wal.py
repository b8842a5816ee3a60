"""The write-ahead log: what makes an acknowledgement durable.

Records are appended to numbered segment files (``0000000001.wal``…), each framed as
``length (u32) | crc32 (u32) | payload``. Appends from many requests are grouped: one
writer task takes everything pending, writes it, ``fdatasync``s once, and only then
resolves the requests' futures (group commit). A segment is never appended to after a
restart: the writer always opens a new one, so a torn tail from a crash stays a torn tail
and replay stops at it (the torn record was never acknowledged).

The checkpoint file records how far the flusher has stored events (``flushed``) and the
range it is inserting right now (``inflight``), written before the insert: after a crash
that exact range is re-inserted with the same dedup token, so ClickHouse drops it if the
first attempt had landed. Positions are never reused (segment numbers only grow, and the
log's random ``wal_id`` is part of every token), because ClickHouse would silently drop
new data that reused an old token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from shoplens.errors import Unavailable

_HEADER = struct.Struct("<II")
_SUFFIX = ".wal"


class Position(NamedTuple):
    segment: int
    offset: int

    def __str__(self) -> str:
        return f"{self.segment}.{self.offset}"


@dataclass(frozen=True)
class Checkpoint:
    flushed: Position
    inflight: tuple[Position, Position] | None = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


OnDurable = Callable[[Position, Position, Any], None]


class WriteAheadLog:
    """Segmented, checksummed, group-committed append-only log with a flush checkpoint."""

    def __init__(self, directory: Path, *, segment_bytes: int, max_bytes: int) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.wal_id = self._load_wal_id()
        self.checkpoint = self._load_checkpoint()
        self._sizes = {n: (self.dir / self._name(n)).stat().st_size for n in self.segments()}
        self._segment = max([*self._sizes, self.checkpoint.flushed.segment]) + 1
        self._offset = 0
        self._file: Any = None
        self._pending: list[tuple[bytes, Any, asyncio.Future[tuple[Position, Position]]]] = []
        self._wake = asyncio.Event()
        self._closed = False

    # files -----------------------------------------------------------------------------
    @staticmethod
    def _name(segment: int) -> str:
        return f"{segment:010d}{_SUFFIX}"

    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob(f"*{_SUFFIX}") if p.stem.isdigit())

    def _load_wal_id(self) -> str:
        path = self.dir / "WAL_ID"
        if path.exists():
            return path.read_text().strip()
        wal_id = uuid.uuid4().hex[:16]
        _atomic_write(path, wal_id.encode())
        return wal_id

    def _load_checkpoint(self) -> Checkpoint:
        path = self.dir / "checkpoint.json"
        if not path.exists():
            return Checkpoint(Position(0, 0))
        data = json.loads(path.read_text())
        inflight = data.get("inflight")
        return Checkpoint(
            Position(*data["flushed"]),
            (Position(*inflight[0]), Position(*inflight[1])) if inflight else None,
        )

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Persist the checkpoint (fsync'd), then delete segments wholly before it."""
        data = {
            "flushed": list(checkpoint.flushed),
            "inflight": [list(p) for p in checkpoint.inflight] if checkpoint.inflight else None,
        }
        _atomic_write(self.dir / "checkpoint.json", json.dumps(data).encode())
        self.checkpoint = checkpoint
        for segment in [s for s in self._sizes if s < checkpoint.flushed.segment]:
            (self.dir / self._name(segment)).unlink(missing_ok=True)
            del self._sizes[segment]

    def token(self, start: Position, end: Position) -> str:
        """The insert de-duplication token for a range: unique for the life of the data."""
        return f"wal-{self.wal_id}-{start}-{end}"

    # reading ---------------------------------------------------------------------------
    def records(
        self, start: Position, end: Position | None = None
    ) -> Iterator[tuple[Position, Position, bytes]]:
        """Records from ``start`` (up to ``end``), in order, stopping each segment at a torn
        or corrupt record (a write that was never acknowledged)."""
        for segment in self.segments():
            if segment < start.segment or (end is not None and segment > end.segment):
                continue
            with open(self.dir / self._name(segment), "rb") as f:
                data = f.read()
            offset = start.offset if segment == start.segment else 0
            while offset + _HEADER.size <= len(data):
                if end is not None and Position(segment, offset) >= end:
                    return
                length, crc = _HEADER.unpack_from(data, offset)
                body_start = offset + _HEADER.size
                payload = data[body_start : body_start + length]
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break
                yield Position(segment, offset), Position(segment, body_start + length), payload
                offset = body_start + length

    def unflushed_bytes(self) -> int:
        flushed = self.checkpoint.flushed
        # A copy: save_checkpoint (in a worker thread) deletes entries concurrently.
        sizes = dict(self._sizes)
        total = sum(size for seg, size in sizes.items() if seg >= flushed.segment)
        return total - (flushed.offset if flushed.segment in sizes else 0)

    # writing ---------------------------------------------------------------------------
    async def append(self, payload: bytes, value: Any) -> tuple[Position, Position]:
        """Append one record; returns once it is on disk. 503 when the log is full."""
        if self._closed:
            raise Unavailable("Ingestion is shutting down; retry shortly", retry_after=1)
        if self.unflushed_bytes() + len(payload) > self.max_bytes:
            raise Unavailable(
                "Ingestion backlog is full (events are stored faster than they arrive); "
                "retry shortly",
                retry_after=2,
            )
        future: asyncio.Future[tuple[Position, Position]] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending.append((payload, value, future))
        self._wake.set()
        return await asyncio.shield(future)

    async def run(self, on_durable: OnDurable) -> None:
        """The writer task: group commit until ``close()``; calls ``on_durable`` in log order
        for every record once it is synced, before its appender is answered."""
        while True:
            if not self._pending:
                if self._closed:
                    break
                await self._wake.wait()
                self._wake.clear()
                continue
            batch, self._pending = self._pending, []
            try:
                ranges = await asyncio.to_thread(self._write, [p for p, _, _ in batch])
            except Exception as exc:  # disk full, I/O error: nothing of this batch is acked
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(
                            Unavailable(f"Write-ahead log write failed: {exc}", retry_after=5)
                        )
                continue
            for (_, value, future), (start, end) in zip(batch, ranges, strict=True):
                on_durable(start, end, value)
                if not future.done():
                    future.set_result((start, end))
        if self._file is not None:
            self._file.close()

    def close(self) -> None:
        """Stop accepting appends; the writer finishes what is pending, then exits."""
        self._closed = True
        self._wake.set()

    def _write(self, payloads: list[bytes]) -> list[tuple[Position, Position]]:
        segment, offset, fresh = self._segment, self._offset, self._file is None
        try:
            return self._write_batch(payloads)
        except BaseException:
            self._cut_back(segment, offset, fresh)
            raise

    def _cut_back(self, segment: int, offset: int, fresh: bool) -> None:
        """Undo a failed batch. Part of it may be on disk already (a rotation that failed
        after the previous segment was synced), but every appender of the batch is told it
        failed, so none of it may be replayed. Later writes go to a new segment."""
        last = self._segment
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        for n in range(segment, last + 1):
            path = self.dir / self._name(n)
            with contextlib.suppress(OSError):
                if n == segment and not fresh:
                    with open(path, "r+b") as f:
                        f.truncate(offset)
                        os.fsync(f.fileno())
                    self._sizes[n] = offset
                else:
                    path.unlink(missing_ok=True)
                    self._sizes.pop(n, None)
        with contextlib.suppress(OSError):
            _fsync_dir(self.dir)
        self._segment, self._offset = last + 1, 0

    def _write_batch(self, payloads: list[bytes]) -> list[tuple[Position, Position]]:
        ranges = []
        chunks: list[bytes] = []
        for payload in payloads:
            size = _HEADER.size + len(payload)
            if self._file is None or (self._offset and self._offset + size > self.segment_bytes):
                self._flush_chunks(chunks)
                self._open_next()
            start = Position(self._segment, self._offset)
            chunks += [_HEADER.pack(len(payload), zlib.crc32(payload)), payload]
            self._offset += size
            self._sizes[self._segment] = self._offset
            ranges.append((start, Position(self._segment, self._offset)))
        self._flush_chunks(chunks)
        return ranges

    def _flush_chunks(self, chunks: list[bytes]) -> None:
        if self._file is not None and chunks:
            self._file.write(b"".join(chunks))
            self._file.flush()
            os.fdatasync(self._file.fileno())
        chunks.clear()

    def _open_next(self) -> None:
        if self._file is not None:
            self._file.close()
            self._segment += 1
        self._file = open(self.dir / self._name(self._segment), "ab")  # noqa: SIM115
        self._offset = 0
        self._sizes[self._segment] = 0
        _fsync_dir(self.dir)  # the new file's name must survive a crash too
