"""Planning an export (parameters, file name) and streaming one off the real store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from shoplens.errors import BadRequest
from shoplens.export import Export, conform, plan
from shoplens.metrics.period import Period, parse_period
from shoplens.store import Store
from tests.conftest import TenantKeys, wait_stored
from tests.export import shop
from tests.export.readback import read_back

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


def window(**query: str) -> Period:
    return parse_period(query, timezone="America/New_York", now=NOW)


def test_plan_names_the_file_after_type_and_local_days() -> None:
    job = plan("orders", "xlsx", 7, window(period="30d"))
    assert job.filename == "shoplens-orders-2026-02-14-2026-03-15.xlsx"
    assert job.content_type.startswith("application/vnd.openxmlformats")
    assert plan("events", None, 7, window(start="2026-01-01", end="2026-01-31")).filename == (
        "shoplens-events-2026-01-01-2026-01-31.csv"  # csv by default
    )


@pytest.mark.parametrize(
    ("type_", "fmt", "field", "message"),
    [
        (None, "csv", "type", "type is required: one of orders, events, products, customers"),
        ("  ", "csv", "type", "type is required: one of orders, events, products, customers"),
        ("order", "csv", "type", "type must be one of orders, events, products, customers"),
        ("orders", "xls", "format", "format must be one of csv, json, xlsx, ndjson, parquet"),
        ("orders", "CSV", "format", "format must be one of csv, json, xlsx, ndjson, parquet"),
    ],
)
def test_plan_rejects_a_bad_type_or_format_naming_it(
    type_: str | None, fmt: str, field: str, message: str
) -> None:
    with pytest.raises(BadRequest) as raised:
        plan(type_, fmt, 7, window(period="7d"))
    assert (raised.value.field, raised.value.message) == (field, message)


def test_conform_renames_and_casts_to_the_schema() -> None:
    schema = pa.schema([("n", pa.int64()), ("s", pa.string())])
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1, 2], pa.uint32()), pa.array(["a", "b"])], names=["out_n", "x"]
    )
    assert conform(batch, schema).to_pylist() == [{"n": 1, "s": "a"}, {"n": 2, "s": "b"}]
    with pytest.raises(ValueError, match="expected 2 columns"):
        conform(batch.select([0]), schema)


def send_many(client: TestClient, keys: TenantKeys, n: int) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    events = [
        {
            "event_type": "search",
            "user_id": f"u{i % 17}",
            "timestamp": shop.iso(start + timedelta(seconds=i)),
        }
        for i in range(n)
    ]
    for i in range(0, n, 100):
        response = client.post(shop.BATCH, json={"events": events[i : i + 100]}, headers=keys.pk)
        assert response.json() == {"ok": True, "accepted": 100}, response.json()
    wait_stored(client)


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_an_export_streams_batch_by_batch_from_the_store(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys], fmt: str
) -> None:
    keys = make_tenant("many", plan="pro")
    send_many(client, keys, 600)
    job = plan(
        "events",
        fmt,
        keys.id,
        parse_period({"period": "7d"}, timezone="UTC", now=datetime.now(UTC)),
    )

    taken: list[int] = []

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in job.batches(store, batch_rows=50):
            taken.append(batch.num_rows)
            yield batch

    written: list[int] = []
    taken_at_chunk: list[int] = []
    chunks = []
    for chunk in job.chunks(counted(), on_rows=written.append):
        taken_at_chunk.append(len(taken))
        chunks.append(chunk)

    assert sum(taken) == 600 and max(taken) <= 50 and len(taken) == 12
    assert written == taken  # on_rows reports each batch as it is written
    # Output for batch k left before batch k+1 was taken: one batch in hand at a time.
    assert set(range(1, 13)) <= set(taken_at_chunk)
    rows = read_back(fmt, b"".join(chunks), job.row_set.schema)
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    assert len({r["event_id"] for r in rows}) == 600


def test_closing_an_export_after_its_first_chunk_ends_its_query_at_once(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    """A client gone after the first chunk: closing the chunks must end the store's query
    there and then (the route closes them on a disconnect), not at garbage collection."""
    keys = make_tenant("abandoned", plan="pro")
    send_many(client, keys, 300)
    job = plan(
        "events",
        "csv",
        keys.id,
        parse_period({"period": "7d"}, timezone="UTC", now=datetime.now(UTC)),
    )
    batches = job.batches(store, batch_rows=10)
    chunks = job.chunks(batches)
    next(chunks), next(chunks)  # the header row and the first batch
    running = "SELECT query FROM system.processes WHERE query LIKE 'SELECT toString(event_id)%'"
    assert len(store.query(running)) == 1  # the export's query, still running
    chunks.close()  # `batches` is still referenced here: no garbage collector would end it
    assert len(store.query(running)) == 0
    assert next(batches, None) is None  # closed through the chunks, not left suspended


def test_an_export_is_a_plain_value() -> None:
    job = plan("customers", "json", 3, window(period="7d"))
    assert isinstance(job, Export) and job.row_set.name == "customers"
