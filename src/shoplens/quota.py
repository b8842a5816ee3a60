"""Monthly event quotas: events accepted per tenant per calendar month (UTC).

The pipeline charges every submission before it reaches the write-ahead log; one that
would take the tenant past its plan's ``monthly_events`` is refused whole (429, nothing
stored, ``Retry-After`` until the month ends), so a tenant never goes over its quota.

Counts live in memory and are rebuilt at start (:meth:`MonthlyQuota.load`, called by
``IngestPipeline.start`` after the WAL replay and before the flusher runs, when the store
and the replayed events are disjoint): the month's stored events from the ``events_hourly``
rollup plus the replayed events not yet stored. So a quota holds across restarts.

TRICKY: the rebuilt count is by event time, the running count by arrival time. Both agree
for live traffic; events backfilled through the API with timestamps in earlier months are
counted while the process runs, but not again after a restart.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from math import ceil

from shoplens.errors import TooManyRequests
from shoplens.ingest.event import Event
from shoplens.store import Store

#: The 429 message by the event's wire format (``Event.source``); seed 002 gives its own.
MESSAGES = {"ecommerce": "Ecommerce event quota exceeded"}
DEFAULT_MESSAGE = "Monthly event quota exceeded"

_MONTH_COUNTS = (
    "SELECT tenant_id, sum(events) AS events FROM events_hourly "
    "WHERE hour >= {start:DateTime('UTC')} AND hour < {end:DateTime('UTC')} "
    "GROUP BY tenant_id"
)


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar month holding ``now``: ``[first instant, first of next month)``."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start, following


class MonthlyQuota:
    """Per-tenant monthly event counts, checked against ``limit_of(tenant_id)`` (None: no
    limit). Thread-safe."""

    def __init__(
        self,
        limit_of: Callable[[int], int | None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.limit_of = limit_of
        self.clock = clock
        self._month = month_bounds(clock())
        self._used: Counter[int] = Counter()
        self._lock = threading.Lock()

    def load(self, store: Store, pending: Iterable[Event] = ()) -> None:
        """Start this month's counts from the store plus ``pending`` (acknowledged, not yet
        stored) events; replaces any counts held."""
        start, end = month_bounds(self.clock())
        rows = store.query(_MONTH_COUNTS, {"start": start, "end": end}).to_pylist()
        used: Counter[int] = Counter({int(r["tenant_id"]): int(r["events"]) for r in rows})
        low, high = _ms(start), _ms(end)
        used.update(e.tenant_id for e in pending if low <= e.timestamp < high)
        with self._lock:
            self._month, self._used = (start, end), used

    def used(self, tenant_id: int) -> int:
        with self._lock:
            self._roll()
            return self._used[tenant_id]

    def charge(self, events: Sequence[Event]) -> None:
        """Count ``events`` against their tenants' quotas, or raise 429 counting none."""
        wanted = Counter(e.tenant_id for e in events)
        limits = {tenant_id: self.limit_of(tenant_id) for tenant_id in wanted}
        with self._lock:
            self._roll()
            for tenant_id, n in wanted.items():
                limit = limits[tenant_id]
                if limit is not None and self._used[tenant_id] + n > limit:
                    source = next(e.source for e in events if e.tenant_id == tenant_id)
                    raise TooManyRequests(
                        MESSAGES.get(source, DEFAULT_MESSAGE), retry_after=self._until_next()
                    )
            self._used.update(wanted)

    def refund(self, events: Sequence[Event]) -> None:
        """Give back a charge whose events were not stored after all (the WAL append
        failed)."""
        with self._lock:
            for tenant_id, n in Counter(e.tenant_id for e in events).items():
                # max(): the month may have rolled over since the charge
                self._used[tenant_id] = max(self._used[tenant_id] - n, 0)

    def _roll(self) -> None:
        """A new month starts every count at zero (call with the lock held)."""
        now = self.clock()
        if now >= self._month[1]:
            self._month, self._used = month_bounds(now), Counter()

    def _until_next(self) -> int:
        return max(1, ceil((self._month[1] - self.clock()).total_seconds()))


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)
