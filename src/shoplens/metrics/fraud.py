"""Flagged events (severity-1 fraud rules) as stored: the review listing and counts by rule.

Blocked events (severity 2) are never stored; their counts come from the metadata store
(``ingest.fraud_stats``), not from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shoplens.ingest.stages import FLAGGED
from shoplens.metrics.period import Period
from shoplens.metrics.sql import EVENTS, Query, run_rows
from shoplens.store import Store


@dataclass(frozen=True)
class FlaggedPage:
    total: int  # flagged events in the period
    events: list[dict[str, Any]]  # newest first: one page of them


def _flagged(store_tenant: int, period: Period) -> Query:
    return Query.from_table(EVENTS, store_tenant, period.start, period.end).where(
        "is_flagged = {flagged}", flagged=FLAGGED
    )


def flagged_events(
    store: Store, tenant_id: int, period: Period, *, limit: int, offset: int
) -> FlaggedPage:
    """One page of the period's flagged events, newest first (ties by event id)."""
    base = _flagged(tenant_id, period)
    [count] = run_rows(store, base.select("count()", alias="n"))
    page = (
        base.select("toUnixTimestamp64Milli(timestamp)", alias="ts")
        .select("toString(event_id)", alias="id")
        .select("event_type")
        .select("transaction_id")
        .select("user_id")
        .select("revenue")
        .select("currency")
        .select("original_currency")
        .select("original_revenue")
        .select("fraud_reasons")
        .order_by("ts", "DESC")
        .order_by("id", "DESC")
        .limit(limit, offset)
    )
    return FlaggedPage(int(count["n"]), run_rows(store, page))


def flagged_by_rule(store: Store, tenant_id: int, period: Period) -> tuple[int, dict[str, int]]:
    """(flagged events, flagged events per rule) in the period; an event that broke two
    rules counts once in the total and once under each rule."""
    base = _flagged(tenant_id, period)
    [total] = run_rows(store, base.select("count()", alias="n"))
    by_rule = run_rows(
        store,
        base.select("arrayJoin(fraud_reasons)", alias="rule")
        .select("count()", alias="n")
        .group_by("rule"),
    )
    return int(total["n"]), {str(r["rule"]): int(r["n"]) for r in by_rule}
