"""Shared fixtures: one real chDB store per test process, real apps over it.

TRICKY: chDB serves one data path per process, so every test in a process shares one
store (in a temp dir) and one metadata file; each test makes its own tenants, which keeps
tests apart and checks tenant isolation on every query they make.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.auth import issue_key
from shoplens.config import Settings
from shoplens.meta import MetaStore
from shoplens.store import Store, open_store
from shoplens.store.migrate import migrate

# Retention enforcement off in every app a test builds, however it makes its Settings: it
# deletes old rows of every tenant of the metadata store, and the tests share one store
# where some insert old rows on purpose (tests/test_retention.py runs it explicitly).
# Child processes (tests/serverproc.py) get their own data dirs and their defaults.
os.environ["SHOPLENS_RETENTION_INTERVAL"] = "0"
# No exchange-rate refresh from the internet (tests cannot reach it; the ones that refresh
# point a provider at a local stand-in: tests/rates_provider.py).
os.environ["SHOPLENS_RATES_PROVIDER"] = "none"

# The one "now" of a test process. A date a test sends through a live route or expects
# from one is relative to it, never a literal: live ingestion refuses events older than
# the tenant's raw retention (90 days by default, 365 at most on plans) and the reports
# count back from today, so a literal date ages out of both. Literal dates stay only
# where nothing compares them with the clock (parsers, domain functions given ``now=``,
# ``shoplens import``). tests/test_clock_shift.py runs the suite a year ahead to prove it.
NOW = datetime.now(UTC)
TODAY = NOW.date()


def days_ago(days: float, hour: int | None = None) -> datetime:
    """``NOW`` minus ``days`` days (UTC); at ``hour``:00 UTC of that day when given.

    TRICKY: ``days_ago(n, hour=12)`` is more than ``n`` days old in the afternoon, so
    keep a whole day of margin to a retention limit (e.g. 364 for a 365-day window)."""
    moment = NOW - timedelta(days=days)
    return moment if hour is None else moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def iso(moment: datetime | date) -> str:
    """``moment`` as a client sends it: ``2026-03-01T12:00:00Z`` or ``2026-03-01``."""
    if not isinstance(moment, datetime):
        return moment.isoformat()
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shoplens-session")


@pytest.fixture(scope="session")
def store(session_dir: Path) -> Iterator[Store]:
    opened = open_store(f"chdb://{session_dir / 'clickhouse'}")
    migrate(opened)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def meta_file(session_dir: Path) -> Path:
    return session_dir / "meta.sqlite3"


@pytest.fixture(scope="session")
def meta(meta_file: Path) -> Iterator[MetaStore]:
    opened = MetaStore(meta_file)
    yield opened
    opened.close()


@pytest.fixture
def settings(tmp_path: Path, meta_file: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", meta_file=meta_file, flush_interval=0.2)


@dataclass
class TenantKeys:
    id: int
    publishable: str
    secret: str

    @property
    def pk(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.publishable}"}

    @property
    def sk(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@pytest.fixture
def make_tenant(meta: MetaStore) -> Callable[..., TenantKeys]:
    def make(name: str = "shop", **fields: Any) -> TenantKeys:
        tenant = meta.create_tenant(name, **fields)
        return TenantKeys(
            tenant.id,
            issue_key(meta, tenant.id, "publishable").key,
            issue_key(meta, tenant.id, "secret").key,
        )

    return make


@pytest.fixture
def tenant(make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    return make_tenant("Acme", plan="pro")


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store)) as test_client:
        yield test_client


def wait_stored(client: TestClient, timeout: float = 10.0) -> None:
    """Block until everything acknowledged so far is in the store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/healthz").json()["ingest"]["pending_events"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("events were not flushed to the store in time")


def assert_bad_request(response: Any, field: str) -> None:
    """A 400 in the one error shape, naming ``field`` in ``field`` and in the message."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ok"] is False and body["field"] == field and field in body["error"]


def rows(store: Store, sql: str, **params: Any) -> list[dict[str, Any]]:
    return store.query(sql, params).to_pylist()


def stored_events(
    store: Store, tenant_id: int, order_by: str = "timestamp, event_type, event_name"
) -> list[dict[str, Any]]:
    """Every stored event row of one tenant (``order_by`` is test code, never input)."""
    return rows(
        store,
        f"SELECT * FROM events WHERE tenant_id = {{t:UInt32}} ORDER BY {order_by}",
        t=tenant_id,
    )


def padded(payload: dict[str, Any], size: int) -> bytes:
    """``payload`` as JSON padded with trailing whitespace (still valid) to ``size`` bytes."""
    body = json.dumps(payload).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))
