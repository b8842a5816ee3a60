"""The server store: URL → client arguments always; a real server when one is configured.

The round-trip tests need a ClickHouse server, which cannot run here; they run against
the one ``SHOPLENS_TEST_CLICKHOUSE_URL`` names and are skipped otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import OperationalError

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.store import Store, open_store
from shoplens.store.migrate import available, migrate
from shoplens.store.server import ServerStore, client_kwargs

SERVER_URL = os.environ.get("SHOPLENS_TEST_CLICKHOUSE_URL", "")
needs_server = pytest.mark.skipif(
    not SERVER_URL,
    reason="needs a ClickHouse server: set SHOPLENS_TEST_CLICKHOUSE_URL=clickhouse://host:8123/db",
)

DEFAULTS = {
    "host": "localhost",
    "port": 8123,
    "username": "default",
    "password": "",
    "database": "default",
    "secure": False,
}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("clickhouse://", {}),
        ("clickhouse://ch.internal", {"host": "ch.internal"}),
        ("clickhouse://ch.internal:8123/shop", {"host": "ch.internal", "database": "shop"}),
        (
            "clickhouse://analyst:s3cret@ch:9000/analytics",
            {
                "host": "ch",
                "port": 9000,
                "username": "analyst",
                "password": "s3cret",
                "database": "analytics",
            },
        ),
        (
            "clickhouse://u%40corp:p%40ss%3Aw%2Fd@ch/db",
            {"host": "ch", "username": "u@corp", "password": "p@ss:w/d", "database": "db"},
        ),
        ("clickhouse://reader@ch/db", {"host": "ch", "username": "reader", "database": "db"}),
        ("clickhouses://ch/db", {"host": "ch", "database": "db", "secure": True, "port": 8443}),
        (
            "clickhouse://ch/db?secure=1",
            {"host": "ch", "database": "db", "secure": True, "port": 8443},
        ),
        (
            "clickhouse://ch/db?secure=true",
            {"host": "ch", "database": "db", "secure": True, "port": 8443},
        ),
        ("clickhouse://ch/db?secure=0", {"host": "ch", "database": "db"}),
        (
            "clickhouses://ch:9440/db",
            {"host": "ch", "database": "db", "secure": True, "port": 9440},
        ),
        ("https://ch.cloud", {"host": "ch.cloud", "secure": True, "port": 8443}),
        ("http://ch:18123", {"host": "ch", "port": 18123}),
    ],
)
def test_client_kwargs(url: str, expected: dict[str, Any]) -> None:
    assert client_kwargs(url) == {**DEFAULTS, **expected}


def test_open_store_dispatches_clickhouse_urls_and_fails_at_start() -> None:
    # Nothing listens on port 1: the server store connects in its constructor, so a wrong
    # URL fails when the app starts, not on the first query.
    with pytest.raises(OperationalError):
        open_store("clickhouse://default@127.0.0.1:1/default")


# Against a real server -------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[Store]:
    opened = open_store(SERVER_URL)
    migrate(opened)
    yield opened
    opened.close()


def server_event(tenant_id: int) -> Event:
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
        properties={"campaign": "spring-sale"},
        items=[Item(item_id="sku_1", price=2499, quantity=2, currency="USD")],
    )


@needs_server
def test_server_store_kind(server: Store) -> None:
    assert isinstance(server, ServerStore)
    assert server.kind == "server"


@needs_server
def test_server_migrate_is_idempotent(server: Store) -> None:
    assert migrate(server) == []
    versions = server.query("SELECT version FROM schema_migrations").column("version").to_pylist()
    assert sorted(versions) == [m.version for m in available()]


@needs_server
def test_server_insert_dedup_and_query_round_trip(server: Store) -> None:
    tenant_id = 3_000_000_000 + uuid.uuid4().int % 1_000_000_000
    events = [server_event(tenant_id)]
    token = f"test-{uuid.uuid4().hex}"
    try:
        for _ in range(2):  # a retried flush
            server.insert("events", events_table(events), f"{token}-events")
            server.insert("event_items", items_table(events), f"{token}-items")
        params = {"t": tenant_id}
        counts = server.query(
            "SELECT (SELECT count() FROM events WHERE tenant_id = {t:UInt32}) AS events,"
            " (SELECT count() FROM event_properties WHERE tenant_id = {t:UInt32}) AS properties,"
            " (SELECT sum(events) FROM events_hourly WHERE tenant_id = {t:UInt32}) AS hourly,"
            " (SELECT count() FROM event_items WHERE tenant_id = {t:UInt32}) AS items",
            params,
        ).to_pylist()
        assert counts == [{"events": 1, "properties": 1, "hourly": 1, "items": 1}]

        server.insert("events", events_table(events), f"{token}-other")  # a new token
        again = server.query(
            "SELECT count() AS n FROM events WHERE tenant_id = {t:UInt32}", params
        ).to_pylist()
        assert again == [{"n": 2}]

        [row] = server.query(
            "SELECT toString(event_id) AS id, timestamp, revenue FROM events"
            " WHERE tenant_id = {t:UInt32} AND user_id = {u:String} LIMIT 1",
            {"t": tenant_id, "u": "user_123"},
        ).to_pylist()
        assert row["id"] == events[0].event_id
        assert row["timestamp"].astimezone(UTC) == datetime(2024, 1, 15, 10, 35, tzinfo=UTC)
        assert row["revenue"] == 4999
    finally:
        for table in ("events", "event_items", "event_properties", "events_hourly"):
            server.command(f"DELETE FROM {table} WHERE tenant_id = {{t:UInt32}}", {"t": tenant_id})


@needs_server
@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("String", "x'; DROP TABLE events; --", "x'; DROP TABLE events; --"),
        ("String", "C:\\new", "C:\\new"),
        ("Array(String)", ["a", "it's"], ["a", "it's"]),
        ("UInt32", 7, 7),
    ],
)
def test_server_binds_parameters_like_the_embedded_store(
    server: Store, type_: str, value: Any, expected: Any
) -> None:
    assert server.query(f"SELECT {{p:{type_}}} AS v", {"p": value}).to_pylist() == [{"v": expected}]
