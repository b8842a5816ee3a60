"""Operational routes: health and ingestion status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shoplens.api.deps import state

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
    }
