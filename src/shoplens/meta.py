"""Metadata in SQLite inside the data dir: tenants, API keys, per-tenant settings.

SQLite is right here: small, transactional, readable by the CLI while the server runs
(WAL journal mode), and nothing to install. Events never go here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PLANS = ("free", "pro")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    base_currency TEXT NOT NULL DEFAULT 'USD',
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    plan          TEXT NOT NULL DEFAULT 'free',
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL CHECK (kind IN ('publishable', 'secret')),
    lookup      TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE TABLE IF NOT EXISTS tenant_settings (
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id),
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
"""


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Tenant:
    id: int
    name: str
    base_currency: str
    timezone: str
    plan: str
    created_at: str


@dataclass(frozen=True)
class KeyRecord:
    id: int
    tenant_id: int
    kind: str
    lookup: str
    hash: str
    name: str
    created_at: str
    revoked_at: str | None


class MetaStore:
    """Tenants, keys and settings. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._lock:
            cur = self._conn.execute(sql, args)
            return int(cur.lastrowid or 0)

    # tenants ---------------------------------------------------------------------------
    def create_tenant(
        self, name: str, *, base_currency: str = "USD", timezone: str = "UTC", plan: str = "free"
    ) -> Tenant:
        tenant_id = self._write(
            "INSERT INTO tenants (name, base_currency, timezone, plan, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, base_currency, timezone, plan, utcnow_iso()),
        )
        tenant = self.tenant(tenant_id)
        assert tenant is not None
        return tenant

    def tenant(self, tenant_id: int) -> Tenant | None:
        rows = self._all("SELECT * FROM tenants WHERE id = ?", (tenant_id,))
        return Tenant(**dict(rows[0])) if rows else None

    def tenants(self) -> list[Tenant]:
        return [Tenant(**dict(r)) for r in self._all("SELECT * FROM tenants ORDER BY id")]

    def update_tenant(self, tenant_id: int, **fields: str) -> Tenant | None:
        allowed = {"name", "base_currency", "timezone", "plan"}
        if not fields.keys() <= allowed:
            raise ValueError(f"cannot update {sorted(fields.keys() - allowed)}")
        if fields:
            assignments = ", ".join(f"{name} = ?" for name in fields)
            self._write(
                f"UPDATE tenants SET {assignments} WHERE id = ?", (*fields.values(), tenant_id)
            )
        return self.tenant(tenant_id)

    # keys ------------------------------------------------------------------------------
    def add_key(self, tenant_id: int, kind: str, lookup: str, key_hash: str, name: str) -> int:
        return self._write(
            "INSERT INTO api_keys (tenant_id, kind, lookup, hash, name, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (tenant_id, kind, lookup, key_hash, name, utcnow_iso()),
        )

    def key_by_lookup(self, lookup: str) -> KeyRecord | None:
        rows = self._all("SELECT * FROM api_keys WHERE lookup = ?", (lookup,))
        return KeyRecord(**dict(rows[0])) if rows else None

    def keys(self, tenant_id: int | None = None) -> list[KeyRecord]:
        if tenant_id is None:
            rows = self._all("SELECT * FROM api_keys ORDER BY id")
        else:
            rows = self._all("SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY id", (tenant_id,))
        return [KeyRecord(**dict(r)) for r in rows]

    def revoke_key(self, key_id: int) -> bool:
        with self._lock:
            cur = self._conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (utcnow_iso(), key_id),
            )
            return cur.rowcount == 1

    # settings --------------------------------------------------------------------------
    def get_setting(self, tenant_id: int, key: str, default: Any = None) -> Any:
        rows = self._all(
            "SELECT value FROM tenant_settings WHERE tenant_id = ? AND key = ?", (tenant_id, key)
        )
        return json.loads(rows[0]["value"]) if rows else default

    def set_setting(self, tenant_id: int, key: str, value: Any) -> None:
        self._write(
            "INSERT INTO tenant_settings (tenant_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
            (tenant_id, key, json.dumps(value)),
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
