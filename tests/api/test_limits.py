"""Plans at the HTTP edge: the free tier's 403, monthly quotas (across a restart), the
landing route's per-tenant limit, per-key rate limits with their headers, and the
retention clamp of report periods.

Tiny limits come from test plans added to the registry (plans are data), never from mocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens import plans
from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.store import Store
from tests.conftest import TenantKeys, stored_events, wait_stored

TRACK = "/v1/api/analytics/ecommerce/track"
BATCH = "/v1/api/analytics/ecommerce/batch"
CORE = "/analytics/event"
LANDING = "/api/analytics/track"
TENANT = "/v1/tenant"
REFUSED = {
    "ok": False,
    "error": "Ecommerce events are not available on the free tier",
    "field": None,
}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> plans.Plan:
    """A plan of 5 events a month and 3 requests a minute per key."""
    plan = plans.Plan(
        "tiny", ecommerce_api=True, monthly_events=5, retention_days=None, requests_per_minute=3
    )
    monkeypatch.setitem(plans.PLANS, plan.name, plan)
    return plan


@pytest.fixture
def small_quota(monkeypatch: pytest.MonkeyPatch) -> plans.Plan:
    """5 events a month, a per-key rate that does not get in the way."""
    plan = plans.Plan(
        "small", ecommerce_api=True, monthly_events=5, retention_days=None, requests_per_minute=100
    )
    monkeypatch.setitem(plans.PLANS, plan.name, plan)
    return plan


def app_client(settings: Settings, store: Store, **overrides: Any) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=overrides), store=store))


def view(n: int = 0) -> dict[str, Any]:
    return {"event_type": "view_item", "user_id": f"u{n}", "items": [{"item_id": "sku_1"}]}


def core_view() -> dict[str, Any]:
    return {"event": "page_view", "userId": "u1", "properties": {"path": "/"}}


# -- the free tier ---------------------------------------------------------------------------
def test_free_tenants_get_403_on_the_ecommerce_routes_and_nothing_is_stored(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    free = make_tenant("Free shop")
    track = client.post(TRACK, json=view(), headers=free.pk)
    batch = client.post(BATCH, json={"events": [view(1), view(2)]}, headers=free.pk)
    assert (track.status_code, track.json()) == (403, REFUSED)
    assert (batch.status_code, batch.json()) == (403, REFUSED)
    # documented: the other formats are not the ecommerce API and stay open on free
    assert client.post(CORE, json=core_view(), headers=free.pk).status_code == 201
    wait_stored(client)
    assert [e["source"] for e in stored_events(store, free.id)] == ["core"]


def test_the_plan_is_checked_before_the_body(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    free = make_tenant("Free shop")
    response = client.post(BATCH, json={"events": []}, headers=free.pk)
    assert (response.status_code, response.json()) == (403, REFUSED)


def test_pro_tenants_send_ecommerce_events(client: TestClient, tenant: TenantKeys) -> None:
    assert client.post(TRACK, json=view(), headers=tenant.pk).json() == {"ok": True}


# -- monthly quota ---------------------------------------------------------------------------
def test_the_quota_takes_n_events_then_429_with_the_seed_text(
    client: TestClient, make_tenant: Callable[..., TenantKeys], small_quota: plans.Plan
) -> None:
    keys = make_tenant("Small", plan=small_quota.name)
    batch = client.post(BATCH, json={"events": [view(i) for i in range(4)]}, headers=keys.pk)
    assert batch.json() == {"ok": True, "accepted": 4}
    crossing = client.post(BATCH, json={"events": [view(7), view(8)]}, headers=keys.pk)
    assert crossing.status_code == 429  # would be 6: refused whole
    assert client.post(TRACK, json=view(5), headers=keys.pk).json() == {"ok": True}  # the 5th
    over = client.post(TRACK, json=view(6), headers=keys.pk)
    assert (over.status_code, over.json()) == (
        429,
        {"ok": False, "error": "Ecommerce event quota exceeded", "field": None},
    )
    now = datetime.now(UTC)
    following = (now.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    assert abs(int(over.headers["retry-after"]) - (following - now).total_seconds()) < 60
    # every route shares the count; the core route says it in its own words
    core = client.post(CORE, json=core_view(), headers=keys.pk)
    assert (core.status_code, core.json()["error"]) == (429, "Monthly event quota exceeded")


def test_the_quota_holds_across_a_restart(
    settings: Settings,
    store: Store,
    make_tenant: Callable[..., TenantKeys],
    small_quota: plans.Plan,
) -> None:
    keys = make_tenant("Small", plan=small_quota.name)
    with app_client(settings, store) as first:
        batch = first.post(BATCH, json={"events": [view(i) for i in range(3)]}, headers=keys.pk)
        assert batch.json() == {"ok": True, "accepted": 3}
    with app_client(settings, store) as second:  # same store, same data dir
        ok = second.post(BATCH, json={"events": [view(3), view(4)]}, headers=keys.pk)
        assert ok.json() == {"ok": True, "accepted": 2}
        assert second.post(TRACK, json=view(5), headers=keys.pk).status_code == 429


def test_quotas_can_be_turned_off(
    settings: Settings,
    store: Store,
    make_tenant: Callable[..., TenantKeys],
    small_quota: plans.Plan,
) -> None:
    keys = make_tenant("Small", plan=small_quota.name)
    with app_client(settings, store, quotas=False) as client:
        batch = client.post(BATCH, json={"events": [view(i) for i in range(8)]}, headers=keys.pk)
        assert batch.json() == {"ok": True, "accepted": 8}


# -- the landing route -----------------------------------------------------------------------
def landing(client: TestClient, tenant_id: int) -> Any:
    return client.post(LANDING, json={"tenant_id": tenant_id, "event_type": "pageview"})


def test_the_landing_route_takes_100_events_a_minute_per_tenant(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop, other = make_tenant("Landing"), make_tenant("Other landing")
    answers = [landing(client, shop.id) for _ in range(100)]
    assert {r.status_code for r in answers} == {200}
    assert [int(r.headers["x-ratelimit-remaining"]) for r in answers[:3]] == [99, 98, 97]
    over = landing(client, shop.id)
    assert over.status_code == 429
    assert over.json() == {
        "ok": False,
        "error": "Rate limit exceeded: 100 events per minute per tenant",
        "field": None,
    }
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert (over.headers["x-ratelimit-limit"], over.headers["x-ratelimit-remaining"]) == (
        "100",
        "0",
    )
    assert landing(client, other.id).status_code == 200  # per tenant


def test_the_landing_limit_is_a_setting(
    settings: Settings, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop = make_tenant("Landing")
    with app_client(settings, store, landing_rate_per_minute=2) as client:
        assert [landing(client, shop.id).status_code for _ in range(3)] == [200, 200, 429]
    with app_client(settings, store, landing_rate_per_minute=0) as client:  # 0: no limit
        answers = [landing(client, shop.id) for _ in range(110)]
        assert {r.status_code for r in answers} == {200}
        assert "x-ratelimit-limit" not in answers[0].headers


# -- per-key request rates -------------------------------------------------------------------
def test_every_response_reports_the_keys_rate(client: TestClient, tenant: TenantKeys) -> None:
    answers = [client.get(TENANT, headers=tenant.sk) for _ in range(3)]
    assert [r.headers["x-ratelimit-limit"] for r in answers] == ["1200"] * 3  # pro
    assert [int(r.headers["x-ratelimit-remaining"]) for r in answers] == [1199, 1198, 1197]
    assert all(1 <= int(r.headers["x-ratelimit-reset"]) <= 60 for r in answers)
    # the publishable key has its own count; an error response carries the headers too
    bad = client.post(CORE, json={"properties": {}}, headers=tenant.pk)
    assert (bad.status_code, bad.headers["x-ratelimit-remaining"]) == (400, "1199")


def test_over_the_keys_rate_is_429_with_retry_after_and_headers(
    client: TestClient, make_tenant: Callable[..., TenantKeys], tiny: plans.Plan
) -> None:
    keys = make_tenant("Tiny", plan=tiny.name)
    assert [client.get(TENANT, headers=keys.sk).status_code for _ in range(3)] == [200] * 3
    over = client.get(TENANT, headers=keys.sk)
    assert over.status_code == 429
    assert over.json() == {
        "ok": False,
        "error": "Rate limit exceeded: 3 requests per minute per API key",
        "field": None,
    }
    assert over.headers["x-ratelimit-limit"] == "3"
    assert over.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert 1 <= int(over.headers["x-ratelimit-reset"]) <= 60
    # every authenticated route counts, ingest included; the other key is counted apart
    assert client.get("/v1/api/analytics/ecommerce/overview", headers=keys.sk).status_code == 429
    assert client.post(TRACK, json=view(), headers=keys.pk).status_code == 200


def test_segment_routes_are_rate_limited_per_key(
    client: TestClient, make_tenant: Callable[..., TenantKeys], tiny: plans.Plan
) -> None:
    keys = make_tenant("Tiny", plan=tiny.name)
    message = {"userId": "u1", "event": "Signed Up"}
    codes = [client.post("/v1/track", json=message, headers=keys.pk).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_unauthenticated_requests_carry_no_rate_headers(client: TestClient) -> None:
    response = client.get(TENANT)
    assert response.status_code == 401
    assert not set(RATE_HEADERS) & set(response.headers)


def test_per_key_limits_can_be_turned_off(
    settings: Settings, store: Store, make_tenant: Callable[..., TenantKeys], tiny: plans.Plan
) -> None:
    keys = make_tenant("Tiny", plan=tiny.name)
    with app_client(settings, store, rate_limits=False) as client:
        answers = [client.get(TENANT, headers=keys.sk) for _ in range(5)]
    assert {r.status_code for r in answers} == {200}
    assert "x-ratelimit-limit" not in answers[0].headers


def test_browsers_may_read_the_rate_headers(client: TestClient, tenant: TenantKeys) -> None:
    response = client.get(TENANT, headers={**tenant.sk, "Origin": "https://shop.example"})
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert exposed >= {*RATE_HEADERS, "retry-after"}


# -- retention clamp -------------------------------------------------------------------------
@pytest.fixture
def free(make_tenant: Callable[..., TenantKeys]) -> Iterator[TenantKeys]:
    yield make_tenant("Free reports")


def test_days_is_clamped_to_the_plans_retention(client: TestClient, free: TenantKeys) -> None:
    """Seed 002: days "Clamped to your plan's retention limit" (free: 30 days)."""
    today = datetime.now(UTC).date()
    overview = client.get(
        "/v1/api/analytics/ecommerce/overview", params={"days": 3650}, headers=free.sk
    )
    assert (overview.status_code, overview.json()["days"]) == (200, 30)
    series = client.get(
        "/v1/api/analytics/ecommerce/revenue-timeseries", params={"days": 3650}, headers=free.sk
    ).json()["series"]
    assert [p["date"] for p in series] == [
        str(today - timedelta(days=n)) for n in range(29, -1, -1)
    ]
    # within the limit nothing changes
    short = client.get("/v1/api/analytics/ecommerce/overview", params={"days": 7}, headers=free.sk)
    assert short.json()["days"] == 7


def test_every_period_style_is_clamped(client: TestClient, free: TenantKeys) -> None:
    today = datetime.now(UTC).date()
    year = client.get("/analytics/categories", params={"time_range": "year"}, headers=free.sk)
    body = year.json()
    assert (body["time_range"], body["start_date"], body["end_date"]) == (
        "year",
        str(max(today - timedelta(days=29), today.replace(month=1, day=1))),
        str(today),
    )


def test_a_range_wholly_before_the_retention_window_is_400(
    client: TestClient, free: TenantKeys
) -> None:
    today = datetime.now(UTC).date()
    response = client.get(
        "/v1/api/analytics/ecommerce/overview",
        params={"start": str(today - timedelta(days=60)), "end": str(today - timedelta(days=40))},
        headers=free.sk,
    )
    assert response.status_code == 400
    assert response.json()["field"] == "end"
    assert str(today - timedelta(days=29)) in response.json()["error"]


def test_pro_looks_back_90_days_or_up_to_a_year_when_set(
    client: TestClient, tenant: TenantKeys
) -> None:
    def days(route: str) -> int:
        body = client.get(f"/v1/api/analytics/ecommerce/{route}", params={"days": 3650},
                          headers=tenant.sk).json()  # fmt: skip
        return int(body["days"])

    # raw-event reports: seed 000's default raw-event retention
    assert days("top-products") == 90
    # sales figures come from the rollups, kept 730 days: the plan's 365 bound them
    assert days("overview") == days("revenue-timeseries") == 365
    longest = {"retention": {"rawEvents": 365}}
    assert client.patch("/analytics/settings", json=longest, headers=tenant.sk).status_code == 200
    assert days("top-products") == days("overview") == 365
    shorter = {"retention": {"rawEvents": 30, "aggregatedMetrics": 200}}
    assert client.patch("/analytics/settings", json=shorter, headers=tenant.sk).status_code == 200
    assert (days("top-products"), days("overview")) == (30, 200)
