"""``GET /analytics/export`` (seed 001): a row set as a downloaded file, streamed.

``type=orders|events|products|customers`` (required), ``format=csv|json|xlsx|ndjson|parquet``
(default csv), and the core period parameters (``period=30d`` …). The response streams while
the query runs, with the format's content type and ``Content-Disposition: attachment;
filename="shoplens-<type>-<first day>-<last day>.<ext>"``. Secret key only.

The route checks the parameters and starts the query before answering, so a bad parameter
is a 400 and a failing query a 5xx, not a cut-off 200. No SQL here: :mod:`shoplens.export`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from shoplens import export
from shoplens.api.deps import secret_key as secret_key_dep
from shoplens.api.deps import state
from shoplens.api.openapi import KEYED
from shoplens.api.params import CORE_PERIOD, CORE_PERIOD_DOCS, period_of
from shoplens.auth import Principal

router = APIRouter(tags=["export"], responses=KEYED)


def _started(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches`` with the first one already pulled: the query has started (or failed)."""
    first = next(batches, None)
    return batches if first is None else chain([first], batches)


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
) -> StreamingResponse:
    """Download a row set of the period as csv, json, xlsx, ndjson or parquet (streamed)."""
    period = period_of(request, principal, CORE_PERIOD)
    job = export.plan(type_, format_, principal.tenant.id, period)
    batches = _started(job.batches(state(request).store))
    return StreamingResponse(
        job.chunks(batches),
        media_type=job.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{job.filename}"',
            "Cache-Control": "no-store",
        },
    )
