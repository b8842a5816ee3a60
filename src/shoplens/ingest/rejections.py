"""Messages a batch route rejected while accepting the rest, kept so the sender can see them.

Segment's HTTP API answers ``200`` for a batch unless the whole payload is too large or not
JSON, and SDKs drop a batch answered ``400`` — so ``/v1/batch`` stores the valid messages,
answers ``200``, and reports each invalid one here: logged, counted, and listed by
``GET /v1/ingest/errors`` for its own tenant only.

The log is in memory, per process (docs/architecture.md): the last ``per_tenant`` rejections
of each of the ``max_tenants`` tenants that had one most recently, and per tenant a count of
every rejection since the process started, by field (at most ``max_fields`` distinct fields,
the rest under ``OTHER``). A restart starts it empty.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

__all__ = ["OTHER", "WHOLE_MESSAGE", "Rejected", "Rejection", "RejectionLog", "TenantRejections"]

log = logging.getLogger("shoplens.ingest")

#: The count key of a rejection that names no field (e.g. a message over the size limit).
WHOLE_MESSAGE = "(message)"
#: The count key of the fields beyond ``max_fields`` distinct ones.
OTHER = "(other)"


@dataclass(frozen=True)
class Rejected:
    """One invalid message of a batch, as the wire format reports it."""

    index: int  # position in the request's batch
    message_id: str  # its messageId as sent ("" when absent or unreadable)
    field: str | None  # the field inside the message that broke a rule, if one did
    rule: str  # the rule, as a 400 would have said it


@dataclass(frozen=True)
class Rejection:
    """A rejected message with where and when it was received."""

    received_at: int  # epoch ms
    source: str  # the wire format: "segment"
    rejected: Rejected


@dataclass
class TenantRejections:
    recent: deque[Rejection]
    total: int = 0
    by_field: Counter[str] = field(default_factory=Counter)


class RejectionLog:
    """Recent rejected messages and their counts, per tenant, bounded in memory."""

    def __init__(self, per_tenant: int = 100, max_tenants: int = 10_000, max_fields: int = 50):
        self.per_tenant = per_tenant
        self.max_tenants = max_tenants
        self.max_fields = max_fields
        self._tenants: OrderedDict[int, TenantRejections] = OrderedDict()

    def add(self, tenant_id: int, source: str, received_at: int, rejected: list[Rejected]) -> None:
        """Record (and log, one line per request) the rejected messages of one request."""
        if not rejected:
            return
        entry = self._tenants.get(tenant_id)
        if entry is None:
            entry = self._tenants[tenant_id] = TenantRejections(deque(maxlen=self.per_tenant))
            if len(self._tenants) > self.max_tenants:
                self._tenants.popitem(last=False)  # the tenant rejected least recently
        self._tenants.move_to_end(tenant_id)
        for item in rejected:
            entry.recent.append(Rejection(received_at, source, item))
            entry.total += 1
            key = item.field or WHOLE_MESSAGE
            if key not in entry.by_field and len(entry.by_field) >= self.max_fields:
                key = OTHER
            entry.by_field[key] += 1
        first = rejected[0]
        log.warning(
            "%s batch of tenant %d: %d message(s) rejected, the rest accepted; first: "
            "batch[%d] (messageId %r): %s",
            source,
            tenant_id,
            len(rejected),
            first.index,
            first.message_id,
            first.rule,
        )

    def of(self, tenant_id: int) -> TenantRejections | None:
        """The tenant's rejections (recent ones oldest first), or None if it had none."""
        return self._tenants.get(tenant_id)
