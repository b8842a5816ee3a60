"""Fraud rules end to end over HTTP: severity 1 stored, flagged, out of revenue and listed;
severity 2 answered like an accepted event, never stored, counted across a restart;
settings that change behaviour for one tenant only.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.ingest.fraud import RULES
from shoplens.store import Store
from tests.conftest import TenantKeys, stored_events, wait_stored

TRACK = "/v1/api/analytics/ecommerce/track"
BATCH = "/v1/api/analytics/ecommerce/batch"
EVENTS = "/v1/fraud/events"
STATS = "/v1/fraud/stats"
OVERVIEW = "/v1/api/analytics/ecommerce/overview"
SETTINGS = "/v1/settings/fraud"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def purchase(revenue: float, **fields: Any) -> dict[str, Any]:
    return {
        "event_type": "purchase",
        "transaction_id": uuid.uuid4().hex,
        "revenue": revenue,
        **fields,
    }


def patch(client: TestClient, tenant: TenantKeys, rules: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(SETTINGS, json={"rules": rules}, headers=tenant.sk)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_severity_1_is_stored_flagged_listed_and_out_of_revenue(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop, other = make_tenant("a", plan="pro"), make_tenant("b", plan="pro")
    patch(client, shop, {"revenue_ceiling": {"thresholds": {"max_revenue": 100}}})
    at = purchase(100.00, user_id="at")
    past = purchase(100.01, user_id="past")
    for event in (at, past, purchase(25.5)):
        assert client.post(TRACK, json=event, headers=shop.pk).json() == {"ok": True}
    assert client.post(TRACK, json=purchase(100.01), headers=other.pk).json() == {"ok": True}
    wait_stored(client)

    rows = {r["transaction_id"]: r for r in stored_events(store, shop.id)}
    assert len(rows) == 3
    assert (
        rows[past["transaction_id"]]["is_flagged"],
        rows[past["transaction_id"]]["fraud_reasons"],
    ) == (1, ["revenue_ceiling"])
    assert rows[at["transaction_id"]]["is_flagged"] == 0

    sales = client.get("/analytics/sales", headers=shop.sk).json()
    assert (sales["revenue"], sales["orders"]) == (10_000 + 2_550, 2)

    listing = client.get(EVENTS, headers=shop.sk).json()
    assert listing["total"] == 1
    [flagged] = listing["events"]
    assert flagged["transaction_id"] == past["transaction_id"]
    assert (flagged["revenue"], flagged["currency"], flagged["reasons"]) == (
        100.01,
        "USD",
        ["revenue_ceiling"],
    )
    assert flagged["user_id"] == "past" and flagged["event_type"] == "purchase"

    stats = client.get(STATS, headers=shop.sk).json()
    assert stats["flagged"] == {"events": 1, "by_rule": {"revenue_ceiling": 1}}
    assert stats["blocked"] == {"events": 0, "by_rule": {}}
    # The other tenant kept the default ceiling: nothing flagged there.
    assert client.get(EVENTS, headers=other.sk).json()["total"] == 0


def test_listing_pages_newest_first(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop = make_tenant(plan="pro")
    base = (int(time.time()) - 3600) * 1000  # an hour ago, on a whole second
    events = [purchase(-1.0, timestamp=base + n * 1000) for n in range(5)]
    assert client.post(BATCH, json={"events": events}, headers=shop.pk).json()["accepted"] == 5
    wait_stored(client)
    newest_first = [e["transaction_id"] for e in reversed(events)]
    page = client.get(f"{EVENTS}?days=2&limit=2&offset=1", headers=shop.sk).json()
    assert page["total"] == 5 and (page["limit"], page["offset"]) == (2, 1)
    assert [e["transaction_id"] for e in page["events"]] == newest_first[1:3]
    assert page["events"][0]["reasons"] == ["negative_amount"]
    expected_time = datetime.fromtimestamp(base / 1000 + 3, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert page["events"][0]["time"] == f"{expected_time}.000Z"
    bad = client.get(f"{EVENTS}?offset=-1", headers=shop.sk)
    assert (bad.status_code, bad.json()["field"]) == (400, "offset")
    assert client.get(f"{EVENTS}?limit=0", headers=shop.sk).json()["field"] == "limit"


def test_severity_2_is_answered_ok_never_stored_and_counted_across_restart(
    settings: Settings, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop, other = make_tenant("a", plan="pro"), make_tenant("b", plan="pro")
    with TestClient(create_app(settings, store=store)) as client:
        patch(
            client, shop, {"revenue_ceiling": {"severity": 2, "thresholds": {"max_revenue": 100}}}
        )
        kept = purchase(100.00)
        assert client.post(TRACK, json=purchase(100.01), headers=shop.pk).json() == {"ok": True}
        batch = {"events": [kept, purchase(5000)]}
        assert client.post(BATCH, json=batch, headers=shop.pk).json() == {"ok": True, "accepted": 2}
        bot = purchase(10, user_id="crawler")
        headers = {**shop.pk, "User-Agent": GOOGLEBOT}
        assert client.post(TRACK, json=bot, headers=headers).json() == {"ok": True}
        wait_stored(client)
        assert [r["transaction_id"] for r in stored_events(store, shop.id)] == [
            kept["transaction_id"]
        ]
        stats = client.get(STATS, headers=shop.sk).json()
        expected = {"events": 3, "by_rule": {"bot": 1, "revenue_ceiling": 2}}
        assert stats["blocked"] == expected
        assert client.get(STATS, headers=other.sk).json()["blocked"]["events"] == 0
        assert client.get(EVENTS, headers=shop.sk).json()["total"] == 0  # not flagged: gone
    with TestClient(create_app(settings, store=store)) as client:
        assert client.get(STATS, headers=shop.sk).json()["blocked"] == expected


def test_velocity_end_to_end(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop = make_tenant(plan="pro")
    patch(client, shop, {"velocity": {"thresholds": {"per_user": 2}}})
    events = [purchase(10, user_id="fast") for _ in range(3)]
    for event in events:
        assert client.post(TRACK, json=event, headers=shop.pk).json() == {"ok": True}
    wait_stored(client)
    flags = {r["transaction_id"]: r["is_flagged"] for r in stored_events(store, shop.id)}
    assert [flags[e["transaction_id"]] for e in events] == [0, 0, 1]


# --- issue 9: velocity judges shoppers, not the shop's own backend ----------------------

SEGMENT_BATCH = "/v1/batch"
ANALYTICS_PYTHON = "analytics-python/2.3.1"
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SHOP_ORIGIN = "https://shop.example"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def segment_orders(count: int, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``/v1/batch`` body as analytics-python sends it from a shop's backend: orders of
    ``count`` customers, stamped now, each with the library's context (and ``context``)."""
    now = _iso(datetime.now(UTC))
    library = {"library": {"name": "analytics-python", "version": "2.3.1"}}
    return {
        "batch": [
            {
                "type": "track",
                "event": "Order Completed",
                "userId": f"customer-{n}",
                "messageId": str(uuid.uuid4()),
                "timestamp": now,
                "properties": {"order_id": f"order-{n}", "revenue": 25.0, "currency": "USD"},
                "context": {**library, **(context or {})},
            }
            for n in range(count)
        ],
        "sentAt": now,
    }


def post_segment(client: TestClient, shop: TenantKeys, body: dict[str, Any]) -> None:
    key = base64.b64encode(f"{shop.publishable}:".encode()).decode()
    headers = {"Authorization": f"Basic {key}", "User-Agent": ANALYTICS_PYTHON}
    response = client.post(SEGMENT_BATCH, json=body, headers=headers)
    assert response.json() == {"success": True}, response.text


def test_a_server_integration_sending_300_orders_a_minute_loses_none(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    # Issue 9: analytics-python on the shop's server sends every order from one IP. With
    # the default per_ip velocity (120 a minute) 180 of these were flagged and silently
    # left out of revenue.
    shop = make_tenant(plan="pro")
    post_segment(client, shop, segment_orders(300))
    wait_stored(client)
    rows = stored_events(store, shop.id)
    assert len(rows) == 300 and not [r for r in rows if r["is_flagged"]]
    sales = client.get("/analytics/sales", headers=shop.sk).json()
    assert (sales["revenue"], sales["orders"]) == (300 * 2_500, 300)
    assert (sales["flagged_orders"], sales["flagged_revenue"]) == (0, 0)
    overview = client.get(OVERVIEW, headers=shop.sk).json()
    assert (overview["total_orders"], overview["flagged_orders"]) == (300, 0)


def test_a_forwarded_shopper_ip_is_judged_and_the_flags_are_shown(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    # The same server integration forwarding the shopper's address in context.ip: 300
    # orders from one shopper IP in a minute is the pattern velocity exists for.
    shop = make_tenant(plan="pro")
    post_segment(client, shop, segment_orders(300, {"ip": "203.0.113.77"}))
    wait_stored(client)
    flags = [r["is_flagged"] for r in stored_events(store, shop.id)]
    assert (flags.count(0), flags.count(1)) == (120, 180)

    sales = client.get("/analytics/sales", headers=shop.sk).json()
    assert (sales["revenue"], sales["orders"]) == (120 * 2_500, 120)
    assert (sales["flagged_orders"], sales["flagged_revenue"]) == (180, 180 * 2_500)
    overview = client.get(OVERVIEW, headers=shop.sk).json()
    assert (overview["total_revenue"], overview["total_orders"]) == (3000.0, 120)
    assert (overview["flagged_orders"], overview["flagged_revenue"]) == (180, 4500.0)
    stats = client.get(STATS, headers=shop.sk).json()
    assert stats["flagged"] == {"events": 180, "by_rule": {"velocity": 180}}


def test_a_backfill_from_one_browser_is_not_judged_but_live_orders_are(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop = make_tenant(plan="pro")
    browser = {**shop.pk, "User-Agent": CHROME, "Origin": SHOP_ORIGIN}

    def send(events: list[dict[str, Any]]) -> None:
        for i in range(0, len(events), 100):  # seed 002: at most 100 events a batch
            chunk = events[i : i + 100]
            response = client.post(BATCH, json={"events": chunk}, headers=browser)
            assert response.json() == {"ok": True, "accepted": len(chunk)}

    # 130 orders dated three days ago, sent at once from one browser (one IP): a backfill.
    past = _iso(datetime.now(UTC) - timedelta(days=3))
    backfill = [purchase(10, user_id=f"old-{n}", timestamp=past) for n in range(130)]
    send(backfill)
    # Then 125 live orders from that browser's IP: the per-IP limit (120) applies to them
    # alone — the backfill was never counted in the window.
    live = [purchase(10, user_id=f"new-{n}") for n in range(125)]
    send(live)
    wait_stored(client)
    flags = {r["transaction_id"]: r["is_flagged"] for r in stored_events(store, shop.id)}
    assert [flags[e["transaction_id"]] for e in backfill] == [0] * 130
    assert [flags[e["transaction_id"]] for e in live] == [0] * 120 + [1] * 5
    overview = client.get(OVERVIEW, headers=shop.sk).json()
    assert (overview["total_orders"], overview["flagged_orders"]) == (250, 5)
    assert overview["flagged_revenue"] == 50.0


def test_settings_get_and_patch(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop, other = make_tenant("a", plan="pro"), make_tenant("b", plan="pro")
    body = client.get(SETTINGS, headers=shop.sk).json()
    assert list(body["rules"]) == list(RULES)
    for name, rule in RULES.items():
        shown = body["rules"][name]
        assert shown["enabled"] is True
        assert shown["severity"] == rule.severity
        assert shown["description"] == rule.description
    assert body["rules"]["velocity"]["thresholds"] == {
        "per_user": 10,
        "per_ip": 120,
        "backfill_minutes": 10,
    }
    assert body["rules"]["revenue_ceiling"]["thresholds"] == {"max_revenue": 1_000_000}
    assert body["rules"]["currency"]["thresholds"] == {"allowed": []}

    changed = patch(
        client,
        shop,
        {"bot": {"enabled": False}, "currency": {"thresholds": {"allowed": ["eur", "GBP"]}}},
    )
    assert changed["rules"]["bot"]["enabled"] is False
    assert changed["rules"]["currency"]["thresholds"] == {"allowed": ["EUR", "GBP"]}
    assert client.get(SETTINGS, headers=shop.sk).json() == changed
    assert client.get(SETTINGS, headers=other.sk).json() == body  # untouched

    # Behaviour follows: with the bot rule off, a crawler's purchase is stored as normal.
    headers = {**shop.pk, "User-Agent": GOOGLEBOT}
    crawler = purchase(10)
    assert client.post(TRACK, json=crawler, headers=headers).json() == {"ok": True}
    wait_stored(client)
    [row] = stored_events(store, shop.id)
    assert (row["transaction_id"], row["is_flagged"]) == (crawler["transaction_id"], 0)


def test_settings_errors_and_auth(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop = make_tenant(plan="pro")
    cases = [
        ({"rules": {"nope": {}}}, "rules.nope", "nope"),
        ({"rules": {"bot": {"severity": 3}}}, "rules.bot.severity", "1 or 2"),
        (
            {"rules": {"velocity": {"thresholds": {"per_ip": 0}}}},
            "rules.velocity.thresholds.per_ip",
            "positive",
        ),
        ({"rules": {"velocity": {"speed": 1}}}, "rules.velocity.speed", "speed"),
    ]
    for body, field, words in cases:
        response = client.patch(SETTINGS, json=body, headers=shop.sk)
        assert response.status_code == 400
        error = response.json()
        assert error["ok"] is False and error["field"] == field and words in error["error"]
    broken = client.patch(SETTINGS, content=b"{", headers=shop.sk)
    assert broken.status_code == 400
    assert client.get(SETTINGS, headers=shop.pk).status_code == 403
    assert client.patch(SETTINGS, json={"rules": {}}, headers=shop.pk).status_code == 403
    for path in (EVENTS, STATS, SETTINGS):
        assert client.get(path).status_code == 401


def test_non_finite_revenue_is_refused_before_the_rules(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    # Non-finite amounts cannot reach the fraud rules: JSON has no NaN, a number out of
    # float range (1e400) does not decode, and amounts must be numbers, not strings.
    shop = make_tenant(plan="pro")
    for literal in (b"NaN", b"1e400", b"-1e400", b'"Infinity"'):
        body = b'{"event_type": "purchase", "transaction_id": "t", "revenue": ' + literal + b"}"
        response = client.post(TRACK, content=body, headers=shop.pk)
        assert response.status_code == 400, literal
        assert response.json()["ok"] is False
    stats = client.get(STATS, headers=shop.sk).json()
    assert stats["flagged"]["events"] == 0 and stats["blocked"]["events"] == 0
