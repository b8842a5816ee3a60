"""Report routes: funnels and cart abandonment, in the shapes of seeds 000/001, 002 and 003.

- ``GET /analytics/funnel`` (seeds 000, 001): ``{stages: [{name, count, rate, …drop-off}],
  abandonmentRate, conversionRate}`` over seed 000's five stages or custom ``steps``; every
  period style.
- ``GET /analytics/conversion`` (seed 003, no documented fields): the same stages and
  rates, plus snake_case rates and the period (``time_range``, ``start_date``, ``end_date``).
- ``GET /v1/api/analytics/ecommerce/funnel`` (seed 002): ``{steps: [{name, count,
  percentage, …drop-off}], days}`` over seed 002's six steps or custom ``steps``;
  ``/cart-abandonment``: ``{abandonment_rate, abandoned_carts, abandoned_revenue,
  completed_carts, days}``, money as decimals in the base currency.

The funnel routes take ``steps``, ``window`` and ``order``
(:mod:`shoplens.metrics.funnel_steps` parses them).

Secret key only. Routes parse, call :mod:`shoplens.metrics.funnel`, and shape; no SQL here.
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
from shoplens.metrics import funnel as funnels
from shoplens.metrics.funnel_steps import parse_order, parse_steps_text, parse_window, window_text
from shoplens.metrics.period import Period

router = APIRouter(tags=["reports"], responses=KEYED)


def _declare_funnel(
    steps: str | None = Query(
        None,
        description="custom steps: event types separated by commas, each optionally "
        "type:key=value (e.g. view_item,add_to_cart,purchase or page_view:page_path=/pricing)",
    ),
    window: str | None = Query(
        None, description="conversion window: 30m, 24h, 7d… (default: the whole period)"
    ),
    order: str | None = Query(None, description="ordered (default) or strict"),
) -> None:
    """Declares the funnel parameters for /docs; :func:`_run` reads them."""


_FUNNEL_DOCS = Depends(_declare_funnel)


def _run(
    request: Request,
    principal: Principal,
    names: tuple[str, ...],
    default: tuple[funnels.Step, ...],
    carts: bool,
) -> tuple[funnels.Funnel, Period, dict[str, Any]]:
    """The period, the funnel of the request's steps (or ``default``), and its options."""
    period = period_of(request, principal, names)
    query = request.query_params
    steps = parse_steps_text(query.get("steps"), "steps") or default
    span = parse_window(query.get("window"), "window")
    strict = parse_order(query.get("order"), "order")
    result = funnels.funnel(
        state(request).store,
        principal.tenant,
        period,
        steps,
        window=span,
        strict=strict,
        carts=carts,
    )
    options = {"window": window_text(span), "order": "strict" if strict else "ordered"}
    return result, period, options


def _core(request: Request, principal: Principal) -> tuple[funnels.Funnel, dict[str, Any]]:
    result, period, options = _run(request, principal, CORE_PERIOD, funnels.CORE_STEPS, True)
    assert result.carts is not None
    body: dict[str, Any] = {
        "stages": [
            {
                "name": s.name,
                "count": s.count,
                "rate": s.rate,
                "overallRate": s.overall_rate,
                "dropOff": s.drop_off,
                "dropOffRate": s.drop_off_rate,
            }
            for s in result.steps
        ],
        "abandonmentRate": result.carts.abandonment_rate,
        "conversionRate": result.conversion_rate,
        "period": period.label,
        "window": options["window"],
        "order": options["order"],
    }
    extra = {
        "time_range": period.label,
        "start_date": period.first_day.isoformat(),
        "end_date": period.last_day.isoformat(),
    }
    return result, body | extra


@router.get("/analytics/funnel", dependencies=[CORE_PERIOD_DOCS, _FUNNEL_DOCS])
def core_funnel(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 000's funnel (or custom steps): persons reaching each stage in order; rates vs
    the previous and the first stage; the cart abandonment rate."""
    return _core(request, principal)[1]


@router.get("/analytics/conversion", dependencies=[CORE_PERIOD_DOCS, _FUNNEL_DOCS])
def store_conversion(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 003's conversion funnel and abandonment rates (the core funnel, both spellings)."""
    result, body = _core(request, principal)
    return body | {
        "conversion_rate": result.conversion_rate,
        "cart_abandonment_rate": body["abandonmentRate"],
    }


@router.get("/v1/api/analytics/ecommerce/funnel", dependencies=[V1_PERIOD_DOCS, _FUNNEL_DOCS])
def ecommerce_funnel(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 002's funnel (or custom steps): each percentage relative to the previous step."""
    result, period, options = _run(request, principal, V1_PERIOD, funnels.ECOMMERCE_STEPS, False)
    return {
        "steps": [
            {
                "name": s.name,
                "count": s.count,
                "percentage": s.rate,
                "overall_percentage": s.overall_rate,
                "drop_off": s.drop_off,
                "drop_off_rate": s.drop_off_rate,
            }
            for s in result.steps
        ],
        "conversion_rate": result.conversion_rate,
        "window": options["window"],
        "order": options["order"],
        "days": period.days,
    }


@router.get("/v1/api/analytics/ecommerce/cart-abandonment", dependencies=[V1_PERIOD_DOCS])
def ecommerce_cart_abandonment(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
) -> dict[str, Any]:
    """Seed 002's cart abandonment: carts are persons who added to cart in the period (the
    one definition, :mod:`shoplens.metrics.funnel`)."""
    window = period_of(request, principal, V1_PERIOD)
    carts = funnels.cart_abandonment(state(request).store, principal.tenant, window)
    return {
        "abandonment_rate": carts.abandonment_rate,
        "abandoned_carts": carts.abandoned,
        "abandoned_revenue": money(carts.abandoned_revenue, principal.tenant.base_currency),
        "completed_carts": carts.completed,
        "days": window.days,
    }
