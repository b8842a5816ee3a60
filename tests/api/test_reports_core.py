"""The core routes over real HTTP: ``GET /``, ``/analytics/realtime``, ``/analytics/customers``.

Events go in through the real ingestion APIs (ecommerce batch and core ``/analytics/event``)
relative to the real clock; expectations are computed in plain Python from the fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TenantKeys, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"
SETTINGS = "/analytics/settings"
EVENT = "/analytics/event"
REALTIME = "/analytics/realtime"
CUSTOMERS = "/analytics/customers"
ECOMMERCE_REPORTS = [
    "overview",
    "revenue-timeseries",
    "funnel",
    "cart-abandonment",
    "cohorts",
    "top-products",
    "user-journey",
    "revenue-by-channel",
]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def purchase(user: str, amount: str, at: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_type": "purchase",
        "user_id": user,
        "transaction_id": f"tx-{uuid.uuid4()}",
        "revenue": float(amount),
    }
    if at is not None:
        body["timestamp"] = iso(at)
    return body


def send(client: TestClient, keys: TenantKeys, events: list[dict[str, Any]]) -> None:
    # Events up to a year old: live ingestion refuses anything older than the tenant's
    # raw-event retention (90 days unless set; ingest.clock), so keep a year (pro's limit).
    kept = client.patch(SETTINGS, json={"retention": {"rawEvents": 365}}, headers=keys.sk)
    assert kept.status_code == 200, kept.text
    response = client.post(BATCH, json={"events": events}, headers=keys.pk)
    assert response.json() == {"ok": True, "accepted": len(events)}, response.json()


def page_view(client: TestClient, keys: TenantKeys, user: str, page: str, **extra: Any) -> None:
    body = {"event": "page_view", "userId": user, "context": {"page": page}, **extra}
    response = client.post(EVENT, json=body, headers=keys.pk)
    assert response.status_code == 201, response.json()


# -- GET / ---------------------------------------------------------------------------------
def test_root_lists_the_apps_routes_without_a_key(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "shoplens" and body["version"] == client.app.version  # type: ignore[attr-defined]
    assert (body["docs"], body["redoc"]) == ("/docs", "/redoc")
    listed = {(e["method"], e["path"]) for e in body["endpoints"]}
    assert all(isinstance(e["summary"], str) and e["summary"] for e in body["endpoints"])
    schema = client.get("/openapi.json").json()["paths"]
    documented = {(m.upper(), p) for p, ops in schema.items() for m in ops}
    assert listed == documented
    known = [  # routes other modules serve (a hand list, so the check is not circular)
        "/analytics/sales",
        "/analytics/funnel",
        "/analytics/conversion",
        CUSTOMERS,
        REALTIME,
        *(f"/v1/api/analytics/ecommerce/{name}" for name in ECOMMERCE_REPORTS),
    ]
    assert {("GET", path) for path in known} <= listed
    assert {("POST", BATCH), ("POST", EVENT), ("GET", "/")} <= listed
    assert client.get("/docs").status_code == 200 and client.get("/redoc").status_code == 200


def test_every_listed_report_route_answers(client: TestClient, tenant: TenantKeys) -> None:
    """Each listed GET route without path parameters exists (no 404/405) for a secret key."""
    for e in client.get("/").json()["endpoints"]:
        if e["method"] == "GET" and "{" not in e["path"]:
            status = client.get(e["path"], headers=tenant.sk).status_code
            assert status not in (404, 405), e


# -- realtime ------------------------------------------------------------------------------
def test_realtime_counts_recent_visitors_today_and_top_pages(
    client: TestClient, tenant: TenantKeys, make_tenant: Callable[..., TenantKeys]
) -> None:
    now = datetime.now(UTC)
    page_view(client, tenant, "alice", "/products/shirts")
    page_view(client, tenant, "bob", "https://shop.example/products/shirts?utm_source=x")
    page_view(client, tenant, "bob", "/collections/sale", timestamp=iso(now - timedelta(minutes=2)))
    page_view(client, tenant, "carol", "/cart", timestamp=iso(now - timedelta(minutes=20)))
    page_view(client, tenant, "dave", "/old", timestamp=iso(now - timedelta(minutes=45)))
    send(client, tenant, [purchase("alice", "12.50"), purchase("erin", "7.25")])
    wait_stored(client)

    body = client.get(REALTIME, headers=tenant.sk).json()
    assert body["activeVisitors"] == body["active_users"] == 3  # alice, bob, erin
    assert body["recent_orders"] == 2
    assert (
        body["topPages"]
        == body["top_pages"]
        == [
            {"page": "/products/shirts", "visitors": 2},
            {"page": "/cart", "visitors": 1},
            {"page": "/collections/sale", "visitors": 1},
        ]
    )
    today = datetime.now(UTC).date()
    # Purchases "now" are today's unless the UTC day turned over while the test ran.
    if today == now.date():
        assert body["ordersToday"] == body["orders_today"] == 2
        assert body["revenueToday"] == body["revenue_today"] == 1975
    assert (body["minutes"], body["timezone"], body["currency"]) == (5, "UTC", "USD")

    wide = client.get(REALTIME, params={"minutes": "30"}, headers=tenant.sk).json()
    assert wide["activeVisitors"] == 4 and wide["minutes"] == 30  # carol too, not dave

    other = make_tenant("Other")
    empty = client.get(REALTIME, headers=other.sk).json()
    assert (empty["activeVisitors"], empty["ordersToday"], empty["revenueToday"]) == (0, 0, 0)
    assert empty["topPages"] == [] and empty["recent_orders"] == 0


def test_realtime_today_is_local_to_the_tenant(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    zone = "Pacific/Kiritimati"  # UTC+14: its day boundary is 10:00 UTC
    keys = make_tenant("Far east", timezone=zone, plan="pro")
    now = datetime.now(UTC)
    local_midnight = now.astimezone(ZoneInfo(zone)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    before, after = local_midnight - timedelta(minutes=30), local_midnight + timedelta(minutes=1)
    sent = [
        purchase("a", "1.00", before.astimezone(UTC)),
        purchase("b", "2.00", after.astimezone(UTC)),
    ]
    send(client, keys, sent)
    wait_stored(client)
    body = client.get(REALTIME, headers=keys.sk).json()
    assert body["date"] == now.astimezone(ZoneInfo(zone)).date().isoformat()
    assert (body["ordersToday"], body["revenueToday"]) == (1, 200)  # b only: a was yesterday


# -- customers -----------------------------------------------------------------------------
def days_ago(n: int) -> datetime:
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=n)


def test_customers_in_both_parameter_styles(client: TestClient, tenant: TenantKeys) -> None:
    send(
        client,
        tenant,
        [
            purchase("veteran", "10.00", days_ago(200)),
            purchase("veteran", "5.00", days_ago(3)),
            purchase("fresh", "2.00", days_ago(5)),
            purchase("fresh", "3.00", days_ago(2)),
            purchase("lapsed", "90.00", days_ago(120)),
            purchase("", "1.00", days_ago(1)),  # a guest: no customer
        ],
    )
    wait_stored(client)
    seed000 = client.get(CUSTOMERS, params={"period": "30d"}, headers=tenant.sk).json()
    assert (seed000["totalCustomers"], seed000["newCustomers"], seed000["returningCustomers"]) == (
        2,
        1,
        1,
    )
    assert seed000["averageLTV"] == seed000["average_ltv"] == 1000  # (1500 + 500) / 2
    assert seed000["retention_rate"] == 50.0 and seed000["period"] == "30d"
    assert len(seed000["cohorts"]) == 6
    cohorts = {c["month"]: c for c in seed000["cohorts"]}
    this_month = datetime.now(UTC).strftime("%Y-%m")
    assert cohorts[this_month]["retained"] == {}
    fresh_month = days_ago(5).strftime("%Y-%m")
    assert cohorts[fresh_month]["acquired"] == 1
    lapsed = cohorts[days_ago(120).strftime("%Y-%m")]
    assert lapsed["acquired"] == 1 and sum(lapsed["retained"].values()) == 0
    newest_first = [c["month"] for c in seed000["cohorts"]]
    assert len(lapsed["retained"]) == newest_first.index(lapsed["month"])

    styled = client.get(
        CUSTOMERS,
        params={
            "time_range": "custom",
            "start_date": days_ago(29).date().isoformat(),
            "end_date": days_ago(0).date().isoformat(),
        },
        headers=tenant.sk,
    ).json()
    for camel, snake in [
        ("totalCustomers", "total_customers"),
        ("newCustomers", "new_customers"),
        ("returningCustomers", "returning_customers"),
        ("averageLTV", "average_ltv"),
    ]:
        assert styled[snake] == styled[camel] == seed000[camel]
    assert styled["time_range"] == "custom" and styled["cohorts"] == seed000["cohorts"]
    assert styled["end_date"] == days_ago(0).date().isoformat()

    year = client.get(CUSTOMERS, params={"period": "12m"}, headers=tenant.sk).json()
    assert (year["totalCustomers"], year["newCustomers"], year["returningCustomers"]) == (3, 3, 0)
    vet = next(c for c in year["cohorts"] if c["month"] == days_ago(200).strftime("%Y-%m"))
    offset = (days_ago(3).year - days_ago(200).year) * 12 + days_ago(3).month - days_ago(200).month
    assert vet["acquired"] == 1 and vet["retained"][f"month{offset}"] == 1


def test_customers_empty_tenant_is_zeros(client: TestClient, tenant: TenantKeys) -> None:
    body = client.get(CUSTOMERS, params={"time_range": "month"}, headers=tenant.sk).json()
    assert (body["totalCustomers"], body["newCustomers"], body["returningCustomers"]) == (0, 0, 0)
    assert (body["averageLTV"], body["retention_rate"]) == (0, 0.0)
    assert all(c["acquired"] == 0 and not any(c["retained"].values()) for c in body["cohorts"])


# -- errors and keys -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (REALTIME, {"minutes": "0"}, "minutes"),
        (REALTIME, {"minutes": "61"}, "minutes"),
        (REALTIME, {"minutes": "5m"}, "minutes"),
        (CUSTOMERS, {"period": "1y"}, "period"),
        (CUSTOMERS, {"time_range": "decade"}, "time_range"),
        (CUSTOMERS, {"period": "30d", "time_range": "month"}, "time_range"),
        (CUSTOMERS, {"time_range": "custom", "start_date": "2025-01-01"}, "end_date"),
    ],
)
def test_bad_parameters_are_400s_naming_them(
    client: TestClient, tenant: TenantKeys, path: str, params: dict[str, str], field: str
) -> None:
    response = client.get(path, params=params, headers=tenant.sk)
    assert response.status_code == 400
    assert response.json()["ok"] is False and response.json()["field"] == field


@pytest.mark.parametrize("path", [REALTIME, CUSTOMERS])
def test_reports_need_a_secret_key(client: TestClient, tenant: TenantKeys, path: str) -> None:
    assert client.get(path, headers=tenant.pk).status_code == 403
    assert client.get(path).status_code == 401
