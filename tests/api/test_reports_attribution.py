"""``GET /v1/api/analytics/ecommerce/attribution`` over HTTP, fed by the real ingestion API.

The touch history goes in through ``/v1/api/analytics/ecommerce/batch`` the way a shop
sends it: a landing page URL with ``utm_*`` parameters, ecommerce ``properties`` with the
campaign, and an untagged landing with a ``gclid``; the purchase carries the user id and the
same anonymous id. Expected credits are worked out by hand in each test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import NOW, TenantKeys, wait_stored

BASE = "/v1/api/analytics/ecommerce"
ROUTE = f"{BASE}/attribution"
P = NOW - timedelta(hours=1)  # every purchase

SPRING = {"campaign": "spring", "source": "email", "medium": "newsletter"}
BRAND = {"campaign": "brand", "source": "google", "medium": "cpc"}
GCLID = {"campaign": "", "source": "google", "medium": "cpc"}  # channel.CLICK_IDS["gclid"]


def at(days_before: float) -> str:
    return (P - timedelta(days=days_before)).isoformat()


def visit(days_before: float, anon: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_type": "view_cart",
        "anonymous_id": anon,
        "session_id": f"s-{uuid.uuid4().hex[:8]}",
        "timestamp": at(days_before),
        **fields,
    }


def purchase(dollars: float, user: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_type": "purchase",
        "transaction_id": f"o-{uuid.uuid4().hex[:8]}",
        "revenue": dollars,
        "user_id": user,
        "timestamp": P.isoformat(),
        **fields,
    }


# u1 ($90): spring email landing 20 days before (URL tags), the brand ad 3 days before
# (ecommerce properties), an untagged Google ad click 1 day before; buys logged in.
# u2 ($10): no touch at all.
HISTORY = [
    visit(20, "a1", page_url="https://shop.example/sale?utm_source=email&utm_medium=newsletter"
                             "&utm_campaign=spring"),
    visit(3, "a1", properties={"source": "google", "medium": "cpc", "campaign": "brand"}),
    visit(1, "a1", page_url="https://shop.example/?gclid=Cj0KCQ"),
    visit(0.5, "a1", page_url="https://shop.example/cart"),  # untagged: not a touch
    purchase(90, "u1", anonymous_id="a1"),
    purchase(10, "u2"),
]  # fmt: skip


def load(client: TestClient, keys: TenantKeys, events: list[dict[str, Any]]) -> None:
    response = client.post(f"{BASE}/batch", json={"events": events}, headers=keys.pk)
    assert response.status_code == 200, response.text
    wait_stored(client)


def get(client: TestClient, keys: TenantKeys, **params: Any) -> Any:
    response = client.get(ROUTE, params=params, headers=keys.sk)
    assert response.status_code == 200, response.text
    return response.json()


def rows(body: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    return {
        r["campaign"] or f"({r['source']})": (r["revenue"], r["orders"], r["pct_of_total"])
        for r in body["attributed"]
    }


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    keys = make_tenant("attribution shop", plan="pro")
    load(client, keys, HISTORY)
    return keys


def test_defaults_are_last_click_over_30_days(client: TestClient, shop: TenantKeys) -> None:
    body = get(client, shop)
    assert body == {
        "attributed": [
            {**GCLID, "revenue": 90.0, "orders": 1, "pct_of_total": 90.0},
        ],
        "unattributed": {"revenue": 10.0, "orders": 1, "pct_of_total": 10.0},
        "model": "last_click",
        "window_days": 30,
        "days": 30,
    }


@pytest.mark.parametrize(
    ("model", "window", "expected"),
    [
        ("first_click", "30", {"spring": (90.0, 1, 90.0)}),
        ("first_click", "14", {"brand": (90.0, 1, 90.0)}),  # spring (20 days) is outside
        (
            "linear",
            "30",
            {
                "spring": (30.0, 0.33, 30.0),
                "brand": (30.0, 0.33, 30.0),
                "(google)": (30.0, 0.33, 30.0),
            },
        ),
        ("linear", "7", {"brand": (45.0, 0.5, 45.0), "(google)": (45.0, 0.5, 45.0)}),
        (
            "position_based",
            "30",
            {
                "spring": (36.0, 0.4, 36.0),
                "(google)": (36.0, 0.4, 36.0),
                "brand": (18.0, 0.2, 18.0),
            },
        ),
        ("position_based", "14", {"brand": (45.0, 0.5, 45.0), "(google)": (45.0, 0.5, 45.0)}),
        # 2^(-20/7) : 2^(-3/7) : 2^(-1/7) = 0.1380 : 0.7430 : 0.9057 (sum 1.7867) of $90:
        (
            "time_decay",
            "30",
            {
                "(google)": (45.62, 0.51, 45.6),
                "brand": (37.43, 0.42, 37.4),
                "spring": (6.95, 0.08, 7.0),
            },
        ),
    ],
)
def test_each_model_and_window(
    client: TestClient,
    shop: TenantKeys,
    model: str,
    window: str,
    expected: dict[str, tuple[float, float, float]],
) -> None:
    body = get(client, shop, model=model, window=window)
    assert (body["model"], body["window_days"]) == (model, int(window))
    assert rows(body) == expected
    assert body["unattributed"] == {"revenue": 10.0, "orders": 1, "pct_of_total": 10.0}
    shares = [r["pct_of_total"] for r in body["attributed"]] + [10.0]
    assert sum(shares) == pytest.approx(100, abs=0.15)


def test_start_and_end_choose_the_purchases(client: TestClient, shop: TenantKeys) -> None:
    before = (P - timedelta(days=2)).date().isoformat()
    body = get(client, shop, start=(P - timedelta(days=40)).date().isoformat(), end=before)
    assert body["attributed"] == []
    assert body["unattributed"] == {"revenue": 0.0, "orders": 0, "pct_of_total": 0.0}


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"model": "data_driven"}, "model", "model must be one of last_click, first_click"),
        ({"model": "LINEAR"}, "model", "model must be one of"),
        ({"window": "45"}, "window", "window must be one of 7, 14, 30, 60, 90"),
        ({"window": "seven"}, "window", "window must be one of"),
        ({"window": "30.0"}, "window", "window must be one of"),
        ({"days": "0"}, "days", ""),
    ],
)
def test_bad_parameters_are_400_naming_the_field(
    client: TestClient, tenant: TenantKeys, params: dict[str, str], field: str, message: str
) -> None:
    response = client.get(ROUTE, params=params, headers=tenant.sk)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ok"] is False and body["field"] == field
    assert message in body["error"]


def test_tenants_see_only_their_own_purchases_and_touches(
    client: TestClient, shop: TenantKeys, make_tenant: Callable[..., TenantKeys]
) -> None:
    other = make_tenant("other attribution shop", plan="pro")
    # Same user and anonymous ids, a later touch and a big order: none of it is shop's.
    load(
        client, other, [visit(0.1, "a1", properties=SPRING), purchase(500, "u1", anonymous_id="a1")]
    )
    assert rows(get(client, shop)) == {"(google)": (90.0, 1, 90.0)}
    assert get(client, other)["attributed"] == [
        {**SPRING, "revenue": 500.0, "orders": 1, "pct_of_total": 100.0}
    ]


def test_secret_key_required(client: TestClient, tenant: TenantKeys) -> None:
    assert client.get(ROUTE, headers=tenant.pk).status_code == 403
    assert client.get(ROUTE).status_code == 401
