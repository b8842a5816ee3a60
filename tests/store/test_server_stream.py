"""``ServerStore.stream`` against a real ClickHouse server (skipped without one, as in
tests/store/test_server.py: set ``SHOPLENS_TEST_CLICKHOUSE_URL``)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from shoplens.store import Store, open_store
from tests.store.test_server import SERVER_URL, needs_server


@pytest.fixture
def server() -> Iterator[Store]:
    opened = open_store(SERVER_URL)
    yield opened
    opened.close()


@needs_server
def test_server_streams_every_row_in_batches(server: Store) -> None:
    sql = "SELECT number AS n, toString(number) AS s FROM numbers({count:UInt64})"
    batches = list(server.stream(sql, {"count": 300_000}, batch_rows=50_000))
    assert len(batches) > 1
    table = pa.Table.from_batches(batches)
    assert table.column("n").to_pylist() == list(range(300_000))
    assert table.column("s").type == pa.string()  # text, as the export schemas expect
