"""The raw-SQL phase: the benchmark process opens the store itself and times each route's
baseline query (``routes.Route.raw_sql``) on the same engine the server uses.

TRICKY: chDB serves one data path per process and the server takes the data dir's lock, so
this phase runs before the server starts, and closes the store (releasing chDB's lock on
the path) before ``shoplens serve`` opens it in its own process.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shoplens.config import Settings
from shoplens.metrics.period import local_midnight, parse_period
from shoplens.store.base import open_store

from .routes import Route

#: the time parameters, bound as UTC ``DateTime64(3)``
TIME_PARAMS = ("start", "end", "prev_start", "today", "week", "now")


@dataclass
class Context:
    """What every query binds, and what the data holds."""

    params: dict[str, Any]
    events: int = 0
    items: int = 0
    period: dict[str, str] = field(default_factory=dict)
    #: ``SELECT 1`` round trips: chDB's fixed cost per query, the floor under every baseline
    floor_ms: list[float] = field(default_factory=list)


@dataclass
class RawResult:
    route: str
    sql: str
    rows: int
    times_ms: list[float]


def typed(sql: str) -> str:
    """``{start}`` → ``{start:DateTime64(3, 'UTC')}`` for the time parameters."""
    names = "|".join(TIME_PARAMS)
    return re.sub(r"\{(" + names + r")\}", r"{\1:DateTime64(3, 'UTC')}", sql)


def context(store: Any, tenant_id: int, timezone: str) -> Context:
    """The default period (30 local days ending today, as the routes compute it), counts,
    and the product and user the per-item and per-user routes ask about: the best-selling
    item of the period and the user with the most events (the journey route's worst case
    up to its 1000-event limit)."""
    now = datetime.now(UTC)
    period = parse_period({}, timezone=timezone, now=now)
    today = local_midnight(period.last_day, period.tz)
    params: dict[str, Any] = {
        "t": tenant_id,
        "tz": timezone,
        "start": period.start,
        "end": period.end,
        "prev_start": period.previous().start,
        "today": today.astimezone(UTC),
        "week": local_midnight(period.last_day - timedelta(days=6), period.tz).astimezone(UTC),
        "now": now,
    }
    t = {"t": tenant_id}
    events = store.query("SELECT count() FROM events WHERE tenant_id = {t:UInt32}", t)
    items = store.query("SELECT count() FROM event_items WHERE tenant_id = {t:UInt32}", t)
    top = store.query(
        typed(
            "SELECT item_id FROM event_items WHERE tenant_id = {t:UInt32} AND event_type = "
            "'purchase' AND timestamp >= {start} AND timestamp < {end} GROUP BY item_id "
            "ORDER BY sum(price * quantity) DESC LIMIT 1"
        ),
        params,
    )
    user = store.query(
        "SELECT user_id FROM events WHERE tenant_id = {t:UInt32} AND user_id != '' "
        "GROUP BY user_id ORDER BY count() DESC, user_id LIMIT 1",
        t,
    )
    params["product"] = top.column(0)[0].as_py() if top.num_rows else "none"
    params["user"] = user.column(0)[0].as_py() if user.num_rows else "none"
    return Context(
        params=params,
        events=events.column(0)[0].as_py(),
        items=items.column(0)[0].as_py(),
        period={"first_day": str(period.first_day), "last_day": str(period.last_day)},
    )


def run_raw(
    settings: Settings,
    tenant_id: int,
    timezone: str,
    routes: list[Route],
    *,
    warmup: int,
    requests: int,
    on_route: Callable[[str], None] = lambda _: None,
) -> tuple[Context, list[RawResult]]:
    """Open the store, time every route's baseline ``requests`` times after ``warmup``
    unmeasured runs, close the store."""
    store = open_store(settings.resolved_store_url)
    try:
        ctx = context(store, tenant_id, timezone)
        for i in range(warmup + requests):
            began = time.perf_counter()
            store.query("SELECT 1")
            if i >= warmup:
                ctx.floor_ms.append((time.perf_counter() - began) * 1000)
        results = []
        for route in routes:
            on_route(route.name)
            sql = typed(route.raw_sql)
            rows = 0
            for _ in range(warmup):
                rows = store.query(sql, ctx.params).num_rows
            times = []
            for _ in range(requests):
                began = time.perf_counter()
                store.query(sql, ctx.params)
                times.append((time.perf_counter() - began) * 1000)
            results.append(RawResult(route.name, sql, rows, times))
        return ctx, results
    finally:
        store.close()
