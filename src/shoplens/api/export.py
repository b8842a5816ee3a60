"""``GET /analytics/export`` (seed 001): a row set as a downloaded file, streamed.

``type=orders|events|products|customers`` (required), ``format=csv|json|xlsx|ndjson|parquet``
(default csv), and the core period parameters (``period=30d`` …). The response streams while
the query runs, with the format's content type and ``Content-Disposition: attachment;
filename="shoplens-<type>-<first day>-<last day>.<ext>"``. Secret key only.

The route checks the parameters and starts the query before answering, so a bad parameter
is a 400 and a failing query a 5xx, not a cut-off 200. No SQL here: :mod:`shoplens.export`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import closing

import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request

from shoplens import export
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.export_stream import PacedStream, give_back_memory
from shoplens.api.openapi import KEYED
from shoplens.api.params import CORE_PERIOD, CORE_PERIOD_DOCS, period_of
from shoplens.auth import Principal

router = APIRouter(tags=["export"], responses=KEYED)


def _started(
    batches: Generator[pa.RecordBatch, None, None],
) -> Generator[pa.RecordBatch, None, None]:
    """``batches`` with the first one already pulled: the query has started (or failed).
    Closing the result closes ``batches`` (and so the store's query) at once."""
    first = next(batches, None)

    def rest() -> Generator[pa.RecordBatch, None, None]:
        with closing(batches):
            if first is not None:
                yield first
                yield from batches

    return rest()


@router.get("/analytics/export", dependencies=[CORE_PERIOD_DOCS])
def export_rows(
    request: Request,
    principal: Principal = Depends(secret_key_dep),
    type_: str | None = Query(
        None, alias="type", description="orders, events, products or customers"
    ),
    format_: str | None = Query(
        None, alias="format", description="csv (default), json, xlsx, ndjson or parquet"
    ),
) -> PacedStream:
    """Download a row set of the period as csv, json, xlsx, ndjson or parquet (streamed).

    At most ``export_concurrency`` exports per tenant at a time (429 beyond)."""
    app_state = state(request)
    period = period_of(request, principal, CORE_PERIOD)
    job = export.plan(type_, format_, principal.tenant.id, period)
    release: Callable[[], None] = _no_slot
    if app_state.exports is not None:
        release = app_state.exports.take(principal.tenant.id)

    try:
        batches = _started(job.batches(app_state.store))
    except BaseException:
        release()
        raise

    def on_close() -> None:
        try:
            batches.close()  # closed already with the chunks; explicit, not left to the GC
        finally:
            release()
            app_state.store.release_memory()
            give_back_memory()

    return PacedStream(
        job.chunks(batches),
        write_timeout=app_state.settings.export_write_timeout,
        on_close=on_close,
        media_type=job.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{job.filename}"',
            "Cache-Control": "no-store",
        },
    )


def _no_slot() -> None:
    """The release of an export run without a concurrency limit."""
