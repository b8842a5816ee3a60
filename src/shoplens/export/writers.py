"""Export file formats: each turns a stream of Arrow batches into a stream of bytes.

A writer holds one batch at a time (plus its encoder's small buffer), so an export's memory
does not grow with its rows. The registry :data:`FORMATS` is data: name → extension,
content type and writer. Values in every format:

- times are UTC: ISO 8601 text with milliseconds (``2024-01-15T10:35:00.000Z``) in csv,
  json and ndjson; ``timestamp[ms, UTC]`` in parquet; date-time cells (UTC, as xlsx has no
  zones) in xlsx. Money and counts are integers; a missing value is empty / ``null``.
- ``csv``: RFC 4180, UTF-8, a header row, text fields quoted, ``\\n`` line ends.
- ``json``: one array of row objects (``[]`` when empty); ``ndjson``: one object a line.
- ``parquet``: written and sent row group by row group (the footer comes last).
- ``xlsx``: streamed too (:mod:`.xlsx`); a sheet holds at most 1,048,576 rows, so after
  1,048,575 data rows the export continues on a new sheet (``orders``, ``orders 2``, …),
  each with the header row.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from shoplens.export import xlsx

_ISO = "%Y-%m-%dT%H:%M:%SZ"  # on timestamp[ms] Arrow's %S prints seconds with .mmm

Writer = Callable[[pa.Schema, Iterable[pa.RecordBatch], str], Iterator[bytes]]
#: Rows the row-wise encoders (json, ndjson, xlsx) take at a time: their intermediate text
#: or Python objects are many times a batch's Arrow size, so they work in smaller slices.
ENCODE_ROWS = 8192


def _slices(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for start in range(0, batch.num_rows, ENCODE_ROWS):
            yield batch.slice(start, ENCODE_ROWS)


def _text_times(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its timestamp columns as ISO 8601 UTC text."""
    columns = [
        pc.strftime(col, format=_ISO) if pa.types.is_timestamp(col.type) else col
        for col in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _text_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema]
    )


class _Buffer(io.RawIOBase):
    """A write-only, unseekable sink whose bytes are taken out as they come (``take``)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], title: str) -> Iterator[bytes]:
    sink = _Buffer()
    options = pa_csv.WriteOptions(quoting_style="needed")
    writer = pa_csv.CSVWriter(sink, _text_schema(schema), write_options=options)
    yield sink.take()  # the header row
    for batch in batches:
        writer.write_batch(_text_times(batch))
        yield sink.take()
    writer.close()
    if tail := sink.take():
        yield tail


def write_ndjson(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], title: str
) -> Iterator[bytes]:
    encoder = msgspec.json.Encoder()
    for batch in _slices(batches):
        yield encoder.encode_lines(_text_times(batch).to_pylist())


def write_json(schema: pa.Schema, batches: Iterable[pa.RecordBatch], title: str) -> Iterator[bytes]:
    encoder = msgspec.json.Encoder()
    opening = b"[\n"
    for batch in _slices(batches):
        if batch.num_rows:
            # encode_lines gives "{…}\n{…}\n"; the array wants "{…},\n{…}".
            rows = encoder.encode_lines(_text_times(batch).to_pylist())
            yield opening + rows[:-1].replace(b"}\n{", b"},\n{")
            opening = b",\n"
    yield b"[]\n" if opening == b"[\n" else b"\n]\n"


def write_parquet(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], title: str
) -> Iterator[bytes]:
    sink = _Buffer()
    writer = pq.ParquetWriter(sink, schema)
    try:
        for batch in batches:
            writer.write_batch(batch)  # one row group, written out whole
            if data := sink.take():
                yield data
    finally:
        writer.close()
    yield sink.take()  # the footer


def write_xlsx(schema: pa.Schema, batches: Iterable[pa.RecordBatch], title: str) -> Iterator[bytes]:
    sink = _Buffer()
    for _ in xlsx.write_xlsx(schema, _slices(batches), title, sink):
        if data := sink.take():
            yield data


@dataclass(frozen=True)
class Format:
    """An export file format: ``format=`` name, file extension, content type, writer."""

    name: str
    extension: str
    content_type: str
    write: Writer


#: format parameter → Format. Parquet's media type was registered with IANA in 2024.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("csv", "csv", "text/csv; charset=utf-8", write_csv),
        Format("json", "json", "application/json", write_json),
        Format(
            "xlsx",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            write_xlsx,
        ),
        Format("ndjson", "ndjson", "application/x-ndjson", write_ndjson),
        Format("parquet", "parquet", "application/vnd.apache.parquet", write_parquet),
    )
}
