"""One session's state and the events it sends, in the shop's two wire formats.

Page views and account events go out as the shop's browser tracker sends them (core
format, seeds 000/001: ``event``, ``anonymousId``, ``context``); shop actions as its
ecommerce SDK does (seed 002: ``event_type``, ``items``, amounts in major units). Every
event of a page shares that page's ``context`` (address, user agent, URL, referrer), and
every ecommerce event of a campaign visit carries the campaign as ``properties``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from shoplens.demo.audience import Visitor
from shoplens.demo.calendar import IsoClock
from shoplens.demo.catalog import Product

ECOMMERCE, CORE = "ecommerce", "core"
Event = tuple[str, dict[str, Any]]


class VisitOver(Exception):
    """The visit reached the end of the window (it is still going on, "now")."""


@dataclass(frozen=True)
class Site:
    base_url: str  # https://www.<shop>.shop
    until: int  # epoch ms: the window's end, "now"
    iso: IsoClock


@dataclass(eq=False)
class CartLine:
    product: Product
    variant: str
    quantity: int

    def item(self) -> dict[str, Any]:
        item = {**self.product.item, "quantity": self.quantity}
        if self.variant:
            item["item_variant"] = self.variant
        return item


@dataclass(eq=False)
class Visit:
    site: Site
    rng: random.Random
    t: int  # epoch ms of the current step
    visitor: Visitor
    session_id: str
    user: str  # user id once logged in or signed up
    campaign: dict[str, str] | None  # {"source", "medium", "campaign"} of a tagged visit
    referrer: str  # of the next page: external for the landing page, then the last page
    context: dict[str, str] = field(default_factory=dict)
    out: list[Event] = field(default_factory=list)
    cart: list[CartLine] = field(default_factory=list)

    @property
    def cart_id(self) -> str:
        return "cart_" + self.session_id

    def wait(self, mean_ms: float) -> None:
        """Time passes; a visit still going on at the end of the window stops there."""
        self.t += 400 + int(self.rng.expovariate(1.0 / mean_ms))
        if self.t >= self.site.until:
            raise VisitOver

    def page(self, path: str, query: str = "") -> None:
        url = self.site.base_url + path + query
        context = {
            "ip": self.visitor.ip,
            "userAgent": self.visitor.device.user_agent,
            "page": url,
            "referrer": self.referrer,
        }
        event: dict[str, Any] = {
            "event": "page_view",
            "anonymousId": self.visitor.anonymous_id,
            "sessionId": self.session_id,
            "timestamp": self.site.iso(self.t),
            "context": context,
        }
        if self.user:
            event["userId"] = self.user
        self.out.append((CORE, event))
        self.context, self.referrer = context, url

    def core(self, name: str, properties: dict[str, Any]) -> None:
        """A custom core-format event (``login``, ``sign_up``) on the current page."""
        event: dict[str, Any] = {
            "event": name,
            "anonymousId": self.visitor.anonymous_id,
            "sessionId": self.session_id,
            "timestamp": self.site.iso(self.t),
            "properties": properties,
            "context": self.context,
        }
        if self.user:
            event["userId"] = self.user
        self.out.append((CORE, event))

    def ecommerce(self, kind: str, fields: dict[str, Any]) -> None:
        event: dict[str, Any] = {
            "event_type": kind,
            "anonymous_id": self.visitor.anonymous_id,
            "session_id": self.session_id,
            "timestamp": self.site.iso(self.t),
            "context": self.context,
        }
        if self.user:
            event["user_id"] = self.user
        if self.campaign:
            event["properties"] = self.campaign
        event.update(fields)
        self.out.append((ECOMMERCE, event))

    def props(self, **extra: str) -> dict[str, str]:
        """Event properties: the campaign's plus ``extra``."""
        return {**self.campaign, **extra} if self.campaign else extra

    def cart_items(self) -> list[dict[str, Any]]:
        return [line.item() for line in self.cart]
