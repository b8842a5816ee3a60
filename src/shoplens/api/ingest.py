"""Ingest routes of seeds 000/001 (core), 002 (ecommerce v1) and 004 (landing pages).

Thin: read the bounded body, turn it into canonical events (``ingest.handlers``), submit
them to the pipeline, and answer in each surface's own shape once they are durable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from shoplens import plans
from shoplens.api.deps import any_key, ingest_context, read_body, state
from shoplens.api.openapi import INGEST, PUBLIC_INGEST, json_body
from shoplens.auth import Principal
from shoplens.errors import BadRequest
from shoplens.ingest import handlers
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event
from shoplens.ingest.formats import core, decode, ecommerce, landing

router = APIRouter(tags=["ingest"])


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _core_receipt(event: Event, client_id: str | None = None) -> dict[str, Any]:
    """Seed 001's receipt; ``id`` echoes the client's own ``id`` when it sent one."""
    return {
        "id": client_id or f"evt_{event.event_id.replace('-', '')}",
        "event": event.event_name,
        "timestamp": _iso(event.timestamp),
    }


def _keeping_client_ids(client_ids: list[str | None]) -> handlers.ToEvent:
    """``core.to_event`` that also records each converted event's client ``id``, in order."""

    def to_event(raw: core.CoreEventIn, ctx: IngestContext) -> Event:
        event = core.to_event(raw, ctx)
        client_ids.append(core.client_id(raw, ctx))
        return event

    return to_event


@router.post(
    "/analytics/event",
    status_code=201,
    openapi_extra=json_body(core.CoreEventIn),
    responses=INGEST,
    summary="Track one event (seeds 000/001; amounts in minor units)",
)
async def track_event(request: Request, principal: Principal = Depends(any_key)) -> JSONResponse:
    body = await read_body(request)
    ctx = ingest_context(request, principal.tenant)
    client_ids: list[str | None] = []
    event = handlers.one(body, core.CoreEventIn, _keeping_client_ids(client_ids), ctx)
    await state(request).pipeline.submit([event])  # a resent id: answered the same
    return JSONResponse(_core_receipt(event, client_ids[0]), status_code=201)


@router.post(
    "/analytics/event/batch",
    status_code=201,
    openapi_extra=json_body(core.CoreBatchIn),
    responses=INGEST,
    summary="Track several events; invalid ones are skipped and reported",
)
async def track_event_batch(
    request: Request, principal: Principal = Depends(any_key)
) -> JSONResponse:
    body = await read_body(request)
    ctx = ingest_context(request, principal.tenant)
    raws, ctx = handlers.read_batch(
        body,
        core.CoreBatchIn,
        ctx,
        max_events=None,
        empty="events array is required and must not be empty",
        too_many="",
    )
    client_ids: list[str | None] = []
    outcome = handlers.many(raws, core.CoreEventIn, _keeping_client_ids(client_ids), ctx)
    if outcome.events:
        await state(request).pipeline.submit(outcome.events)
    content: dict[str, Any] = {
        "ok": True,
        "accepted": len(outcome.events),
        "events": [_core_receipt(*pair) for pair in zip(outcome.events, client_ids, strict=True)],
    }
    if outcome.errors:
        content["errors"] = outcome.errors
    return JSONResponse(content, status_code=201)


@router.post(
    "/v1/api/analytics/ecommerce/track",
    openapi_extra=json_body(ecommerce.EcommerceIn),
    responses=INGEST,
    summary="Send one ecommerce event (seed 002; amounts in major units)",
)
async def ecommerce_track(
    request: Request, principal: Principal = Depends(any_key)
) -> dict[str, Any]:
    plans.require_ecommerce_api(principal.tenant)
    body = await read_body(request)
    ctx = ingest_context(request, principal.tenant)
    event = handlers.one(body, ecommerce.EcommerceIn, ecommerce.to_event, ctx)
    await state(request).pipeline.submit([event])
    return {"ok": True}


@router.post(
    "/v1/api/analytics/ecommerce/batch",
    openapi_extra=json_body(ecommerce.BatchIn),
    responses=INGEST,
    summary="Send up to 100 ecommerce events; invalid ones are skipped and reported",
)
async def ecommerce_batch(
    request: Request, principal: Principal = Depends(any_key)
) -> dict[str, Any]:
    plans.require_ecommerce_api(principal.tenant)
    body = await read_body(request)
    ctx = ingest_context(request, principal.tenant)
    raws, ctx = handlers.read_batch(
        body,
        ecommerce.BatchIn,
        ctx,
        max_events=ecommerce.MAX_BATCH,
        empty="events array is required and must not be empty",
        too_many="Maximum 100 events per batch",
    )
    outcome = handlers.many(raws, ecommerce.EcommerceIn, ecommerce.to_event, ctx)
    if outcome.events:
        await state(request).pipeline.submit(outcome.events)
    content: dict[str, Any] = {"ok": True, "accepted": len(outcome.events)}
    if outcome.errors:
        content["errors"] = outcome.errors
    return content


@router.post(
    "/api/analytics/track",
    openapi_extra=json_body(landing.LandingIn),
    responses=PUBLIC_INGEST,
    summary="Public landing-page tracker (seed 004): no key, tenant in the body",
)
async def landing_track(request: Request) -> dict[str, Any]:
    app_state = state(request)
    body = await read_body(request)
    raw = decode(body, landing.LandingIn)
    tenant_id, _ = landing.validate(raw)
    tenant = app_state.tenants.get(tenant_id)
    if tenant is None:
        raise BadRequest("tenant_id does not name a tenant", field="tenant_id")
    ctx = ingest_context(request, tenant)
    handlers.check_event_size(len(body), ctx)
    event = landing.to_event(raw, ctx)
    if app_state.rate_limits is not None:
        app_state.rate_limits.check_landing(request.scope, tenant.id, events=1)
    await app_state.pipeline.submit([event])
    return {"success": True}
