"""The custom query (seed 001): ``POST /analytics/query`` and its catalog.

Thin: read the bounded body, let :mod:`shoplens.metrics.query` validate and answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from shoplens import retention
from shoplens.api.deps import read_json, state
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.openapi import KEYED, QUERY_BODY, errors, json_body
from shoplens.auth import Principal
from shoplens.metrics import query

router = APIRouter(tags=["custom query"], responses=KEYED)


@router.post(
    "/analytics/query",
    openapi_extra=json_body(QUERY_BODY),
    responses=errors(413),
    summary="Custom metric query: metrics x dimensions, filters, comparison, pagination",
)
async def custom_query(
    request: Request, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    body = await read_json(request)
    app_state = state(request)
    window = retention.raw_days(app_state.meta, principal.tenant)
    spec = query.parse(body, principal.tenant, datetime.now(UTC), retention_days=window)
    return query.run(app_state.store, principal.tenant, spec)


@router.get("/analytics/query/catalog", summary="Every metric, dimension and operator, described")
async def query_catalog(_: Principal = Depends(secret_key_dep)) -> dict[str, Any]:
    return query.catalog()
