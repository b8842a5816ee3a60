"""The landing-page dashboard routes (seed 004) over real HTTP (ASGI).

Clicks go in through the real public tracker ``POST /api/analytics/track`` (which hashes the
TestClient's host into the visitor id, so every tracked event is one visitor, stamped now).
More visitors, and earlier days, are written through the store's insert path with distinct
visitor ids. The routes use the real clock: expectations are computed in plain Python from
the fixture list against the tenant's local today, taken before and after the request (a
test that straddles a local midnight is retried once).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.store import Store
from tests.conftest import TenantKeys, wait_stored

TRACK = "/api/analytics/track"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
TOKYO = "Asia/Tokyo"


def analytics(tenant_id: int | str) -> str:
    return f"/api/analytics/{tenant_id}"


def track(client: TestClient, keys: TenantKeys, kind: str, **metadata: Any) -> None:
    body: dict[str, Any] = {"tenant_id": keys.id, "event_type": kind}
    if metadata:
        body["metadata"] = metadata
    response = client.post(TRACK, json=body)
    assert response.json() == {"success": True}, response.json()


def insert(store: Store, tenant_id: int, rows: list[tuple[datetime, str, str]]) -> None:
    """(instant, event type, visitor id) rows, as the flusher would write them."""
    events = []
    for at, kind, visitor in rows:
        ms = (at - EPOCH) // MS
        events.append(
            Event(
                tenant_id=tenant_id,
                event_id=str(uuid.uuid4()),
                event_type=kind,
                event_name=kind,
                source="landing",
                timestamp=ms,
                received_at=ms,
                visitor_id=visitor,
                ip_hash=visitor,
            )
        )
    store.insert("events", events_table(events), f"test-landing-api-{uuid.uuid4()}")


def local_today(timezone: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()


def local_noon(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def get_stable(client: TestClient, path: str, keys: TenantKeys, tz: str) -> tuple[date, Any]:
    """(the local today the answer was computed for, the JSON), retried across a midnight."""
    for _ in range(2):
        before = local_today(tz)
        response = client.get(path, headers=keys.sk)
        if local_today(tz) == before:
            assert response.status_code == 200, response.json()
            return before, response.json()
    raise AssertionError("the local date kept changing")


@pytest.fixture
def tokyo_shop(make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    return make_tenant("tokyo-landing", timezone=TOKYO, plan="pro")


def test_dashboard_and_today_match_python(
    client: TestClient, tokyo_shop: TenantKeys, store: Store
) -> None:
    keys, tz = tokyo_shop, TOKYO
    today = local_today(tz)
    # Through the real tracker: all one visitor (the hashed TestClient host), stamped now.
    tracked: list[tuple[str, dict[str, Any]]] = [
        ("pageview", {}),
        ("pageview", {"page": "https://acme.example/promo"}),
        ("click_whatsapp", {"button_location": "hero"}),
        ("click_whatsapp", {}),
        ("click_call", {}),
        ("click_toggle_currency", {}),
        ("qr_scan", {}),
        ("product_click", {"product_id": "sku-1"}),
        ("time_on_page", {"seconds": 100}),
        ("time_on_page", {"duration": "51"}),
    ]
    for kind, meta in tracked:
        track(client, keys, kind, **meta)
    wait_stored(client)
    # Earlier local days (noon, far from any midnight) and more visitors today.
    rows: list[tuple[datetime, str, str]] = [
        (local_noon(today - timedelta(days=1), tz), "page_view", "v1"),
        (local_noon(today - timedelta(days=1), tz), "page_view", "v2"),
        (local_noon(today - timedelta(days=1), tz), "click_whatsapp", "v2"),
        (local_noon(today - timedelta(days=3), tz), "page_view", "v1"),
        (local_noon(today - timedelta(days=3), tz), "qr_scan", "v1"),
        (local_noon(today - timedelta(days=6), tz), "page_view", "v3"),
        (local_noon(today - timedelta(days=6), tz), "click_call", "v3"),
        (local_noon(today - timedelta(days=7), tz), "page_view", "gone"),  # before the week
        (local_noon(today - timedelta(days=7), tz), "click_whatsapp", "gone"),
        (local_midnight(today, tz), "page_view", "v4"),  # today's first instant
        (local_midnight(today, tz) - MS, "page_view", "v5"),  # yesterday's last
        (local_midnight(today, tz) - MS, "product_click", "v5"),
    ]
    insert(store, keys.id, rows)

    day, body = get_stable(client, analytics(keys.id), keys, tz)
    _, today_body = get_stable(client, analytics(keys.id) + "/today", keys, tz)

    tracked_visitor = "tracked"  # the hashed TestClient host, whatever its value
    all_rows = [(datetime.now(UTC), "page_view", tracked_visitor), *rows]
    week = [day - timedelta(days=n) for n in range(6, -1, -1)]

    def local(at: datetime) -> date:
        return at.astimezone(ZoneInfo(tz)).date()

    def visitors(days: list[date]) -> int:
        return len({v for at, kind, v in all_rows if kind == "page_view" and local(at) in days})

    def clicks(tracked_kind: str, stored_kind: str, days: list[date]) -> int:
        from_tracker = sum(k == tracked_kind for k, _ in tracked) if day in days else 0
        return from_tracker + sum(k == stored_kind and local(at) in days for at, k, _ in rows)

    assert body == {
        "success": True,
        "data": {
            "visitors_today": visitors([day]),
            "visitors_week": visitors(week),
            "whatsapp_clicks": clicks("click_whatsapp", "click_whatsapp", week),
            "call_clicks": clicks("click_call", "click_call", week),
            "currency_toggles": clicks("click_toggle_currency", "click_toggle_currency", week),
            "qr_scans": clicks("qr_scan", "qr_scan", week),
            "avg_time_on_page": 76,  # (100 + 51) / 2 = 75.5, half up
            "last_7_days": [{"date": d.isoformat(), "visitors": visitors([d])} for d in week],
        },
    }
    # hand-checked too: today = tracker + v4; week adds v1, v2, v3, v5 (not "gone")
    assert (body["data"]["visitors_today"], body["data"]["visitors_week"]) == (2, 6)
    assert today_body == {
        "success": True,
        "visitors_today": visitors([day]),
        "whatsapp_clicks": clicks("click_whatsapp", "click_whatsapp", [day]),
        "qr_scans": clicks("qr_scan", "qr_scan", [day]),
        "products_viewed": clicks("product_click", "product_click", [day]),
    }
    assert (today_body["whatsapp_clicks"], today_body["products_viewed"]) == (2, 1)


def test_empty_tenant_gets_zeros_and_seven_zero_filled_days(
    client: TestClient, tokyo_shop: TenantKeys
) -> None:
    day, body = get_stable(client, analytics(tokyo_shop.id), tokyo_shop, TOKYO)
    assert body["data"] == {
        "visitors_today": 0,
        "visitors_week": 0,
        "whatsapp_clicks": 0,
        "call_clicks": 0,
        "currency_toggles": 0,
        "qr_scans": 0,
        "avg_time_on_page": 0,
        "last_7_days": [
            {"date": (day - timedelta(days=n)).isoformat(), "visitors": 0} for n in range(6, -1, -1)
        ],
    }
    _, today_body = get_stable(client, analytics(tokyo_shop.id) + "/today", tokyo_shop, TOKYO)
    assert today_body == {
        "success": True,
        "visitors_today": 0,
        "whatsapp_clicks": 0,
        "qr_scans": 0,
        "products_viewed": 0,
    }


@pytest.mark.parametrize("suffix", ["", "/today"])
def test_another_tenants_path_is_forbidden_and_reveals_nothing(
    client: TestClient, make_tenant: Callable[..., TenantKeys], suffix: str
) -> None:
    mine = make_tenant("mine")
    theirs = make_tenant("theirs")
    track(client, theirs, "pageview")
    track(client, theirs, "click_whatsapp")
    wait_stored(client)

    for path_id in (theirs.id, 2**31 + 12345, 0, f"00{theirs.id}"):  # known and unknown ids
        response = client.get(analytics(path_id) + suffix, headers=mine.sk)
        assert response.status_code == 403, path_id
        assert response.json() == {
            "ok": False,
            "error": "This key belongs to another tenant",
            "field": "tenantId",
        }
    # the owner sees its data; the other tenant's key does not see it under its own id
    own = client.get(analytics(theirs.id) + suffix, headers=theirs.sk).json()
    assert (own.get("data", own))["whatsapp_clicks"] == 1
    assert client.get(analytics(mine.id) + suffix, headers=mine.sk).status_code == 200


@pytest.mark.parametrize("suffix", ["", "/today"])
def test_publishable_key_is_forbidden(client: TestClient, tenant: TenantKeys, suffix: str) -> None:
    response = client.get(analytics(tenant.id) + suffix, headers=tenant.pk)
    assert response.status_code == 403
    assert "secret key" in response.json()["error"]


@pytest.mark.parametrize("suffix", ["", "/today"])
def test_missing_or_unknown_key_is_unauthorized(
    client: TestClient, tenant: TenantKeys, suffix: str
) -> None:
    assert client.get(analytics(tenant.id) + suffix).status_code == 401
    forged = {"Authorization": f"Bearer {tenant.secret[:-4]}abcd"}
    assert client.get(analytics(tenant.id) + suffix, headers=forged).status_code == 401
    # auth comes first: a bad id without a key is still a 401
    assert client.get(analytics("abc") + suffix).status_code == 401


@pytest.mark.parametrize(
    "bad", ["abc", "1.0", "-1", "+1", "1e3", "%201", "0x10", str(2**64), "9" * 400]
)
@pytest.mark.parametrize("suffix", ["", "/today"])
def test_non_integer_tenant_id_is_a_400_naming_it(
    client: TestClient, tenant: TenantKeys, bad: str, suffix: str
) -> None:
    response = client.get(analytics(bad) + suffix, headers=tenant.sk)
    assert response.status_code == 400, bad
    body = response.json()
    assert body["ok"] is False and body["field"] == "tenantId"
    assert "tenantId" in body["error"]
