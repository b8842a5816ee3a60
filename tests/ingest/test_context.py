"""Which requests come from a shopper's browser (``context.browser_request``): the
User-Agents real browsers and real server SDKs and HTTP libraries send, with the headers
each sends."""

from __future__ import annotations

import pytest

from shoplens.ingest.context import browser_request

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
ORIGIN = "https://shop.example"


@pytest.mark.parametrize("agent", [CHROME, SAFARI_IPHONE, FIREFOX])
@pytest.mark.parametrize(
    ("origin", "referer"),
    [(ORIGIN, ""), ("", f"{ORIGIN}/checkout"), ("null", ""), (ORIGIN, f"{ORIGIN}/")],
)
def test_browsers_posting_from_a_page(agent: str, origin: str, referer: str) -> None:
    # "null": the Origin a browser sends under a no-referrer policy.
    assert browser_request(agent, origin, referer)


@pytest.mark.parametrize(
    "agent",
    [
        "analytics-python/2.3.1",  # Segment's Python SDK
        "Go-http-client/1.1",  # Go's net/http (analytics-go, rudder-sdk-go)
        "curl/8.5.0",
        "python-requests/2.32.3",  # rudder-sdk-python and most Python integrations
        "axios/1.7.7",
        "node",  # Node's built-in fetch (undici)
        "okhttp/4.12.0",
        "",
    ],
)
def test_server_sdks_and_http_libraries_are_not_browsers(agent: str) -> None:
    # Even when a server relays the page's Origin or Referer.
    assert not browser_request(agent, ORIGIN, f"{ORIGIN}/")
    assert not browser_request(agent, "", "")


def test_a_server_copying_the_shoppers_user_agent_is_not_a_browser() -> None:
    # It sends the browser's User-Agent but no Origin or Referer of a page.
    assert not browser_request(CHROME, "", "")
