"""The custom query (seed 001): ``POST /analytics/query`` and its catalog.

Thin: read the bounded body, let :mod:`shoplens.metrics.query` validate and answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Request

from shoplens.api.deps import read_body, state
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.auth import Principal
from shoplens.errors import BadRequest
from shoplens.metrics import query

router = APIRouter(tags=["custom query"])

_BODY = {"requestBody": {"required": True, "content": {"application/json": {}}}}


@router.post(
    "/analytics/query",
    openapi_extra=_BODY,
    summary="Custom metric query: metrics x dimensions, filters, comparison, pagination",
)
async def custom_query(
    request: Request, principal: Principal = Depends(secret_key_dep)
) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(await read_body(request))
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from None
    spec = query.parse(body, principal.tenant, datetime.now(UTC))
    return query.run(state(request).store, principal.tenant, spec)


@router.get("/analytics/query/catalog", summary="Every metric, dimension and operator, described")
async def query_catalog(_: Principal = Depends(secret_key_dep)) -> dict[str, Any]:
    return query.catalog()
