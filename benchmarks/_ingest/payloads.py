"""Request bodies for the ingest routes, encoded once as whole HTTP/1.1 requests.

Events are realistic (seed 002): a storefront funnel of views, cart changes, searches,
checkouts and purchases of 1 to 4 items, user/session ids, campaign properties and browser
user agents, as a shop's SDK sends them. A ``RequestTemplate`` is encoded before the clock
starts; only purchase order ids change per send, because the server drops a repeated order
id, which would make the work look smaller.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

HOST = "127.0.0.1"  # where tests/serverproc.start_server binds the server
ROUTES = {
    "batch": "/v1/api/analytics/ecommerce/batch",
    "single": "/v1/api/analytics/ecommerce/track",
}
BATCH_SIZE = 100

ORDER_ID = "@@ORDER@@"  # replaced per request with an order id unique to the run
ORDER_DIGITS = 9

_ADJECTIVES = ["Classic", "Organic", "Slim", "Vintage", "Everyday", "Premium", "Light", "Cozy"]
_NOUNS = ["T-Shirt", "Hoodie", "Sneaker", "Backpack", "Mug", "Lamp", "Scarf", "Bottle", "Cap"]
_CATEGORIES = ["Apparel", "Footwear", "Bags", "Home", "Kitchen", "Accessories", "Outdoor"]
_BRANDS = ["Northwind", "Acme", "Fjord", "Lumen", "Kestrel", "Mosaic"]
_VARIANTS = ["Red / S", "Red / L", "Black / M", "Navy / XL", "One size", "Green / M"]
_CHANNELS = [  # (source, medium, campaign)
    ("google", "cpc", "spring-sale"),
    ("google", "organic", ""),
    ("newsletter", "email", "weekly-picks"),
    ("facebook", "social", "retargeting-q2"),
    ("instagram", "social", "influencer-mia"),
    ("", "", ""),  # direct
]
_USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
]
_EVENT_MIX = {  # event type: weight (a storefront's funnel)
    "view_item": 55,
    "add_to_cart": 18,
    "remove_from_cart": 3,
    "search": 6,
    "begin_checkout": 6,
    "add_payment_info": 3,
    "purchase": 9,
}


def _catalog(rng: random.Random, size: int = 400) -> list[dict[str, Any]]:
    return [
        {
            "item_id": f"SKU-{i:05d}",
            "item_name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
            "item_category": rng.choice(_CATEGORIES),
            "item_brand": rng.choice(_BRANDS),
            "item_variant": rng.choice(_VARIANTS),
            "price": round(rng.uniform(4, 180), 2),
        }
        for i in range(size)
    ]


class EventFactory:
    """Seed 002 events as a shop's SDK sends them: users, sessions, campaigns, items."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.catalog = _catalog(random.Random(7))
        self.types = list(_EVENT_MIX)
        self.weights = list(_EVENT_MIX.values())
        self.now = datetime.now(UTC)

    def _item(self, quantity: int = 1) -> dict[str, Any]:
        item = dict(self.rng.choice(self.catalog))
        if quantity != 1:
            item["quantity"] = quantity
        return item

    def event(self) -> dict[str, Any]:
        """The next event; a purchase's ``transaction_id`` is the ``ORDER_ID`` placeholder."""
        rng = self.rng
        kind = rng.choices(self.types, self.weights)[0]
        user = rng.randrange(50_000)
        source, medium, campaign = rng.choice(_CHANNELS)
        when = self.now - timedelta(seconds=rng.uniform(0, 30))
        event: dict[str, Any] = {
            "event_type": kind,
            "user_id": f"user_{user}",
            "anonymous_id": f"anon_{user * 7919 % 1_000_003:07d}",
            "session_id": f"sess_{user}_{rng.randrange(4)}",
            "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "properties": {
                k: v
                for k, v in (("source", source), ("medium", medium), ("campaign", campaign))
                if v
            },
            "context": {"userAgent": rng.choice(_USER_AGENTS)},
        }
        if kind in ("view_item", "add_to_cart", "remove_from_cart"):
            item = self._item(rng.choice((1, 1, 1, 2)))
            event["items"] = [item]
            event["page_url"] = f"https://shop.example.com/products/{item['item_id'].lower()}"
        elif kind == "search":
            term = rng.choice(_NOUNS).lower()
            event["properties"]["search_term"] = term
            event["page_url"] = f"https://shop.example.com/search?q={term}"
        elif kind in ("begin_checkout", "add_payment_info"):
            event["cart_id"] = f"cart_{user}"
            event["page_url"] = "https://shop.example.com/checkout"
        else:  # purchase
            items = [self._item(rng.choice((1, 1, 2, 3))) for _ in range(rng.randint(1, 4))]
            subtotal = sum(i["price"] * i.get("quantity", 1) for i in items)
            shipping = rng.choice((0.0, 4.99, 9.99))
            tax = round(subtotal * 0.08, 2)
            event |= {
                "transaction_id": ORDER_ID,
                "revenue": round(subtotal + shipping + tax, 2),
                "currency": "USD",
                "shipping": shipping,
                "tax": tax,
                "cart_id": f"cart_{user}",
                "items": items,
                "page_url": "https://shop.example.com/checkout/thank-you",
            }
            if rng.random() < 0.2:
                event |= {"coupon_code": "SAVE10", "discount": round(subtotal * 0.1, 2)}
        return event


class RequestTemplate:
    """A whole HTTP request, encoded once; only purchase order ids are filled in per send
    (fixed width, so the Content-Length is known in advance)."""

    def __init__(self, head: bytes, body: bytes, events: int, id_width: int) -> None:
        self.events = events
        self.parts = body.split(ORDER_ID.encode())
        slots = len(self.parts) - 1
        length = len(body) + slots * (id_width - len(ORDER_ID))
        self.head = head + b"Content-Length: %d\r\n\r\n" % length
        self.static = None if slots else self.head + body
        self.size = len(self.head) + length

    def render(self, order_ids: Iterator[bytes]) -> bytes:
        """The request's bytes, taking one id from ``order_ids`` per purchase."""
        if self.static is not None:
            return self.static
        chunks = [self.head, self.parts[0]]
        for part in self.parts[1:]:
            chunks += (next(order_ids), part)
        return b"".join(chunks)


def request_head(method: str, path: str, port: int, key: str | None) -> bytes:
    """A request's head up to (not including) Content-Length and the blank line."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "User-Agent: shoplens-bench/1"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if method == "POST":
        lines.append("Content-Type: application/json")
    return ("\r\n".join(lines) + "\r\n").encode()


def order_ids(prefix: str) -> tuple[Iterator[bytes], int]:
    """Order ids unique to this run (``prefix`` names scenario and worker), fixed width."""
    template = prefix.encode() + b"%0" + str(ORDER_DIGITS).encode() + b"d"
    return (template % n for n in itertools.count()), len(prefix) + ORDER_DIGITS


def build_templates(
    route: str, port: int, key: str, seed: int, count: int, id_width: int
) -> list[RequestTemplate]:
    """``count`` requests for ``route`` ("batch": ``BATCH_SIZE`` events each; "single": one)."""
    factory = EventFactory(seed)
    head = request_head("POST", ROUTES[route], port, key)
    size = BATCH_SIZE if route == "batch" else 1

    def body() -> bytes:
        if route == "batch":
            return msgspec.json.encode({"events": [factory.event() for _ in range(size)]})
        return msgspec.json.encode(factory.event())

    return [RequestTemplate(head, body(), size, id_width) for _ in range(count)]


def marker_request(port: int, key: str, marker: str) -> bytes:
    """A single-event request tagged ``marker`` (a view, so no order id to fill in)."""
    body = msgspec.json.encode(
        {
            "event_type": "view_item",
            "user_id": "bench-marker",
            "items": [{"item_id": "bench-marker"}],
            "properties": {"bench_marker": marker},
        }
    )
    head = request_head("POST", ROUTES["single"], port, key)
    return RequestTemplate(head, body, 1, 0).render(iter(()))
