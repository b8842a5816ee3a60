"""Counts of blocked events (severity-2 fraud rules) per tenant, UTC day and rule.

Blocked events are never stored, so these counts are all that remains of them. The
pipeline hands each blocked event to :meth:`BlockedCounter.add` (in memory, on the event
loop); a background task writes the counts to the metadata store every few seconds, off
the event loop, and :meth:`BlockedCounter.stop` writes the rest, so counts survive a
restart. Readers see persisted plus not yet persisted counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import UTC, date, datetime

from shoplens.ingest.event import Event
from shoplens.meta import MetaStore

log = logging.getLogger("shoplens.fraud")

#: The pseudo-rule under which every blocked event is counted once (an event broken by
#: two blocking rules counts once here and once under each rule).
ALL = "*"

Key = tuple[int, str, str]  # (tenant_id, UTC day as YYYY-MM-DD, rule)


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


class BlockedCounter:
    def __init__(self, meta: MetaStore, interval: float = 2.0) -> None:
        self.meta = meta
        self.interval = interval
        self._pending: Counter[Key] = Counter()
        self._task: asyncio.Task[None] | None = None

    def add(self, events: list[Event]) -> None:
        for event in events:
            day = utc_day(event.received_at)
            self._pending[(event.tenant_id, day, ALL)] += 1
            for rule in event.fraud_reasons:
                self._pending[(event.tenant_id, day, rule)] += 1

    async def flush(self) -> None:
        """Write the pending counts (added to the stored ones) in one transaction."""
        if not self._pending:
            return
        batch, self._pending = self._pending, Counter()
        try:
            await asyncio.to_thread(self.meta.add_fraud_blocked, list(batch.items()))
        except Exception:
            self._pending.update(batch)  # kept for the next attempt
            raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:
                log.exception("could not write blocked-event counts; retrying")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fraud-blocked-counter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    def counts(self, tenant_id: int, first: date, last: date) -> dict[str, int]:
        """Blocked events per rule (and ``ALL``) over UTC days ``first..last`` inclusive."""
        lo, hi = first.isoformat(), last.isoformat()
        totals = Counter(self.meta.fraud_blocked(tenant_id, lo, hi))
        for (tenant, day, rule), n in list(self._pending.items()):
            if tenant == tenant_id and lo <= day <= hi:
                totals[rule] += n
        return dict(totals)
