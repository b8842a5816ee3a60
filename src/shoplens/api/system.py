"""Operational routes: health, ingestion status, and who a key belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from shoplens.api.deps import secret_key, state
from shoplens.api.openapi import KEYED
from shoplens.auth import Principal

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Liveness and ingestion backlog")
async def healthz(request: Request) -> dict[str, Any]:
    app_state = state(request)
    pipeline = app_state.pipeline
    stats = pipeline.flusher.stats
    return {
        "ok": True,
        "store": app_state.store.kind,
        "ingest": {
            "pending_events": pipeline.flusher.pending_rows,
            "wal_unflushed_bytes": pipeline.wal.unflushed_bytes(),
            "flushes": stats.flushes,
            "flushed_events": stats.events,
            "flush_failures": stats.failures,
            "last_flush_error": stats.last_error or None,
        },
        "rates": app_state.rates.health() if app_state.rates else None,
    }


@router.get("/v1/tenant", summary="The tenant a secret key belongs to", responses=KEYED)
async def current_tenant(principal: Principal = Depends(secret_key)) -> dict[str, Any]:
    tenant = principal.tenant
    return {
        "tenant_id": tenant.id,
        "name": tenant.name,
        "base_currency": tenant.base_currency,
        "timezone": tenant.timezone,
        "plan": tenant.plan,
        "created_at": tenant.created_at,
    }
