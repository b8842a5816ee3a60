"""Seed 002's breakdown reports: ``GET /v1/api/analytics/ecommerce/<breakdown>``.

``top-products`` plus one route per entry of :data:`shoplens.metrics.breakdowns.BREAKDOWNS`
(generated, so a new registry entry is a new route). Secret key only. Each takes the
period (``days``, default 30, or ``start``+``end``, read by ``parse_period`` in the
tenant's time zone) and ``limit`` (1..100; default 20 for top-products, 100 for the
others), and answers ``{<key>: [...], "days": N}`` with money as decimals in the base
currency.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from shoplens.api.deps import secret_key, state
from shoplens.auth import Principal
from shoplens.errors import BadRequest
from shoplens.metrics import breakdowns
from shoplens.metrics.breakdowns import BREAKDOWNS, MAX_LIMIT, Breakdown
from shoplens.metrics.period import Period, parse_period

router = APIRouter(tags=["reports"])

PREFIX = "/v1/api/analytics/ecommerce"


def parse_limit(value: str | None, default: int) -> int:
    """``limit`` as a whole number from 1 to 100 (absent or empty: ``default``)."""
    if value is None or not value.strip():
        return default
    value = value.strip()
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return int(value)


def _period(request: Request, principal: Principal) -> Period:
    return parse_period(
        request.query_params, timezone=principal.tenant.timezone, now=datetime.now(UTC)
    )


def _json(value: Any) -> Any:
    """Decimals as JSON numbers: ints when the currency has no minor unit (JPY), else floats
    (the Decimal is already rounded, so the float's shortest repr is that decimal)."""
    if isinstance(value, Decimal):
        return int(value) if value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


@router.get(f"{PREFIX}/top-products", summary="Best-selling products by revenue (seed 002)")
def top_products(request: Request, principal: Principal = Depends(secret_key)) -> JSONResponse:
    limit = parse_limit(request.query_params.get("limit"), breakdowns.DEFAULT_LIMIT)
    period = _period(request, principal)
    rows = breakdowns.top_products(state(request).store, principal.tenant, period, limit)
    return JSONResponse(_json({"products": rows, "days": period.days}))


def _breakdown_route(breakdown: Breakdown) -> Callable[..., JSONResponse]:
    def route(request: Request, principal: Principal = Depends(secret_key)) -> JSONResponse:
        limit = parse_limit(request.query_params.get("limit"), MAX_LIMIT)
        period = _period(request, principal)
        rows = breakdowns.run_breakdown(
            state(request).store, principal.tenant, period, breakdown, limit
        )
        return JSONResponse(_json({breakdown.key: rows, "days": period.days}))

    route.__name__ = breakdown.path.replace("-", "_")
    return route


for _breakdown in BREAKDOWNS.values():
    router.add_api_route(
        f"{PREFIX}/{_breakdown.path}",
        _breakdown_route(_breakdown),
        methods=["GET"],
        summary=f"Revenue breakdown: {_breakdown.key} (seed 002)",
    )
