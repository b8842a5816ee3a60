"""Canonical events → the Arrow batches the ``events`` and ``event_items`` tables take.

Columns are derived from the Event/Item field order (which is the tables' column order),
so adding a field is one line in ``event.py`` plus its column in a migration. Rows are
transposed with ``astuple`` + ``zip`` (both in C) — the flush path handles every event.
"""

from __future__ import annotations

from typing import Any, get_type_hints

import msgspec
import pyarrow as pa

from shoplens.ingest.event import Event, Item

_TIMESTAMP = pa.timestamp("ms", tz="UTC")
# Fields whose Arrow type is not the default for their Python type.
_OVERRIDES: dict[str, pa.DataType] = {
    "tenant_id": pa.uint32(),
    "timestamp": _TIMESTAMP,
    "received_at": _TIMESTAMP,
    "item_count": pa.uint32(),
    "is_flagged": pa.uint8(),
    "item_index": pa.uint16(),
    "quantity": pa.int32(),
    "fraud_reasons": pa.list_(pa.string()),
    "properties": pa.map_(pa.string(), pa.string()),
}
_DEFAULTS: dict[Any, pa.DataType] = {str: pa.string(), int: pa.int64()}


def _schema(struct: type[msgspec.Struct], skip: set[str], prefix: list[str]) -> pa.Schema:
    hints = get_type_hints(struct)
    names = prefix + [n for n in struct.__struct_fields__ if n not in skip]
    hints |= {"event_id": str, "event_type": str, "user_id": str, "transaction_id": str}
    return pa.schema([(n, _OVERRIDES.get(n) or _DEFAULTS[hints.get(n, int)]) for n in names])


EVENT_SCHEMA = _schema(Event, {"items"}, [])
_ITEM_PREFIX = [
    "tenant_id",
    "event_id",
    "event_type",
    "timestamp",
    "user_id",
    "transaction_id",
    "item_index",
]
ITEM_SCHEMA = _schema(Item, set(), _ITEM_PREFIX).append(pa.field("is_flagged", pa.uint8()))


def _column(values: tuple[Any, ...] | list[Any], field: pa.Field) -> pa.Array:
    if field.type == _TIMESTAMP:
        return pa.array(values, pa.int64()).cast(_TIMESTAMP)
    if pa.types.is_map(field.type):
        return pa.array([list(v.items()) for v in values], field.type)
    return pa.array(values, field.type)


# Rows converted per Arrow call. TRICKY: pa.array holds the GIL for its whole call; on a
# 50k-event flush that stalled request handling for ~100 ms (the ack p99). Chunks of 2k keep
# each hold around a millisecond, and concatenating the chunks costs nothing (no copy).
CHUNK_ROWS = 2000


def _table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    if not rows:
        return schema.empty_table()
    chunks = []
    for offset in range(0, len(rows), CHUNK_ROWS):
        columns = list(zip(*rows[offset : offset + CHUNK_ROWS], strict=True))
        chunks.append(
            pa.Table.from_arrays(
                [_column(columns[i], field) for i, field in enumerate(schema)], schema=schema
            )
        )
    return pa.concat_tables(chunks)


def events_table(events: list[Event]) -> pa.Table:
    astuple = msgspec.structs.astuple
    return _table([astuple(e)[:-1] for e in events], EVENT_SCHEMA)


def items_table(events: list[Event]) -> pa.Table:
    astuple = msgspec.structs.astuple
    rows = [
        (
            e.tenant_id,
            e.event_id,
            e.event_type,
            e.timestamp,
            e.user_id,
            e.transaction_id,
            i,
            *astuple(item),
            e.is_flagged,
        )
        for e in events
        for i, item in enumerate(e.items)
    ]
    return _table(rows, ITEM_SCHEMA)
