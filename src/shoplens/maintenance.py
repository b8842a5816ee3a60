"""The server's background maintenance: per-user deletions, retention, salt destruction.

One asyncio task per server. Deletions run as soon as they are queued (``wake``) and at
start (jobs a crash interrupted are run again: every step is idempotent); retention runs
when due, every ``retention_interval`` seconds, with the time of the last run kept in the
metadata store so restarts neither skip nor repeat it. The work itself runs in a thread:
ClickHouse deletes take from milliseconds to minutes and must not stall ingestion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

from shoplens import deletion, retention
from shoplens.meta import MetaStore, Tenant
from shoplens.store import Store

log = logging.getLogger("shoplens.maintenance")
_LAST_RUN = "retention_last_run"  # a global setting (tenant 0)


class Maintenance:
    def __init__(
        self,
        store: Store,
        meta: MetaStore,
        insert_lock: threading.Lock,
        *,
        retention_interval: float | None,
        flushed: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.store = store
        self.meta = meta
        self.insert_lock = insert_lock
        self.retention_interval = retention_interval
        #: waits until every event acknowledged so far is stored (False: not yet); a
        #: deletion runs only after it, so it also removes the user's acked, unflushed events
        self.flushed = flushed
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Run queued deletions now (called when one is requested)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        # Earlier versions hashed landing-page IPs with one fixed salt per tenant, kept in
        # the settings; with it the stored hashes could be reversed. Destroy it.
        self.meta.drop_setting("ip_salt")
        while not self._stopping:
            try:
                # Only a queued deletion waits for (and so forces) a flush: otherwise the
                # flusher keeps its own pace, replayed events included.
                ready = (
                    self.flushed is None or not self.meta.has_deletions() or await self.flushed()
                )
                await asyncio.to_thread(self.run_once, ready)
            except Exception:  # keep the loop alive; the next round retries
                log.exception("maintenance round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=60)
            self._wake.clear()

    def _tenants_until_stopped(self) -> Iterator[Tenant]:
        """Every tenant, until ``stop()``: a retention round deletes tenant by tenant and can
        take minutes on a large store; shutdown must not wait for all of it (the rest runs
        at the next start, as the last run's time is only saved after a full round)."""
        for tenant in self.meta.tenants():
            if self._stopping:
                return
            yield tenant

    def run_once(self, deletions: bool = True) -> None:
        """Destroy expired visitor salts, run every queued deletion (unless ``deletions`` is
        False: acked events are not all stored yet; the jobs stay queued for the next
        round), then retention if due."""
        # Salts also rotate at the first event of a day; a quiet server must still destroy
        # them on time (docs/privacy.md: kept two days).
        self.meta.delete_salts_before(int(time.time() // 86_400) - 1)
        while (
            deletions
            and not self._stopping
            and deletion.run_next(self.meta, self.store, self.insert_lock)
        ):
            pass
        if self.retention_interval is None or self._stopping:
            return
        last = float(self.meta.get_setting(0, _LAST_RUN) or 0)
        if time.time() - last >= self.retention_interval:
            report = retention.enforce(
                self.store, self.meta, datetime.now(UTC), self._tenants_until_stopped()
            )
            if not self._stopping:
                self.meta.set_setting(0, _LAST_RUN, time.time())
            if report:
                log.info("retention deleted rows: %s", report)
