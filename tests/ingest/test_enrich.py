"""The enrichment stage: on its own, then end to end over HTTP for every wire format.

Expected values come from what the addresses and user agents are (see test_geo.py and
test_useragent.py for the sources), not from running the stage.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.ingest.enrich import Enrich
from shoplens.ingest.event import Event
from shoplens.ingest.stages import Facts
from shoplens.store import Store
from tests.conftest import TenantKeys, stored_events, wait_stored
from tests.ingest.test_normalize import make_ctx

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
ANDROID_SAMSUNG = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SERVER_SDK = "python-requests/2.32.3"


def event(**fields: Any) -> Event:
    base: dict[str, Any] = {
        "tenant_id": 1,
        "event_id": "e",
        "event_type": "page_view",
        "event_name": "page_view",
        "source": "core",
        "timestamp": 0,
        "received_at": 0,
    }
    return Event(**{**base, **fields})


def enriched(ip: str = "", request_user_agent: str = "", **fields: Any) -> Event:
    e = event(**fields)
    Enrich().apply(e, Facts(ip=ip), make_ctx(user_agent=request_user_agent))
    return e


# -- the stage on its own ----------------------------------------------------------------


def test_fills_geo_device_and_channel() -> None:
    e = enriched(
        "81.2.69.142",
        user_agent=IPHONE,
        page_url="https://shop.example/",
        referrer="https://www.google.com/",
    )
    assert (e.country, e.region, e.city) == ("GB", "England", "London")
    assert (e.device_type, e.platform, e.os, e.browser) == ("mobile", "ios", "iOS", "Safari")
    assert e.channel == "organic_search"


def test_without_ip_or_user_agent_nothing_is_guessed() -> None:
    e = enriched("")
    assert (e.country, e.region, e.city, e.device_type, e.platform, e.os, e.browser) == (("",) * 7)
    assert e.channel == "direct"


def test_sender_fields_win() -> None:
    e = enriched(
        "8.8.8.8",
        user_agent=WINDOWS_CHROME,
        device_type="tablet",
        os="Windows 11",
        channel="partner_feed",
        country="CA",
    )
    assert (e.device_type, e.platform, e.os, e.browser) == ("tablet", "web", "Windows 11", "Chrome")
    assert e.channel == "partner_feed"
    assert (e.country, e.region) == ("CA", "")  # a sender's country is not mixed with ours


def test_segment_mobile_device_type_is_a_platform() -> None:
    # Segment's iOS/Android libraries send context.device.type "ios"/"android".
    e = enriched(device_type="android", user_agent=SERVER_SDK)
    assert (e.device_type, e.platform) == ("mobile", "android")
    e = enriched(device_type="ios", user_agent="")
    assert (e.device_type, e.platform) == ("mobile", "ios")


@pytest.mark.parametrize(
    "ua", [SERVER_SDK, "analytics-python/2.3.3", "Go-http-client/1.1", "curl/8.5.0"]
)
def test_a_server_sdk_is_a_server_not_a_bot(ua: str) -> None:
    e = enriched(user_agent=ua)
    assert (e.device_type, e.platform, e.os, e.browser) == ("server", "", "", "")
    # Segment routes keep only context.userAgent: the request's SDK agent still says server
    e = enriched(request_user_agent=ua)
    assert (e.device_type, e.user_agent) == ("server", "")
    # ... but never over the shopper's own agent, nor over a browser's request
    assert enriched(request_user_agent=ua, user_agent=IPHONE).device_type == "mobile"
    assert enriched(request_user_agent=WINDOWS_CHROME).device_type == ""


def test_bots_are_marked_but_kept() -> None:
    e = enriched("66.249.66.1", user_agent=GOOGLEBOT)  # a Googlebot address (Google, US)
    assert (e.device_type, e.browser, e.country) == ("bot", "Googlebot", "US")
    assert e.is_flagged == 0  # judging it is the fraud stage's job


def test_utm_tags_decide_the_channel() -> None:
    e = enriched(utm_source="facebook", utm_medium="paid_social", referrer="https://shop.example/x",
                 page_url="https://shop.example/cart")  # fmt: skip
    assert e.channel == "paid_social"


# -- end to end: HTTP in, stored row out ---------------------------------------------------


@pytest.fixture
def proxied(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The app behind a proxy, so a landing page's address comes from X-Forwarded-For."""
    with TestClient(
        create_app(settings.model_copy(update={"trust_proxy": True}), store=store)
    ) as c:
        yield c


def test_every_format_is_enriched_end_to_end(
    proxied: TestClient, make_tenant: Any, store: Store
) -> None:
    shop: TenantKeys = make_tenant("Enriched", plan="pro")
    auth = base64.b64encode(f"{shop.publishable}:".encode()).decode()
    sent = [
        # core (seeds 000/001): server-side sender passing the shopper's context
        proxied.post(
            "/analytics/event",
            headers={**shop.pk, "User-Agent": SERVER_SDK},
            json={
                "event": "page_view",
                "anonymousId": "a-core",
                "context": {
                    "ip": "126.1.2.3",
                    "userAgent": ANDROID_SAMSUNG,
                    "page": "https://shop.example/?gclid=Cj0KCQ",
                    "referrer": "https://www.google.co.jp/",
                },
            },
        ),
        # ecommerce (seed 002), back from PayPal with the campaign in the properties
        proxied.post(
            "/v1/api/analytics/ecommerce/track",
            headers={**shop.pk, "User-Agent": SERVER_SDK},
            json={
                "event_type": "purchase",
                "anonymous_id": "a-ecom",
                "transaction_id": "T-enrich-1",
                "revenue": 49.9,
                "currency": "USD",
                "properties": {"source": "newsletter", "medium": "email"},
                "context": {
                    "ip": "79.200.1.1",
                    "userAgent": WINDOWS_CHROME,
                    "page": "https://shop.example/thanks",
                    "referrer": "https://www.paypal.com/checkoutnow?token=EC-1",
                },
            },
        ),
        # Segment: IPv6 address and a browser UA in the message context
        proxied.post(
            "/v1/page",
            headers={"Authorization": f"Basic {auth}"},
            json={
                "anonymousId": "a-seg",
                "properties": {
                    "url": "https://shop.example/",
                    "referrer": "https://l.instagram.com/",
                },
                "context": {"ip": "2a01:4f8::1", "userAgent": IPHONE},
            },
        ),
        # landing page (seed 004): the request's own address and User-Agent
        proxied.post(
            "/api/analytics/track",
            headers={
                "User-Agent": LINUX_FIREFOX,
                "X-Forwarded-For": "177.10.1.1, 10.0.0.1",
                "Referer": "https://shop.example/",
            },
            json={
                "tenant_id": shop.id,
                "event_type": "pageview",
                "metadata": {"page": "https://shop.example/promo"},
            },
        ),
    ]
    assert [r.status_code for r in sent] == [201, 200, 200, 200], [r.text for r in sent]
    wait_stored(proxied)

    got = {
        row["source"]: (
            row["country"],
            row["device_type"],
            row["platform"],
            row["os"],
            row["browser"],
            row["channel"],
        )
        for row in stored_events(store, shop.id)
    }
    assert got == {
        "core": ("JP", "mobile", "android", "Android", "Samsung Internet", "paid_search"),
        "ecommerce": ("DE", "desktop", "web", "Windows", "Chrome", "email"),
        "segment": ("DE", "mobile", "ios", "iOS", "Safari", "organic_social"),
        "landing": ("BR", "desktop", "web", "Linux", "Firefox", "internal"),
    }
    for row in stored_events(store, shop.id):
        for value in row.values():  # the address itself is never stored
            assert "126.1.2.3" not in str(value) and "2a01:4f8::1" not in str(value)


def test_server_sent_events_are_not_bots_in_the_device_report(
    client: TestClient, make_tenant: Any, store: Store
) -> None:
    """Regression: a backend posting purchases with an HTTP library (python-requests'
    default User-Agent) showed up as device "bot" in revenue-by-device."""
    shop: TenantKeys = make_tenant("Server sender", plan="pro")

    def purchase(tx: str, revenue: float, **extra: Any) -> dict[str, Any]:
        return {"event_type": "purchase", "transaction_id": tx, "revenue": revenue,
                "user_id": "u1", **extra}  # fmt: skip

    sent = [
        # what `requests.post(...)` sends from a shop's backend: no shopper UA
        client.post(
            "/v1/api/analytics/ecommerce/track",
            headers={**shop.pk, "User-Agent": SERVER_SDK},
            json=purchase("T-server-1", 30.0),
        ),
        # Go's net/http with the shopper's UA passed on: the shopper's device counts
        client.post(
            "/v1/api/analytics/ecommerce/track",
            headers={**shop.pk, "User-Agent": "Go-http-client/1.1"},
            json=purchase("T-server-2", 12.5, context={"userAgent": IPHONE}),
        ),
        # analytics-python through the Segment API, no context.userAgent
        client.post(
            "/v1/track",
            headers={
                "Authorization": "Basic "
                + base64.b64encode(f"{shop.publishable}:".encode()).decode(),
                "User-Agent": "analytics-python/2.3.3",
            },
            json={
                "userId": "u2",
                "event": "Order Completed",
                "properties": {"order_id": "T-server-3", "revenue": 5.0},
            },
        ),
        # a real crawler is still a bot (stored flagged or blocked by the fraud rules)
        client.post(
            "/analytics/event",
            headers={**shop.pk, "User-Agent": GOOGLEBOT},
            json={"event": "page_view", "anonymousId": "crawler"},
        ),
    ]
    assert [r.status_code for r in sent] == [200, 200, 200, 201], [r.text for r in sent]
    wait_stored(client)
    report = client.get("/v1/api/analytics/ecommerce/revenue-by-device", headers=shop.sk)
    devices = {row["device_type"]: row["revenue"] for row in report.json()["devices"]}
    assert devices == {"server": 35.0, "mobile": 12.5}
    rows = stored_events(store, shop.id)
    purchases = sorted(row["device_type"] for row in rows if row["event_type"] == "purchase")
    assert purchases == ["mobile", "server", "server"]
    # the crawler's page view is blocked by the bot rule (docs/fraud.md), or kept as a bot
    assert [row["device_type"] for row in rows if row["event_type"] != "purchase"] in ([], ["bot"])
