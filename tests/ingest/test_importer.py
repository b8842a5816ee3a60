"""The historical import path: files of wire-format events → payloads → the real pipeline
and store. Expected rows are built here from the values written to each file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shoplens.config import Settings
from shoplens.ingest.importer import ImportFile, ImportFileError, ImportStats, import_file
from shoplens.ingest.pipeline import IngestPipeline
from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import TenantKeys, rows

# Long before any plan's retention window: only the historical path takes these.
T0 = datetime(2011, 1, 5, 10, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return datetime.fromtimestamp(T0.timestamp() + 60 * minutes, UTC)


def write_csv(path: Path, header: list[str], lines: list[list[str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(lines)
    return path


def run_import(
    tmp_path: Path, store: Store, meta: MetaStore, tenant_id: int, source: ImportFile
) -> ImportStats:
    """Import through a real pipeline (own WAL dir) into the session store, then drain."""
    settings = Settings(data_dir=tmp_path / "import-data", flush_interval=0.2)
    tenant = meta.tenant(tenant_id)
    assert tenant is not None

    async def go() -> ImportStats:
        pipeline = IngestPipeline(settings, store)
        await pipeline.start()
        try:
            return await import_file(pipeline, tenant, source)
        finally:
            await pipeline.stop()

    return asyncio.run(go())


def events(store: Store, tenant_id: int) -> list[dict[str, Any]]:
    return rows(
        store,
        "SELECT event_type, event_name, timestamp, user_id, transaction_id, revenue,"
        " original_currency, original_revenue, item_count, properties"
        " FROM events WHERE tenant_id = {t:UInt32} ORDER BY timestamp, event_name",
        t=tenant_id,
    )


def items(store: Store, tenant_id: int) -> list[tuple[Any, ...]]:
    found = rows(
        store,
        "SELECT timestamp, item_index, item_id, item_name, price, quantity FROM event_items"
        " WHERE tenant_id = {t:UInt32} ORDER BY timestamp, item_index",
        t=tenant_id,
    )
    return [tuple(r.values()) for r in found]


@pytest.fixture
def shop(make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    return make_tenant("Importer", plan="pro", base_currency="USD")


# -- CSV ---------------------------------------------------------------------------------


def test_csv_ecommerce_rows_are_stored_as_written(
    tmp_path: Path, store: Store, meta: MetaStore, shop: TenantKeys
) -> None:
    header = [
        "event_type",
        "timestamp",
        "user_id",
        "transaction_id",
        "revenue",
        "currency",
        "item_id",
        "item_name",
        "item_price",
        "item_quantity",
        "items",
        "properties.country",
    ]
    two_items = [
        {"item_id": "A", "item_name": "Mug", "price": 2.5, "quantity": 2},
        {"item_id": "B", "item_name": "Tea", "price": 4, "quantity": 1},
    ]
    lines = [
        # one-item order from item_* columns, ISO time
        ["purchase", at(0).isoformat(), "u1", "o1", "19.98", "USD", "sku1", "Lamp", "9.99", "2",
         "", "UK"],
        # two items from the JSON column, epoch-ms time, an id with a leading zero
        ["purchase", str(int(at(1).timestamp() * 1000)), "007", "o2", "9.00", "", "", "", "", "",
         json.dumps(two_items), "FR"],
        ["view_item", at(2).isoformat(), "u3", "", "", "", "sku3", "", "", "", "", ""],
    ]  # fmt: skip
    source = ImportFile(write_csv(tmp_path / "orders.csv", header, lines), "ecommerce")
    stats = run_import(tmp_path, store, meta, shop.id, source)

    assert (stats.rows, stats.accepted, stats.rejected, stats.first_errors) == (3, 3, 0, [])
    stored = events(store, shop.id)
    assert [
        (e["event_type"], e["timestamp"], e["user_id"], e["transaction_id"], e["revenue"],
         e["original_revenue"], e["item_count"], dict(e["properties"]))
        for e in stored
    ] == [
        ("purchase", at(0), "u1", "o1", 1998, Decimal("19.98"), 2, {"country": "UK"}),
        ("purchase", at(1), "007", "o2", 900, Decimal("9"), 3, {"country": "FR"}),
        ("view_item", at(2), "u3", "", 0, Decimal(0), 1, {}),
    ]  # fmt: skip
    assert items(store, shop.id) == [
        (at(0), 0, "sku1", "Lamp", 999, 2),
        (at(1), 0, "A", "Mug", 250, 2),
        (at(1), 1, "B", "Tea", 400, 1),
        (at(2), 0, "sku3", "", 0, 1),
    ]


def test_bad_rows_are_reported_by_row_and_the_rest_stored(
    tmp_path: Path, store: Store, meta: MetaStore, shop: TenantKeys
) -> None:
    header = ["event_type", "timestamp", "transaction_id", "revenue", "items"]
    lines = [
        ["purchase", at(0).isoformat(), "o1", "10", ""],
        ["purchase", at(1).isoformat(), "", "10", ""],  # no transaction_id
        ["search", at(2).isoformat(), "", "", ""],
        ["purchase", at(3).isoformat(), "o4", "ten", ""],  # not a number
        ["purchase", at(4).isoformat(), "o5", "10", "[not json"],
        ["bogus", at(5).isoformat(), "", "", ""],
        ["search", at(6).isoformat(), "", "", ""],
    ]
    path = write_csv(tmp_path / "bad.csv", header, lines)
    # Two rows a payload: errors of later payloads must still name their rows.
    source = ImportFile(path, "ecommerce", batch_rows=2)
    stats = run_import(tmp_path, store, meta, shop.id, source)

    assert (stats.rows, stats.accepted, stats.rejected) == (7, 3, 4)
    assert sorted(stats.first_errors) == [
        "row 2: transaction_id is required for purchase events",
        "row 4: revenue: Expected `int | float | null`, got `str`",
        "row 5: items is not valid JSON",
        "row 6: Invalid ecommerce event_type",
    ]
    stored = events(store, shop.id)
    assert [(e["event_type"], e["timestamp"]) for e in stored] == [
        ("purchase", at(0)),
        ("search", at(2)),
        ("search", at(6)),
    ]


# -- NDJSON ------------------------------------------------------------------------------


def test_ndjson_core_lines_are_stored_and_bad_lines_named(
    tmp_path: Path, store: Store, meta: MetaStore, shop: TenantKeys
) -> None:
    good = [
        {"event": "order_completed", "id": "c-1", "userId": "u1", "timestamp": at(0).isoformat(),
         "properties": {"orderId": "o1", "total": 6578, "currency": "USD"}},
        {"event": "signup", "id": "c-2", "userId": 42, "timestamp": int(at(1).timestamp() * 1000),
         "properties": {"plan": "pro"}},
    ]  # fmt: skip
    lines = [
        json.dumps(good[0]),
        "",  # blank lines are skipped, not rows
        "{not json",
        json.dumps(good[1]),
        "[1, 2]",
        json.dumps({"event": "order_completed", "timestamp": at(2).isoformat()}),
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    stats = run_import(tmp_path, store, meta, shop.id, ImportFile(path, "core"))

    assert (stats.rows, stats.accepted, stats.rejected) == (5, 2, 3)
    # NDJSON rows are named by their line number
    assert stats.first_errors[0].startswith("row 3: not valid JSON")
    assert stats.first_errors[1:] == [
        "row 5: must be a JSON object",
        "row 6: properties.orderId is required for order_completed events",
    ]
    stored = events(store, shop.id)
    assert [
        (e["event_type"], e["event_name"], e["timestamp"], e["user_id"], e["transaction_id"],
         e["revenue"])
        for e in stored
    ] == [
        ("purchase", "order_completed", at(0), "u1", "o1", 6578),
        ("signup", "signup", at(1), "42", "", 0),
    ]  # fmt: skip


def test_ndjson_lines_nested_too_deep_or_timed_out_of_range_are_named_not_fatal(
    tmp_path: Path, store: Store, meta: MetaStore, shop: TenantKeys
) -> None:
    # A 1,000-deep line once raised RecursionError out of the import; 2^62 ms was year 0000.
    deep = '{"event": "deep", "properties": ' + '{"a": ' * 1_000 + "1" + "}" * 1_001
    lines = [
        deep,
        json.dumps({"event": "far", "timestamp": 2**62}),
        json.dumps({"event": "ok", "timestamp": at(0).isoformat()}),
        json.dumps({"event": "iso", "timestamp": "2200-01-01T00:00:00Z"}),
    ]
    path = tmp_path / "hostile.ndjson"
    path.write_text("\n".join(lines) + "\n")
    stats = run_import(tmp_path, store, meta, shop.id, ImportFile(path, "core"))

    assert (stats.rows, stats.accepted, stats.rejected) == (4, 1, 3)
    assert stats.first_errors == [
        "row 1: the line is nested deeper than 64 levels",
        "row 2: timestamp must be between 1970-01-01 and 2200-01-01 (UTC)",
        "row 4: timestamp must be between 1970-01-01 and 2200-01-01 (UTC)",
    ]
    assert [e["event_name"] for e in events(store, shop.id)] == ["ok"]


def test_ndjson_is_streamed_one_batch_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "many.ndjson"
    line = json.dumps({"event_type": "search", "timestamp": at(0).isoformat()})
    path.write_text((line + "\n") * 25)
    source = ImportFile(path, "ecommerce", batch_rows=10)
    payloads = source.payloads()
    kind, body = next(payloads)
    assert kind == "ecommerce"
    assert len(msgspec.json.decode(body)["events"]) == 10
    assert source.stats.rows == 10  # nothing past the first batch was read yet
    assert [len(msgspec.json.decode(b)["events"]) for _, b in payloads] == [10, 5]


# -- Parquet -------------------------------------------------------------------------------


def test_parquet_typed_and_nested_columns(
    tmp_path: Path, store: Store, meta: MetaStore, shop: TenantKeys
) -> None:
    item = pa.struct([("item_id", pa.string()), ("price", pa.float64()), ("quantity", pa.int64())])
    table = pa.table(
        {
            "event_type": ["purchase", "add_to_cart"],
            "timestamp": pa.array([at(0), at(5).replace(tzinfo=None)], pa.timestamp("ms")),
            "transaction_id": ["p1", None],
            "revenue": pa.array([Decimal("12.34"), None], pa.decimal128(10, 2)),
            "items": pa.array(
                [[{"item_id": "X", "price": 6.17, "quantity": 2}],
                 [{"item_id": "Y", "price": 1.0, "quantity": 1}]],
                pa.list_(item),
            ),
            "properties.channel": ["email", "ads"],
        }
    )  # fmt: skip
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    stats = run_import(tmp_path, store, meta, shop.id, ImportFile(path, "ecommerce"))

    assert (stats.rows, stats.accepted, stats.rejected) == (2, 2, 0)
    stored = events(store, shop.id)
    assert [
        (e["event_type"], e["timestamp"], e["transaction_id"], e["revenue"],
         dict(e["properties"]))
        for e in stored
    ] == [
        ("purchase", at(0), "p1", 1234, {"channel": "email"}),
        ("add_to_cart", at(5), "", 0, {"channel": "ads"}),
    ]  # fmt: skip
    assert items(store, shop.id) == [(at(0), 0, "X", "", 617, 2), (at(5), 0, "Y", "", 100, 1)]


# -- the file as a whole ---------------------------------------------------------------------


def test_an_unknown_column_refuses_the_file_naming_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["event_type", "colour"], [["search", "red"]])
    with pytest.raises(ImportFileError, match="unknown column 'colour' for --type ecommerce"):
        ImportFile(path, "ecommerce")
    # item_* columns belong to the ecommerce shape only
    path = write_csv(tmp_path / "y.csv", ["event", "item_id"], [["search", "A"]])
    with pytest.raises(ImportFileError, match="unknown column 'item_id' for --type core"):
        ImportFile(path, "core")


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        ("a.txt", None, "cannot tell the format of a.txt from its suffix"),
        ("a.csv", "xml", "--format must be one of csv, ndjson, parquet"),
    ],
)
def test_format_from_the_suffix_or_the_option(
    tmp_path: Path, name: str, fmt: str | None, message: str
) -> None:
    path = tmp_path / name
    path.write_text("event_type\nsearch\n")
    with pytest.raises(ImportFileError, match=message):
        ImportFile(path, "ecommerce", fmt)
    assert ImportFile(path, "ecommerce", "csv").format == "csv"


def test_a_missing_file_or_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        ImportFile(tmp_path / "nope.csv", "ecommerce")
    path = write_csv(tmp_path / "a.csv", ["event_type"], [["search"]])
    with pytest.raises(ImportFileError, match="--type must be one of ecommerce, core"):
        ImportFile(path, "segment")
