"""Seed 004: ``POST /api/analytics/track``, the public landing-page tracker.

No key: the body names the tenant. The visitor is identified only by hashes of the IP made
by the privacy stage (``ingest.privacy``): ``ip_hash``, the first 45 characters of SHA-256
over the tenant's salt of the day and the IP, and the visitor hash; the IP is never stored.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from shoplens.errors import BadRequest
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event
from shoplens.ingest.normalize import apply_page, event_id, finish, properties, text
from shoplens.meta import MAX_TENANT_ID

# Seed 004's event types; ``pageview`` is the canonical ``page_view``.
LANDING_TYPES: dict[str, str] = {
    "pageview": "page_view",
    "click_whatsapp": "click_whatsapp",
    "click_call": "click_call",
    "click_toggle_currency": "click_toggle_currency",
    "time_on_page": "time_on_page",
    "qr_scan": "qr_scan",
    "product_click": "product_click",
}
IP_HASH_LENGTH = 45


class LandingIn(msgspec.Struct):
    tenant_id: int | None = None
    event_type: str | None = None
    metadata: dict[str, Any] | None = None


def ip_hash(salt: str, ip: str) -> str:
    """Seed 004's hash: the first 45 hex characters of SHA-256 over ``salt:ip``."""
    return hashlib.sha256(f"{salt}:{ip}".encode()).hexdigest()[:IP_HASH_LENGTH]


def validate(raw: LandingIn) -> tuple[int, str]:
    """(tenant id, canonical type), or the 400 that names what is wrong."""
    if raw.tenant_id is None:
        raise BadRequest("tenant_id is required", field="tenant_id")
    if not 1 <= raw.tenant_id <= MAX_TENANT_ID:  # checked before any lookup
        raise BadRequest(f"tenant_id must be between 1 and {MAX_TENANT_ID}", field="tenant_id")
    if not raw.event_type:
        raise BadRequest("event_type is required", field="event_type")
    kind = LANDING_TYPES.get(raw.event_type)
    if kind is None:
        raise BadRequest(
            f"event_type must be one of: {', '.join(LANDING_TYPES)}", field="event_type"
        )
    return raw.tenant_id, kind


def to_event(raw: LandingIn, ctx: IngestContext) -> Event:
    _, kind = validate(raw)
    meta = raw.metadata or {}
    event = Event(
        tenant_id=ctx.tenant.id,
        event_id=event_id(ctx, None),
        event_type=kind,
        event_name=raw.event_type or kind,
        source="landing",
        timestamp=ctx.received_at,
        received_at=ctx.received_at,
        user_agent=ctx.user_agent,
        properties=properties(meta, "metadata", ctx),
    )
    page = meta.get("page") or meta.get("url")
    apply_page(
        event, text(page if isinstance(page, str) else "", "metadata.page", ctx), ctx.referrer
    )
    return finish(event, ctx)
