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
-- events blocked by severity-2 fraud rules, per UTC day and rule (ingest/fraud_stats.py)
CREATE TABLE IF NOT EXISTS fraud_blocked (
    tenant_id  INTEGER NOT NULL,
    day        TEXT NOT NULL,  -- YYYY-MM-DD, UTC
    rule       TEXT NOT NULL,  -- a rule name, or '*' for every blocked event once
    events     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, rule)
);
-- per-user deletions (deletion.py): the work queue and, after it, the audit trail. The user
-- id is kept only until the job is done; the trail keeps its salted hash.
CREATE TABLE IF NOT EXISTS user_deletions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     INTEGER NOT NULL,
    user_hash     TEXT NOT NULL,
    user_id       TEXT,            -- NULL once done
    status        TEXT NOT NULL,   -- pending | running | done | failed
    requested_at  TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    rows          TEXT NOT NULL DEFAULT '{}',  -- JSON: rows deleted per table
    error         TEXT
);
CREATE INDEX IF NOT EXISTS user_deletions_by_user ON user_deletions (tenant_id, user_hash);
-- the visitor-hash salts of the last two UTC days (ingest/privacy.py); older ones deleted
CREATE TABLE IF NOT EXISTS visitor_salts (
    day   INTEGER PRIMARY KEY,  -- days since 1970-01-01, UTC
    salt  BLOB NOT NULL
);
"""


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: the largest tenant id: ``tenant_id`` is ``UInt32`` in every ClickHouse table
MAX_TENANT_ID = 2**32 - 1


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
        if not 0 < tenant_id <= MAX_TENANT_ID:  # SQLite raises OverflowError past 64 bits
            return None
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

    def drop_setting(self, key: str) -> int:
        """Delete ``key`` from every tenant's settings; returns how many were deleted."""
        with self._lock:
            return self._conn.execute("DELETE FROM tenant_settings WHERE key = ?", (key,)).rowcount

    # visitor-hash salts (ingest/privacy.py) ------------------------------------------
    def day_salt(self, day: int, candidate: bytes) -> bytes:
        """The salt of UTC ``day``: the stored one, else ``candidate`` stored now. The
        first writer wins, so processes sharing this file agree on a day's salt."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO visitor_salts (day, salt) VALUES (?, ?)", (day, candidate)
            )
            row = self._conn.execute(
                "SELECT salt FROM visitor_salts WHERE day = ?", (day,)
            ).fetchone()
            return bytes(row["salt"])

    def salts(self) -> dict[int, bytes]:
        """Every stored salt by day (today's and yesterday's, once rotation ran)."""
        rows = self._all("SELECT day, salt FROM visitor_salts ORDER BY day")
        return {r["day"]: bytes(r["salt"]) for r in rows}

    def delete_salts_before(self, day: int) -> int:
        """Destroy the salts of days before ``day``; returns how many were deleted.

        TRICKY: a plain DELETE leaves the bytes in free pages and in the WAL file;
        ``secure_delete`` zeroes the freed content and the checkpoint moves the zeroed page
        into the database and truncates the WAL (best effort while a reader holds it).
        """
        with self._lock:
            self._conn.execute("PRAGMA secure_delete=ON")
            deleted = self._conn.execute("DELETE FROM visitor_salts WHERE day < ?", (day,))
            if deleted.rowcount:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return deleted.rowcount

    # blocked-event counts (ingest/fraud_stats.py) ------------------------------------
    def add_fraud_blocked(self, counts: list[tuple[tuple[int, str, str], int]]) -> None:
        """Add ``((tenant_id, day, rule), n)`` counts to the stored ones, atomically."""
        with self._lock, self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO fraud_blocked (tenant_id, day, rule, events) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, day, rule) "
                "DO UPDATE SET events = events + excluded.events",
                [(*key, n) for key, n in counts],
            )

    def fraud_blocked(self, tenant_id: int, first_day: str, last_day: str) -> dict[str, int]:
        """Blocked events per rule over UTC days ``first_day..last_day`` (YYYY-MM-DD)."""
        rows = self._all(
            "SELECT rule, sum(events) AS n FROM fraud_blocked "
            "WHERE tenant_id = ? AND day BETWEEN ? AND ? GROUP BY rule",
            (tenant_id, first_day, last_day),
        )
        return {r["rule"]: int(r["n"]) for r in rows}

    # per-user deletions (deletion.py) -------------------------------------------------
    def add_deletion(self, tenant_id: int, user_id: str, user_hash: str) -> int:
        return self._write(
            "INSERT INTO user_deletions (tenant_id, user_hash, user_id, status, requested_at) "
            "VALUES (?, ?, ?, 'pending', ?)",
            (tenant_id, user_hash, user_id, utcnow_iso()),
        )

    def has_deletions(self) -> bool:
        """Whether a job is pending (or was running at a crash)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM user_deletions WHERE status IN ('pending', 'running') LIMIT 1"
            ).fetchone()
        return row is not None

    def claim_deletion(self) -> sqlite3.Row | None:
        """The oldest pending (or interrupted: running at a crash) job, marked running."""
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute(
                "SELECT * FROM user_deletions WHERE status IN ('pending', 'running') "
                "ORDER BY id LIMIT 1"
            ).fetchone()
            if row is not None:
                self._conn.execute(
                    "UPDATE user_deletions SET status = 'running', started_at = ? WHERE id = ?",
                    (utcnow_iso(), row["id"]),
                )
            return row

    def finish_deletion(self, job_id: int, rows: dict[str, int], error: str | None) -> None:
        """Record the outcome; a finished job forgets the user id, a failed one keeps it for
        the retry an operator may start (``status`` back to pending)."""
        self._write(
            "UPDATE user_deletions SET status = ?, finished_at = ?, rows = ?, error = ?, "
            "user_id = CASE WHEN ? IS NULL THEN NULL ELSE user_id END WHERE id = ?",
            ("failed" if error else "done", utcnow_iso(), json.dumps(rows), error, error, job_id),
        )

    def deletions(self, tenant_id: int, user_hash: str) -> list[sqlite3.Row]:
        """Every deletion of one user of one tenant, newest first."""
        return self._all(
            "SELECT * FROM user_deletions WHERE tenant_id = ? AND user_hash = ? ORDER BY id DESC",
            (tenant_id, user_hash),
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
