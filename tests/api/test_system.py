"""``GET /healthz`` and the ingest durability contract over HTTP.

An ack means the event is in the fsync'd WAL: it reaches the store within about two
seconds at the default flush interval, and when the WAL is full ingest answers 503 with
``Retry-After`` — never an ack it cannot keep. Every event acked before a 503 is stored
at shutdown; the refused one is not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.store import Store
from tests.conftest import TenantKeys, rows, wait_stored

TRACK = "/v1/api/analytics/ecommerce/track"


def user_ids(store: Store, tenant_id: int) -> list[str]:
    return sorted(
        r["user_id"]
        for r in rows(store, "SELECT user_id FROM events WHERE tenant_id = {t:UInt32}", t=tenant_id)
    )


def test_healthz_is_public_and_shows_an_empty_backlog_once_stored(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    for i in range(3):
        assert (
            client.post(
                TRACK, headers=tenant.pk, json={"event_type": "view_cart", "user_id": f"h{i}"}
            ).status_code
            == 200
        )

    wait_stored(client)
    response = client.get("/healthz")  # no key
    assert response.status_code == 200
    health = response.json()
    assert health["ok"] is True
    assert health["store"] == "embedded"
    ingest = health["ingest"]
    assert ingest["pending_events"] == 0
    assert ingest["wal_unflushed_bytes"] == 0
    assert ingest["flushes"] >= 1
    assert ingest["flushed_events"] >= 3
    assert ingest["flush_failures"] == 0
    assert ingest["last_flush_error"] is None
    assert user_ids(store, tenant.id) == ["h0", "h1", "h2"]
    # tests refresh no rates from a provider: the shipped ECB snapshot's currencies
    rates = health["rates"]
    assert (rates["provider"], rates["url"], rates["last_error"]) == ("none", None, None)
    assert rates["currencies"] >= 30  # 29 quoted by the ECB, and EUR


def test_acked_events_are_queryable_within_two_seconds(
    tmp_path: Path, meta_file: Path, store: Store, tenant: TenantKeys
) -> None:
    """Behavioural, not a benchmark: at flush_interval=1 s an ack becomes a row quickly."""
    settings = Settings(data_dir=tmp_path / "data", meta_file=meta_file, flush_interval=1.0)
    with TestClient(create_app(settings, store=store)) as client:
        response = client.post(
            "/analytics/event", headers=tenant.pk, json={"event": "page_view", "userId": "fast"}
        )
        assert response.status_code == 201
        deadline = time.monotonic() + 2.0
        found: list[str] = []
        while not found and time.monotonic() < deadline:
            found = user_ids(store, tenant.id)
            time.sleep(0.05)
        assert found == ["fast"]


def test_full_wal_answers_503_and_keeps_every_acked_event(
    tmp_path: Path, meta_file: Path, store: Store, tenant: TenantKeys
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        meta_file=meta_file,
        wal_max_bytes=4096,
        flush_interval=3600,  # nothing flushes until shutdown
        flush_max_rows=10**9,
    )
    acked: list[str] = []
    with TestClient(create_app(settings, store=store)) as client:
        refused: Any = None
        for i in range(1000):
            body = {"event_type": "purchase", "transaction_id": f"wal-{i}", "revenue": 1.0}
            response = client.post(TRACK, headers=tenant.pk, json={**body, "user_id": f"u{i:04}"})
            if response.status_code != 200:
                refused = (body, response)
                break
            acked.append(f"u{i:04}")
        assert refused is not None, "the WAL never filled up"
        body, response = refused
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        error = response.json()
        assert error["ok"] is False
        assert error["field"] is None
        assert "retry" in error["error"].lower()
        assert len(acked) >= 5  # the bound is on bytes, not a handful of events

        # Retrying the refused purchase is refused again — not silently swallowed as a
        # "duplicate" of an event that was never stored.
        retry = client.post(TRACK, headers=tenant.pk, json={**body, "user_id": "retry"})
        assert retry.status_code == 503
        # Every ingest route shares the WAL.
        landing = client.post(
            "/api/analytics/track", json={"tenant_id": tenant.id, "event_type": "pageview"}
        )
        assert landing.status_code == 503
        assert "Retry-After" in landing.headers

        ingest = client.get("/healthz").json()["ingest"]
        assert ingest["pending_events"] == len(acked)
        assert 0 < ingest["wal_unflushed_bytes"] <= settings.wal_max_bytes
        assert user_ids(store, tenant.id) == []  # nothing flushed yet
    # Leaving the context shut the app down: the flusher drained the WAL into the store.
    assert user_ids(store, tenant.id) == acked

    # After a restart with room in the WAL, the refused purchase is accepted and stored.
    roomy = settings.model_copy(update={"wal_max_bytes": 1 << 30, "flush_interval": 0.2})
    with TestClient(create_app(roomy, store=store)) as client:
        again = client.post(TRACK, headers=tenant.pk, json={**body, "user_id": "after-restart"})
        assert again.status_code == 200
        wait_stored(client)
    assert user_ids(store, tenant.id) == sorted([*acked, "after-restart"])
