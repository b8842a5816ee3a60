"""Field rules shared by every wire format: strings, properties, timestamps, pages, money.

Each helper raises ``BadRequest`` naming the field and the rule it broke.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from shoplens.errors import BadRequest
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event, Item
from shoplens.ingest.money import decimal_of, exponent
from shoplens.ingest.stages import Facts

_EVENT_NAMESPACE = uuid.UUID("6f1d3c1e-6a0b-4c56-9a3e-2f0f5b7c8d10")


def text(value: Any, field: str, ctx: IngestContext) -> str:
    """A string field: None → "", over the length cap → 400."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string", field=field)
    if len(value) > ctx.limits.max_string_length:
        raise BadRequest(
            f"{field} is longer than {ctx.limits.max_string_length} characters", field=field
        )
    return value


def identifier(value: Any, field: str, ctx: IngestContext) -> str:
    """An id: strings as they are, integers accepted and written in decimal."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value, field, ctx)


def properties(value: Any, field: str, ctx: IngestContext) -> dict[str, str]:
    """Free-form key/value pairs, stored as strings (non-strings JSON-encoded)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{field} must be an object", field=field)
    if len(value) > ctx.limits.max_properties:
        raise BadRequest(f"{field} has more than {ctx.limits.max_properties} keys", field=field)
    out = {}
    for key, raw in value.items():
        if raw is None:
            continue
        out[text(key, f"{field} key", ctx)] = text(
            raw if isinstance(raw, str) else msgspec.json.encode(raw).decode(),
            f"{field}.{key}",
            ctx,
        )
    return out


#: The times a client may send (``timestamp``, ``sentAt``, ``originalTimestamp``, import
#: files), epoch ms: from 1970-01-01 up to, not including, 2200-01-01 (UTC). Every stored
#: time fits ``DateTime64(3, 'UTC')`` (up to 2299) and the WAL's Int64 milliseconds, and the
#: clock stage's arithmetic on two such times cannot overflow either.
MIN_TIME_MS = 0
MAX_TIME_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z
TIME_RANGE = "between 1970-01-01 and 2200-01-01 (UTC)"


def check_time_range(ms: float, field: str) -> None:
    """400 naming ``field`` unless ``ms`` is within [MIN_TIME_MS, MAX_TIME_MS)."""
    if not MIN_TIME_MS <= ms < MAX_TIME_MS:  # NaN fails too
        raise BadRequest(f"{field} must be {TIME_RANGE}", field=field)


def timestamp_ms(value: Any, field: str, ctx: IngestContext) -> int:
    """ISO 8601 (Z or offset; naive means UTC) or epoch ms → epoch ms, within the range
    ``check_time_range`` allows.

    Without a value the receive time is used. How far ahead or behind the server clock a
    time may be is the clock stage's rule (``ingest.clock``: skew correction, future clamp,
    retention), not a parsing one.
    """
    if value is None or value == "":
        return ctx.received_at
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        check_time_range(value, field)  # before int(): inf and NaN cannot be converted
        ms = int(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"{field} must be an ISO 8601 timestamp", field=field) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = int(parsed.timestamp() * 1000)
        check_time_range(ms, field)
    else:
        raise BadRequest(f"{field} must be an ISO 8601 timestamp", field=field)
    return ms


class _EventIds:
    """Time-ordered UUIDv7 strings: 48 bits of Unix milliseconds, then a per-process random
    start plus a counter.

    TRICKY: ``uuid4()`` reads ``os.urandom`` per id; measured in the ingest benchmark that
    syscall alone was ~8 µs per event, a third of the event loop's work. Here randomness is
    drawn once per process (and again after a fork), and ids stay unique because the
    counter never repeats within a process.
    """

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        seed = int.from_bytes(os.urandom(10), "big")
        self._rand_a = seed & 0xFFF
        self._counter = itertools.count(seed >> 12)

    def new(self) -> str:
        ms = time.time_ns() // 1_000_000
        hi = (ms << 16) | 0x7000 | self._rand_a
        lo = (0b10 << 62) | (next(self._counter) & ((1 << 62) - 1))
        h = f"{hi:016x}{lo:016x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_event_ids = _EventIds()


def event_id(ctx: IngestContext, client_id: str | None) -> str:
    """A new UUIDv7, or a UUIDv5 of the client's own id so a resend maps to the same row."""
    if client_id:
        return str(uuid.uuid5(_EVENT_NAMESPACE, f"{ctx.tenant.id}:{client_id}"))
    return _event_ids.new()


def apply_page(event: Event, url: str, referrer: str) -> None:
    """Fill page_url/page_path and UTM fields from a page URL (absolute or a path)."""
    event.page_url = url
    event.referrer = referrer
    if not url:
        return
    parts = urlsplit(url)
    event.page_path = parts.path or "/"
    if parts.query:
        query = parse_qs(parts.query)
        for name in ("source", "medium", "campaign", "term", "content"):
            values = query.get(f"utm_{name}")
            if values and not getattr(event, f"utm_{name}"):
                setattr(event, f"utm_{name}", values[0][:256])


def major_amount(value: Any, field: str) -> Decimal | None:
    """A decimal amount in major units (49.99), or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest(f"{field} must be a number", field=field)
    return decimal_of(value, field)


def minor_amount(value: Any, field: str, currency: str) -> Decimal | None:
    """An integer amount in minor units (2999 cents) → Decimal major units, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{field} must be an integer amount in minor units", field=field)
    if isinstance(value, float) and not value.is_integer():
        raise BadRequest(f"{field} must be an integer amount in minor units", field=field)
    return Decimal(int(value)).scaleb(-exponent(currency))


def quantity(value: Any, field: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise BadRequest(f"{field} must be a whole number", field=field)
    if not 0 <= value <= 1_000_000:
        raise BadRequest(f"{field} must be between 0 and 1000000", field=field)
    return int(value)


def convert(
    ctx: IngestContext, amount: Decimal | None, currency: str, field: str, *, at_ms: int
) -> tuple[int, str]:
    """(base-currency minor units, amount as sent) for an optional amount, converted at the
    rate of the event's day (``at_ms``: the event's timestamp) with the tenant's overrides."""
    if amount is None:
        return 0, "0"
    minor = ctx.converter.to_base_minor(
        amount, currency, ctx.tenant.base_currency, field, at_ms=at_ms, tenant_id=ctx.tenant.id
    )
    return minor, str(amount)


def finish_items(event: Event, items: list[Item]) -> None:
    event.items = items
    event.item_count = sum(item.quantity for item in items)


def sent_at(timestamp: Any, value: Any, field: str, ctx: IngestContext) -> int | None:
    """The client's send time (epoch ms) for skew correction, or None.

    None when the event has no ``timestamp`` of its own: its time is then the receive time,
    which needs no correction (correcting it would subtract the client's clock error from
    the server's clock). Without ``value`` the request's (a batch body's) ``sentAt`` applies.
    """
    if timestamp is None or timestamp == "":
        return None
    if value is None or value == "":
        return ctx.sent_at
    return timestamp_ms(value, field, ctx)


def finish(
    event: Event, ctx: IngestContext, *, forwarded_ip: str = "", sent_at: int | None = None
) -> Event:
    """The last step of every format: run the ingestion stages with the per-event facts
    (the IP — used, never stored — and the client's send time).

    ``forwarded_ip`` is the IP the event names for its shopper (``context.ip``). Without
    one the request's IP stands in (a browser cannot know its own address), but it is the
    shopper's only when the request came from a browser (``ctx.browser``): a server
    integration's requests carry the shop's own address, which fraud rules must not judge.
    """
    ip = forwarded_ip or ctx.ip
    shopper_ip = ip if forwarded_ip or ctx.browser else ""
    return ctx.stages.run(event, Facts(ip=ip, shopper_ip=shopper_ip, sent_at=sent_at), ctx)
