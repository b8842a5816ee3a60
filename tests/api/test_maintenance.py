"""Per-user deletion and retention settings over HTTP, events sent through the ingestion API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.store import Store
from tests.conftest import NOW, TenantKeys, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"
OVERVIEW = "/v1/api/analytics/ecommerce/overview"


def purchase(user: str, revenue: float, hours_ago: float) -> dict[str, Any]:
    return {
        "event_type": "purchase",
        "transaction_id": f"t-{uuid.uuid4().hex[:10]}",
        "user_id": user,
        "revenue": revenue,
        "timestamp": (NOW - timedelta(hours=hours_ago)).isoformat(),
        "properties": {"note": user},
        "items": [{"item_id": "sku-1", "price": revenue, "quantity": 1}],
    }


def send(client: TestClient, keys: TenantKeys, events: list[dict[str, Any]]) -> None:
    assert client.post(BATCH, json={"events": events}, headers=keys.pk).status_code == 200
    wait_stored(client)


def revenue(client: TestClient, keys: TenantKeys) -> float:
    body = client.get(OVERVIEW, headers=keys.sk).json()
    return float(body["total_revenue"])


def wait_done(client: TestClient, keys: TenantKeys, user: str) -> dict[str, Any]:
    # Generous: after a long test session the shared store holds many parts, and the
    # lightweight DELETEs then take well over 20 s on a loaded machine (seen on main too).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(
            f"/v1/api/analytics/user/{user}/deletion", headers=keys.sk
        ).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"the deletion did not finish: {body}")


def test_delete_a_user_end_to_end(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop, other = (
        make_tenant("deletion http", plan="pro"),
        make_tenant("deletion other", plan="pro"),
    )
    send(
        client,
        shop,
        [purchase("erin", 40.0, 5), purchase("erin", 2.5, 3), purchase("fay", 10.0, 4)],
    )
    send(client, other, [purchase("erin", 99.0, 2)])
    assert revenue(client, shop) == 52.5

    response = client.delete("/v1/api/analytics/user/erin", headers=shop.sk)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "deleted_user_id": "erin"}
    status = wait_done(client, shop, "erin")

    assert status["status"] == "done" and status["user_id"] == "erin"
    assert status["rows_deleted"] == {
        "events": 2,
        "event_items": 2,
        "event_properties": 2,
        "identities": 0,
    }
    assert revenue(client, shop) == 10.0
    assert revenue(client, other) == 99.0
    journey = client.get(
        "/v1/api/analytics/ecommerce/user-journey", params={"user_id": "erin"}, headers=shop.sk
    )
    assert journey.status_code == 200 and journey.json()["events"] == []
    # later events of the same user are kept: deletion is not a block list
    send(client, shop, [purchase("erin", 7.0, 1)])
    assert revenue(client, shop) == 17.0


def test_deletion_routes_refuse_what_they_should(client: TestClient, tenant: TenantKeys) -> None:
    assert client.delete("/v1/api/analytics/user/x", headers=tenant.pk).status_code == 403
    assert client.delete("/v1/api/analytics/user/x").status_code == 401
    unknown = client.get("/v1/api/analytics/user/never/deletion", headers=tenant.sk)
    assert unknown.status_code == 404 and unknown.json()["field"] == "userId"
    too_long = client.delete(f"/v1/api/analytics/user/{'x' * 2049}", headers=tenant.sk)
    assert too_long.status_code == 400 and too_long.json()["field"] == "userId"


def test_retention_settings_round_trip_and_bounds(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    free = make_tenant("retention free")
    got = client.get("/analytics/settings", headers=free.sk)
    assert got.status_code == 200
    assert got.json()["retention"] == {
        "rawEvents": 30,
        "aggregatedMetrics": 730,
        "customerProfiles": None,
        "modelData": 365,
    }
    assert got.json()["limits"] == {"rawEvents": 30} and got.json()["plan"] == "free"
    changed = client.patch(
        "/analytics/settings", json={"retention": {"rawEvents": 7}}, headers=free.sk
    )
    assert changed.status_code == 200 and changed.json()["retention"]["rawEvents"] == 7
    too_long = client.patch(
        "/analytics/settings", json={"retention": {"rawEvents": 90}}, headers=free.sk
    )
    assert too_long.status_code == 400
    assert too_long.json()["field"] == "retention.rawEvents" and "free" in too_long.json()["error"]
    assert (
        client.patch(
            "/analytics/settings", json={"retention": {"rawEvents": 7}}, headers=free.pk
        ).status_code
        == 403
    )
    assert client.get("/analytics/settings", headers=free.sk).json()["retention"]["rawEvents"] == 7


def test_delete_covers_acked_unflushed_events(
    settings: Settings, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    # Regression: a batch, then at once a DELETE, answered "done" with 0 rows deleted and
    # left the batch stored once the flusher caught up.
    slow = settings.model_copy(update={"flush_interval": 5.0})
    shop = make_tenant("deletion unflushed", plan="pro")
    with TestClient(create_app(slow, store=store)) as client:
        events = [purchase("xavier", 5.0, 1), purchase("xavier", 6.0, 2), purchase("yann", 8.0, 1)]
        assert client.post(BATCH, json={"events": events}, headers=shop.pk).status_code == 200
        assert client.get("/healthz").json()["ingest"]["pending_events"] == 3  # not flushed
        assert client.delete("/v1/api/analytics/user/xavier", headers=shop.sk).status_code == 200
        status = wait_done(client, shop, "xavier")
        assert status["status"] == "done"
        assert status["rows_deleted"]["events"] == 2
    for table in ("events", "event_items", "event_properties"):
        users = store.query(
            f"SELECT user_id FROM {table} WHERE tenant_id = {{t:UInt32}}", {"t": shop.id}
        ).to_pylist()
        assert sorted(r["user_id"] for r in users) == ["yann"], table
