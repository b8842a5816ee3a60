"""The marketing channel of an event, from its campaign tags, click ids and referrer.

Modelled on Google Analytics 4's default channel grouping; the rules, in order, and the
source registry are documented in ``docs/channels.md`` (the tests mirror that table):

1. The event's *source* and *medium* are its ``utm_source``/``utm_medium`` when tagged. An
   untagged landing with an ad click id gets the ad network's (``gclid`` → google / cpc).
   Otherwise they come from the referrer: a search engine's host is ``organic``, any other
   host ``referral``; no referrer is ``direct``.
2. A referrer on the page's own host (self-referral) or a payment processor's (the shopper
   coming back from PayPal, Stripe, Klarna…) is not a source: without tags such an event is
   ``internal`` — a hit inside a visit that keeps the visit's earlier attribution — never
   ``referral`` or ``direct`` (which would steal the sale from the ad that brought the
   shopper).
3. The (source, medium, campaign) triple then goes through the channel rules below, first
   match wins; tagged traffic that matches none is ``unassigned``.

Sources are recognised by name (``google``, ``ig``, ``newsletter``…) or by host, trying the
host, then each parent domain, then the site's own label before its (country) suffix (so
``www.google.co.uk`` is Google and ``mail.google.com`` is email, not search). The
registries are data: adding a site is one entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

CACHE_SIZE = 16_384

# --- channel names (stored in events.channel) ------------------------------------------
DIRECT = "direct"
INTERNAL = "internal"
UNASSIGNED = "unassigned"

# --- the source registry: site category by name or domain ------------------------------
SEARCH, SOCIAL, VIDEO, SHOPPING, EMAIL, PAYMENT = (
    "search", "social", "video", "shopping", "email", "payment",
)  # fmt: skip

SOURCE_CATEGORIES: dict[str, tuple[str, ...]] = {
    SEARCH: (
        "google", "bing", "yahoo", "duckduckgo", "baidu", "yandex", "ecosia", "ask", "aol",
        "naver", "seznam", "qwant", "startpage", "brave", "search.brave.com", "so.com",
        "sogou", "daum", "perplexity", "kagi", "googleadservices.com", "cn.bing.com",
    ),
    SOCIAL: (
        "facebook", "fb", "l.facebook.com", "instagram", "ig", "l.instagram.com", "tiktok",
        "twitter", "t.co", "x.com", "linkedin", "lnkd.in", "pinterest", "pin.it", "reddit",
        "snapchat", "threads.net", "tumblr", "whatsapp", "messenger", "telegram", "t.me",
        "discord", "quora", "vk", "weibo", "line", "mastodon", "bsky.app", "bluesky",
        "nextdoor", "meta",
    ),
    VIDEO: ("youtube", "youtu.be", "vimeo", "twitch", "dailymotion", "netflix"),
    SHOPPING: (
        "amazon", "ebay", "etsy", "walmart", "shopping.google.com", "idealo", "shopzilla",
        "pricerunner", "mercadolibre", "aliexpress",
    ),
    EMAIL: (
        "email", "e-mail", "e_mail", "e mail", "newsletter", "mail.google.com",
        "outlook.live.com", "outlook.office.com", "outlook.office365.com", "mail.yahoo.com",
        "mail.aol.com", "mail.proton.me", "webmail", "mailchimp", "klaviyo", "icloud.com",
    ),
    PAYMENT: (
        "paypal.com", "paypal.me", "stripe.com", "checkout.stripe.com", "klarna.com",
        "adyen.com", "mollie.com", "checkout.shopify.com", "pay.shopify.com", "shop.app",
        "afterpay.com",
        "clearpay.co.uk", "affirm.com", "sezzle.com", "zip.co", "braintreegateway.com",
        "authorize.net", "worldpay.com", "opayo.co.uk", "sagepay.com", "squareup.com",
        "square.link", "2checkout.com", "razorpay.com", "paystack.com", "mercadopago.com",
        "payments.amazon.com", "pay.amazon.com", "pay.google.com", "alipay.com",
        "checkout.com", "bolt.com", "sofort.com", "giropay.de", "ideal.nl", "payu.com",
        "przelewy24.pl", "trustly.com",
    ),
}  # fmt: skip
#: category of a source name or domain (data above, inverted once)
REGISTRY: dict[str, str] = {
    name: category for category, names in SOURCE_CATEGORIES.items() for name in names
}
# Categories a bare label may stand for ("google" in www.google.co.uk); payment and email
# are only matched by full domain so that e.g. "klarna" in a blog's host is not a checkout.
_LABEL_CATEGORIES = frozenset({SEARCH, SOCIAL, VIDEO, SHOPPING})
# Second-level labels under which country domains register (google.co.uk, google.com.br).
_SECOND_LEVELS = frozenset({"co", "com", "ac", "ne", "or", "net", "org", "gov", "edu"})

# --- click ids: untagged ad clicks (query parameter → source, medium) ------------------
CLICK_IDS: dict[str, tuple[str, str]] = {
    "gclid": ("google", "cpc"),
    "gbraid": ("google", "cpc"),
    "wbraid": ("google", "cpc"),
    "gad_source": ("google", "cpc"),
    "dclid": ("google", "display"),
    "msclkid": ("bing", "cpc"),
    "yclid": ("yandex", "cpc"),
    "ttclid": ("tiktok", "paid_social"),
    "li_fat_id": ("linkedin", "paid_social"),
    "twclid": ("twitter", "paid_social"),
    "ScCid": ("snapchat", "paid_social"),
    "epik": ("pinterest", "paid_social"),
    # TRICKY: fbclid is added to every outbound Facebook/Instagram link, organic posts
    # included, so it only says "from Facebook", not "paid" (GA4 does the same).
    "fbclid": ("facebook", "referral"),
}

# --- the channel rules (GA4's default channel grouping, in its order) ------------------
_PAID = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
_SHOP_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")


class Touch(NamedTuple):
    """What the rules look at: lower-cased source, medium and campaign, and the source's
    category from the registry ("" when unknown)."""

    source: str
    medium: str
    campaign: str
    category: str


Rule = tuple[str, Callable[[Touch], bool]]

DISPLAY_MEDIUMS = frozenset({"display", "banner", "expandable", "interstitial", "cpm"})
SOCIAL_MEDIUMS = frozenset(
    {"social", "social-network", "social-media", "sm", "social network", "social media"}
)
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "e_mail", "e mail", "newsletter"})
AFFILIATE_MEDIUMS = frozenset({"affiliate", "affiliates"})
REFERRAL_MEDIUMS = frozenset({"referral", "app", "link"})


def _paid(t: Touch) -> bool:
    return bool(_PAID.match(t.medium))


def _shopping(t: Touch) -> bool:
    return t.category == SHOPPING or bool(_SHOP_CAMPAIGN.match(t.campaign))


RULES: tuple[Rule, ...] = (
    ("cross_network", lambda t: "cross-network" in t.campaign),
    ("paid_shopping", lambda t: _shopping(t) and _paid(t)),
    ("paid_search", lambda t: t.category == SEARCH and _paid(t)),
    ("paid_social", lambda t: t.category == SOCIAL and _paid(t)),
    ("paid_video", lambda t: t.category == VIDEO and _paid(t)),
    ("display", lambda t: t.medium in DISPLAY_MEDIUMS),
    ("paid_other", _paid),
    ("organic_shopping", _shopping),
    ("organic_social", lambda t: t.category == SOCIAL or t.medium in SOCIAL_MEDIUMS),
    ("organic_video", lambda t: t.category == VIDEO or "video" in t.medium),
    ("organic_search", lambda t: t.category == SEARCH or t.medium == "organic"),
    ("email", lambda t: t.category == EMAIL or t.medium in EMAIL_MEDIUMS),
    ("affiliate", lambda t: t.medium in AFFILIATE_MEDIUMS),
    ("referral", lambda t: t.medium in REFERRAL_MEDIUMS),
    ("audio", lambda t: t.medium == "audio"),
    ("sms", lambda t: t.source == "sms" or t.medium == "sms"),
    (
        "mobile_push",
        lambda t: t.medium.endswith("push") or "mobile" in t.medium or "notification" in t.medium,
    ),
)
#: every value ``classify`` can return
CHANNELS: tuple[str, ...] = (DIRECT, INTERNAL, *(name for name, _ in RULES), UNASSIGNED)


def host_of(url: str) -> str:
    """The lower-cased host of an absolute URL without ``www.``; "" for a path or garbage.

    TRICKY: plain string slicing rather than ``urlsplit`` (~1 µs a URL): it runs twice per
    event on URLs too varied to cache, and only the host is needed."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return ""
    rest = url[scheme_end + 3 :]
    for stop in "/?#":
        cut = rest.find(stop)
        if cut >= 0:
            rest = rest[:cut]
    host = rest.rpartition("@")[2]
    if host.startswith("["):  # IPv6 literal
        host = host[1 : host.find("]")] if "]" in host else ""
    else:
        host = host.partition(":")[0]
    return host.strip().lower().removeprefix("www.")


@lru_cache(maxsize=CACHE_SIZE)
def category_of(source: str) -> str:
    """The registry category of a source name or host ("" when unknown)."""
    source = source.strip().lower().removeprefix("www.")
    if not source:
        return ""
    if found := REGISTRY.get(source):
        return found
    labels = source.split(".")
    for i in range(1, len(labels) - 1):  # parent domains: l.instagram.com → instagram.com
        if found := REGISTRY.get(".".join(labels[i:])):
            return found
    # The site's own label: google.com → google; google.co.uk / google.com.br → google.
    if len(labels) >= 2:
        index = -3 if len(labels) >= 3 and labels[-2] in _SECOND_LEVELS else -2
        found = REGISTRY.get(labels[index], "")
        if found in _LABEL_CATEGORIES:
            return found
    return ""


_CLICK_ID_PARAM = re.compile("(?:^|[&;])(" + "|".join(map(re.escape, CLICK_IDS)) + ")=")


def _click_id(page_url: str) -> tuple[str, str] | None:
    query = page_url.partition("?")[2]
    if not query:
        return None
    found = _CLICK_ID_PARAM.search(query.partition("#")[0])  # one scan for all the names
    return CLICK_IDS[found.group(1)] if found else None


def is_not_a_source(referrer_host: str, page_host: str) -> bool:
    """A self-referral or a payment processor: the visit goes on, no new source."""
    if page_host and referrer_host == page_host:
        return True
    return category_of(referrer_host) == PAYMENT


@lru_cache(maxsize=CACHE_SIZE)
def rule_channel(source: str, medium: str, campaign: str = "") -> str:
    """The channel of a (source, medium, campaign) by the rules table alone."""
    source, medium = source.strip().lower(), medium.strip().lower()
    touch = Touch(source, medium, campaign.strip().lower(), category_of(source))
    for name, matches in RULES:
        if matches(touch):
            return name
    return UNASSIGNED


def classify(
    page_url: str,
    referrer: str,
    utm_source: str = "",
    utm_medium: str = "",
    utm_campaign: str = "",
) -> str:
    """The channel of one event (see the module docstring for the steps).

    Not cached as a whole (page URLs are too varied for a cache to hold): the URL work is
    string slicing, and the rules and registry look-ups behind it are cached."""
    if utm_source or utm_medium or utm_campaign:
        return rule_channel(utm_source, utm_medium, utm_campaign)
    if clicked := _click_id(page_url):
        return rule_channel(*clicked)
    referrer_host = host_of(referrer) if referrer else ""
    if not referrer_host:
        return DIRECT
    if is_not_a_source(referrer_host, host_of(page_url)):
        return INTERNAL
    return _referral(referrer_host)


@lru_cache(maxsize=CACHE_SIZE)
def _referral(referrer_host: str) -> str:
    medium = "organic" if category_of(referrer_host) == SEARCH else "referral"
    return rule_channel(referrer_host, medium)
