"""Report routes: store reports (seed 003).

``/analytics/products/top``, ``/analytics/products/{product_id}``, ``/analytics/categories``,
``/analytics/revenue/trend``, ``/analytics/revenue/by-channel`` and ``/analytics/geographic``.
Every route takes the core period styles (``time_range=today|week|month|quarter|year|custom``
with ``start_date``/``end_date``, and ``period``/``days``/``start``/``end``; default: the
last 30 days) and echoes ``time_range`` (the label asked for), ``start_date``, ``end_date``
(inclusive local dates) and ``currency``. Money is integer minor units of the tenant's base
currency, and ``series`` lists buckets newest first, like ``/analytics/sales`` (seeds 000,
001 show it so). The revenue trend reads the hourly rollups past the raw-event window, so
it looks back over the aggregated retention window, as ``/analytics/sales`` does.
Definitions: :mod:`shoplens.metrics.store_reports`.

Secret key only. Routes parse, call the metrics module, and shape; no SQL here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.openapi import KEYED, errors
from shoplens.api.params import CORE_PERIOD, CORE_PERIOD_DOCS, parse_limit, period_of
from shoplens.auth import Principal
from shoplens.errors import BadRequest
from shoplens.meta import Tenant
from shoplens.metrics import store_reports
from shoplens.metrics.period import Period
from shoplens.metrics.sales import aov
from shoplens.metrics.store_reports import SORT_BY, ProductStats
from shoplens.store import Store

router = APIRouter(tags=["reports"], responses=KEYED)

TOP_DEFAULT_LIMIT = 10
LIST_DEFAULT_LIMIT = 20
MAX_LIMIT = 100

_TIME_RANGE = "today|week|month|quarter|year|custom (default: last 30 days)"
_DATE = "YYYY-MM-DD, with time_range=custom"
_LIMIT = "rows to return, 1..100"


def _echo(window: Period, currency: str) -> dict[str, Any]:
    return {
        "time_range": window.label,
        "start_date": window.first_day.isoformat(),
        "end_date": window.last_day.isoformat(),
        "currency": currency,
    }


def _product(p: ProductStats) -> dict[str, Any]:
    return {
        "product_id": p.item_id,
        "product_name": p.item_name,
        "revenue": p.revenue,
        "units": p.units,
        "orders": p.orders,
        "views": p.views,
        "conversion_rate": p.conversion_rate,
    }


@router.get("/analytics/products/top", dependencies=[CORE_PERIOD_DOCS])
def products_top(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    sort_by: str | None = Query(None, description="revenue (default), units, orders or views"),
    limit: str | None = Query(None, description=f"{_LIMIT}, default {TOP_DEFAULT_LIMIT}"),
) -> dict[str, Any]:
    """Top products by ``sort_by``: revenue, units, orders, views and conversion rate."""
    tenant = principal.tenant
    window = period_of(request, principal, CORE_PERIOD)
    sort = (sort_by or "").strip().lower() or "revenue"
    if sort not in SORT_BY:
        raise BadRequest(f"sort_by must be one of {', '.join(SORT_BY)}", field="sort_by")
    count = parse_limit(limit, TOP_DEFAULT_LIMIT, MAX_LIMIT)
    rows = store_reports.top_products(state(request).store, tenant, window, sort, count)
    return {
        **_echo(window, tenant.base_currency),
        "sort_by": sort,
        "limit": count,
        "products": [_product(p) for p in rows],
    }


# 404: an id the path converter cannot match (a newline in it) is an unknown path.
@router.get(
    "/analytics/products/{product_id:path}",
    dependencies=[CORE_PERIOD_DOCS],
    responses=errors(404),
)
def product_detail(
    product_id: str,
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """One product's totals and daily series; a product with no activity is all zeros."""
    tenant, store = principal.tenant, state(request).store
    window = period_of(request, principal, CORE_PERIOD, default_granularity="day")
    stats, points = store_reports.product_detail(store, tenant, window, product_id)
    return {
        **_echo(window, tenant.base_currency),
        **_product(stats),
        "granularity": "day",
        "series": [
            {"date": p.date, "revenue": p.revenue, "units": p.units, "views": p.views}
            for p in reversed(points)
        ],
    }


def _shares(
    request: Request,
    principal: Principal,
    limit: str | None,
    report: Callable[[Store, Tenant, Period, int], tuple[list[dict[str, Any]], int]],
    key: str,
) -> dict[str, Any]:
    """A list report with each row's share of the period's revenue (channels, countries):
    the period, the limit, then ``{total_revenue, <key>: rows}``."""
    tenant = principal.tenant
    window = period_of(request, principal, CORE_PERIOD)
    count = parse_limit(limit, LIST_DEFAULT_LIMIT, MAX_LIMIT)
    rows, total = report(state(request).store, tenant, window, count)
    return {**_echo(window, tenant.base_currency), "total_revenue": total, key: rows}


@router.get("/analytics/categories", dependencies=[CORE_PERIOD_DOCS])
def categories(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    limit: str | None = Query(None, description=f"{_LIMIT}, default {LIST_DEFAULT_LIMIT}"),
) -> dict[str, Any]:
    """Item revenue, units, orders and share of item revenue per product category, with the
    period's order revenue (``total_revenue``) and item revenue (``total_item_revenue``)."""
    tenant = principal.tenant
    window = period_of(request, principal, CORE_PERIOD)
    count = parse_limit(limit, LIST_DEFAULT_LIMIT, MAX_LIMIT)
    report = store_reports.categories(state(request).store, tenant, window, count)
    return {
        **_echo(window, tenant.base_currency),
        "total_revenue": report.order_revenue,
        "total_item_revenue": report.item_revenue,
        "categories": report.rows,
    }


@router.get("/analytics/revenue/trend", dependencies=[CORE_PERIOD_DOCS])
def revenue_trend(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    granularity: str | None = Query(None, description="hour, day (default), week, month"),
) -> dict[str, Any]:
    """Revenue, orders and average order value per bucket, zero-filled, newest first."""
    tenant = principal.tenant
    names = (*CORE_PERIOD, "granularity")
    window = period_of(request, principal, names, from_rollups=True, default_granularity="day")
    points = store_reports.revenue_trend(state(request).store, tenant, window)
    revenue = sum(p.revenue for p in points)
    orders = sum(p.orders for p in points)
    return {
        **_echo(window, tenant.base_currency),
        "granularity": window.granularity,
        "total_revenue": revenue,
        "total_orders": orders,
        "average_order_value": aov(revenue, orders),
        "series": [
            {"date": p.date, "revenue": p.revenue, "orders": p.orders, "aov": p.aov}
            for p in reversed(points)
        ],
    }


@router.get("/analytics/revenue/by-channel", dependencies=[CORE_PERIOD_DOCS])
def revenue_by_channel(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    limit: str | None = Query(None, description=f"{_LIMIT}, default {LIST_DEFAULT_LIMIT}"),
) -> dict[str, Any]:
    """Revenue per UTM campaign/source/medium; untagged purchases are not a channel."""
    return _shares(request, principal, limit, store_reports.channels, "channels")


@router.get("/analytics/geographic", dependencies=[CORE_PERIOD_DOCS])
def geographic(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    limit: str | None = Query(None, description=f"{_LIMIT}, default {LIST_DEFAULT_LIMIT}"),
) -> dict[str, Any]:
    """Revenue, orders and share of revenue per country (empty country: "unknown")."""
    return _shares(request, principal, limit, store_reports.countries, "countries")
