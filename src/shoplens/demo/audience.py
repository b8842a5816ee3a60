"""Who visits the demo shop: devices, countries and addresses, and where visits come from.

A visitor is an integer key; everything about them (device, country, address, anonymous
id) is derived from a hash of it, so returning visitors look the same again without the
generator keeping a record per visitor.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

M64 = (1 << 64) - 1


def mix(x: int) -> int:
    """splitmix64: a fast 64-bit bijective hash (the same key, the same visitor)."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


@dataclass(frozen=True)
class Device:
    kind: str  # desktop, mobile, tablet (conversion differs)
    os: str
    weight: float
    user_agent: str


_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0"
_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64"
_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS {} like Mac OS X) " + _SAFARI
# Real user-agent strings as browsers send them (late 2024), weighted like a typical
# fashion/lifestyle shop's traffic: ~58% phones, ~37% desktops, ~5% tablets.
DEVICES: tuple[Device, ...] = (
    Device("desktop", "windows", 17, f"{_WIN}) {_CHROME} Safari/537.36"),
    Device("desktop", "macos", 7, f"{_MAC} {_CHROME} Safari/537.36"),
    Device("desktop", "macos", 5, f"{_MAC} {_SAFARI} Version/18.1 Safari/605.1.15"),
    Device("desktop", "windows", 5, f"{_WIN}) {_CHROME} Safari/537.36 Edg/131.0.0.0"),
    Device("desktop", "windows", 2, f"{_WIN}; rv:133.0) Gecko/20100101 Firefox/133.0"),
    Device(
        "desktop", "linux", 0.6,
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ),
    Device("desktop", "linux", 0.4, f"Mozilla/5.0 (X11; Linux x86_64) {_CHROME} Safari/537.36"),
    Device(
        "mobile", "ios", 17,
        _IPHONE.format("18_1_1") + " Version/18.1.1 Mobile/15E148 Safari/604.1",
    ),
    Device(
        "mobile", "ios", 8,
        _IPHONE.format("17_6_1") + " Version/17.6 Mobile/15E148 Safari/604.1",
    ),
    Device(
        "mobile", "ios", 3,
        _IPHONE.format("18_1") + " CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    ),
    Device(
        "mobile", "ios", 2,
        _IPHONE.format("18_1") + " Mobile/15E148 Instagram 357.0.0.25.101 "
        "(iPhone15,2; iOS 18_1; en_US; en; scale=3.00; 1179x2556; 653567423)",
    ),
    Device(
        "mobile", "android", 22,
        f"Mozilla/5.0 (Linux; Android 10; K) {_CHROME} Mobile Safari/537.36",
    ),
    Device(
        "mobile", "android", 6,
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    ),
    Device(
        "tablet", "ios", 3.5,
        f"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) {_SAFARI} "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
    ),
    Device(
        "tablet", "android", 1.5,
        f"Mozilla/5.0 (Linux; Android 13; SM-X710) {_CHROME} Safari/537.36",
    ),
)  # fmt: skip
DEVICE_CUM = list(accumulate(d.weight for d in DEVICES))


@dataclass(frozen=True)
class Country:
    code: str
    # Public IPv4 blocks allocated to large consumer ISPs of the country (first, size).
    blocks: tuple[tuple[int, int], ...]
    tax_rate: float  # sales tax / VAT charged on an order
    weight: float  # share of visitors when it is not the shop's home market


def _block(cidr: str) -> tuple[int, int]:
    address, bits = cidr.split("/")
    a, b, c, d = (int(part) for part in address.split("."))
    return (a << 24 | b << 16 | c << 8 | d, 1 << (32 - int(bits)))


COUNTRIES: tuple[Country, ...] = tuple(
    Country(code, tuple(_block(cidr) for cidr in blocks), tax, weight)
    for code, blocks, tax, weight in (
        ("US", ("73.0.0.0/8", "68.32.0.0/11", "172.56.0.0/13", "99.0.0.0/10"), 0.07, 40),
        ("GB", ("86.128.0.0/10", "81.2.64.0/18", "2.24.0.0/13"), 0.20, 12),
        ("CA", ("99.224.0.0/11", "70.48.0.0/13"), 0.13, 8),
        ("DE", ("79.192.0.0/10", "91.0.0.0/10", "84.128.0.0/10"), 0.19, 8),
        ("AU", ("58.160.0.0/12", "101.160.0.0/11"), 0.10, 6),
        ("FR", ("90.0.0.0/9", "78.192.0.0/10"), 0.20, 5),
        ("NL", ("84.24.0.0/13", "86.80.0.0/12"), 0.21, 4),
        ("IN", ("117.192.0.0/10", "157.32.0.0/12"), 0.18, 6),
        ("BR", ("177.0.0.0/10", "191.176.0.0/12"), 0.0, 4),
        ("JP", ("126.0.0.0/8", "153.128.0.0/9"), 0.10, 3),
    )
)
# The country a shop in this currency mostly sells to.
HOME_MARKET = {
    "USD": "US", "GBP": "GB", "CAD": "CA", "EUR": "DE", "AUD": "AU", "INR": "IN", "BRL": "BR",
    "JPY": "JP",
}  # fmt: skip


def country_weights(currency: str) -> list[float]:
    """Visitor share per country: the home market gets ~60% when there is one."""
    home = HOME_MARKET.get(currency)
    if home is None:
        return [c.weight for c in COUNTRIES]
    others = sum(c.weight for c in COUNTRIES if c.code != home)
    return [60.0 if c.code == home else 40.0 * c.weight / others for c in COUNTRIES]


@dataclass(frozen=True)
class Visitor:
    key: int
    anonymous_id: str
    device: Device
    country: Country
    ip: str


class Audience:
    """Derives a visitor's fixed traits from their key."""

    def __init__(self, salt: int, currency: str) -> None:
        self.salt = salt
        self.country_cum = list(accumulate(country_weights(currency)))

    def visitor(self, key: int) -> Visitor:
        a = mix(self.salt ^ key)
        b = mix(a)
        device = DEVICES[bisect(DEVICE_CUM, (a & 0xFFFF) / 0x10000 * DEVICE_CUM[-1])]
        country = COUNTRIES[
            bisect(self.country_cum, ((a >> 16) & 0xFFFF) / 0x10000 * self.country_cum[-1])
        ]
        first, size = country.blocks[(a >> 32) % len(country.blocks)]
        ip = first + 1 + (b >> 8) % (size - 2)
        if ip & 0xFF in (0, 255):
            ip ^= 0x7
        hexed = f"{b:016x}{a:016x}"
        anonymous_id = (
            f"{hexed[:8]}-{hexed[8:12]}-4{hexed[13:16]}-{'89ab'[a & 3]}{hexed[17:20]}-{hexed[20:]}"
        )
        return Visitor(
            key,
            anonymous_id,
            device,
            country,
            f"{ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}",
        )


@dataclass(frozen=True)
class Source:
    """One way visitors arrive: its referrers, campaign tags and how well it converts."""

    name: str
    referrers: tuple[str, ...]
    utm: tuple[tuple[str, str], ...]  # (utm_source, utm_medium) choices; () = untagged
    weight: float  # share of sessions
    bounce: float
    conversion: float  # multiplier on the add-to-cart propensity
    landing: tuple[float, float, float]  # P(home), P(collection); the rest land on a product


SOURCES: tuple[Source, ...] = (
    Source("direct", ("",), (), 24, 0.38, 1.3, (0.65, 0.2, 0.15)),
    Source(
        "organic_search",
        ("https://www.google.com/",) * 17 + ("https://www.bing.com/", "https://duckduckgo.com/"),
        (), 28, 0.5, 1.0, (0.3, 0.3, 0.4),
    ),
    Source(
        "paid_search", ("https://www.google.com/",), (("google", "cpc"),),
        10, 0.5, 1.1, (0.2, 0.3, 0.5),
    ),
    Source(
        "organic_social",
        ("https://l.instagram.com/", "https://m.facebook.com/", "https://www.pinterest.com/",
         "https://www.tiktok.com/", "https://www.reddit.com/"),
        (), 9, 0.66, 0.5, (0.35, 0.25, 0.4),
    ),
    Source(
        "paid_social",
        ("https://l.facebook.com/", "https://l.instagram.com/", "https://www.tiktok.com/"),
        (("facebook", "paid_social"), ("instagram", "paid_social"), ("tiktok", "paid_social")),
        11, 0.62, 0.6, (0.1, 0.4, 0.5),
    ),
    Source(
        "email", ("", "https://mail.google.com/", "https://outlook.live.com/"),
        (("newsletter", "email"),), 9, 0.36, 1.6, (0.25, 0.5, 0.25),
    ),
    Source(
        "referral",
        ("https://www.youtube.com/", "https://medium.com/", "https://www.buzzfeed.com/",
         "https://www.reddit.com/"),
        (), 5, 0.55, 0.8, (0.35, 0.25, 0.4),
    ),
    Source(
        "affiliate", ("https://www.rakuten.com/", "https://www.retailmenot.com/"),
        (("rakuten", "affiliate"), ("retailmenot", "affiliate")), 4, 0.4, 1.2, (0.55, 0.2, 0.25),
    ),
)  # fmt: skip
SOURCE_INDEX = {s.name: i for i, s in enumerate(SOURCES)}

# Always-on ad campaigns per medium (sales and newsletters are added by the calendar).
CAMPAIGNS = {
    "cpc": ("brand", "shopping-{category}", "generic-{category}"),
    "paid_social": ("retargeting", "prospecting-{season}", "ugc-creators"),
    "email": ("welcome-series", "abandoned-cart", "winback"),
    "affiliate": ("affiliate-program",),
}
SEASONS = ("winter", "winter", "spring", "spring", "spring", "summer", "summer", "summer",
           "fall", "fall", "fall", "winter")  # fmt: skip
PAYMENT_TYPES = (("credit_card", 55), ("paypal", 18), ("apple_pay", 14), ("google_pay", 6),
                 ("klarna", 7))  # fmt: skip


def pick(rng: random.Random, cum: list[float]) -> int:
    return bisect(cum, rng.random() * cum[-1])
