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

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from shoplens.api.deps import secret_key, state
from shoplens.api.openapi import KEYED
from shoplens.api.params import V1_PERIOD, V1_PERIOD_DOCS, json_values, parse_limit, period_of
from shoplens.auth import Principal
from shoplens.metrics import breakdowns
from shoplens.metrics.breakdowns import BREAKDOWNS, MAX_LIMIT, Breakdown

router = APIRouter(tags=["reports"], responses=KEYED)

PREFIX = "/v1/api/analytics/ecommerce"


@router.get(
    f"{PREFIX}/top-products",
    summary="Best-selling products by revenue (seed 002)",
    dependencies=[V1_PERIOD_DOCS],
)
def top_products(
    request: Request,
    principal: Principal = Depends(secret_key),
    limit: str | None = Query(None, description="1..100, default 20"),
) -> JSONResponse:
    limit_n = parse_limit(limit, breakdowns.DEFAULT_LIMIT, MAX_LIMIT)
    period = period_of(request, principal, V1_PERIOD)
    rows = breakdowns.top_products(state(request).store, principal.tenant, period, limit_n)
    return JSONResponse(json_values({"products": rows, "days": period.days}))


def _breakdown_route(breakdown: Breakdown) -> Callable[..., JSONResponse]:
    def route(
        request: Request,
        principal: Principal = Depends(secret_key),
        limit: str | None = Query(None, description="1..100, default 100"),
    ) -> JSONResponse:
        limit_n = parse_limit(limit, MAX_LIMIT, MAX_LIMIT)
        period = period_of(request, principal, V1_PERIOD)
        rows = breakdowns.run_breakdown(
            state(request).store, principal.tenant, period, breakdown, limit_n
        )
        return JSONResponse(json_values({breakdown.key: rows, "days": period.days}))

    route.__name__ = breakdown.path.replace("-", "_")
    return route


for _breakdown in BREAKDOWNS.values():
    router.add_api_route(
        f"{PREFIX}/{_breakdown.path}",
        _breakdown_route(_breakdown),
        methods=["GET"],
        summary=f"Revenue breakdown: {_breakdown.key} (seed 002)",
        dependencies=[V1_PERIOD_DOCS],
    )
