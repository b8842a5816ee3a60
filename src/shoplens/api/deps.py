"""What routes share: the app state, the caller's identity, bounded body reads."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from fastapi import Request
from starlette.requests import ClientDisconnect

from shoplens.api.export_stream import ExportSlots
from shoplens.api.limits import RequestLimits
from shoplens.auth import KeyVerifier, Principal, parse_bearer, require_secret
from shoplens.config import Settings
from shoplens.errors import BadRequest, PayloadTooLarge
from shoplens.ingest.context import IngestContext, Limits, browser_request
from shoplens.ingest.formats import check_json_depth
from shoplens.ingest.fraud_stats import BlockedCounter
from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.pipeline import IngestPipeline
from shoplens.ingest.rates_refresh import RatesRefresher
from shoplens.ingest.rejections import RejectionLog
from shoplens.ingest.stages import Stages
from shoplens.maintenance import Maintenance
from shoplens.meta import MetaStore, Tenant
from shoplens.store import Store


@dataclass
class TenantCache:
    """Tenants by id for the public (keyless) route, cached briefly off SQLite."""

    meta: MetaStore
    ttl: float = 5.0
    _entries: dict[int, tuple[float, Tenant | None]] = field(default_factory=dict)

    def get(self, tenant_id: int) -> Tenant | None:
        """The tenant, or None. (IP-hash salts are the privacy stage's, rotated daily.)"""
        now = time.monotonic()
        entry = self._entries.get(tenant_id)
        if entry is None or entry[0] < now:
            entry = (now + self.ttl, self.meta.tenant(tenant_id))
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[tenant_id] = entry
        return entry[1]


@dataclass
class AppState:
    settings: Settings
    store: Store
    meta: MetaStore
    pipeline: IngestPipeline
    keys: KeyVerifier
    tenants: TenantCache
    limits: Limits
    converter: CurrencyConverter
    stages: Stages
    #: counts of events blocked by fraud rules (``GET /v1/fraud/stats``)
    blocked: BlockedCounter | None = None
    #: per-key and landing-route request rate limits (None: none)
    rate_limits: RequestLimits | None = None
    #: background deletions and retention (set once the app has started)
    maintenance: Maintenance | None = None
    #: the scheduled exchange-rate refresh (set once the app has started)
    rates: RatesRefresher | None = None
    #: messages batch routes rejected while accepting the rest (``GET /v1/ingest/errors``)
    rejections: RejectionLog = field(default_factory=RejectionLog)
    #: concurrent ``GET /analytics/export`` per tenant (None: no limit)
    exports: ExportSlots | None = None


def state(request: Request) -> AppState:
    app_state: AppState = request.app.state.shoplens
    return app_state


async def any_key(request: Request) -> Principal:
    """Dependency: a valid publishable or secret key (ingest routes), within its rate limit."""
    app_state = state(request)
    principal = app_state.keys.verify(parse_bearer(request.headers.get("authorization")))
    if app_state.rate_limits is not None:
        app_state.rate_limits.check_key(request.scope, principal)
    return principal


async def secret_key(request: Request) -> Principal:
    """Dependency: a valid secret key (query and admin routes); 403 for publishable."""
    return require_secret(await any_key(request))


def client_ip(request: Request) -> str:
    if state(request).settings.trust_proxy:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else ""


def ingest_context(request: Request, tenant: Tenant) -> IngestContext:
    app_state = state(request)
    headers, longest = request.headers, app_state.limits.max_string_length
    user_agent, referrer = headers.get("user-agent", ""), headers.get("referer", "")
    return IngestContext(
        tenant=tenant,
        ip=client_ip(request),
        user_agent=user_agent[:longest],
        referrer=referrer[:longest],
        browser=browser_request(user_agent, headers.get("origin", ""), referrer),
        limits=app_state.limits,
        converter=app_state.converter,
        stages=app_state.stages,
    )


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) anything over the request size limit — checked on
    the declared length and while reading, so a lying client cannot make us buffer more —
    and (400) JSON nested deeper than ``MAX_JSON_DEPTH`` (``formats.check_json_depth``).

    A client that goes away before its whole body arrived (or is closed by the server's
    body timeout, ``http_limits``) is a 400 nobody reads, not an unhandled exception."""
    limit = state(request).limits.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        message = f"Request body incomplete: the connection closed after {size} bytes"
        raise BadRequest(message) from None
    body = b"".join(chunks)
    check_json_depth(body)
    return body


async def read_json(request: Request) -> Any:
    """The bounded request body (``read_body``) parsed as JSON; 400 when it is not JSON."""
    try:
        return msgspec.json.decode(await read_body(request))
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
