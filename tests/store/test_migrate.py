"""Numbered migrations: rendering for one node or a cluster, applied once, in order."""

from __future__ import annotations

import re

import pytest

from shoplens.store import Store
from shoplens.store.embedded import EmbeddedStore
from shoplens.store.migrate import Migration, available, migrate

TABLES = {
    "events",
    "event_items",
    "event_properties",
    "events_hourly",
    "items_hourly",
    "identities",
}
VIEWS = {"event_properties_mv", "events_hourly_mv", "items_hourly_mv", "identities_mv"}


def tables_in(store: Store) -> dict[str, str]:
    rows = store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"
    ).to_pylist()
    return {row["name"]: row["engine_full"] for row in rows}


# available() and statements() -------------------------------------------------------------


def test_available_migrations_are_numbered_from_one_in_order() -> None:
    found = available()
    versions = [m.version for m in found]
    assert versions == sorted(versions) == list(range(1, len(found) + 1))
    assert found[0].name == "events"
    assert all(re.fullmatch(r"[a-z0-9_]+", m.name) for m in found)


def test_statements_for_a_single_node() -> None:
    statements = available()[0].statements(None)
    assert len(statements) == 8  # 5 tables + 3 materialized views
    for statement in statements:
        assert statement.startswith("CREATE ")
        assert "{on_cluster}" not in statement
        assert "{replicated}" not in statement
        assert "ON CLUSTER" not in statement
        assert "Replicated" not in statement
        assert not statement.endswith(";")
        assert not any(line.lstrip().startswith("--") for line in statement.splitlines())
    joined = "\n".join(statements)
    assert "ENGINE = ReplacingMergeTree" in joined
    assert "ENGINE = AggregatingMergeTree" in joined


def test_statements_for_a_cluster() -> None:
    statements = available()[0].statements("c1")
    assert len(statements) == 8
    for statement in statements:
        first_line = statement.splitlines()[0]
        assert re.match(
            r"CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS \w+ ON CLUSTER c1( |$)", first_line
        ), first_line
    joined = "\n".join(statements)
    assert joined.count("ENGINE = ReplicatedReplacingMergeTree") == 3
    assert joined.count("ENGINE = ReplicatedAggregatingMergeTree") == 2
    assert "ENGINE = ReplacingMergeTree" not in joined
    assert "{on_cluster}" not in joined
    assert "{replicated}" not in joined


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (
            None,
            [
                "CREATE TABLE t  (x UInt8) ENGINE = MergeTree ORDER BY x",
                "SELECT 1; SELECT 2",
            ],
        ),
        (
            "c1",
            [
                "CREATE TABLE t ON CLUSTER c1 (x UInt8) ENGINE = ReplicatedMergeTree ORDER BY x",
                "SELECT 1; SELECT 2",
            ],
        ),
    ],
)
def test_statements_split_at_line_end_semicolons_and_drop_comments(
    cluster: str | None, expected: list[str]
) -> None:
    migration = Migration(
        99,
        "demo",
        "-- a comment; with a semicolon\n"
        "CREATE TABLE t {on_cluster} (x UInt8) ENGINE = {replicated}MergeTree ORDER BY x;\n"
        "\n"
        "    -- indented comment;\n"
        "SELECT 1; SELECT 2;   \n",
    )
    assert migration.statements(cluster) == expected


# migrate() -------------------------------------------------------------------------------


def test_a_fresh_database_gets_every_migration(scratch: EmbeddedStore) -> None:
    applied = migrate(scratch)
    assert applied == available()
    tables = tables_in(scratch)
    assert TABLES | VIEWS | {"schema_migrations"} <= set(tables)
    rows = scratch.query("SELECT version, name FROM schema_migrations ORDER BY version").to_pylist()
    assert rows == [{"version": m.version, "name": m.name} for m in available()]


def test_migrate_is_idempotent(scratch: EmbeddedStore) -> None:
    migrate(scratch)
    assert migrate(scratch) == []
    assert migrate(scratch) == []
    counts = scratch.query(
        "SELECT version, count() AS n FROM schema_migrations GROUP BY version ORDER BY version"
    ).to_pylist()
    assert counts == [{"version": m.version, "n": 1} for m in available()]


def test_the_session_store_is_migrated_and_a_rerun_applies_nothing(store: Store) -> None:
    assert migrate(store) == []
    versions = store.query("SELECT version FROM schema_migrations").column("version").to_pylist()
    assert sorted(versions) == [m.version for m in available()]


def test_every_view_target_keeps_insert_dedup_tokens(scratch: EmbeddedStore) -> None:
    """TRICKY: without the window on each MV target a retried flush double-counts rollups."""
    migrate(scratch)
    tables = tables_in(scratch)
    database = scratch.query("SELECT currentDatabase() AS d").to_pylist()[0]["d"]
    targets = set()
    for view in VIEWS:
        create = scratch.query(
            "SELECT create_table_query AS q FROM system.tables"
            " WHERE database = currentDatabase() AND name = {n:String}",
            {"n": view},
        ).to_pylist()[0]["q"]
        match = re.search(rf"\bTO {re.escape(database)}\.(\w+)", create)
        assert match, create
        targets.add(match[1])
    assert targets == {"event_properties", "events_hourly", "items_hourly", "identities"}
    for table in targets | {"events", "event_items"}:
        assert "non_replicated_deduplication_window = 1000" in tables[table], table


def test_every_table_is_sorted_by_tenant_first(scratch: EmbeddedStore) -> None:
    migrate(scratch)
    for table, engine in tables_in(scratch).items():
        if table in TABLES:
            assert "ORDER BY (tenant_id," in engine, table
