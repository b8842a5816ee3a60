"""The historical import path: CSV, NDJSON and Parquet files of wire-format events.

Every row is one event in a batch format's shape — seed 002's ecommerce event
(``event_type``, ``timestamp``, ``revenue``, ``items`` …) or seed 001's core event
(``event``, ``timestamp``, ``properties`` …). Rows are streamed in bounded memory (NDJSON
line by line, CSV and Parquet record batch by record batch with pyarrow), grouped into
batch bodies and handed to ``bulk.load``: the same handlers, stages and pipeline as the
HTTP routes, with ``historical=True`` so old timestamps are taken as given.

Flat files (CSV, and Parquet without nested columns) use this column mapping:

- a column named like a field of the event is that field (``event_type``, ``user_id`` …);
  money columns (``revenue``, ``discount``, ``shipping``, ``tax``) are numbers;
- ``timestamp``: ISO 8601 or epoch milliseconds;
- ``items``, ``properties``, ``context``: a JSON column holding that value;
- ``properties.KEY`` / ``context.KEY``: one property or context field (in CSV a whole
  number such as ``2999`` is sent as a number, as the core format's minor-unit amounts
  need; anything else as text);
- ecommerce only: ``item_id``, ``item_name``, ``item_category``, ``item_brand``,
  ``item_variant``, ``item_list_name``, ``item_list_id``, ``item_image_url``,
  ``item_price``, ``item_quantity``, ``item_currency``, ``item_coupon_code``,
  ``item_discount``: a one-item event (use the ``items`` JSON column for more items).

An empty cell is an absent field. A column outside the mapping refuses the whole file
before anything is sent, naming the column.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from shoplens.errors import BadRequest
from shoplens.ingest import bulk
from shoplens.ingest.formats import check_json_depth
from shoplens.ingest.pipeline import IngestPipeline
from shoplens.ingest.stages import Stages
from shoplens.meta import Tenant

FORMATS = ("csv", "ndjson", "parquet")
TYPES = ("ecommerce", "core")
SUFFIXES = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".parquet": "parquet"}
BATCH_ROWS = 1000
MAX_ERRORS = 10

TEXT, NUMBER, TIME, JSON = "text", "number", "time", "json"

#: every type's top-level columns → their kind
COLUMNS: dict[str, dict[str, str]] = {
    "ecommerce": {
        **dict.fromkeys(
            [
                "event_type",
                "transaction_id",
                "currency",
                "user_id",
                "anonymous_id",
                "session_id",
                "cart_id",
                "coupon_code",
                "search_term",
                "page_url",
                "referrer",
            ],
            TEXT,
        ),
        **dict.fromkeys(("revenue", "discount", "shipping", "tax"), NUMBER),
        "timestamp": TIME,
        **dict.fromkeys(("items", "properties", "context"), JSON),
    },
    "core": {
        **dict.fromkeys(("event", "id", "userId", "anonymousId", "sessionId"), TEXT),
        "timestamp": TIME,
        **dict.fromkeys(("properties", "context"), JSON),
    },
}
#: ecommerce ``item_*`` columns → (item field, kind)
ITEM_COLUMNS: dict[str, tuple[str, str]] = {
    **{
        name: (name, TEXT)
        for name in [
            "item_id",
            "item_name",
            "item_category",
            "item_brand",
            "item_variant",
            "item_list_name",
            "item_list_id",
            "item_image_url",
        ]
    },
    "item_price": ("price", NUMBER),
    "item_quantity": ("quantity", NUMBER),
    "item_currency": ("currency", TEXT),
    "item_coupon_code": ("coupon_code", TEXT),
    "item_discount": ("discount", NUMBER),
}
_PREFIXES = ("properties.", "context.")
_WHOLE = re.compile(r"^-?(0|[1-9][0-9]*)$")
_EVENTS = re.compile(r"^events\[(\d+)\]: ")


class ImportFileError(ValueError):
    """The file cannot be imported at all (unreadable, unknown format, unknown column)."""


@dataclass
class ImportStats:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_errors: list[str] = field(default_factory=list)


def file_format(path: Path, given: str | None = None) -> str:
    """The format asked for, or the one the file's suffix names."""
    if given is not None:
        if given not in FORMATS:
            raise ImportFileError(f"--format must be one of {', '.join(FORMATS)}")
        return given
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(
            f"cannot tell the format of {path.name} from its suffix; pass --format "
            f"({', '.join(FORMATS)})"
        )
    return found


@dataclass
class _Row:
    number: int  # 1-based data row (NDJSON: line number)
    body: bytes | None  # the event as JSON, or None when the row could not be read
    error: str = ""


class ImportFile:
    """One file's rows as ``bulk.load`` payloads, with the row numbers of every payload so
    errors name rows, not batch positions."""

    def __init__(
        self, path: Path, kind: str, fmt: str | None = None, batch_rows: int = BATCH_ROWS
    ) -> None:
        if kind not in TYPES:
            raise ImportFileError(f"--type must be one of {', '.join(TYPES)}")
        if not path.is_file():
            raise ImportFileError(f"no such file: {path}")
        self.path = path
        self.kind = kind
        self.format = file_format(path, fmt)
        self.batch_rows = batch_rows
        self.stats = ImportStats()
        self._rows_of_payload: list[int] = []
        self._encoder = msgspec.json.Encoder(decimal_format="number")
        if self.format != "ndjson":
            self._check_columns(self._columns())

    # -- payloads -----------------------------------------------------------------------
    def payloads(self) -> Iterator[tuple[str, bytes]]:
        """Batch bodies of at most ``batch_rows`` events; unreadable rows are counted and
        reported here, never sent."""
        bodies: list[bytes] = []
        numbers: list[int] = []
        for row in self._rows():
            self.stats.rows += 1
            if row.body is None:
                self._reject(f"row {row.number}: {row.error}")
                continue
            bodies.append(row.body)
            numbers.append(row.number)
            if len(bodies) >= self.batch_rows:
                yield self._payload(bodies, numbers)
                bodies, numbers = [], []
        if bodies:
            yield self._payload(bodies, numbers)

    def _payload(self, bodies: list[bytes], numbers: list[int]) -> tuple[str, bytes]:
        # bulk.load reads one payload to its end before it asks for the next, so the row
        # numbers of the payload in flight are the ones its errors refer to.
        self._rows_of_payload = numbers
        return self.kind, b'{"events":[' + b",".join(bodies) + b"]}"

    def on_rejected(self, errors: list[str]) -> None:
        """``bulk.load``'s errors for the payload in flight (``events[i]: …``) → rows."""
        for error in errors:
            match = _EVENTS.match(error)
            if match:
                error = f"row {self._rows_of_payload[int(match[1])]}: {error[match.end() :]}"
            self._reject(error, counted=False)

    def _reject(self, error: str, *, counted: bool = True) -> None:
        if counted:
            self.stats.rejected += 1
        if len(self.stats.first_errors) < MAX_ERRORS:
            self.stats.first_errors.append(error)

    # -- readers --------------------------------------------------------------------------
    def _rows(self) -> Iterator[_Row]:
        if self.format == "ndjson":
            yield from self._ndjson()
        else:
            for number, record in enumerate(self._records(), start=1):
                yield self._flat(number, record)

    def _ndjson(self) -> Iterator[_Row]:
        with self.path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                line = line.strip()
                if not line:
                    continue
                try:
                    check_json_depth(line, what="the line")
                    msgspec.json.decode(line, type=msgspec.Raw)
                except msgspec.DecodeError as exc:
                    yield _Row(number, None, f"not valid JSON: {exc}")
                    continue
                except BadRequest as exc:  # nested past the bound
                    yield _Row(number, None, exc.message)
                    continue
                if not line.startswith(b"{"):
                    yield _Row(number, None, "must be a JSON object")
                    continue
                yield _Row(number, line)

    def _columns(self) -> list[str]:
        try:
            if self.format == "csv":
                with self.path.open(newline="", encoding="utf-8") as handle:
                    return next(csv.reader(handle), [])
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self.path).schema_arrow.names)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ImportFileError(f"cannot read {self.path.name}: {exc}") from None

    def _check_columns(self, columns: list[str]) -> None:
        if not columns:
            raise ImportFileError(f"{self.path.name} has no header row")
        known = COLUMNS[self.kind]
        items = ITEM_COLUMNS if self.kind == "ecommerce" else {}
        for name in columns:
            if name not in known and name not in items and not name.startswith(_PREFIXES):
                raise ImportFileError(
                    f"unknown column {name!r} for --type {self.kind}: use "
                    f"{', '.join([*known, *items])}, properties.KEY or context.KEY "
                    "(docs/operations.md)"
                )
        duplicated = sorted({name for name in columns if columns.count(name) > 1})
        if duplicated:
            raise ImportFileError(f"column {duplicated[0]!r} appears twice")

    def _records(self) -> Iterator[dict[str, Any]]:
        """The file's rows as dicts, one pyarrow record batch in memory at a time."""
        import pyarrow as pa

        if self.format == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.batch_rows):
                yield from batch.to_pylist()
            return
        import pyarrow.csv as pacsv

        columns = self._columns()
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(block_size=1 << 20),
                convert_options=pacsv.ConvertOptions(
                    # TRICKY: every column as text: type inference would turn an id
                    # like 00123 into 123 and a mostly-empty column into nulls of a
                    # guessed type; the formats decide what a value means.
                    column_types=dict.fromkeys(columns, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                yield from batch.to_pylist()
        except pa.ArrowInvalid as exc:
            raise ImportFileError(f"cannot read {self.path.name}: {exc}") from None

    # -- flat rows → events ----------------------------------------------------------------
    def _flat(self, number: int, record: dict[str, Any]) -> _Row:
        event: dict[str, Any] = {}
        item: dict[str, Any] = {}
        known = COLUMNS[self.kind]
        try:
            for name, value in record.items():
                if value is None or value == "":
                    continue
                if name in known:
                    event[name] = _value(value, known[name], name)
                elif name in ITEM_COLUMNS:
                    target, kind = ITEM_COLUMNS[name]
                    item[target] = _value(value, kind, name)
                else:
                    group, _, key = name.partition(".")
                    nested = event.setdefault(group, {})
                    if not isinstance(nested, dict):
                        raise ValueError(f"{group} and {name} cannot both be given")
                    nested[key] = _scalar(value)
            if item:
                if "items" in event:
                    raise ValueError("give items or item_* columns, not both")
                event["items"] = [item]
        except ValueError as exc:
            return _Row(number, None, str(exc))
        return _Row(number, self._encoder.encode(event))


def _value(value: Any, kind: str, name: str) -> Any:
    """A cell as the JSON value its column's kind calls for (typed Parquet values pass)."""
    if kind == JSON:
        if not isinstance(value, str):
            return value  # a nested Parquet column: already a list or dict
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            raise ValueError(f"{name} is not valid JSON") from None
    if kind == TIME:
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return aware.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str) and value.isdigit():
            return int(value)  # epoch milliseconds
        return value
    if kind == NUMBER and isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value  # sent as text: the format's decoder names the field
        return number if number.is_finite() else value
    return value


def _scalar(value: Any) -> Any:
    """A ``properties.KEY`` / ``context.KEY`` cell: whole numbers in CSV text as numbers."""
    if isinstance(value, str) and _WHOLE.match(value):
        return int(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


async def import_file(
    pipeline: IngestPipeline,
    tenant: Tenant,
    source: ImportFile,
    *,
    stages: Stages | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportStats:
    """Stream ``source`` through ``bulk.load`` into ``pipeline`` as historical events."""
    loaded = await bulk.load(
        pipeline,
        tenant,
        source.payloads(),
        stages=stages,
        on_progress=on_progress,
        on_rejected=source.on_rejected,
    )
    stats = source.stats
    stats.accepted, stats.duplicates = loaded.accepted, loaded.duplicates
    stats.rejected += loaded.rejected
    return stats
