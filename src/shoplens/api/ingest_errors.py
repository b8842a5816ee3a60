"""``GET /v1/ingest/errors``: the messages batch routes rejected while accepting the rest.

Secret key; the caller's own tenant only. Reads the in-memory, per-process
``ingest.rejections`` log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from shoplens.api.deps import secret_key, state
from shoplens.api.openapi import KEYED
from shoplens.api.params import iso_ms, parse_limit
from shoplens.auth import Principal
from shoplens.ingest.rejections import Rejection

router = APIRouter(tags=["ingest"], responses=KEYED)


def _shaped(rejection: Rejection) -> dict[str, Any]:
    item = rejection.rejected
    return {
        "received_at": iso_ms(rejection.received_at),
        "source": rejection.source,
        "index": item.index,
        "messageId": item.message_id or None,
        "field": item.field,
        "rule": item.rule,
    }


@router.get("/v1/ingest/errors", summary="Recently rejected batch messages and their counts")
def ingest_errors(
    request: Request,
    principal: Principal = Depends(secret_key),
    limit: str | None = Query(None, description="rejections to list, newest first, 1..100"),
) -> dict[str, Any]:
    log = state(request).rejections
    size = parse_limit(limit, log.per_tenant, log.per_tenant)
    entry = log.of(principal.tenant.id)
    recent = list(entry.recent)[::-1][:size] if entry else []
    return {
        "rejected": entry.total if entry else 0,
        "by_field": dict(entry.by_field.most_common()) if entry else {},
        "errors": [_shaped(r) for r in recent],
    }
