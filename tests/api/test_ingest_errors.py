"""``GET /v1/ingest/errors``: rejected batch messages, per tenant, newest first, bounded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_segment import basic
from tests.conftest import TenantKeys, assert_bad_request

ROUTE = "/v1/ingest/errors"


def send_batch(client: TestClient, keys: TenantKeys, batch: list[dict[str, Any]]) -> None:
    response = client.post("/v1/batch", headers=basic(keys.publishable), json={"batch": batch})
    assert response.status_code == 200, response.text


def test_nothing_rejected_yet(client: TestClient, tenant: TenantKeys) -> None:
    assert client.get(ROUTE, headers=tenant.sk).json() == {
        "rejected": 0,
        "by_field": {},
        "errors": [],
    }


def test_rejections_are_counted_by_field_and_listed_newest_first(
    client: TestClient, tenant: TenantKeys
) -> None:
    send_batch(client, tenant, [{"type": "track", "userId": "u", "messageId": "a"}])
    send_batch(
        client,
        tenant,
        [
            {"type": "track", "userId": "u", "event": "ok"},
            {"type": "track", "messageId": "b", "event": "E"},  # no user
            {"type": "track", "userId": "u", "messageId": "c"},
        ],
    )

    report = client.get(ROUTE, headers=tenant.sk).json()
    assert (report["rejected"], report["by_field"]) == (3, {"event": 2, "userId": 1})
    assert [(e["messageId"], e["index"], e["field"]) for e in report["errors"]] == [
        ("c", 2, "event"),
        ("b", 1, "userId"),
        ("a", 0, "event"),
    ]
    assert report["errors"][1]["rule"] == "userId or anonymousId is required"
    received = datetime.fromisoformat(report["errors"][0]["received_at"])
    assert report["errors"][0]["received_at"].endswith("Z")
    assert abs(datetime.now(UTC) - received) < timedelta(minutes=5)
    limited = client.get(ROUTE, params={"limit": "1"}, headers=tenant.sk).json()
    assert [e["messageId"] for e in limited["errors"]] == ["c"]
    assert limited["rejected"] == 3  # counts are not limited


def test_a_tenant_sees_only_its_own_rejections(
    client: TestClient, tenant: TenantKeys, make_tenant: Callable[..., TenantKeys]
) -> None:
    other = make_tenant("Other shop")
    send_batch(client, tenant, [{"type": "track", "userId": "u", "messageId": "mine"}])

    assert client.get(ROUTE, headers=other.sk).json()["errors"] == []
    [error] = client.get(ROUTE, headers=tenant.sk).json()["errors"]
    assert error["messageId"] == "mine"


def test_the_list_is_bounded_per_tenant(client: TestClient, tenant: TenantKeys) -> None:
    bad = [{"type": "track", "userId": "u", "messageId": f"m-{i}"} for i in range(150)]
    send_batch(client, tenant, bad)

    report = client.get(ROUTE, headers=tenant.sk).json()
    assert report["rejected"] == 150
    assert [e["messageId"] for e in report["errors"]] == [f"m-{i}" for i in range(149, 49, -1)]


def test_keys_and_parameters(client: TestClient, tenant: TenantKeys) -> None:
    assert client.get(ROUTE).status_code == 401
    assert client.get(ROUTE, headers=tenant.pk).status_code == 403
    assert_bad_request(client.get(ROUTE, params={"limit": "0"}, headers=tenant.sk), "limit")
    assert_bad_request(client.get(ROUTE, params={"limit": "101"}, headers=tenant.sk), "limit")
