"""The flusher: drains durable events from memory into the store, exactly once.

Events arrive here (in log order) only after the WAL has synced them. A flush cuts
everything buffered into one batch covering WAL range [start, end), records that range as
``inflight`` in the checkpoint, inserts it with the range's dedup token, then advances
``flushed`` to ``end``. A failed insert is retried as the same batch with the same token
until it succeeds; new events wait in the buffer meanwhile. Triggers: ``max_rows``
buffered, ``interval`` seconds elapsed, or shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event
from shoplens.ingest.wal import Checkpoint, Position, WriteAheadLog
from shoplens.store import Store

log = logging.getLogger("shoplens.flusher")

WAL_PAYLOAD = msgspec.msgpack.Decoder(list[Event])


@dataclass
class Batch:
    start: Position
    end: Position
    events: list[Event] = field(default_factory=list)


@dataclass
class FlushStats:
    flushes: int = 0
    events: int = 0
    failures: int = 0
    last_error: str = ""
    last_flush_at: float = 0.0


def insert_batch(store: Store, wal: WriteAheadLog, batch: Batch) -> None:
    """Insert one batch into both tables; safe to repeat (same tokens)."""
    token = wal.token(batch.start, batch.end)
    store.insert("events", events_table(batch.events), f"{token}-events")
    items = items_table(batch.events)
    if items.num_rows:
        store.insert("event_items", items, f"{token}-items")


class Flusher:
    def __init__(
        self,
        store: Store,
        wal: WriteAheadLog,
        *,
        interval: float,
        max_rows: int,
        on_flushed: Callable[[list[Event]], None] | None = None,
    ) -> None:
        self.store = store
        self.wal = wal
        self.interval = interval
        self.max_rows = max_rows
        self.on_flushed = on_flushed
        self.stats = FlushStats()
        self._buffer: list[Batch] = []
        self._rows = 0
        self._inflight: Batch | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        #: end of the last durable (hence acknowledged) WAL range handed to the flusher
        self.acked: Position | None = None
        #: held around every insert; maintenance that rebuilds rollups from raw rows
        #: (per-user deletion) holds it so no insert lands between its delete and rebuild
        self.insert_lock = threading.Lock()

    @property
    def pending_rows(self) -> int:
        return self._rows + (len(self._inflight.events) if self._inflight else 0)

    def add(self, start: Position, end: Position, events: list[Event]) -> None:
        """Called by the WAL writer, in log order, once ``events`` are durable."""
        self._buffer.append(Batch(start, end, events))
        self._rows += len(events)
        self.acked = end
        if self._rows >= self.max_rows:
            self._wake.set()

    def recover(self) -> int:
        """At start: re-insert the in-flight range (dedup makes it exactly-once), then buffer
        everything after it. Returns how many events were replayed from the log."""
        checkpoint = self.wal.checkpoint
        replayed = 0
        if checkpoint.inflight:
            start, end = checkpoint.inflight
            batch = Batch(start, end)
            for _, _, payload in self.wal.records(start, end):
                batch.events.extend(WAL_PAYLOAD.decode(payload))
            with self.insert_lock:
                insert_batch(self.store, self.wal, batch)
            self.wal.save_checkpoint(Checkpoint(end))
            replayed += len(batch.events)
        for start, end, payload in self.wal.records(self.wal.checkpoint.flushed):
            events = WAL_PAYLOAD.decode(payload)
            self.add(start, end, events)
            replayed += len(events)
        return replayed

    async def flushed_through(self, timeout: float) -> bool:
        """Flush now and wait until every range acknowledged so far is in the store (the
        checkpoint has passed it); False if that takes longer than ``timeout`` seconds.
        Per-user deletion waits on this so it also covers acked, unflushed events."""
        target = self.acked
        deadline = time.monotonic() + timeout
        while target is not None and self.wal.checkpoint.flushed < target:
            if self._stopping or time.monotonic() >= deadline:
                return False
            self._wake.set()
            await asyncio.sleep(0.02)
        return True

    def replayed_events(self) -> list[Event]:
        return [e for batch in self._buffer for e in batch.events]

    async def run(self) -> None:
        """Flush on size or interval until ``stop()``, then flush what is left."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """One flush attempt; True when nothing is left in flight."""
        if self._inflight is None and self._buffer:
            # Take the buffer before awaiting: the WAL writer keeps adding while the intent
            # is saved, and those records belong to the next batch, not to this one.
            taken, self._buffer, self._rows = self._buffer, [], 0
            batch = Batch(taken[0].start, taken[-1].end, [e for b in taken for e in b.events])
            self._inflight = batch
            intent = Checkpoint(self.wal.checkpoint.flushed, (batch.start, batch.end))
            try:
                await asyncio.to_thread(self.wal.save_checkpoint, intent)
            except OSError as exc:  # put the batch back; nothing was inserted
                self._inflight = None
                self._buffer = taken + self._buffer
                self._rows += len(batch.events)
                self._record_failure(exc, len(batch.events))
                return False
        if self._inflight is None:
            return True
        batch = self._inflight
        try:
            await asyncio.to_thread(self._insert, batch)
        except Exception as exc:
            self._record_failure(exc, len(batch.events))
            await asyncio.sleep(min(5.0, self.interval))
            return False
        self._inflight = None
        self.stats.flushes += 1
        self.stats.events += len(batch.events)
        self.stats.last_flush_at = time.time()
        if self.on_flushed is not None:
            self.on_flushed(batch.events)
        return True

    def _record_failure(self, exc: BaseException, count: int) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        log.error("flush of %d events failed, will retry the same batch: %s", count, exc)

    def _insert(self, batch: Batch) -> None:
        with self.insert_lock:
            insert_batch(self.store, self.wal, batch)
        self.wal.save_checkpoint(Checkpoint(batch.end))

    async def drain(self, attempts: int = 3) -> bool:
        """Flush everything buffered (shutdown); False if the store kept failing — the
        events stay in the WAL and are replayed at the next start."""
        for _ in range(attempts):
            if await self.flush() and not self._buffer:
                return True
        return False

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
