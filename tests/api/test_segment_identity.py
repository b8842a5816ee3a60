"""Identity stitching end to end: Segment / RudderStack streams in, reports count people.

Regression for issue 9 (defect 5): a shopper who browses anonymously, then identifies
(RudderStack: traits in ``context.traits``) or is aliased (Segment's server SDKs:
``previousId`` → ``userId``, no anonymousId), then buys with a user id only, was two
"visitors": the funnel lost the purchase, the journey the anonymous visit, the attribution
the campaign of the anonymous landing. Every message here is what those SDKs send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.store import Store
from tests.api.test_maintenance import wait_done
from tests.api.test_segment import basic
from tests.conftest import TenantKeys, rows, wait_stored

BASE = "/v1/api/analytics/ecommerce"
NOW = datetime.now(UTC)
STEPS = 6  # the v1 funnel: view_item … purchase


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


def message(kind: str, hours_ago: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": at(hours_ago), **fields}


LAMP_PRICE = 25.0
PRODUCT = {"product_id": "sku-1", "name": "Lamp", "price": LAMP_PRICE, "quantity": 1}
CAMPAIGN = {"source": "newsletter", "medium": "email", "name": "spring"}


def anonymous_visit(anon: str, start: float) -> list[dict[str, Any]]:
    """An anonymous browser: a tagged landing, a product, the cart (analytics.js shape)."""
    return [
        message(
            "page",
            start,
            anonymousId=anon,
            name="Home",
            context={"campaign": CAMPAIGN, "page": {"url": "https://shop.example/"}},
        ),
        message("track", start - 0.1, anonymousId=anon, event="Product Viewed", properties=PRODUCT),
        message("track", start - 0.2, anonymousId=anon, event="Product Added", properties=PRODUCT),
        message(
            "track",
            start - 0.3,
            anonymousId=anon,
            event="Cart Viewed",
            properties={"products": [PRODUCT]},
        ),
    ]


def link(how: str, anon: str, user: str, hours_ago: float) -> dict[str, Any]:
    if how == "identify":  # RudderStack: both ids, traits in context.traits
        return message(
            "identify",
            hours_ago,
            userId=user,
            anonymousId=anon,
            context={"traits": {"email": f"{user}@example.com"}},
        )
    # Segment analytics-node / analytics-python: alias(previousId, userId), no anonymousId
    return message("alias", hours_ago, userId=user, previousId=anon)


def order(order_id: str, total: float) -> dict[str, Any]:
    """Order Completed properties: ``total`` in lamps (the fraud stage checks the sum)."""
    lamps = {**PRODUCT, "quantity": int(total // LAMP_PRICE)}
    return {"order_id": order_id, "revenue": total, "products": [lamps]}


def checkout(user: str, start: float, order_id: str, total: float) -> list[dict[str, Any]]:
    """Server-side events with the user id only, as a backend sends them."""
    return [
        message(
            "track",
            start,
            userId=user,
            event="Checkout Started",
            properties={"products": [PRODUCT]},
        ),
        message("track", start - 0.1, userId=user, event="Payment Info Entered"),
        message(
            "track",
            start - 0.2,
            userId=user,
            event="Order Completed",
            properties=order(order_id, total),
        ),
    ]


def send(client: TestClient, keys: TenantKeys, batch: list[dict[str, Any]]) -> None:
    response = client.post("/v1/batch", json={"batch": batch}, headers=basic(keys.publishable))
    assert response.status_code == 200, response.text
    wait_stored(client)


def get(client: TestClient, keys: TenantKeys, path: str, **params: Any) -> Any:
    response = client.get(f"{BASE}/{path}", params=params, headers=keys.sk)
    assert response.status_code == 200, response.text
    return response.json()


def funnel_counts(client: TestClient, keys: TenantKeys) -> list[int]:
    return [s["count"] for s in get(client, keys, "funnel", days="7")["steps"]]


def journey_types(client: TestClient, keys: TenantKeys, user: str) -> list[str]:
    return [e["event_type"] for e in get(client, keys, "user-journey", user_id=user)["events"]]


@pytest.fixture
def shop(make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    return make_tenant("stitching", plan="pro")


@pytest.mark.parametrize("how", ["identify", "alias"])
def test_an_anonymous_visit_then_a_link_then_a_user_purchase_is_one_person(
    client: TestClient, shop: TenantKeys, how: str
) -> None:
    send(client, shop, anonymous_visit("anon-1", start=5))
    assert funnel_counts(client, shop) == [1, 1, 1, 0, 0, 0]
    # The link and the checkout arrive later, in their own requests.
    send(client, shop, [link(how, "anon-1", "user-1", 4)])
    send(client, shop, checkout("user-1", 3, "order-1", 50.0))

    assert funnel_counts(client, shop) == [1] * STEPS  # before stitching: [1, 1, 1, 0, 0, 0]
    journey = journey_types(client, shop, "user-1")
    assert journey == [
        "page_view",
        "view_item",
        "add_to_cart",
        "view_cart",
        how,
        "begin_checkout",
        "add_payment_info",
        "purchase",
    ]
    attribution = get(client, shop, "attribution", model="last_click")
    assert [(r["campaign"], r["source"], r["medium"]) for r in attribution["attributed"]] == [
        ("spring", "newsletter", "email")
    ]
    assert attribution["attributed"][0]["revenue"] == 50.0
    assert attribution["unattributed"]["orders"] == 0
    # Two months: a few hours ago is last month just after a month starts.
    cohorts = get(client, shop, "cohorts", months="2")
    assert cohorts["total_purchasing_users"] == 1


def test_anonymous_events_after_the_link_belong_to_the_user_too(
    client: TestClient, shop: TenantKeys
) -> None:
    send(client, shop, [link("identify", "anon-2", "user-2", 6)])
    # Only now the anonymous browsing (and a guest purchase) of that device arrive.
    guest_order = message(
        "track",
        3.5,
        anonymousId="anon-2",
        event="Order Completed",
        properties=order("order-guest", 25.0),
    )
    send(client, shop, [*anonymous_visit("anon-2", start=5), guest_order])
    send(client, shop, checkout("user-2", 3, "order-2", 25.0))

    assert funnel_counts(client, shop) == [1] * STEPS
    assert journey_types(client, shop, "user-2").count("purchase") == 2
    # the guest purchase made before checkout counts for the customer: one user, $50
    cohorts = get(client, shop, "cohorts", months="2")  # the purchases may be last month's
    assert cohorts["total_purchasing_users"] == 1
    [cohort] = [c for c in cohorts["cohorts"] if c["users"]]
    assert (cohort["users"], cohort["revenue_by_month"]["0"]) == (1, 50.0)
    assert sum(cohort["revenue_by_month"].values()) == 50.0


def test_two_shoppers_stay_two_people(client: TestClient, shop: TenantKeys) -> None:
    send(
        client,
        shop,
        [
            *anonymous_visit("anon-a", start=6),
            link("alias", "anon-a", "user-a", 5.5),
            *checkout("user-a", 5, "order-a", 25.0),
            *anonymous_visit("anon-b", start=4),  # never identifies, never buys
        ],
    )
    assert funnel_counts(client, shop) == [2, 2, 2, 1, 1, 1]


def test_deleting_a_user_removes_the_anonymous_events_stitched_to_them(
    client: TestClient, shop: TenantKeys, store: Store
) -> None:
    send(
        client,
        shop,
        [
            *anonymous_visit("anon-3", start=5),
            link("identify", "anon-3", "user-3", 4),
            *checkout("user-3", 3, "order-3", 75.0),
            *anonymous_visit("anon-other", start=2),  # someone else, never linked
        ],
    )
    assert client.delete("/v1/api/analytics/user/user-3", headers=shop.sk).status_code == 200
    status = wait_done(client, shop, "user-3")
    assert status["status"] == "done", status
    assert status["rows_deleted"]["identities"] == 1
    assert status["rows_deleted"]["events"] == 4 + 1 + 3

    left = rows(
        store,
        "SELECT visitor_id, user_id FROM events WHERE tenant_id = {t:UInt32}",
        t=shop.id,
    )
    assert {(r["visitor_id"], r["user_id"]) for r in left} == {("anon-other", "")}
    links = rows(
        store, "SELECT count() AS n FROM identities WHERE tenant_id = {t:UInt32}", t=shop.id
    )
    assert links[0]["n"] == 0
    items = rows(
        store, "SELECT count() AS n FROM event_items WHERE tenant_id = {t:UInt32}", t=shop.id
    )
    assert items[0]["n"] == 3  # anon-other's product view, add and cart
    assert journey_types(client, shop, "user-3") == []
    assert funnel_counts(client, shop) == [1, 1, 1, 0, 0, 0]
