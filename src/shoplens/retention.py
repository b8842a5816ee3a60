"""Data retention per tenant (seed 000's table, ``GET/PATCH /analytics/settings``).

Two windows, in days, stored per tenant (``tenant_settings`` key ``retention``):

- ``rawEvents`` (default 90): rows of ``events``, ``event_items`` and ``event_properties``
  older than this are deleted, and the period of every report that needs raw rows is
  clamped to it (:func:`raw_days`);
- ``aggregatedMetrics`` (default 730): hourly rollup rows older than this are deleted. The
  reports the rollups answer (sales, revenue trend and time series, the v1 overview's
  totals) look back this far, within the plan's limit (:func:`aggregated_days`), reading
  the rollups for the part of their range past the raw window.

Both are bounded by the tenant's plan (``plans.retention_days`` is the plan's limit for raw
events; rollups may be kept longer than raw events, never shorter). Seed 000 also lists
customer profiles (kept indefinitely) and AI model data (1 year); shoplens keeps no separate
profile or model store — profiles are derived from the events on every query — so those two
are reported, read-only, for completeness.

Enforcement (:func:`enforce`) runs from the maintenance task on an interval and deletes with
ClickHouse lightweight ``DELETE``; whole-day windows are counted back from the start of the
current UTC day, so a row is deleted on the first run after it has been in the store for the
whole window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shoplens import plans
from shoplens.errors import BadRequest
from shoplens.meta import MetaStore, Tenant
from shoplens.store import Store

SETTING = "retention"
DEFAULT_RAW_DAYS = 90
DEFAULT_AGGREGATED_DAYS = 730
MODEL_DATA_DAYS = 365
MAX_DAYS = 3650
RAW_TABLES = ("events", "event_items", "event_properties")
ROLLUP_TABLES = ("events_hourly", "items_hourly")
_FIELDS = {"rawEvents": "raw_days", "aggregatedMetrics": "aggregated_days"}


@dataclass(frozen=True)
class Retention:
    """Days each kind of row is kept; None: forever (only on plans without a limit)."""

    raw_days: int | None
    aggregated_days: int | None

    def body(self) -> dict[str, Any]:
        return {
            "rawEvents": self.raw_days,
            "aggregatedMetrics": self.aggregated_days,
            "customerProfiles": None,
            "modelData": MODEL_DATA_DAYS,
        }


def _longer(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else max(a, b)


def _shorter(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def of(meta: MetaStore, tenant: Tenant) -> Retention:
    """The tenant's windows: its settings or the defaults, never beyond its plan."""
    stored = meta.get_setting(tenant.id, SETTING) or {}
    raw = _shorter(stored.get("rawEvents", DEFAULT_RAW_DAYS), plans.retention_days(tenant))
    aggregated = _longer(stored.get("aggregatedMetrics", DEFAULT_AGGREGATED_DAYS), raw)
    return Retention(raw, aggregated)


def raw_days(meta: MetaStore, tenant: Tenant) -> int | None:
    """How many days of raw events the tenant's reports may look back (the ``days`` clamp);
    None: no limit."""
    return of(meta, tenant).raw_days


def aggregated_days(meta: MetaStore, tenant: Tenant) -> int | None:
    """How many days the reports answered from the hourly rollups may look back: the
    ``aggregatedMetrics`` window within the plan's limit (so never less than the raw window,
    which is within both); None: no limit."""
    return _shorter(of(meta, tenant).aggregated_days, plans.retention_days(tenant))


def update(meta: MetaStore, tenant: Tenant, body: Any) -> Retention:
    """Apply a PATCH body ``{"retention": {"rawEvents": n, "aggregatedMetrics": m}}``;
    ``null`` keeps rows forever, on plans without a retention limit only."""
    if not isinstance(body, dict) or set(body) != {"retention"}:
        raise BadRequest('the body must be {"retention": {...}}', field="retention")
    changes = body["retention"]
    if not isinstance(changes, dict) or not changes:
        raise BadRequest("retention must be a non-empty object", field="retention")
    current = of(meta, tenant).body()
    limit = plans.retention_days(tenant)
    for key, value in changes.items():
        field = f"retention.{key}"
        if key not in _FIELDS:
            raise BadRequest(
                f"{field} cannot be changed; allowed: {', '.join(_FIELDS)}", field=field
            )
        whole_days = isinstance(value, int) and not isinstance(value, bool)
        if not (value is None or (whole_days and 1 <= value <= MAX_DAYS)):
            raise BadRequest(
                f"{field} must be a whole number of days from 1 to {MAX_DAYS}, or null (forever)",
                field=field,
            )
        current[key] = value
    raw, aggregated = current["rawEvents"], current["aggregatedMetrics"]
    if limit is not None and (raw is None or raw > limit):
        raise BadRequest(
            f"retention.rawEvents must be at most {limit} days on the {tenant.plan} plan",
            field="retention.rawEvents",
        )
    if aggregated is not None and (raw is None or aggregated < raw):
        raise BadRequest(
            "retention.aggregatedMetrics must be at least retention.rawEvents",
            field="retention.aggregatedMetrics",
        )
    meta.set_setting(tenant.id, SETTING, {"rawEvents": raw, "aggregatedMetrics": aggregated})
    return of(meta, tenant)


def cutoffs(retention: Retention, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(raw cutoff, rollup cutoff): rows before these instants are past their window;
    None: kept forever."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def before(days: int | None) -> datetime | None:
        return None if days is None else today - timedelta(days=days)

    return before(retention.raw_days), before(retention.aggregated_days)


def enforce(
    store: Store, meta: MetaStore, now: datetime, tenants: Iterable[Tenant] | None = None
) -> dict[int, dict[str, int]]:
    """Delete each tenant's rows past its windows (every tenant unless ``tenants`` names
    some); returns the rows deleted per tenant and table, for tenants that lost any."""
    report: dict[int, dict[str, int]] = {}
    for tenant in meta.tenants() if tenants is None else tenants:
        raw_cutoff, rollup_cutoff = cutoffs(of(meta, tenant), now)
        deleted = {}
        for table in (*RAW_TABLES, *ROLLUP_TABLES):
            cutoff = raw_cutoff if table in RAW_TABLES else rollup_cutoff
            column = "hour" if table in ROLLUP_TABLES else "timestamp"
            if cutoff is not None:
                deleted[table] = _delete_before(store, table, column, tenant.id, cutoff)
        if any(deleted.values()):
            report[tenant.id] = deleted
    return report


def _delete_before(store: Store, table: str, column: str, tenant_id: int, cutoff: datetime) -> int:
    params = {"tenant_id": tenant_id, "cutoff": cutoff.strftime("%Y-%m-%d %H:%M:%S")}
    where = f"tenant_id = {{tenant_id:UInt32}} AND {column} < {{cutoff:DateTime('UTC')}}"
    n = int(store.query(f"SELECT count() AS n FROM {table} WHERE {where}", params)[0][0].as_py())
    if n:
        store.command(f"DELETE FROM {table} WHERE {where}", params)
    return n
