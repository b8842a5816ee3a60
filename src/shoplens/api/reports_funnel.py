"""Report routes: funnels and cart abandonment, in the shapes of seeds 000/001, 002 and 003.

- ``GET /analytics/funnel`` (seeds 000, 001): ``{stages: [{name, count, rate}],
  abandonmentRate, conversionRate}`` over seed 000's five stages; every period style.
- ``GET /analytics/conversion`` (seed 003, no documented fields): the same stages and
  rates, plus snake_case rates and the period (``time_range``, ``start_date``, ``end_date``).
- ``GET /v1/api/analytics/ecommerce/funnel`` (seed 002): ``{steps: [{name, count,
  percentage}], days}``; ``/cart-abandonment``: ``{abandonment_rate, abandoned_carts,
  abandoned_revenue, completed_carts, days}``, money as decimals in the base currency.

Secret key only. Routes parse, call :mod:`shoplens.metrics.funnel`, and shape; no SQL here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.params import (
    CORE_PERIOD,
    CORE_PERIOD_DOCS,
    V1_PERIOD,
    V1_PERIOD_DOCS,
    money,
    period_of,
)
from shoplens.auth import Principal
from shoplens.metrics import funnel as funnels

router = APIRouter(tags=["reports"])


def _core(request: Request, principal: Principal) -> tuple[funnels.Funnel, dict[str, Any]]:
    window = period_of(request, principal, CORE_PERIOD)
    result = funnels.funnel(state(request).store, principal.tenant, window, funnels.CORE_STEPS)
    body: dict[str, Any] = {
        "stages": [{"name": s.name, "count": s.count, "rate": s.rate} for s in result.steps],
        "abandonmentRate": result.abandonment_rate,
        "conversionRate": result.conversion_rate,
        "period": window.label,
    }
    extra = {
        "time_range": window.label,
        "start_date": window.first_day.isoformat(),
        "end_date": window.last_day.isoformat(),
    }
    return result, body | extra


@router.get("/analytics/funnel", dependencies=[CORE_PERIOD_DOCS])
def core_funnel(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 000's funnel: visitors reaching each stage in order; rates vs the previous stage."""
    return _core(request, principal)[1]


@router.get("/analytics/conversion", dependencies=[CORE_PERIOD_DOCS])
def store_conversion(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 003's conversion funnel and abandonment rates (the core funnel, both spellings)."""
    result, body = _core(request, principal)
    return body | {
        "conversion_rate": result.conversion_rate,
        "cart_abandonment_rate": result.abandonment_rate,
    }


@router.get("/v1/api/analytics/ecommerce/funnel", dependencies=[V1_PERIOD_DOCS])
def ecommerce_funnel(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 002's funnel: six steps, each percentage relative to the previous step."""
    window = period_of(request, principal, V1_PERIOD)
    store = state(request).store
    result = funnels.funnel(store, principal.tenant, window, funnels.ECOMMERCE_STEPS)
    return {
        "steps": [{"name": s.name, "count": s.count, "percentage": s.rate} for s in result.steps],
        "days": window.days,
    }


@router.get("/v1/api/analytics/ecommerce/cart-abandonment", dependencies=[V1_PERIOD_DOCS])
def ecommerce_cart_abandonment(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 002's cart abandonment: carts are visitors who added to cart in the period."""
    window = period_of(request, principal, V1_PERIOD)
    carts = funnels.cart_abandonment(state(request).store, principal.tenant, window)
    return {
        "abandonment_rate": carts.abandonment_rate,
        "abandoned_carts": carts.abandoned,
        "abandoned_revenue": money(carts.abandoned_revenue, principal.tenant.base_currency),
        "completed_carts": carts.completed,
        "days": window.days,
    }
