"""User-Agent → device type, platform, OS, browser and bot, on real strings.

The strings are copied from what the browsers and crawlers send (vendor documentation:
Google's and Bing's crawler pages, Chrome's reduced UA, Safari/iOS releases of 2024); the
expected answers are what each device is, written by hand.
"""

from __future__ import annotations

import pytest

from shoplens.ingest.useragent import EMPTY, SERVER_AGENT, Agent, is_bot, parse

CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0"
SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko)"

# (name, user agent, expected)
REAL = [
    (
        "Chrome on Windows",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {CHROME} Safari/537.36",
        Agent("desktop", "web", "Windows", "Chrome"),
    ),
    (
        "Edge on Windows",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {CHROME} Safari/537.36 Edg/131.0.0.0",
        Agent("desktop", "web", "Windows", "Edge"),
    ),
    (
        "Firefox on Windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        Agent("desktop", "web", "Windows", "Firefox"),
    ),
    (
        "Safari on macOS",
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {SAFARI} Version/18.1 Safari/605.1.15",
        Agent("desktop", "web", "macOS", "Safari"),
    ),
    (
        "Firefox on Linux",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        Agent("desktop", "web", "Linux", "Firefox"),
    ),
    (
        "Chrome on ChromeOS",
        f"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) {CHROME} Safari/537.36",
        Agent("desktop", "web", "Chrome OS", "Chrome"),
    ),
    (
        "Safari on iPhone",
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) {SAFARI} "
        "Version/18.1.1 Mobile/15E148 Safari/604.1",
        Agent("mobile", "ios", "iOS", "Safari"),
    ),
    (
        "Chrome on iPhone",
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) {SAFARI} "
        "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        Agent("mobile", "ios", "iOS", "Chrome"),
    ),
    (
        "Instagram in-app browser on iPhone",
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) {SAFARI} Mobile/15E148 "
        "Instagram 357.0.0.25.101 (iPhone15,2; iOS 18_1; en_US; en; scale=3.00; 1179x2556; "
        "653567423)",
        Agent("mobile", "ios", "iOS", "Instagram"),
    ),
    (
        "Safari on iPad",
        f"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) {SAFARI} "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        Agent("tablet", "ios", "iOS", "Safari"),
    ),
    (
        "Chrome on Android phone (reduced UA)",
        f"Mozilla/5.0 (Linux; Android 10; K) {CHROME} Mobile Safari/537.36",
        Agent("mobile", "android", "Android", "Chrome"),
    ),
    (
        "Samsung Internet on Galaxy S23 Ultra",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        Agent("mobile", "android", "Android", "Samsung Internet"),
    ),
    (
        "Chrome on Galaxy Tab S9 (no 'Mobile' token)",
        f"Mozilla/5.0 (Linux; Android 13; SM-X710) {CHROME} Safari/537.36",
        Agent("tablet", "android", "Android", "Chrome"),
    ),
    (
        "Firefox on Android",
        "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
        Agent("mobile", "android", "Android", "Firefox"),
    ),
]

BOTS = [
    ("Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    (
        "Googlebot smartphone",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.6778.139 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ),
    (
        "bingbot",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
        "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    ),
    (
        "AdsBot-Google",
        "AdsBot-Google (+http://www.google.com/adsbot.html)",
    ),
    (
        "facebookexternalhit",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    ),
    (
        "GPTBot",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
        "+https://openai.com/gptbot)",
    ),
    (
        "headless Chrome",
        f"Mozilla/5.0 (X11; Linux x86_64) {CHROME.replace('Chrome/', 'HeadlessChrome/')} "
        "Safari/537.36",
    ),
]


@pytest.mark.parametrize(("name", "ua", "expected"), REAL, ids=[r[0] for r in REAL])
def test_real_browsers(name: str, ua: str, expected: Agent) -> None:
    assert parse(ua) == expected
    assert not is_bot(ua)


@pytest.mark.parametrize(("name", "ua"), BOTS, ids=[b[0] for b in BOTS])
def test_bots_are_bots(name: str, ua: str) -> None:
    agent = parse(ua)
    assert agent.is_bot and agent.device_type == "bot", name
    assert is_bot(ua)


# What server SDKs and HTTP libraries send by default (their sources: the User-Agent
# header each sets), some of which the crawler lists count as bots.
SERVER_CLIENTS = [
    "analytics-python/2.3.3",
    "analytics-node-next/latest",
    "analytics-go (version: 3.3.0)",
    "analytics-ruby/2.4.3",
    "analytics-java/3.5.1",
    "rudder-sdk-python/2.1.0",
    "rudder-sdk-node/2.0.8",
    "Go-http-client/1.1",
    "Go-http-client/2.0",
    "python-requests/2.32.3",
    "python-httpx/0.28.1",
    "Python-urllib/3.12",
    "curl/8.5.0",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "node",
    "axios/1.7.9",
    "okhttp/4.12.0",
    "Java/21.0.5",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "GuzzleHttp/7",
    "Faraday v2.12.2",
]


@pytest.mark.parametrize("ua", SERVER_CLIENTS)
def test_server_sdks_and_http_libraries_are_servers_not_bots(ua: str) -> None:
    assert parse(ua) == SERVER_AGENT == Agent("server")
    assert not is_bot(ua)


@pytest.mark.parametrize(
    "ua",
    [
        "analytics-android/4.11.3",  # Segment's mobile SDKs run on the shopper's phone
        "rudder-sdk-ios/1.12.0",
        "nodejs-crawler/1.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) curl/8",
    ],
)
def test_only_a_server_clients_own_token_makes_a_server(ua: str) -> None:
    assert parse(ua).device_type != "server"


def test_googlebot_names_itself_as_the_browser() -> None:
    assert parse(BOTS[0][1]).browser == "Googlebot"
    assert parse(BOTS[1][1]).platform == "android"  # the smartphone crawler's claimed OS


@pytest.mark.parametrize("ua", ["", "garbage", "Mozilla/5.0"])
def test_unknown_strings_are_empty_not_guessed(ua: str) -> None:
    assert parse(ua) == EMPTY
    assert not is_bot(ua)


def test_parsing_is_cached_and_shared_with_is_bot() -> None:
    parse.cache_clear()
    ua = REAL[0][1]
    first = parse(ua)
    assert is_bot(ua) is False
    assert parse(ua) is first
    info = parse.cache_info()
    assert (info.misses, info.hits) == (1, 2)
