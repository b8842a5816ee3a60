"""Seed 002's attribution report: ``GET /v1/api/analytics/ecommerce/attribution``.

Secret key only. Takes the v1 period (``days``, default 30, or ``start``+``end``: the
purchases credited), ``model`` (:data:`shoplens.metrics.attribution.MODELS`, default
``last_click``) and ``window`` (days before each purchase: 7, 14, 30, 60 or 90, default
30), and answers ``{attributed, unattributed, model, window_days, days}`` with money as
decimals in the base currency. The definitions are in :mod:`shoplens.metrics.attribution`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from shoplens.api.deps import secret_key, state
from shoplens.api.openapi import KEYED
from shoplens.api.params import V1_PERIOD, V1_PERIOD_DOCS, json_values, period_of
from shoplens.auth import Principal
from shoplens.metrics import attribution

router = APIRouter(tags=["reports"], responses=KEYED)

PATH = "/v1/api/analytics/ecommerce/attribution"


@router.get(
    PATH, summary="Revenue attribution by campaign (seed 002)", dependencies=[V1_PERIOD_DOCS]
)
def attribution_report(
    request: Request,
    principal: Principal = Depends(secret_key),
    model: str | None = Query(None, description=", ".join(attribution.MODELS)),
    window: str | None = Query(None, description="days: 7, 14, 30, 60 or 90 (default 30)"),
) -> JSONResponse:
    chosen = attribution.parse_model(model)
    window_days = attribution.parse_window(window)
    period = period_of(request, principal, V1_PERIOD)
    body = attribution.attribution(
        state(request).store, principal.tenant, period, chosen, window_days
    )
    return JSONResponse(json_values({**body, "days": period.days}))
