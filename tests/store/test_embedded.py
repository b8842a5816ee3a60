"""The embedded store: chDB in-process, bound parameters, exactly-once inserts.

TRICKY: chDB serves one data path per process, so these tests use the session store's path
only. A test that needs its own schema opens a second EmbeddedStore on that same path and
``USE``s a fresh database on its connection (the database is per connection).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.store import Store, open_store
from shoplens.store.embedded import EmbeddedStore
from shoplens.store.migrate import migrate


def scalar(store: Store, sql: str, **params: Any) -> Any:
    return store.query(sql, params).to_pylist()[0]["v"]


def test_kind_and_path(store: Store) -> None:
    assert isinstance(store, EmbeddedStore)
    assert store.kind == "embedded"
    assert store.cluster is None
    assert Path(store.path).is_absolute()
    assert Path(store.path).is_dir()


# Bound parameters ------------------------------------------------------------------------

BOUND_VALUES = [
    ("UInt32", 7, 7),
    ("UInt32", 4_294_967_295, 4_294_967_295),
    ("Int64", -(2**63), -(2**63)),
    ("Float64", 1.5, 1.5),
    ("String", "plain", "plain"),
    ("String", "x'; DROP TABLE events; --", "x'; DROP TABLE events; --"),
    ("String", 'it\'s "quoted" `ticked`', 'it\'s "quoted" `ticked`'),
    ("String", "😀 ü", "😀 ü"),
    ("String", "C:\\new\\table", "C:\\new\\table"),
    ("String", "line1\nline2", "line1\nline2"),
    ("String", "tab\there", "tab\there"),
    ("String", "\\N", "\\N"),
    ("Nullable(String)", None, None),
    (
        "DateTime64(3, 'UTC')",
        "2024-01-15 10:35:00.123",
        datetime(2024, 1, 15, 10, 35, 0, 123000, tzinfo=UTC),
    ),
    (
        "DateTime64(3, 'UTC')",
        datetime(2024, 1, 15, 10, 35),
        datetime(2024, 1, 15, 10, 35, tzinfo=UTC),
    ),
    (
        "DateTime64(3, 'UTC')",
        datetime(2024, 1, 15, 10, 35, tzinfo=UTC),
        datetime(2024, 1, 15, 10, 35, tzinfo=UTC),
    ),
    ("Array(UInt32)", [1, 2, 3], [1, 2, 3]),
    ("Array(String)", ["prod_1", "prod_2"], ["prod_1", "prod_2"]),
    ("Array(String)", ["it's", "a,b", "]"], ["it's", "a,b", "]"]),
    ("Array(String)", [], []),
]


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    BOUND_VALUES,
    ids=[f"{t}-{v!r}"[:60] for t, v, _ in BOUND_VALUES],
)
def test_a_bound_value_comes_back_unchanged(
    store: Store, type_: str, value: Any, expected: Any
) -> None:
    # The server store (clickhouse-connect) binds these Python values as ClickHouse reads
    # them; one SQL text must serve both, so the embedded store must bind them alike.
    assert scalar(store, f"SELECT {{p:{type_}}} AS v", p=value) == expected


def test_an_injection_attempt_in_a_string_stays_data(store: Store) -> None:
    attempt = "events' OR '1'='1"
    found = store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name = {n:String}",
        {"n": attempt},
    )
    assert found.num_rows == 0
    still = store.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name = {n:String}",
        {"n": "events"},
    )
    assert still.column("name").to_pylist() == ["events"]


def test_several_parameters_and_reuse(store: Store) -> None:
    row = store.query(
        "SELECT {a:UInt32} + {a:UInt32} AS twice, {s:String} AS s,"
        " has({ids:Array(UInt32)}, {a:UInt32}) AS found",
        {"a": 21, "s": "x", "ids": [1, 21]},
    ).to_pylist()
    assert row == [{"twice": 42, "s": "x", "found": True}]


def test_a_query_returns_arrow(store: Store) -> None:
    table = store.query("SELECT number AS n FROM numbers(3)")
    assert isinstance(table, pa.Table)
    assert table.column("n").to_pylist() == [0, 1, 2]


def test_command_with_parameters(scratch: EmbeddedStore) -> None:
    scratch.command("CREATE TABLE t (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
    scratch.command("INSERT INTO t VALUES ({i:UInt32}, {n:String})", {"i": 1, "n": "a'b"})
    assert scratch.query("SELECT id, name FROM t").to_pylist() == [{"id": 1, "name": "a'b"}]


def test_queries_from_another_thread_see_the_same_data(
    scratch: EmbeddedStore, store: Store
) -> None:
    database = scalar(scratch, "SELECT currentDatabase() AS v")
    scratch.command("CREATE TABLE t (id UInt32) ENGINE = MergeTree ORDER BY id")
    scratch.command("INSERT INTO t VALUES (1), (2)")
    seen: list[Any] = []
    worker = threading.Thread(
        target=lambda: seen.append(scalar(store, f"SELECT count() AS v FROM {database}.t"))
    )
    worker.start()
    worker.join()
    assert seen == [2]


# Exactly-once inserts --------------------------------------------------------------------

DEDUP_TABLE = (
    "CREATE TABLE t (id UInt32, v String) ENGINE = MergeTree ORDER BY id "
    "SETTINGS non_replicated_deduplication_window = 100"
)


def test_same_token_twice_inserts_once(scratch: EmbeddedStore) -> None:
    scratch.command(DEDUP_TABLE)
    batch = pa.table({"id": pa.array([1, 2], pa.uint32()), "v": ["a", "b"]})
    scratch.insert("t", batch, "flush-0-2")
    scratch.insert("t", batch, "flush-0-2")
    assert scalar(scratch, "SELECT count() AS v FROM t") == 2


def test_different_tokens_insert_twice(scratch: EmbeddedStore) -> None:
    scratch.command(DEDUP_TABLE)
    batch = pa.table({"id": pa.array([1, 2], pa.uint32()), "v": ["a", "b"]})
    scratch.insert("t", batch, "flush-0-2")
    scratch.insert("t", batch, "flush-2-4")
    assert scalar(scratch, "SELECT count() AS v FROM t") == 4


def test_the_token_not_the_content_decides(scratch: EmbeddedStore) -> None:
    scratch.command(DEDUP_TABLE)
    scratch.insert("t", pa.table({"id": pa.array([1], pa.uint32()), "v": ["a"]}), "tok")
    scratch.insert("t", pa.table({"id": pa.array([9], pa.uint32()), "v": ["z"]}), "tok")
    assert scratch.query("SELECT id, v FROM t").to_pylist() == [{"id": 1, "v": "a"}]


def test_insert_takes_columns_by_name(scratch: EmbeddedStore) -> None:
    scratch.command(DEDUP_TABLE)
    batch = pa.table({"v": ["a"], "id": pa.array([5], pa.uint32())})
    scratch.insert("t", batch, "tok")
    assert scratch.query("SELECT id, v FROM t").to_pylist() == [{"id": 5, "v": "a"}]


def sample_event(tenant_id: int) -> Event:
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type="purchase",
        event_name="purchase",
        source="ecommerce",
        timestamp=1_705_314_900_000,
        received_at=1_705_314_900_000,
        user_id="user_123",
        transaction_id="order_456",
        currency="USD",
        revenue=4999,
        original_currency="USD",
        original_revenue="49.99",
        item_count=2,
        properties={"campaign": "spring-sale", "source": "email"},
        items=[Item(item_id="sku_1", price=2499, quantity=2, currency="USD")],
    )


def test_a_retried_flush_is_not_counted_again_by_any_rollup(scratch: EmbeddedStore) -> None:
    """TRICKY: the token must dedup the materialized-view targets as well as the table."""
    migrate(scratch)
    events = [sample_event(tenant_id=1)]
    for _ in range(2):
        scratch.insert("events", events_table(events), "seg1-0-1-events")
        scratch.insert("event_items", items_table(events), "seg1-0-1-items")
    counts = scratch.query(
        "SELECT (SELECT count() FROM events) AS events,"
        " (SELECT count() FROM event_properties) AS properties,"
        " (SELECT sum(events) FROM events_hourly) AS hourly,"
        " (SELECT sum(revenue) FROM events_hourly) AS hourly_revenue,"
        " (SELECT count() FROM event_items) AS items,"
        " (SELECT sum(quantity) FROM items_hourly) AS item_units"
    ).to_pylist()
    assert counts == [
        {
            "events": 1,
            "properties": 2,
            "hourly": 1,
            "hourly_revenue": 4999,
            "items": 1,
            "item_units": 2,
        }
    ]


def test_an_event_round_trips_through_the_events_table(scratch: EmbeddedStore) -> None:
    migrate(scratch)
    event = sample_event(tenant_id=9)
    scratch.insert("events", events_table([event]), "tok")
    [row] = scratch.query(
        "SELECT toString(event_id) AS event_id, timestamp, revenue, toString(original_revenue)"
        " AS original_revenue, properties FROM events WHERE tenant_id = {t:UInt32}",
        {"t": 9},
    ).to_pylist()
    assert row["event_id"] == event.event_id
    assert row["timestamp"] == datetime(2024, 1, 15, 10, 35, tzinfo=UTC)
    assert (row["revenue"], row["original_revenue"]) == (4999, "49.99")
    assert dict(row["properties"]) == {"campaign": "spring-sale", "source": "email"}


# open_store ------------------------------------------------------------------------------


def test_open_store_with_an_absolute_chdb_url(store: Store) -> None:
    assert isinstance(store, EmbeddedStore)
    opened = open_store(f"chdb://{store.path}")
    try:
        assert isinstance(opened, EmbeddedStore)
        assert opened.path == store.path
        assert opened.query("SELECT 1 AS one").to_pylist() == [{"one": 1}]
    finally:
        opened.close()
    assert store.query("SELECT 1 AS one").to_pylist() == [{"one": 1}]  # still serving


def test_open_store_with_a_relative_chdb_url(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(store, EmbeddedStore)
    path = Path(store.path)
    monkeypatch.chdir(path.parent)
    opened = open_store(f"chdb://{path.name}")
    try:
        assert isinstance(opened, EmbeddedStore)
        assert opened.path == store.path  # resolved against the working directory
    finally:
        opened.close()


def test_open_store_needs_a_chdb_path() -> None:
    with pytest.raises(ValueError, match="needs a path"):
        open_store("chdb://")


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://h/db", "mysql"),
        ("postgres://h/db", "postgres"),
        ("/var/lib/ch", ""),
        ("file:///x", "file"),
    ],
)
def test_open_store_refuses_an_unknown_scheme(url: str, scheme: str) -> None:
    with pytest.raises(ValueError) as caught:
        open_store(url)
    assert f"unknown store URL scheme {scheme!r}" in str(caught.value)
