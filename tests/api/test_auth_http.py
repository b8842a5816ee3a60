"""API keys on the ingest routes over HTTP: who may send, CORS for browsers, and tenant
isolation — what a key sends is stored under its tenant and nowhere else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import TenantKeys, rows, wait_stored

# Every keyed ingest route with a body it accepts (user_id/userId marks who sent it).
KEYED: dict[str, Callable[[str], dict[str, Any]]] = {
    "/analytics/event": lambda who: {"event": "page_view", "userId": who},
    "/analytics/event/batch": lambda who: {"events": [{"event": "page_view", "userId": who}]},
    "/v1/api/analytics/ecommerce/track": lambda who: {
        "event_type": "add_to_cart",
        "user_id": who,
        "items": [{"item_id": "sku_1", "price": 9.99}],
    },
    "/v1/api/analytics/ecommerce/batch": lambda who: {
        "events": [{"event_type": "view_cart", "user_id": who}]
    },
}
OK_STATUS = {
    "/analytics/event": 201,
    "/analytics/event/batch": 201,
    "/v1/api/analytics/ecommerce/track": 200,
    "/v1/api/analytics/ecommerce/batch": 200,
}
MISSING_KEY = {
    "ok": False,
    "error": "Missing API key: send Authorization: Bearer <key>",
    "field": None,
}
INVALID_KEY = {"ok": False, "error": "Invalid API key", "field": None}


def user_ids(store: Store, tenant_id: int) -> list[str]:
    return sorted(
        r["user_id"]
        for r in rows(store, "SELECT user_id FROM events WHERE tenant_id = {t:UInt32}", t=tenant_id)
    )


def key_id(meta: MetaStore, key: str) -> int:
    record = meta.key_by_lookup(key[3:15])
    assert record is not None
    return record.id


@pytest.mark.parametrize("path", KEYED)
def test_both_key_kinds_are_accepted(
    client: TestClient, tenant: TenantKeys, store: Store, path: str
) -> None:
    with_pk = client.post(path, headers=tenant.pk, json=KEYED[path]("sent-with-pk"))
    with_sk = client.post(path, headers=tenant.sk, json=KEYED[path]("sent-with-sk"))

    assert with_pk.status_code == with_sk.status_code == OK_STATUS[path]
    wait_stored(client)
    assert user_ids(store, tenant.id) == ["sent-with-pk", "sent-with-sk"]


@pytest.mark.parametrize("path", KEYED)
def test_missing_or_invalid_keys_are_401_and_store_nothing(
    client: TestClient, tenant: TenantKeys, store: Store, path: str
) -> None:
    tampered = tenant.publishable[:-1] + ("A" if tenant.publishable[-1] != "A" else "B")
    attempts: list[tuple[dict[str, str], dict[str, Any]]] = [
        ({}, MISSING_KEY),
        ({"Authorization": ""}, MISSING_KEY),
        ({"Authorization": "Bearer "}, MISSING_KEY),
        ({"Authorization": f"Basic {tenant.publishable}"}, MISSING_KEY),
        ({"Authorization": tenant.publishable}, MISSING_KEY),  # no scheme
        ({"Authorization": "Bearer sk_doesnotexist0000000000000000000000000000000"}, INVALID_KEY),
        ({"Authorization": "Bearer nonsense"}, INVALID_KEY),
        ({"Authorization": f"Bearer {tampered}"}, INVALID_KEY),
        # right lookup id and secret, wrong kind prefix
        ({"Authorization": f"Bearer sk_{tenant.publishable[3:]}"}, INVALID_KEY),
    ]
    for headers, error in attempts:
        response = client.post(path, headers=headers, json=KEYED[path]("intruder"))
        assert response.status_code == 401, headers
        assert response.json() == error, headers

    wait_stored(client)
    assert user_ids(store, tenant.id) == []


def test_a_revoked_key_is_refused(
    client: TestClient, tenant: TenantKeys, store: Store, meta: MetaStore
) -> None:
    path = "/v1/api/analytics/ecommerce/track"
    before = client.post(path, headers=tenant.pk, json=KEYED[path]("before-revoke"))
    assert before.status_code == 200

    assert meta.revoke_key(key_id(meta, tenant.publishable))
    cast(FastAPI, client.app).state.shoplens.keys.forget()  # drop the 5 s key cache

    after = client.post(path, headers=tenant.pk, json=KEYED[path]("after-revoke"))
    other_key = client.post(path, headers=tenant.sk, json=KEYED[path]("other-key"))
    assert after.status_code == 401
    assert after.json() == INVALID_KEY
    assert other_key.status_code == 200  # only that key is revoked, not the tenant
    wait_stored(client)
    assert user_ids(store, tenant.id) == ["before-revoke", "other-key"]


def test_revocation_is_immediate_without_a_key_cache(
    settings: Settings, store: Store, tenant: TenantKeys, meta: MetaStore
) -> None:
    uncached = settings.model_copy(update={"key_cache_seconds": 0})
    with TestClient(create_app(uncached, store=store)) as client:
        path = "/analytics/event"
        assert client.post(path, headers=tenant.sk, json={"event": "x"}).status_code == 201
        assert meta.revoke_key(key_id(meta, tenant.secret))
        response = client.post(path, headers=tenant.sk, json={"event": "x"})
        assert response.status_code == 401


@pytest.mark.parametrize("path", [*KEYED, "/api/analytics/track"])
def test_cors_preflight_from_a_browser_origin_is_allowed(client: TestClient, path: str) -> None:
    origin = "https://shop.example.com"
    response = client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", origin)
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers


def test_cross_origin_post_is_readable_by_the_browser(
    client: TestClient, tenant: TenantKeys
) -> None:
    response = client.post(
        "/v1/api/analytics/ecommerce/track",
        headers={**tenant.pk, "Origin": "https://shop.example.com"},
        json={"event_type": "view_cart"},
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://shop.example.com")
    # the browser SDK must be able to read Retry-After on a 503
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


def test_events_are_stored_under_the_sending_keys_tenant_only(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    shop_a = make_tenant("Isolation A", plan="pro")
    shop_b = make_tenant("Isolation B", plan="pro")
    for path, body in KEYED.items():
        assert client.post(path, headers=shop_a.pk, json=body("from-a")).status_code < 300
        assert client.post(path, headers=shop_b.sk, json=body("from-b")).status_code < 300
        # a tenant_id in the body must not redirect the event to another tenant
        spoof = {**body("b-spoofing-a"), "tenant_id": shop_a.id}
        assert client.post(path, headers=shop_b.pk, json=spoof).status_code < 300

    wait_stored(client)
    assert user_ids(store, shop_a.id) == ["from-a"] * len(KEYED)
    assert user_ids(store, shop_b.id) == sorted(["from-b", "b-spoofing-a"] * len(KEYED))
    items = rows(
        store,
        "SELECT tenant_id, user_id FROM event_items WHERE tenant_id IN ({a:UInt32}, {b:UInt32}) "
        "ORDER BY tenant_id, user_id",
        a=shop_a.id,
        b=shop_b.id,
    )
    assert items == [
        {"tenant_id": shop_a.id, "user_id": "from-a"},
        {"tenant_id": shop_b.id, "user_id": "b-spoofing-a"},
        {"tenant_id": shop_b.id, "user_id": "from-b"},
    ]
