"""Export writers on Arrow batches made here, read back with each format's own reader."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shoplens.export import xlsx
from shoplens.export.writers import FORMATS
from tests.export.readback import read_back

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("at", pa.timestamp("ms", tz="UTC")),
        ("amount", pa.int64()),
        ("flag", pa.int32()),
        ("later", pa.timestamp("ms", tz="UTC")),
    ]
)
T0 = datetime(2024, 1, 15, 10, 35, 0, 123000, tzinfo=UTC)
TRICKY_TEXT = ["a,b", 'say "hi"', "two\nlines", "ünïcödé ✓", "=1+1", "", "  spaced  "]


def source_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": TRICKY_TEXT[i % len(TRICKY_TEXT)] + str(i),
            "at": T0 + timedelta(seconds=i, milliseconds=i),
            "amount": (i - 3) * 2**40,  # beyond 32 bits, negative too
            "flag": i % 2,
            "later": None if i % 3 else T0 + timedelta(days=i),
        }
        for i in range(offset, offset + n)
    ]


def batch_of(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=SCHEMA)


def as_text(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the readers give them back: times as ISO text."""

    def iso(v: datetime) -> str:
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    return [{k: iso(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]


def written(fmt: str, batches: list[pa.RecordBatch], title: str = "rows") -> bytes:
    return b"".join(FORMATS[fmt].write(SCHEMA, iter(batches), title))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_reads_back_equal_to_its_rows(fmt: str) -> None:
    rows = source_rows(10)
    body = written(fmt, [batch_of(rows[:4]), batch_of(rows[4:])])
    assert read_back(fmt, body, SCHEMA) == as_text(rows)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_empty_export_is_a_valid_file_with_no_rows(fmt: str) -> None:
    body = written(fmt, [])
    assert read_back(fmt, body, SCHEMA) == []
    expected = {
        "csv": b'"id","at","amount","flag","later"\n',
        "json": b"[]\n",
        "ndjson": b"",
    }
    if fmt in expected:
        assert body == expected[fmt]


def test_json_is_one_array_and_ndjson_one_object_a_line() -> None:
    rows = source_rows(3)
    assert written("json", [batch_of(rows)]).startswith(b"[\n{")
    ndjson = written("ndjson", [batch_of(rows[:1]), batch_of(rows[1:])])
    assert ndjson.count(b"\n") == 3  # the newline inside a value is escaped


def test_csv_writes_times_as_iso_text_and_missing_values_empty() -> None:
    body = written("csv", [batch_of(source_rows(2, offset=1))]).decode()
    assert body.splitlines()[1] == '"say ""hi""1","2024-01-15T10:35:01.124Z",-2199023255552,1,'


def test_parquet_keeps_the_arrow_types() -> None:
    body = written("parquet", [batch_of(source_rows(5))])
    table = pq.read_table(io.BytesIO(body))
    assert table.schema.field("at").type == pa.timestamp("ms", tz="UTC")
    assert table.column("amount").to_pylist() == [(i - 3) * 2**40 for i in range(5)]


def test_xlsx_cells_are_typed_and_text_is_never_a_formula() -> None:
    rows = source_rows(5)
    book = openpyxl.load_workbook(io.BytesIO(written("xlsx", [batch_of(rows)])))
    sheet = book["rows"]
    assert sheet["A6"].value == "=1+14" and sheet["A6"].data_type == "s"
    assert sheet["B2"].value == datetime(2024, 1, 15, 10, 35, 0, 123000)  # UTC, zone-less
    assert sheet["B2"].number_format == "yyyy-mm-dd hh:mm:ss.000"
    assert sheet["C2"].value == -3 * 2**40 and sheet["C2"].data_type == "n"
    assert sheet["A1"].font.bold


def test_xlsx_continues_on_a_new_sheet_at_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "SHEET_ROWS", 4)
    rows = source_rows(10)
    body = written("xlsx", [batch_of(rows[:3]), batch_of(rows[3:])], title="orders")

    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    assert book.sheetnames == ["orders", "orders 2", "orders 3"]
    sizes = [sum(1 for _ in s.iter_rows()) for s in book.worksheets]
    assert sizes == [5, 5, 3]  # a header row on each
    assert read_back("xlsx", body, SCHEMA) == as_text(rows)


def test_xlsx_ends_without_an_empty_sheet_when_the_last_one_is_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(xlsx, "SHEET_ROWS", 5)
    body = written("xlsx", [batch_of(source_rows(10))], title="t")
    assert openpyxl.load_workbook(io.BytesIO(body), read_only=True).sheetnames == ["t", "t 2"]


def test_xlsx_starts_a_new_sheet_before_a_sheet_gets_too_big(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A sheet's XML must stay under 4 GiB (no ZIP64, which Excel reads only in its own way);
    # here the cap is just over one batch's rows, so each batch lands on its own sheet.
    rows = source_rows(9)
    cap = len(xlsx._rows_xml(batch_of(rows[:3]), 2)) + 60
    monkeypatch.setattr(xlsx, "SHEET_BYTES", cap)
    body = written("xlsx", [batch_of(rows[:3]), batch_of(rows[3:6]), batch_of(rows[6:])], "t")
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    assert book.sheetnames == ["t", "t 2", "t 3"]
    assert read_back("xlsx", body, SCHEMA) == as_text(rows)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        sheets = [i for i in archive.infolist() if i.filename.startswith("xl/worksheets/")]
        assert len(sheets) == 3 and all(i.file_size < cap + 1000 for i in sheets)


class CountingSource:
    """Batches handed out one at a time, counting how many the writer has taken."""

    def __init__(self, batches: int, rows: int) -> None:
        self.batches, self.rows, self.taken = batches, rows, 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for i in range(self.batches):
            self.taken += 1
            yield batch_of(source_rows(self.rows, offset=i * self.rows))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_streaming_writers_send_each_batch_before_taking_the_next(fmt: str) -> None:
    source = CountingSource(batches=20, rows=1000)
    taken_at_chunk = []
    chunks = []
    for chunk in FORMATS[fmt].write(SCHEMA, iter(source), "rows"):
        taken_at_chunk.append(source.taken)
        chunks.append(chunk)

    # Bytes for batch k went out while k batches (not all 20) had been taken: the writer
    # never holds more than the batch in hand. (A batch of 1,000 rows is enough XML for
    # xlsx's deflate stream to emit output every batch; smaller ones wait in zlib's window.)
    for k in range(1, 21):
        assert k in taken_at_chunk, (k, taken_at_chunk)
    assert taken_at_chunk[0] <= 1
    assert len(read_back(fmt, b"".join(chunks), SCHEMA)) == 20_000


def test_formats_have_their_content_types_and_extensions() -> None:
    assert {f.name: (f.extension, f.content_type) for f in FORMATS.values()} == {
        "csv": ("csv", "text/csv; charset=utf-8"),
        "json": ("json", "application/json"),
        "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "ndjson": ("ndjson", "application/x-ndjson"),
        "parquet": ("parquet", "application/vnd.apache.parquet"),
    }
