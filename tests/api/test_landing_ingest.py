"""``POST /api/analytics/track`` (seed 004): the public landing-page tracker.

No key; the body names the tenant. The visitor is known only by a salted, truncated hash of
the IP — the IP itself must not reach any column. The TestClient's client host is
``testclient``, so that string standing for the IP must appear nowhere in the stored row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import TenantKeys, stored_events, wait_stored

TRACK = "/api/analytics/track"
CLIENT_HOST = "testclient"  # what the TestClient reports as the client IP
ALLOWED = [
    "pageview",
    "click_whatsapp",
    "click_call",
    "click_toggle_currency",
    "time_on_page",
    "qr_scan",
    "product_click",
]
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) landing-test"}


def test_public_event_is_stored_with_a_hashed_ip_and_no_raw_ip(
    client: TestClient, tenant: TenantKeys, store: Store, meta: MetaStore
) -> None:
    # seed 004's example, sent the way a browser would (no key)
    response = client.post(
        TRACK,
        headers={
            **BROWSER,
            "Referer": "https://instagram.com/",
            # not trusted by default: must not become (or leak into) the visitor's identity
            "X-Forwarded-For": "198.51.100.23",
        },
        json={
            "tenant_id": tenant.id,
            "event_type": "click_whatsapp",
            "metadata": {
                "button_location": "hero",
                "page": "https://acme.example/promo?utm_source=instagram&utm_campaign=may",
            },
        },
    )

    assert response.status_code == 200
    assert response.json() == {"success": True}
    wait_stored(client)
    [event] = stored_events(store, tenant.id)
    assert (event["event_type"], event["event_name"], event["source"]) == (
        "click_whatsapp",
        "click_whatsapp",
        "landing",
    )
    assert re.fullmatch(r"[0-9a-f]{45}", event["ip_hash"])
    # the tenant's salt of the day the event was received (random, destroyed in two days)
    day_salt = meta.salts()[event["received_at"].timestamp() // 86_400]
    salt = hmac.new(day_salt, b"tenant:%d" % tenant.id, hashlib.sha256).hexdigest()
    expected = hashlib.sha256(f"{salt}:{CLIENT_HOST}".encode()).hexdigest()[:45]
    assert event["ip_hash"] == expected
    assert re.fullmatch(r"[0-9a-f]{16}", event["visitor_id"])  # the daily visitor hash
    assert event["user_agent"] == BROWSER["User-Agent"]
    assert event["referrer"] == "https://instagram.com/"
    assert event["page_path"] == "/promo"
    assert (event["utm_source"], event["utm_campaign"]) == ("instagram", "may")
    assert dict(event["properties"])["button_location"] == "hero"
    for column, value in event.items():
        assert CLIENT_HOST not in str(value), f"raw client IP stored in {column}"
        assert "198.51.100.23" not in str(value), f"forwarded IP stored in {column}"


@pytest.mark.parametrize("event_type", ALLOWED)
def test_every_seed_event_type_is_accepted(
    client: TestClient, tenant: TenantKeys, store: Store, event_type: str
) -> None:
    response = client.post(TRACK, json={"tenant_id": tenant.id, "event_type": event_type})

    assert response.status_code == 200
    assert response.json() == {"success": True}
    wait_stored(client)
    [event] = stored_events(store, tenant.id)
    assert event["event_name"] == event_type
    # pageview is the canonical page_view every report counts; the rest keep their names
    assert event["event_type"] == ("page_view" if event_type == "pageview" else event_type)


def test_visitor_hash_is_stable_per_tenant_and_differs_across_tenants(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    shop_a = make_tenant("Landing A")
    shop_b = make_tenant("Landing B")
    for shop in (shop_a, shop_a, shop_b):
        response = client.post(TRACK, json={"tenant_id": shop.id, "event_type": "pageview"})
        assert response.status_code == 200

    wait_stored(client)
    hashes_a = {e["ip_hash"] for e in stored_events(store, shop_a.id)}
    hashes_b = {e["ip_hash"] for e in stored_events(store, shop_b.id)}
    assert len(hashes_a) == 1  # one visitor, two events
    assert len(hashes_b) == 1
    assert hashes_a != hashes_b  # the same visitor cannot be linked across tenants


def test_invalid_event_type_is_400_listing_the_allowed_values(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(TRACK, json={"tenant_id": tenant.id, "event_type": "purchase"})

    assert response.status_code == 400
    error = response.json()
    assert error["ok"] is False
    assert error["field"] == "event_type"
    for allowed in ALLOWED:
        assert allowed in error["error"]
    wait_stored(client)
    assert stored_events(store, tenant.id) == []


def test_unknown_tenant_is_400_naming_tenant_id(client: TestClient) -> None:
    response = client.post(TRACK, json={"tenant_id": 987_654_321, "event_type": "pageview"})
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "tenant_id does not name a tenant",
        "field": "tenant_id",
    }


@pytest.mark.parametrize("tenant_id", [2**64, 2**63, 2**32, 0, -1, -(2**63) - 1])
def test_a_tenant_id_out_of_range_is_400_naming_tenant_id(
    client: TestClient, tenant_id: int
) -> None:
    # 2**64 once reached SQLite as a parameter: OverflowError, a 500 on the keyless route.
    response = client.post(TRACK, json={"tenant_id": tenant_id, "event_type": "pageview"})
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "tenant_id must be between 1 and 4294967295",
        "field": "tenant_id",
    }


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ({"event_type": "pageview"}, "tenant_id is required", "tenant_id"),
        ({"tenant_id": None, "event_type": "pageview"}, "tenant_id is required", "tenant_id"),
        ({"tenant_id": 1}, "event_type is required", "event_type"),
    ],
)
def test_missing_fields_are_400(
    client: TestClient, body: dict[str, Any], error: str, field: str
) -> None:
    response = client.post(TRACK, json=body)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error, "field": field}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tenant_id": "one", "event_type": "pageview"}, "tenant_id"),
        ({"tenant_id": 1.5, "event_type": "pageview"}, "tenant_id"),
        ({"tenant_id": 1, "event_type": 7}, "event_type"),
        ({"tenant_id": 1, "event_type": "pageview", "metadata": ["a"]}, "metadata"),
    ],
)
def test_wrong_types_are_400_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post(TRACK, json=body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert field in response.json()["error"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        TRACK, headers={"Content-Type": "application/json"}, content=b"{tenant_id: 1"
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Request body is not valid JSON")


def test_event_over_32_kb_is_413_and_not_stored(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    metadata = {f"k{i}": "x" * 2000 for i in range(17)}  # each value within the string cap
    response = client.post(
        TRACK, json={"tenant_id": tenant.id, "event_type": "pageview", "metadata": metadata}
    )

    assert response.status_code == 413
    assert response.json() == {
        "ok": False,
        "error": "Event is larger than 32768 bytes",
        "field": None,
    }
    wait_stored(client)
    assert stored_events(store, tenant.id) == []
