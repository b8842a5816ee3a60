"""Core routes: API information, real-time stats and customer analytics.

- ``GET /`` (seed 003): name, version, docs links and every API route of the app, read from
  ``request.app.routes`` (never hand-maintained). Public: no key.
- ``GET /analytics/realtime`` (seeds 001, 003) and ``GET /analytics/customers`` (seeds 000,
  001, 003 share the paths): one route each takes every period style and answers the union
  of the seeds' fields, camelCase as documented plus snake_case equivalents; money in integer
  minor units of the base currency. Secret key only.

Routes parse, call :mod:`shoplens.metrics.overview`, and shape; no SQL here.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shoplens import __version__
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.openapi import KEYED
from shoplens.api.params import CORE_PERIOD, CORE_PERIOD_DOCS, period_of
from shoplens.auth import Principal
from shoplens.errors import BadRequest
from shoplens.metrics import overview

router = APIRouter(tags=["reports"])


@router.get("/", summary="API information and endpoint list (public)")
def api_info(request: Request) -> dict[str, Any]:
    """The service name, version, docs links and every API route (method, path, summary)."""
    endpoints = []
    # TRICKY: FastAPI 0.165 wraps included routers in a private route type, so
    # ``app.routes`` is not a flat list of APIRoutes; the OpenAPI schema is the public,
    # flattened view (prefixes applied). Routes hidden from the schema are not listed.
    for path, operations in request.app.openapi().get("paths", {}).items():
        for method, op in operations.items():
            summary = _first_line(op.get("description")) or op.get("summary", "")
            endpoints.append({"method": method.upper(), "path": path, "summary": summary})
    endpoints.sort(key=lambda e: (e["path"], e["method"]))
    return {
        "name": "shoplens",
        "version": getattr(request.app, "version", None) or __version__,
        "docs": "/docs",
        "redoc": "/redoc",
        "endpoints": endpoints,
    }


def _first_line(text: str | None) -> str:
    return inspect.cleandoc(text).split("\n", 1)[0].strip() if text else ""


def _minutes(value: str | None) -> int:
    """``minutes`` as a whole number from 1 to 60 (absent or empty: 5)."""
    if value is None or not value.strip():
        return overview.ACTIVE_MINUTES
    value, top = value.strip(), overview.MAX_ACTIVE_MINUTES
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= top:
        raise BadRequest(f"minutes must be a whole number from 1 to {top}", field="minutes")
    return int(value)


@router.get("/analytics/realtime", responses=KEYED)
def realtime(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    minutes: str | None = Query(None, description="active-visitor window, 1..60 (default 5)"),
) -> dict[str, Any]:
    """Active visitors (last N minutes), today's orders and revenue, top pages (30 min)."""
    tenant = principal.tenant
    stats = overview.realtime(state(request).store, tenant, datetime.now(UTC), _minutes(minutes))
    pages = [{"page": p.page, "visitors": p.visitors} for p in stats.top_pages]
    return {
        "activeVisitors": stats.active_visitors,
        "ordersToday": stats.orders_today,
        "revenueToday": stats.revenue_today,
        "topPages": pages,
        "currency": tenant.base_currency,
        "timezone": tenant.timezone,
        "date": stats.today.isoformat(),
        "minutes": stats.minutes,
        "active_users": stats.active_visitors,
        "active_visitors": stats.active_visitors,
        "recent_orders": stats.recent_orders,
        "orders_today": stats.orders_today,
        "revenue_today": stats.revenue_today,
        "top_pages": pages,
    }


@router.get("/analytics/customers", dependencies=[CORE_PERIOD_DOCS], responses=KEYED)
def customers(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Customers of the period (total, new, returning), average LTV and monthly cohorts."""
    tenant = principal.tenant
    window = period_of(request, principal, CORE_PERIOD)
    report = overview.customer_summary(state(request).store, tenant, window)
    cohorts = [
        {
            "month": c.month.strftime("%Y-%m"),
            "acquired": c.acquired,
            "retained": {f"month{k}": n for k, n in enumerate(c.retained, start=1)},
        }
        for c in report.cohorts
    ]
    return {
        "period": window.label,
        "totalCustomers": report.total_customers,
        "newCustomers": report.new_customers,
        "returningCustomers": report.returning_customers,
        "averageLTV": report.average_ltv,
        "currency": tenant.base_currency,
        "cohorts": cohorts,
        "time_range": window.label,
        "start_date": window.first_day.isoformat(),
        "end_date": window.last_day.isoformat(),
        "total_customers": report.total_customers,
        "new_customers": report.new_customers,
        "returning_customers": report.returning_customers,
        "average_ltv": report.average_ltv,
        "retention_rate": report.retention_rate,
    }
