"""Bulk loading through the real pipeline: the demo generator and imports use this.

Payloads are wire-format request bodies, decoded and normalized by the same handlers the
HTTP routes use, then submitted to the same pipeline (WAL, dedup, flusher). Nothing is
written to the store by a side door.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from shoplens.app import lock_data_dir, open_components
from shoplens.config import Settings
from shoplens.ingest import handlers, rates_store
from shoplens.ingest.context import IngestContext, Limits
from shoplens.ingest.formats import core, ecommerce
from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.pipeline import IngestPipeline
from shoplens.ingest.stages import Stages
from shoplens.meta import MetaStore, Tenant

# name → (batch body type, event type, normalizer): the batch formats bulk loads accept.
BATCH_FORMATS: dict[str, tuple[type[Any], type[Any], handlers.ToEvent]] = {
    "ecommerce": (ecommerce.BatchIn, ecommerce.EcommerceIn, ecommerce.to_event),
    "core": (core.CoreBatchIn, core.CoreEventIn, core.to_event),
}


@dataclass
class LoadStats:
    requests: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_errors: list[str] | None = None


@asynccontextmanager
async def running_pipeline(settings: Settings) -> AsyncIterator[tuple[IngestPipeline, MetaStore]]:
    """Open the data dir (locked), store and pipeline; flush and close on exit."""
    lock = lock_data_dir(settings.data_dir)
    store, meta = open_components(settings, None)
    pipeline = IngestPipeline(settings, store)
    try:
        await pipeline.start()
        try:
            yield pipeline, meta
        finally:
            await pipeline.stop()
    finally:
        meta.close()
        store.close()
        os.close(lock)


async def load(
    pipeline: IngestPipeline,
    tenant: Tenant,
    payloads: Iterable[tuple[str, bytes]],
    *,
    limits: Limits | None = None,
    converter: CurrencyConverter | None = None,
    stages: Stages | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_rejected: Callable[[list[str]], None] | None = None,
    max_pending_rows: int = 500_000,
) -> LoadStats:
    """Submit every ``(format, batch body)`` payload as historical events.

    ``on_rejected`` gets each payload's errors (``events[i]: message``) right after that
    payload was read and before the next one is, so a caller streaming payloads from a file
    can name the file's rows (``shoplens import``).
    """
    base = IngestContext(
        tenant=tenant,
        limits=replace(limits or Limits(), max_event_bytes=1 << 20),
        converter=converter or rates_store.open_converter(pipeline.store),
        historical=True,
        stages=stages or Stages(),
    )
    stats = LoadStats(first_errors=[])
    for name, body in payloads:
        batch_type, event_type, to_event = BATCH_FORMATS[name]
        raws = handlers.batch_list(
            body, batch_type, max_events=None, empty="empty batch", too_many=""
        )
        outcome = handlers.many(raws, event_type, to_event, base)
        if outcome.errors and on_rejected is not None:
            on_rejected(outcome.errors)
        if outcome.errors and stats.first_errors is not None and len(stats.first_errors) < 5:
            stats.first_errors.extend(outcome.errors[: 5 - len(stats.first_errors)])
        result = await pipeline.submit(outcome.events)
        stats.requests += 1
        stats.accepted += result.accepted
        stats.duplicates += result.duplicates
        stats.rejected += len(outcome.errors)
        if on_progress is not None:
            on_progress(len(raws))
        await pipeline.wait_for_room(max_pending_rows)
    return stats
