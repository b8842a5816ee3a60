"""The ingestion pipeline: canonical events in, durable acknowledgement out.

``submit`` is the one door every event comes through — HTTP routes, the demo generator
and imports alike: de-duplicate (client ids and purchases/refunds, ``ingest.dedup``),
charge the monthly quota (server only), append to the WAL (fsync), and return only then.
The WAL writer hands durable events to the flusher, which stores them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from shoplens.config import Settings
from shoplens.ingest.dedup import EventDedup
from shoplens.ingest.event import Event
from shoplens.ingest.flusher import Flusher
from shoplens.ingest.stages import BLOCKED
from shoplens.ingest.wal import WriteAheadLog
from shoplens.quota import MonthlyQuota
from shoplens.store import Store

log = logging.getLogger("shoplens.ingest")


@dataclass(frozen=True)
class SubmitResult:
    accepted: int  # stored (or about to be, durably)
    duplicates: int  # dropped by de-duplication (a repeated client id or order)
    blocked: int = 0  # dropped by a severity-2 fraud rule (counted, never stored)


class IngestPipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        on_flushed: Callable[[list[Event]], None] | None = None,
        on_blocked: Callable[[list[Event]], None] | None = None,
        quota: MonthlyQuota | None = None,
    ) -> None:
        self.settings = settings
        #: monthly event quotas (the server's); None for bulk loads, which are not metered
        self.quota = quota
        #: receives the events fraud rules blocked (``ingest.fraud_stats`` counts them)
        self.on_blocked = on_blocked
        self.store = store
        self.wal = WriteAheadLog(
            settings.wal_dir,
            segment_bytes=settings.wal_segment_bytes,
            max_bytes=settings.wal_max_bytes,
        )
        self.flusher = Flusher(
            store,
            self.wal,
            interval=settings.flush_interval,
            max_rows=settings.flush_max_rows,
            on_flushed=on_flushed,
        )
        self.dedup = EventDedup(settings.dedup_window_hours)
        self._encoder = msgspec.msgpack.Encoder()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> int:
        """Replay what was acknowledged but not stored, rebuild the dedup index, start the
        writer and flusher tasks. Returns the number of replayed events."""
        replayed = await asyncio.to_thread(self.flusher.recover)
        await asyncio.to_thread(self.dedup.load, self.store)
        self.dedup.observe(self.flusher.replayed_events())
        if self.quota is not None:
            # Before the flusher task exists: the store and the replayed events are disjoint.
            await asyncio.to_thread(self.quota.load, self.store, self.flusher.replayed_events())
        if replayed:
            log.info("replayed %d acknowledged events from the write-ahead log", replayed)
        self._tasks = [
            asyncio.create_task(self.wal.run(self.flusher.add), name="wal-writer"),
            asyncio.create_task(self.flusher.run(), name="flusher"),
        ]
        return replayed

    async def submit(self, events: list[Event]) -> SubmitResult:
        """Make ``events`` durable; returns once they are in the fsync'd WAL."""
        blocked = [e for e in events if e.is_flagged == BLOCKED]
        if blocked:  # never stored, never claimed by dedup: only counted
            events = [e for e in events if e.is_flagged != BLOCKED]
            if self.on_blocked is not None:
                self.on_blocked(blocked)
        for event in events:
            # The privacy stage sets visitor_id; this fallback is for events built without
            # stages (stage-less bulk loads), which never get an IP-derived id.
            event.visitor_id = event.visitor_id or event.anonymous_id or event.user_id
        kept = self.dedup.claim(events)
        if kept:
            # Whatever fails between the claim and the durable append (the quota's 429, an
            # event the WAL encoder refuses, a failed append) releases the claim: a retry
            # of an event that was not stored must not be answered as a duplicate.
            try:
                if self.quota is not None:
                    self.quota.charge(kept)  # 429 over the monthly quota: nothing is stored
            except BaseException:
                self.dedup.release(kept)
                raise
            try:
                payload = self._encoder.encode(kept)
                append = asyncio.ensure_future(self.wal.append(payload, kept))
            except BaseException:
                self._release(kept)
                raise
            # The append runs to its end even if this caller is cancelled (client gone,
            # timeout): release the claim only when the append itself failed.
            append.add_done_callback(functools.partial(self._release_if_failed, kept))
            await asyncio.shield(append)
        return SubmitResult(len(kept), len(events) - len(kept), len(blocked))

    def _release_if_failed(self, kept: list[Event], append: asyncio.Future[object]) -> None:
        if append.cancelled() or append.exception() is not None:
            self._release(kept)

    def _release(self, kept: list[Event]) -> None:
        """Undo the quota charge and the dedup claim of events that were not stored."""
        if self.quota is not None:
            self.quota.refund(kept)
        self.dedup.release(kept)

    async def wait_for_room(self, max_pending_rows: int) -> None:
        """Back-pressure for bulk producers (demo, import): wait while the flusher lags."""
        while self.flusher.pending_rows > max_pending_rows:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop accepting, write what is pending, flush everything to the store."""
        self.wal.close()
        if self._tasks:
            await self._tasks[0]
            self.flusher.stop()
            await self._tasks[1]
        if not await self.flusher.drain():
            log.error(
                "store unavailable at shutdown: unflushed events stay in the WAL "
                "and are stored at the next start"
            )
        self._tasks = []
