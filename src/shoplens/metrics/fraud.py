"""Flagged events (severity-1 fraud rules) as stored: the review listing, counts by rule,
and the flagged purchases the sales reports show beside the revenue they left out.

Blocked events (severity 2) are never stored; their counts come from the metadata store
(``ingest.fraud_stats``), not from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shoplens.ingest.stages import FLAGGED
from shoplens.meta import Tenant
from shoplens.metrics import sales
from shoplens.metrics.period import Period
from shoplens.metrics.sql import EVENTS, Query, run_rows
from shoplens.store import Store


@dataclass(frozen=True)
class FlaggedPage:
    total: int  # flagged events in the period
    events: list[dict[str, Any]]  # newest first: one page of them


@dataclass(frozen=True)
class FlaggedSales:
    """Flagged purchases of a period: left out of revenue, shown so nothing vanishes."""

    orders: int
    revenue: int  # minor units of the tenant's base currency


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


def flagged_sales(
    store: Store, tenant: Tenant, period: Period, source: sales.Source | None = None
) -> FlaggedSales:
    """How many ``purchase`` events of ``period`` are flagged, and their revenue: what
    :func:`shoplens.metrics.sales.totals` leaves out. Read from the hourly rollup when the
    sales planner (``sales.plan``) says it answers the period exactly, else raw events."""
    source = source or sales.plan(period)
    rollup = source == "rollup"
    q = (
        sales.rows_of(source, tenant, period, flagged=FLAGGED)
        .where("event_type = 'purchase'")
        .select("sum(events)" if rollup else "count()", alias="orders")
        .select("sum(revenue)", alias="sales")
    )
    [row] = run_rows(store, q)
    return FlaggedSales(orders=int(row["orders"]), revenue=int(row["sales"]))
