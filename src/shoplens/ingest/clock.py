"""The clock stage: when did the event happen, by the server's clock?

Three rules, in order, for every live event (a historical load — ``shoplens import``, the
demo — takes its timestamps as given and skips all three):

1. **Skew correction** (Segment's and PostHog's rule). A client stamps the event with its
   own clock (``timestamp``) and stamps the request when it sends it (``sentAt``). The
   difference ``sentAt - timestamp`` is how long the event waited on the client, and it is
   exact whatever the client clock's error, because both readings come from that one
   clock. The server knows when the request arrived (``received_at``), so::

       timestamp = received_at - (sent_at - timestamp)

   Limits: it needs ``sentAt`` (without it the timestamp is kept as sent), both readings
   must come from the same clock (a proxy that rewrites ``sentAt`` breaks it), and the
   network latency ends up in the result (the event is placed later by the transit time).
   A ``sentAt`` within ``skew_tolerance`` of ``received_at`` is treated as latency, not
   skew, and leaves the timestamp alone (see ``Clock.correct`` for why).

2. **Future clamp.** A timestamp more than ``future_tolerance`` after ``received_at``
   (a clock set wrong, with no ``sentAt`` to correct it) cannot be true: it is set to
   ``received_at`` and the event is marked with ``FUTURE_TIMESTAMP`` in ``fraud_reasons``.
   ``is_flagged`` is left alone: the event is real and its revenue counts; the reason only
   tells an operator the stored time is the receive time. (PostHog does the same at 23
   hours with an ingestion warning; here the window is minutes, because after correction
   only latency can put an event after its receipt.)

3. **Retention.** A timestamp older than the tenant's raw-event retention window
   (``retention.raw_days``: seed 000's ``rawEvents``, 90 days unless the tenant set it,
   never beyond its plan's limit) is refused with a 400 naming ``timestamp``: the
   retention task would delete it and no report looks that far back, and a live API
   accepting last year's orders is almost always a replay bug. History goes through the
   documented import path instead (``shoplens import``, ``ingest.importer``).

Every time a client sends is within ``normalize.MIN_TIME_MS``..``MAX_TIME_MS`` (1970..2200)
before this stage sees it; a correction that would move a time before 1970 (a ``sentAt``
decades after its ``timestamp``) is a 400 naming ``sentAt``, and one past the receive time
is clamped by rule 2, so every stored time is in that range too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoplens.errors import BadRequest
from shoplens.ingest.event import Event
from shoplens.ingest.normalize import MIN_TIME_MS, TIME_RANGE
from shoplens.ingest.stages import Facts

if TYPE_CHECKING:
    from shoplens.config import Settings
    from shoplens.ingest.context import IngestContext
    from shoplens.meta import MetaStore, Tenant

DAY_MS = 24 * 3600 * 1000
#: the ``fraud_reasons`` marker of a clamped future timestamp (``is_flagged`` unchanged)
FUTURE_TIMESTAMP = "future_timestamp"


class TenantRetention:
    """Each tenant's raw-event retention in days (``retention.raw_days``), cached for
    ``ttl`` seconds: it is a metadata read, and every live event needs it."""

    def __init__(self, meta: MetaStore, ttl: float = 5.0) -> None:
        self.meta = meta
        self.ttl = ttl
        self._cache: dict[int, tuple[float, int | None]] = {}

    def __call__(self, tenant: Tenant) -> int | None:
        now = time.monotonic()
        hit = self._cache.get(tenant.id)
        if hit is not None and hit[0] > now:
            return hit[1]
        from shoplens import retention  # imported late: it imports the store

        days = retention.raw_days(self.meta, tenant)
        self._cache[tenant.id] = (now + self.ttl, days)
        return days


def _unlimited(tenant: Tenant) -> int | None:
    del tenant
    return None


@dataclass(slots=True)
class Clock:
    """Skew correction, future clamp and retention refusal (module docstring)."""

    future_tolerance_ms: int = 10 * 60 * 1000
    skew_tolerance_ms: int = 30 * 1000
    #: days of raw events a tenant keeps (None: no limit); the server's is TenantRetention
    retention: Callable[[Tenant], int | None] = _unlimited
    name: str = "clock"

    @classmethod
    def from_settings(cls, settings: Settings, meta: MetaStore) -> Clock:
        return cls(
            future_tolerance_ms=int(settings.clock_future_tolerance_seconds * 1000),
            skew_tolerance_ms=int(settings.clock_skew_tolerance_seconds * 1000),
            retention=TenantRetention(meta, settings.key_cache_seconds),
        )

    def apply(self, event: Event, facts: Facts, ctx: IngestContext) -> None:
        if ctx.historical:
            return
        event.timestamp = self.correct(event.timestamp, facts.sent_at, ctx.received_at)
        if event.timestamp < MIN_TIME_MS:  # both in range, but sentAt long after timestamp
            raise BadRequest(
                "sentAt is too far after timestamp: the skew-corrected time "
                f"would not be {TIME_RANGE}",
                field="sentAt",
            )
        if event.timestamp > ctx.received_at + self.future_tolerance_ms:
            event.timestamp = ctx.received_at
            if FUTURE_TIMESTAMP not in event.fraud_reasons:
                event.fraud_reasons.append(FUTURE_TIMESTAMP)
        days = self.retention(ctx.tenant)
        if days is not None and event.timestamp < ctx.received_at - days * DAY_MS:
            raise BadRequest(
                f"timestamp is older than the {days}-day retention window; "
                "use `shoplens import` for historical data",
                field="timestamp",
            )

    def correct(self, timestamp: int, sent_at: int | None, received_at: int) -> int:
        """``received_at - (sent_at - timestamp)`` when the client clock is off.

        TRICKY: retries must stay idempotent. A retried message keeps its row id (the event
        id is derived from the client's ``messageId``/``id``), but each attempt has its own
        ``sentAt`` and ``received_at``, so the corrected time differs between attempts by
        the difference in their latencies. The stored row's sorting key contains the
        timestamp, so two attempts with different times are two rows that no merge
        collapses. Hence the dead band: when ``sentAt`` is within ``skew_tolerance`` of the
        receive time the client clock is right to within latency and the timestamp is kept
        exactly as sent — every retry from a well-set clock stores the identical row. Only
        clocks off by more than the tolerance are corrected; their retries may land a few
        milliseconds apart under the same event id.
        """
        if sent_at is None or abs(received_at - sent_at) <= self.skew_tolerance_ms:
            return timestamp
        return received_at - (sent_at - timestamp)
