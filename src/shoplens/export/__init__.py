"""Streaming exports: a row set of one tenant and period, in one file format.

``GET /analytics/export`` and ``shoplens export`` both do::

    job = plan(type_, fmt, tenant_id, period)          # 400s for bad type/format here
    batches = job.batches(store)                       # Arrow batches while the query runs
    for chunk in job.chunks(batches, on_rows=...):     # bytes, one batch at a time
        ...

Memory stays bounded by one batch (``batch_rows``) and the format's encoder state, whatever
the number of rows: the store streams the query (:meth:`shoplens.store.Store.stream`) and
each writer turns a batch into bytes before it pulls the next. Row sets are in
:mod:`.rowsets`, formats in :mod:`.writers`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass

import pyarrow as pa

from shoplens.errors import BadRequest
from shoplens.export.rowsets import ROW_SETS, RowSet
from shoplens.export.writers import FORMATS, Format
from shoplens.metrics.period import Period
from shoplens.store import Store

#: Rows a batch asks the store for: big enough for fast encoders, small enough to hold.
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Export:
    """One planned export: what (row set), how (format), whose (tenant) and when (period)."""

    row_set: RowSet
    format: Format
    tenant_id: int
    period: Period

    @property
    def filename(self) -> str:
        """``shoplens-<type>-<first day>-<last day>.<ext>`` (local dates, inclusive)."""
        first, last = self.period.first_day.isoformat(), self.period.last_day.isoformat()
        return f"shoplens-{self.row_set.name}-{first}-{last}.{self.format.extension}"

    @property
    def content_type(self) -> str:
        return self.format.content_type

    def batches(
        self, store: Store, batch_rows: int = BATCH_ROWS
    ) -> Generator[pa.RecordBatch, None, None]:
        """The rows from the store in batches of at most ``batch_rows``, each cast to the row
        set's schema (names, types). The engine's blocks (about 65k rows) may be larger than
        ``batch_rows``: they are cut into zero-copy slices, so the writers see small batches."""
        sql, params = self.row_set.query(self.tenant_id, self.period).compile()
        schema = self.row_set.schema
        # Closing these batches closes the store's stream now (query ended, connection
        # closed), not whenever the garbage collector gets to it.
        with closing(store.stream(sql, params, batch_rows=batch_rows)) as stream:
            for batch in stream:
                for start in range(0, batch.num_rows, batch_rows):
                    yield conform(batch.slice(start, batch_rows), schema)

    def chunks(
        self,
        batches: Iterable[pa.RecordBatch],
        on_rows: Callable[[int], None] | None = None,
    ) -> Generator[bytes, None, None]:
        """The file's bytes, written batch by batch; ``on_rows(n)`` after each batch.
        Closing them (a client gone) closes ``batches`` too, if it is a generator."""

        def counted() -> Iterator[pa.RecordBatch]:
            try:
                for batch in batches:
                    yield batch
                    if on_rows is not None:
                        on_rows(batch.num_rows)
            finally:  # closing the chunks closes the batches (and the store's query)
                if isinstance(batches, Generator):
                    batches.close()

        for chunk in self.format.write(self.row_set.schema, counted(), self.row_set.name):
            if chunk:
                yield chunk


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch``'s columns, in order, renamed and cast to ``schema`` (the SQL aliases and the
    engine's types — UInt8, UInt32, LowCardinality — become the export's names and types)."""
    if batch.num_columns != len(schema):
        raise ValueError(f"expected {len(schema)} columns, got {batch.num_columns}")
    columns = [col.cast(field.type) for col, field in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _choice(value: str | None, allowed: Iterable[str], name: str, default: str | None) -> str:
    choices = list(allowed)
    value = (value or "").strip() or default
    if value is None:
        raise BadRequest(f"{name} is required: one of {', '.join(choices)}", field=name)
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}", field=name)
    return value


def row_set_of(type_: str | None) -> RowSet:
    """The ``type`` parameter's row set (required); a 400 naming ``type`` lists them."""
    return ROW_SETS[_choice(type_, ROW_SETS, "type", None)]


def format_of(fmt: str | None) -> Format:
    """The ``format`` parameter's format (default csv); a 400 naming ``format`` lists them."""
    return FORMATS[_choice(fmt, FORMATS, "format", "csv")]


def plan(type_: str | None, fmt: str | None, tenant_id: int, period: Period) -> Export:
    """Check ``type`` (required) and ``format`` (default csv) and plan the export."""
    return Export(row_set_of(type_), format_of(fmt), tenant_id, period)
