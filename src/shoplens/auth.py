"""API keys: publishable (``pk_…``, ingest only, safe in a browser) and secret (``sk_…``).

A key is ``<kind>_<lookup><secret>``: 12 characters of lookup id, then 32 of secret. Only
the lookup id and a SHA-256 of the whole key are stored; SHA-256 (not a slow KDF) is right
for 190 bits of random secret. Verification finds the row by lookup id and compares hashes
with ``hmac.compare_digest``, so timing reveals nothing about the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass

from shoplens.errors import Forbidden, Unauthorized
from shoplens.meta import MetaStore, Tenant

PREFIXES = {"publishable": "pk", "secret": "sk"}
_ALPHABET = string.ascii_letters + string.digits
_LOOKUP_LEN = 12
_SECRET_LEN = 32


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, through a key of one kind."""

    tenant: Tenant
    kind: str  # "publishable" | "secret"
    key_id: int

    @property
    def tenant_id(self) -> int:
        return self.tenant.id


@dataclass(frozen=True)
class IssuedKey:
    id: int
    kind: str
    key: str  # shown once, never stored


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(meta: MetaStore, tenant_id: int, kind: str, name: str = "") -> IssuedKey:
    if kind not in PREFIXES:
        raise ValueError(f"key kind must be one of {sorted(PREFIXES)}")
    lookup = _random(_LOOKUP_LEN)
    key = f"{PREFIXES[kind]}_{lookup}{_random(_SECRET_LEN)}"
    key_id = meta.add_key(tenant_id, kind, lookup, hash_key(key), name)
    return IssuedKey(key_id, kind, key)


def parse_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class KeyVerifier:
    """Verifies keys against the metadata store, caching hits for ``ttl`` seconds.

    The cache keeps the ingest hot path off SQLite; a revoked key stops working within
    ``ttl`` seconds (documented in docs/operations.md).
    """

    def __init__(self, meta: MetaStore, ttl: float = 5.0) -> None:
        self.meta = meta
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal]] = {}

    def verify(self, key: str | None) -> Principal:
        if not key:
            raise Unauthorized("Missing API key: send Authorization: Bearer <key>")
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._lookup(key)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + self.ttl, principal)
        return principal

    def _lookup(self, key: str) -> Principal:
        prefix, _, rest = key.partition("_")
        kind = {v: k for k, v in PREFIXES.items()}.get(prefix)
        record = self.meta.key_by_lookup(rest[:_LOOKUP_LEN]) if kind else None
        # Compare even when no row matched, so both paths cost the same.
        expected = record.hash if record else hash_key("missing")
        matches = hmac.compare_digest(hash_key(key), expected)
        if record is None or not matches or record.kind != kind or record.revoked_at:
            raise Unauthorized("Invalid API key")
        tenant = self.meta.tenant(record.tenant_id)
        if tenant is None:
            raise Unauthorized("Invalid API key")
        return Principal(tenant, record.kind, record.id)

    def forget(self) -> None:
        self._cache.clear()


def require_secret(principal: Principal) -> Principal:
    if principal.kind != "secret":
        raise Forbidden(
            "This endpoint requires a secret key (sk_…); publishable keys can only send events"
        )
    return principal
