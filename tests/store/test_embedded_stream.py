"""``EmbeddedStore.stream``: a SELECT's rows as Arrow batches while it runs (chDB)."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from shoplens.store import Store

NUMBERS = "SELECT number AS n, toString(number) AS s FROM numbers({count:UInt64})"


def test_streams_every_row_in_batches_with_bound_parameters(store: Store) -> None:
    batches = list(store.stream(NUMBERS, {"count": 300_000}, batch_rows=50_000))
    assert len(batches) > 1  # several engine blocks, not one table
    table = pa.Table.from_batches(batches)
    assert table.column("n").to_pylist() == list(range(300_000))
    assert table.column("s")[12_345].as_py() == "12345"


def test_an_empty_result_yields_no_batches(store: Store) -> None:
    assert list(store.stream(NUMBERS, {"count": 0})) == []


def test_a_bad_query_fails_on_the_first_batch(store: Store) -> None:
    with pytest.raises(Exception, match=r"(?i)unknown|missing|no_such|doesn't exist"):
        next(store.stream("SELECT nope FROM numbers(3)"))


def test_an_abandoned_stream_leaves_the_store_usable(store: Store) -> None:
    stream = store.stream(NUMBERS, {"count": 10_000_000}, batch_rows=10_000)
    first = next(stream)
    assert first.num_rows > 0
    # The store's own connection answers while the stream is open...
    assert store.query("SELECT 42 AS x").to_pylist() == [{"x": 42}]
    stream.close()  # ...and ends the query when dropped half way
    assert store.query("SELECT 43 AS x").to_pylist() == [{"x": 43}]


def test_batches_can_be_pulled_from_other_threads(store: Store) -> None:
    # A streamed HTTP response pulls each batch on whichever worker thread is free.
    stream = store.stream(NUMBERS, {"count": 200_000}, batch_rows=10_000)
    counts = [next(stream).num_rows]
    worker = threading.Thread(target=lambda: counts.extend(b.num_rows for b in stream))
    worker.start()
    worker.join(timeout=60)
    assert sum(counts) == 200_000
