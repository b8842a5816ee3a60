"""What routes share: the app state, the caller's identity, bounded body reads."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from fastapi import Request

from shoplens.auth import KeyVerifier, Principal, parse_bearer, require_secret
from shoplens.config import Settings
from shoplens.errors import PayloadTooLarge
from shoplens.ingest.context import IngestContext, Limits
from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.pipeline import IngestPipeline
from shoplens.ingest.stages import Stages
from shoplens.meta import MetaStore, Tenant
from shoplens.store import Store


@dataclass
class TenantCache:
    """Tenants by id for the public (keyless) route, cached briefly off SQLite."""

    meta: MetaStore
    ttl: float = 5.0
    _entries: dict[int, tuple[float, Tenant | None, str]] = field(default_factory=dict)

    def get(self, tenant_id: int) -> tuple[Tenant | None, str]:
        """(tenant or None, the tenant's IP-hash salt)."""
        now = time.monotonic()
        entry = self._entries.get(tenant_id)
        if entry is None or entry[0] < now:
            tenant = self.meta.tenant(tenant_id)
            salt = ""
            if tenant is not None:
                salt = self.meta.get_setting(tenant_id, "ip_salt") or ""
                if not salt:
                    salt = secrets.token_hex(16)
                    self.meta.set_setting(tenant_id, "ip_salt", salt)
            entry = (now + self.ttl, tenant, salt)
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[tenant_id] = entry
        return entry[1], entry[2]


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


def state(request: Request) -> AppState:
    app_state: AppState = request.app.state.shoplens
    return app_state


async def any_key(request: Request) -> Principal:
    """Dependency: a valid publishable or secret key (ingest routes)."""
    return state(request).keys.verify(parse_bearer(request.headers.get("authorization")))


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
    return IngestContext(
        tenant=tenant,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", "")[: app_state.limits.max_string_length],
        referrer=request.headers.get("referer", "")[: app_state.limits.max_string_length],
        limits=app_state.limits,
        converter=app_state.converter,
        stages=app_state.stages,
    )


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) anything over the request size limit — checked on
    the declared length and while reading, so a lying client cannot make us buffer more."""
    limit = state(request).limits.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
