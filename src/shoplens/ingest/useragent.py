"""What a User-Agent says: device type, platform, operating system, browser, and bots.

Parsing is ``ua-parser`` 1.x with the uap-core rules that ``ua-parser-builtins`` ships
(refreshed monthly) matched by its Rust resolver (``ua-parser-rs``, ~10 µs a string); bots
are recognised by the ``crawler-user-agents`` patterns (maintained, ~1,500 crawlers, tools
and headless browsers) or by uap-core's own ``Spider`` device. Both are slow next to the
rest of ingestion (~10 µs and ~55 µs), so the answer per distinct string is cached: the same
few hundred browsers send almost all the traffic.

Values (``docs/architecture.md``, Enrichment):

- ``device_type``: ``desktop``, ``mobile``, ``tablet``, ``bot`` or ``server``; ``""`` when
  nothing is recognised (a made-up string, or no User-Agent at all). ``server`` is a server
  SDK or HTTP library (analytics-python, analytics-node, rudder-sdk-*, Go-http-client,
  python-requests, curl, node-fetch…: :data:`SERVER_CLIENTS`): a shop's backend sending
  for a shopper, not a crawler, so never ``bot`` — although the crawler lists name several
  of them. Crawlers and headless browsers are ``bot``. Tablets are iPads, Android
  devices whose browser leaves ``Mobile`` out (Android's convention for large screens) and
  devices uap-core knows as tablets. TRICKY: iPadOS 13+ Safari sends a Mac user agent by
  default, so those iPads count as desktops — no User-Agent parser can tell them apart.
- ``platform`` (seed 002's revenue-by-platform): ``ios``, ``android``, or ``web`` for any
  other recognised browser or OS; ``""`` for a server client (it says nothing of the
  shopper's platform).
- ``os``: uap-core's family with Apple's current name (``macOS``); ``browser``: uap-core's
  family with the mobile variants folded into their browser (``Mobile Safari`` → ``Safari``).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import NamedTuple

import crawleruseragents
from ua_parser import Parser, load_builtins
from ua_parser.regex import Resolver

CACHE_SIZE = 16_384

# uap-core names → the names reports show.
OS_NAMES = {"Mac OS X": "macOS", "Mac OS": "macOS"}
BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome WebView",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
}
# OS families that run on phones and tablets (uap-core names).
MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS"})
PLATFORMS = {"iOS": "ios", "Android": "android"}
TABLET_BRANDS = frozenset({"Generic_Android_Tablet"})
TABLET_FAMILIES = frozenset({"iPad", "Kindle", "Generic Tablet"})
UNKNOWN = "Other"
SERVER = "server"

#: The product token a server SDK or HTTP library starts its User-Agent with. TRICKY: the
#: crawler lists (``crawler-user-agents``) count several of these as bots (python-requests,
#: Go-http-client, okhttp, axios, node-fetch, curl…), but they are what a shop's backend sends
#: purchases with (the fraud rules' bot check relies on this too), and so are the
#: Segment/RudderStack server SDKs — named one by one, as
#: their mobile SDKs (analytics-android, rudder-sdk-ios…) run on the shopper's device.
SERVER_CLIENTS = re.compile(
    r"^(?:@segment/)?(?:(?:analytics|rudder-sdk)-(?:python|node|ruby|go|java|php|dotnet|csharp)|"
    r"python-requests|python-httpx|python-urllib|aiohttp|httpx|axios|node-fetch|undici|"
    r"node|got|okhttp|Go-http-client|Java|Apache-HttpClient|curl|Wget|Ruby|Faraday|"
    r"Guzzle|GuzzleHttp|PHP|libcurl|Dart|PostmanRuntime|insomnia|Stripe|Shopify)\b",
    re.IGNORECASE,
)


class Agent(NamedTuple):
    device_type: str = ""
    platform: str = ""
    os: str = ""
    browser: str = ""
    is_bot: bool = False


EMPTY = Agent()
SERVER_AGENT = Agent(SERVER)


@cache
def _parser() -> Parser:
    # Built once, lazily (~0.2 s to compile the rules); no cache of its own: ``parse`` caches
    # the whole answer instead.
    return Parser(Resolver(load_builtins()))


def is_bot(user_agent: str) -> bool:
    """True for crawlers, spiders and headless browsers, not for server clients (cached: it
    shares :func:`parse`'s cache, so the fraud rules and enrichment parse a string once)."""
    return parse(user_agent).is_bot


@lru_cache(maxsize=CACHE_SIZE)
def parse(user_agent: str) -> Agent:
    """The device, platform, OS and browser of a User-Agent string (cached)."""
    if not user_agent:
        return EMPTY
    if SERVER_CLIENTS.match(user_agent):
        return SERVER_AGENT
    result = _parser().parse(user_agent)
    ua_family = result.user_agent.family if result.user_agent else UNKNOWN
    os_family = result.os.family if result.os else UNKNOWN
    device = result.device
    bot = (device is not None and device.family == "Spider") or crawleruseragents.is_crawler(
        user_agent
    )
    browser = "" if ua_family == UNKNOWN else BROWSER_NAMES.get(ua_family, ua_family)
    os_name = "" if os_family == UNKNOWN else OS_NAMES.get(os_family, os_family)
    if bot:
        return Agent("bot", PLATFORMS.get(os_family, ""), os_name, browser, True)
    if not browser and not os_name:
        return EMPTY
    if device is not None and (
        device.family in TABLET_FAMILIES
        or device.brand in TABLET_BRANDS
        or (os_family == "Android" and "Mobile" not in user_agent)
        or "Tablet" in user_agent
    ):
        device_type = "tablet"
    elif os_family in MOBILE_OS or "Mobi" in user_agent:
        device_type = "mobile"
    else:
        device_type = "desktop"
    return Agent(device_type, PLATFORMS.get(os_family, "web"), os_name, browser)
