"""Read an export back with each format's own reader, into comparable rows.

Every format comes back as a list of dicts with times as the exports' ISO text
(``2024-01-15T10:35:00.000Z``), integers as ints and missing values as None (or "" for
text, which csv and xlsx cannot tell apart from missing), so all five can be compared with
each other and with rows worked out in the tests.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq


def _iso(value: datetime) -> str:
    if value.tzinfo is None:  # xlsx cells are zone-less; the export writes UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _typed(value: Any, type_: pa.DataType) -> Any:
    """A value as read from text or a spreadsheet, as the schema's type."""
    if pa.types.is_string(type_):
        return "" if value is None else str(value)
    if value is None or value == "":
        return None
    if pa.types.is_integer(type_):
        return int(value)
    if pa.types.is_timestamp(type_):
        return _iso(value) if isinstance(value, datetime) else str(value)
    raise AssertionError(f"unexpected type {type_}")


def _typed_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> list[dict[str, Any]]:
    return [{f.name: _typed(row[f.name], f.type) for f in schema} for row in rows]


def read_csv(body: bytes, schema: pa.Schema) -> tuple[list[str], list[dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(body.decode("utf-8"), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), _typed_rows(rows, schema)


def read_json(body: bytes, schema: pa.Schema) -> tuple[list[str], list[dict[str, Any]]]:
    rows = json.loads(body)
    assert isinstance(rows, list)
    return (list(rows[0]) if rows else schema.names), _typed_rows(rows, schema)


def read_ndjson(body: bytes, schema: pa.Schema) -> tuple[list[str], list[dict[str, Any]]]:
    lines = body.decode("utf-8").split("\n")
    assert lines[-1] == "", "every line ends with a newline"
    rows = [json.loads(line) for line in lines[:-1]]
    return (list(rows[0]) if rows else schema.names), _typed_rows(rows, schema)


def read_parquet(body: bytes, schema: pa.Schema) -> tuple[list[str], list[dict[str, Any]]]:
    table = pq.read_table(io.BytesIO(body))
    assert table.schema.equals(schema, check_metadata=False), table.schema
    return table.schema.names, _typed_rows(table.to_pylist(), schema)


def read_xlsx(body: bytes, schema: pa.Schema) -> tuple[list[str], list[dict[str, Any]]]:
    """Every sheet in order; each starts with the header row."""
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    header: list[str] = []
    rows: list[dict[str, Any]] = []
    for sheet in book.worksheets:
        values = list(sheet.iter_rows(values_only=True))
        header = [str(v) for v in values[0]]
        for line in values[1:]:
            padded = list(line) + [None] * (len(header) - len(line))
            rows.append(dict(zip(header, padded, strict=True)))
    book.close()
    return header, _typed_rows(rows, schema)


READERS = {
    "csv": read_csv,
    "json": read_json,
    "ndjson": read_ndjson,
    "parquet": read_parquet,
    "xlsx": read_xlsx,
}


def read_back(fmt: str, body: bytes, schema: pa.Schema) -> list[dict[str, Any]]:
    """The rows of an export in ``fmt``, checking its columns are the schema's, in order."""
    header, rows = READERS[fmt](body, schema)
    assert header == schema.names
    return rows
