"""From request bytes to canonical events, for single-event and batch bodies.

The size limits are applied here, once for every format: a body over the request limit
or an event over the event limit is a 413; a batch's invalid events are skipped and
reported by index (seed 002's behaviour), the valid ones kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import msgspec

from shoplens.errors import BadRequest, PayloadTooLarge
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event
from shoplens.ingest.formats import decode
from shoplens.ingest.normalize import timestamp_ms

T = TypeVar("T")
ToEvent = Callable[[Any, IngestContext], Event]


@dataclass
class BatchOutcome:
    events: list[Event] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # position in the request of each event
    errors: list[str] = field(default_factory=list)


def check_event_size(size: int, ctx: IngestContext, label: str = "Event") -> None:
    if size > ctx.limits.max_event_bytes:
        raise PayloadTooLarge(
            f"{label} is larger than {ctx.limits.max_event_bytes} bytes",
            field=None if label == "Event" else label,
        )


def one(body: bytes, into: type[T], to_event: ToEvent, ctx: IngestContext) -> Event:
    check_event_size(len(body), ctx)
    return to_event(decode(body, into), ctx)


def many(
    raws: list[msgspec.Raw],
    into: type[Any],
    to_event: ToEvent,
    ctx: IngestContext,
    *,
    label: str = "events",
) -> BatchOutcome:
    """Normalize each raw event on its own; one bad event does not sink the batch."""
    for i, raw in enumerate(raws):
        check_event_size(len(raw), ctx, f"{label}[{i}]")
    outcome = BatchOutcome()
    for i, raw in enumerate(raws):
        try:
            outcome.events.append(to_event(decode(raw, into), ctx))
            outcome.indexes.append(i)
        except BadRequest as exc:
            outcome.errors.append(f"{label}[{i}]: {exc.message}")
    return outcome


def batch_list(
    body: bytes, into: type[Any], *, max_events: int | None, empty: str, too_many: str
) -> list[msgspec.Raw]:
    """The ``events`` array of a batch body, with the format's own error texts."""
    return _events(decode(body, into), max_events=max_events, empty=empty, too_many=too_many)


def read_batch(
    body: bytes,
    into: type[Any],
    ctx: IngestContext,
    *,
    max_events: int | None,
    empty: str,
    too_many: str,
) -> tuple[list[msgspec.Raw], IngestContext]:
    """``batch_list`` plus the context its events share: the body's optional ``sentAt``
    (the client's send time, for clock-skew correction) set on the context."""
    batch = decode(body, into)
    events = _events(batch, max_events=max_events, empty=empty, too_many=too_many)
    sent = getattr(batch, "sentAt", None)
    if sent is not None and sent != "":
        ctx = replace(ctx, sent_at=timestamp_ms(sent, "sentAt", ctx))
    return events, ctx


def _events(batch: Any, *, max_events: int | None, empty: str, too_many: str) -> list[msgspec.Raw]:
    events = batch.events
    if not events:
        raise BadRequest(empty, field="events")
    if max_events is not None and len(events) > max_events:
        raise BadRequest(too_many, field="events")
    return list(events)
