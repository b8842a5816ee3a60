"""Metadata in SQLite: tenants, keys, settings, shared by the server and the CLI."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shoplens.meta import MetaStore, Tenant


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "meta.sqlite3"


@pytest.fixture
def meta(path: Path) -> Iterator[MetaStore]:
    opened = MetaStore(path)
    yield opened
    opened.close()


def test_opening_creates_the_file_and_its_directory(meta: MetaStore, path: Path) -> None:
    assert path.is_file()


def test_the_journal_is_wal_so_readers_do_not_block_the_server(path: Path, meta: MetaStore) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


# Tenants ---------------------------------------------------------------------------------


def test_create_tenant_with_defaults(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Acme")
    assert isinstance(tenant, Tenant)
    assert (tenant.name, tenant.base_currency, tenant.timezone, tenant.plan) == (
        "Acme",
        "USD",
        "UTC",
        "free",
    )
    assert datetime.fromisoformat(tenant.created_at).tzinfo is not None
    assert meta.tenant(tenant.id) == tenant


def test_create_tenant_with_fields(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Tokyo", base_currency="JPY", timezone="Asia/Tokyo", plan="pro")
    assert (tenant.base_currency, tenant.timezone, tenant.plan) == ("JPY", "Asia/Tokyo", "pro")


def test_tenants_are_listed_in_creation_order_with_distinct_ids(meta: MetaStore) -> None:
    created = [meta.create_tenant(name) for name in ("a", "b", "c")]
    assert meta.tenants() == created
    assert len({t.id for t in created}) == 3


def test_unknown_tenant_is_none(meta: MetaStore) -> None:
    assert meta.tenant(12345) is None


def test_update_tenant(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Acme")
    updated = meta.update_tenant(tenant.id, name="Acme Ltd", plan="pro", base_currency="EUR")
    assert updated is not None
    assert (updated.name, updated.plan, updated.base_currency) == ("Acme Ltd", "pro", "EUR")
    assert (updated.id, updated.created_at, updated.timezone) == (
        tenant.id,
        tenant.created_at,
        "UTC",
    )
    assert meta.tenant(tenant.id) == updated


def test_update_with_no_fields_returns_the_tenant(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Acme")
    assert meta.update_tenant(tenant.id) == tenant


@pytest.mark.parametrize("field", ["id", "created_at", "name; DROP TABLE tenants"])
def test_update_refuses_other_fields(meta: MetaStore, field: str) -> None:
    tenant = meta.create_tenant("Acme")
    with pytest.raises(ValueError, match="cannot update"):
        meta.update_tenant(tenant.id, **{field: "x"})
    assert meta.tenant(tenant.id) == tenant


def test_update_of_an_unknown_tenant_is_none(meta: MetaStore) -> None:
    assert meta.update_tenant(999, name="x") is None


def test_update_touches_only_its_tenant(meta: MetaStore) -> None:
    first, second = meta.create_tenant("a"), meta.create_tenant("b")
    meta.update_tenant(first.id, name="renamed")
    assert meta.tenant(second.id) == second


# Keys ------------------------------------------------------------------------------------


def test_add_and_find_a_key(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Acme")
    key_id = meta.add_key(tenant.id, "secret", "lookup000001", "hash-1", "ci")
    record = meta.key_by_lookup("lookup000001")
    assert record is not None
    assert (record.id, record.tenant_id, record.kind, record.hash, record.name) == (
        key_id,
        tenant.id,
        "secret",
        "hash-1",
        "ci",
    )
    assert record.revoked_at is None
    assert meta.key_by_lookup("lookup000002") is None


def test_keys_are_listed_per_tenant_and_in_all(meta: MetaStore) -> None:
    a, b = meta.create_tenant("a"), meta.create_tenant("b")
    ka = meta.add_key(a.id, "publishable", "lookupA00001", "h", "")
    kb = meta.add_key(b.id, "secret", "lookupB00001", "h", "")
    ka2 = meta.add_key(a.id, "secret", "lookupA00002", "h", "")
    assert [k.id for k in meta.keys(a.id)] == [ka, ka2]
    assert [k.id for k in meta.keys(b.id)] == [kb]
    assert [k.id for k in meta.keys(tenant_id=None)] == [ka, kb, ka2]


def test_revoke_a_key_once(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Acme")
    key_id = meta.add_key(tenant.id, "secret", "lookup000001", "h", "")
    assert meta.revoke_key(key_id) is True
    record = meta.key_by_lookup("lookup000001")
    assert record is not None and record.revoked_at is not None
    first_revocation = record.revoked_at
    assert meta.revoke_key(key_id) is False  # already revoked: the time is not moved
    again = meta.key_by_lookup("lookup000001")
    assert again is not None and again.revoked_at == first_revocation


def test_revoke_an_unknown_key(meta: MetaStore) -> None:
    assert meta.revoke_key(999) is False


def test_lookup_ids_are_unique(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Acme")
    meta.add_key(tenant.id, "secret", "lookup000001", "h", "")
    with pytest.raises(sqlite3.IntegrityError):
        meta.add_key(tenant.id, "publishable", "lookup000001", "h2", "")


def test_key_kind_is_checked(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Acme")
    with pytest.raises(sqlite3.IntegrityError):
        meta.add_key(tenant.id, "admin", "lookup000001", "h", "")


# Settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"retention": {"rawEvents": 90, "aggregatedMetrics": 730}},
        [1, "two", None, 3.5],
        "text",
        42,
        True,
        None,
        {"nested": [{"deep": {"ünicode": "✓"}}]},
    ],
)
def test_settings_round_trip_as_json(meta: MetaStore, value: Any) -> None:
    tenant = meta.create_tenant("Acme")
    meta.set_setting(tenant.id, "k", value)
    assert meta.get_setting(tenant.id, "k", default="missing") == value


def test_setting_default_and_overwrite(meta: MetaStore) -> None:
    tenant = meta.create_tenant("Acme")
    assert meta.get_setting(tenant.id, "retention") is None
    assert meta.get_setting(tenant.id, "retention", {"rawEvents": 90}) == {"rawEvents": 90}
    meta.set_setting(tenant.id, "retention", {"rawEvents": 30})
    meta.set_setting(tenant.id, "retention", {"rawEvents": 60})
    assert meta.get_setting(tenant.id, "retention") == {"rawEvents": 60}


def test_settings_are_per_tenant(meta: MetaStore) -> None:
    a, b = meta.create_tenant("a"), meta.create_tenant("b")
    meta.set_setting(a.id, "salt", "A")
    meta.set_setting(b.id, "salt", "B")
    assert (meta.get_setting(a.id, "salt"), meta.get_setting(b.id, "salt")) == ("A", "B")


# Shared file -----------------------------------------------------------------------------


def test_a_second_store_on_the_same_file_sees_the_first_ones_writes(path: Path) -> None:
    server, cli = MetaStore(path), MetaStore(path)
    try:
        tenant = cli.create_tenant("Made by the CLI", plan="pro")
        assert server.tenant(tenant.id) == tenant
        key_id = cli.add_key(tenant.id, "secret", "lookup000001", "h", "")
        assert server.key_by_lookup("lookup000001") is not None
        cli.revoke_key(key_id)
        record = server.key_by_lookup("lookup000001")
        assert record is not None and record.revoked_at is not None
        server.set_setting(tenant.id, "retention", {"rawEvents": 30})
        assert cli.get_setting(tenant.id, "retention") == {"rawEvents": 30}
        cli.update_tenant(tenant.id, plan="free")
        updated = server.tenant(tenant.id)
        assert updated is not None and updated.plan == "free"
    finally:
        server.close()
        cli.close()


def test_data_survives_reopening(path: Path) -> None:
    first = MetaStore(path)
    tenant = first.create_tenant("Acme")
    first.set_setting(tenant.id, "k", [1])
    first.close()
    reopened = MetaStore(path)
    try:
        assert reopened.tenants() == [tenant]
        assert reopened.get_setting(tenant.id, "k") == [1]
    finally:
        reopened.close()


@pytest.mark.parametrize("tenant_id", [2**64, 2**63, 2**32, 0, -1, -(2**64)])
def test_a_tenant_id_no_table_can_hold_names_no_tenant(meta: MetaStore, tenant_id: int) -> None:
    # Past 64 bits the SQLite driver raised OverflowError; past 32 no ClickHouse row holds it.
    assert meta.tenant(tenant_id) is None
