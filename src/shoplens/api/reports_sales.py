"""Report routes: sales, in the core analytics / store reports and ecommerce v1 shapes.

- ``GET /analytics/sales`` (seeds 000, 001 and 003 share the path): one route takes every
  period style and answers the union of their fields; money in integer minor units;
  ``series``/``daily`` newest first, as both seeds show; ``currency`` filters the orders
  placed in that currency (seed 001), amounts staying in the base currency.
- ``GET /v1/api/analytics/ecommerce/overview`` and ``/revenue-timeseries`` (seed 002):
  ``days``/``start``/``end``; money as decimals in the base currency; the series oldest
  first, as seed 002 shows.

Sales figures come from the hourly rollups where they answer them, so these routes look
back over the aggregated retention window (within the plan), not only the raw-event one;
a ``currency`` filter and the v1 overview's cart rates need raw events (docs/metrics.md).

Both overviews show ``flagged_orders``/``flagged_revenue`` beside the revenue: the purchases
fraud rules flagged and left out of it (``metrics.fraud.flagged_sales``), so a flag is never
a silent hole in the figures.

Secret key only. Routes parse, call :mod:`shoplens.metrics.sales`, and shape; no SQL here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.openapi import KEYED
from shoplens.api.params import (
    CORE_PERIOD,
    CORE_PERIOD_DOCS,
    V1_PERIOD,
    V1_PERIOD_DOCS,
    money,
    period_of,
)
from shoplens.auth import Principal
from shoplens.ingest.money import currency_code
from shoplens.metrics import fraud, sales
from shoplens.metrics.parallel import gather

router = APIRouter(tags=["reports"], responses=KEYED)


@router.get("/analytics/sales", dependencies=[CORE_PERIOD_DOCS])
def sales_overview(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    granularity: str | None = Query(None, description="hour, day (default), week, month"),
    currency: str | None = Query(
        None, description="only orders placed in this ISO 4217 currency; amounts stay in base"
    ),
) -> dict[str, Any]:
    """Sales overview: money in integer minor units of the tenant's base currency."""
    tenant = principal.tenant
    placed_in = currency_code(currency)
    names = (*CORE_PERIOD, "granularity")
    # A currency filter reads raw events (the rollups keep no currency): raw window only.
    window = period_of(
        request, principal, names, from_rollups=placed_in is None, default_granularity="day"
    )
    store = state(request).store
    report, flagged = gather(
        lambda: sales.sales_report(store, tenant, window, placed_in),
        lambda: fraud.flagged_sales(store, tenant, window),
    )
    totals, growth = report.totals, report.growth
    newest_first = reversed(report.series)
    points = [{"date": p.date, "revenue": p.revenue, "orders": p.orders} for p in newest_first]
    return {
        "period": window.label,
        "revenue": totals.revenue,
        "orders": totals.orders,
        "averageOrderValue": totals.aov,
        "currency": tenant.base_currency,
        "growth": {"revenue": growth.revenue, "orders": growth.orders},
        "granularity": window.granularity,
        "series": points,
        "daily": points,
        "time_range": window.label,
        "start_date": window.first_day.isoformat(),
        "end_date": window.last_day.isoformat(),
        "total_revenue": totals.revenue,
        "total_orders": totals.orders,
        "average_order_value": totals.aov,
        "items_sold": totals.items_sold,
        "flagged_orders": flagged.orders,
        "flagged_revenue": flagged.revenue,
    }


@router.get("/v1/api/analytics/ecommerce/overview", dependencies=[V1_PERIOD_DOCS])
def ecommerce_overview(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 002's overview: money as decimals in the tenant's base currency."""
    tenant, store = principal.tenant, state(request).store
    window = period_of(request, principal, V1_PERIOD, from_rollups=True)
    (totals, rates), flagged = gather(
        lambda: sales.totals_and_rates(store, tenant, window),
        lambda: fraud.flagged_sales(store, tenant, window),
    )
    cur = tenant.base_currency
    return {
        "total_revenue": money(totals.revenue, cur),
        "net_revenue": money(totals.net_revenue, cur),
        "total_orders": totals.orders,
        "total_refunds": totals.refunds,
        "refund_amount": money(totals.refund_amount, cur),
        "flagged_orders": flagged.orders,
        "flagged_revenue": money(flagged.revenue, cur),
        "avg_order_value": money(totals.aov, cur),
        "total_items_sold": totals.items_sold,
        "cart_abandonment_rate": rates.cart_abandonment_rate,
        "add_to_cart_rate": rates.add_to_cart_rate,
        "days": window.days,
    }


@router.get("/v1/api/analytics/ecommerce/revenue-timeseries", dependencies=[V1_PERIOD_DOCS])
def ecommerce_revenue_timeseries(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 002's daily revenue: one point per local day, zero-filled, oldest first."""
    tenant = principal.tenant
    window = period_of(request, principal, V1_PERIOD, from_rollups=True, default_granularity="day")
    cur = tenant.base_currency
    points = sales.series(state(request).store, tenant, window)
    return {
        "series": [
            {"date": p.date, "revenue": money(p.revenue, cur), "orders": p.orders} for p in points
        ],
        "days": window.days,
    }
