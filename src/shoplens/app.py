"""create_app(): the ASGI app, its routers, and the lifespan that owns store and pipeline."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException

from shoplens import __version__, plans
from shoplens.api import export as export_routes
from shoplens.api import fraud as fraud_routes
from shoplens.api import ingest as ingest_routes
from shoplens.api import ingest_errors as ingest_errors_routes
from shoplens.api import maintenance as maintenance_routes
from shoplens.api import (
    openapi,
    reports_attribution,
    reports_breakdowns,
    reports_core,
    reports_customers,
    reports_funnel,
    reports_landing,
    reports_products,
    reports_sales,
    reports_segments,
    reports_store,
    settings_rates,
)
from shoplens.api import query as query_routes
from shoplens.api import segment as segment_routes
from shoplens.api import system as system_routes
from shoplens.api.deps import AppState, TenantCache
from shoplens.api.export_stream import ExportSlots
from shoplens.api.limits import HEADERS as RATE_LIMIT_HEADERS
from shoplens.api.limits import RateLimitHeaders, RequestLimits
from shoplens.auth import KeyVerifier
from shoplens.config import Settings
from shoplens.errors import ShoplensError
from shoplens.ingest import rates_store
from shoplens.ingest.context import Limits
from shoplens.ingest.fraud_stats import BlockedCounter
from shoplens.ingest.pipeline import IngestPipeline
from shoplens.ingest.rates_refresh import RatesRefresher
from shoplens.ingest.stages import build_stages
from shoplens.maintenance import Maintenance
from shoplens.meta import MetaStore
from shoplens.quota import MonthlyQuota
from shoplens.store import Store, open_store
from shoplens.store.migrate import migrate


class DataDirLocked(RuntimeError):
    pass


def lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock on the data dir: one process owns its WAL (and chDB store)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(
            f"{data_dir} is in use by another shoplens process (a running server?). "
            "Stop it, or use another --data-dir."
        ) from None
    return fd


def tune_gc() -> None:
    """Keep the cyclic collector off the ack path.

    TRICKY: a full collection walks every live container, and an ingest server holds many
    (buffered events, the dedup index, the whole framework); measured here, those pauses
    were the ack p99. Objects alive after start-up are frozen out of collection, and the
    young generation collects ten times less often (7,000 allocations, not 700). Reference
    counting still frees almost everything at once; only cycles wait longer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 10, 100)


def open_components(settings: Settings, store: Store | None) -> tuple[Store, MetaStore]:
    """Open (and migrate) the store unless one is given, and the metadata store."""
    if store is None:
        store = open_store(settings.resolved_store_url, cluster=settings.cluster)
        migrate(store)
    return store, MetaStore(settings.meta_path)


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """The shoplens app. Pass ``store`` to share an already open (and migrated) store; the
    app then leaves it open at shutdown."""
    settings = settings or Settings()
    owns_store = store is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lock = lock_data_dir(settings.data_dir)
        opened, meta = open_components(settings, store)
        blocked = BlockedCounter(meta)
        tenants = TenantCache(meta, settings.key_cache_seconds)
        quota = (
            MonthlyQuota(lambda tenant_id: plans.monthly_events(tenants.get(tenant_id)))
            if settings.quotas
            else None
        )
        pipeline = IngestPipeline(settings, opened, on_blocked=blocked.add, quota=quota)
        app.state.shoplens = AppState(
            settings=settings,
            store=opened,
            meta=meta,
            pipeline=pipeline,
            keys=KeyVerifier(meta, settings.key_cache_seconds),
            tenants=tenants,
            limits=Limits.from_settings(settings),
            converter=rates_store.open_converter(opened),
            stages=build_stages(settings, meta),
            blocked=blocked,
            rate_limits=RequestLimits(settings),
            exports=ExportSlots(settings.export_concurrency),
        )
        await pipeline.start()
        blocked.start()
        maintenance = Maintenance(
            opened,
            meta,
            pipeline.flusher.insert_lock,
            retention_interval=settings.retention_interval or None,
            flushed=lambda: pipeline.flusher.flushed_through(timeout=30),
        )
        app.state.shoplens.maintenance = maintenance
        maintenance_task = asyncio.create_task(maintenance.run(), name="maintenance")
        rates = RatesRefresher(settings, opened, app.state.shoplens.converter, meta)
        app.state.shoplens.rates = rates
        rates.start()
        tune_gc()
        try:
            yield
        finally:
            await rates.stop()
            maintenance.stop()
            await maintenance_task
            await pipeline.stop()
            await blocked.stop()  # after the pipeline: its last blocked events count too
            meta.close()
            if owns_store:
                opened.close()
            os.close(lock)

    app = FastAPI(
        title="shoplens",
        version=__version__,
        description="Self-hosted e-commerce analytics. See docs/api.md for every route.",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=list(RATE_LIMIT_HEADERS),
    )
    app.add_middleware(RateLimitHeaders)
    app.add_exception_handler(ShoplensError, _shoplens_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.include_router(ingest_routes.router)
    app.include_router(segment_routes.router)
    app.include_router(ingest_errors_routes.router)
    app.include_router(reports_sales.router)
    app.include_router(reports_breakdowns.router)
    app.include_router(reports_attribution.router)
    app.include_router(reports_funnel.router)
    app.include_router(reports_customers.router)
    app.include_router(reports_landing.router)
    app.include_router(reports_core.router)
    app.include_router(reports_products.router)
    app.include_router(reports_segments.router)
    app.include_router(reports_store.router)
    app.include_router(query_routes.router)
    app.include_router(export_routes.router)
    app.include_router(maintenance_routes.router)
    app.include_router(system_routes.router)
    app.include_router(fraud_routes.router)
    app.include_router(settings_rates.router)
    app.openapi = lambda: openapi.build(app)  # type: ignore[method-assign]
    return app


async def _shoplens_error(_: Request, exc: ShoplensError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
    location = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
    field = ".".join(location) or None
    message = f"{field}: {first.get('msg', 'invalid value')}" if field else "Invalid request"
    return JSONResponse({"ok": False, "error": message, "field": field}, status_code=400)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Routing errors (404, 405) in the one error shape, keeping headers such as Allow."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return JSONResponse(
        {"ok": False, "error": str(exc.detail), "field": None},
        status_code=exc.status_code,
        headers=headers,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path.

    TRICKY: Starlette answers a 405 from the first route whose path matches, so its
    ``Allow`` names only that route's methods (``GET`` for ``/analytics/settings``, whose
    ``PATCH`` is another route)."""
    path, methods = request.scope["path"], set[str]()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods.update(route.methods)
    return sorted(methods)
