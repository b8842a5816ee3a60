"""Per-user deletion (seed 002's ``DELETE /v1/api/analytics/user/{userId}``).

A request queues a job in the metadata store and is answered at once; the maintenance task
(:mod:`shoplens.maintenance`) runs jobs one at a time:

1. find the user's rows: those carrying the user id, and the anonymous events stitched to
   the user — events without a user id whose ``visitor_id`` is an anonymous id linked to
   the user in ``identities`` (:mod:`shoplens.metrics.identity`), with their items and
   properties. An anonymous id linked to this user *and* another one (a shared browser)
   loses its anonymous events too: erasure errs on the side of the person asking. Events
   that carry another user's id are never touched;
2. note the UTC hours in which those rows lie (events and items), and count them;
3. delete them from every table keyed by user: ``events``, ``event_items``,
   ``event_properties``, and the user's links in ``identities`` (ClickHouse lightweight
   ``DELETE``, which affects the rows that exist when it runs: events for that user
   ingested later are kept, and link again — deletion is not a block list);
4. with the flusher's insert lock held, rebuild the tenant's hourly rollups for those hours
   from the raw rows that remain (:mod:`shoplens.store.rollups`), so no report, raw or
   rolled up, still counts the user.

ClickHouse's insert-deduplication checksums survive a delete. That is what we want here:
if a crash makes the flusher re-insert a WAL range holding the user's deleted rows, the
same token is dropped as a duplicate and the rows do not come back. New data always comes
with new tokens (one per WAL position), so it is never mistaken for the deleted rows.

The job row is the audit trail: who (tenant), when requested/started/finished, how many rows
each table lost. The user id itself is kept only until the job is done; the trail keeps a
salted SHA-256 of it, which still answers "was user X deleted?" for someone who knows X.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from shoplens.errors import BadRequest
from shoplens.meta import MetaStore
from shoplens.store import Store
from shoplens.store.rollups import ROLLUPS, rebuild

log = logging.getLogger("shoplens.deletion")

#: Every table holding rows per user, in deletion order (each job counts its rows per table).
USER_TABLES = ("events", "event_items", "event_properties", "identities")
MAX_USER_ID = 2048
_AUDIT_SALT = "shoplens-user-deletion-v1"


def user_hash(tenant_id: int, user_id: str) -> str:
    """The audit trail's name for a user: SHA-256 of a fixed salt, tenant and id."""
    return hashlib.sha256(f"{_AUDIT_SALT}:{tenant_id}:{user_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Deletion:
    """One deletion job as the status route reports it."""

    id: int
    status: str  # pending | running | done | failed
    requested_at: str
    started_at: str | None
    finished_at: str | None
    rows: dict[str, int]
    error: str | None

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "requested_at": self.requested_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "rows_deleted": self.rows,
            "error": self.error,
        }


def _job(row: Any) -> Deletion:
    return Deletion(
        id=row["id"],
        status=row["status"],
        requested_at=row["requested_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        rows=json.loads(row["rows"]),
        error=row["error"],
    )


def check_user_id(user_id: str) -> str:
    if not user_id or len(user_id) > MAX_USER_ID:
        raise BadRequest(f"userId must be 1 to {MAX_USER_ID} characters", field="userId")
    return user_id


def request(meta: MetaStore, tenant_id: int, user_id: str) -> int:
    """Queue the deletion of ``user_id``'s rows; returns the job id."""
    return meta.add_deletion(tenant_id, check_user_id(user_id), user_hash(tenant_id, user_id))


def history(meta: MetaStore, tenant_id: int, user_id: str) -> list[Deletion]:
    """Every deletion of the user, newest first."""
    return [_job(r) for r in meta.deletions(tenant_id, user_hash(tenant_id, user_id))]


# Which rows of each table are the user's (anonymous: their linked anonymous ids; stitched:
# the ids of those ids' events without a user id).
_WHERE = {
    "events": "user_id = {user_id:String}"
    " OR (user_id = '' AND visitor_id IN {anonymous:Array(String)})",
    "event_items": "user_id = {user_id:String} OR event_id IN {stitched:Array(UUID)}",
    "event_properties": "user_id = {user_id:String} OR event_id IN {stitched:Array(UUID)}",
    "identities": "user_id = {user_id:String} OR anonymous_id = {user_id:String}",
}


@dataclass(frozen=True)
class _Scope:
    """One user's rows: a WHERE condition per table (:data:`_WHERE`) and its values."""

    params: dict[str, Any]

    def where(self, table: str) -> str:
        return f"tenant_id = {{tenant_id:UInt32}} AND ({_WHERE[table]})"


def _scope(store: Store, tenant_id: int, user_id: str) -> _Scope:
    """The user's rows: their own, and the anonymous events of the ids linked to them."""
    params: dict[str, Any] = {"tenant_id": tenant_id, "user_id": user_id}
    linked = store.query(
        "SELECT DISTINCT anonymous_id FROM identities "
        "WHERE tenant_id = {tenant_id:UInt32} AND user_id = {user_id:String}",
        params,
    ).to_pylist()
    params["anonymous"] = [r["anonymous_id"] for r in linked]
    # Items and properties have no visitor_id: the stitched events are named by id, read
    # before anything is deleted.
    stitched = store.query(
        "SELECT toString(event_id) AS id FROM events WHERE tenant_id = {tenant_id:UInt32} "
        "AND user_id = '' AND visitor_id IN {anonymous:Array(String)}",
        params,
    ).to_pylist()
    params["stitched"] = [r["id"] for r in stitched]
    return _Scope(params)


def _count(store: Store, table: str, scope: _Scope) -> int:
    rows = store.query(
        f"SELECT count() AS n FROM {table} WHERE {scope.where(table)}", scope.params
    ).to_pylist()
    return int(rows[0]["n"])


def _hours(store: Store, table: str, scope: _Scope) -> list[str]:
    rows = store.query(
        "SELECT DISTINCT formatDateTime(toStartOfHour(timestamp), '%F %T', 'UTC') AS hour "
        f"FROM {table} WHERE {scope.where(table)}",
        scope.params,
    ).to_pylist()
    return sorted(r["hour"] for r in rows)


def delete_user(
    store: Store, tenant_id: int, user_id: str, insert_lock: threading.Lock
) -> dict[str, int]:
    """Remove every row of ``user_id`` (one tenant), the anonymous events stitched to them
    and their identity links, and correct the rollups; returns the rows deleted per table."""
    scope = _scope(store, tenant_id, user_id)
    hours = {rollup.table: _hours(store, rollup.source, scope) for rollup in ROLLUPS}
    deleted = {table: _count(store, table, scope) for table in USER_TABLES}
    for table in USER_TABLES:
        if deleted[table]:
            store.command(f"DELETE FROM {table} WHERE {scope.where(table)}", scope.params)
    with insert_lock:
        for rollup in ROLLUPS:
            rebuild(store, rollup, tenant_id, hours[rollup.table])
    return deleted


def run_next(meta: MetaStore, store: Store, insert_lock: threading.Lock) -> bool:
    """Run the oldest queued job; False when there is none. A failure is recorded on the
    job (status ``failed`` with the error) and logged, never raised."""
    row = meta.claim_deletion()
    if row is None:
        return False
    try:
        rows = delete_user(store, row["tenant_id"], row["user_id"], insert_lock)
    except Exception as exc:
        log.exception("deletion job %s failed", row["id"])
        meta.finish_deletion(row["id"], {}, f"{type(exc).__name__}: {exc}")
    else:
        meta.finish_deletion(row["id"], rows, None)
        log.info("deletion job %s done: %s", row["id"], rows)
    return True
