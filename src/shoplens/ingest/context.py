"""What a wire format needs besides the body: who sent it, when, from where, and limits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from shoplens.config import Settings
from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.stages import Stages
from shoplens.meta import Tenant


@dataclass(frozen=True)
class Limits:
    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 512 * 1024
    max_properties: int = 100
    max_string_length: int = 2048
    max_items: int = 200

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_event_bytes=settings.max_event_bytes,
            max_request_bytes=settings.max_request_bytes,
            max_properties=settings.max_properties,
            max_string_length=settings.max_string_length,
            max_items=settings.max_items,
        )


#: Every browser's User-Agent starts with this (Chrome, Safari, Firefox, Edge, in-app
#: WebViews); server SDKs send their own name or their HTTP client's instead
#: (``analytics-python/2.3.1``, ``python-requests/2.32``, ``axios/1.7``, ``node``,
#: ``Go-http-client/1.1``, ``curl/8.5``, ``okhttp/4.12``).
BROWSER_UA_PREFIX = "Mozilla/"


def browser_request(user_agent: str, origin: str, referer: str) -> bool:
    """Whether a request came from a shopper's browser, so its IP is the shopper's.

    Two signs, both required: a browser User-Agent (:data:`BROWSER_UA_PREFIX`) and an
    ``Origin`` or ``Referer`` header. Browsers send ``Origin`` with every POST — ``fetch``,
    XHR and ``sendBeacon``, same- or cross-origin, as ``null`` under a ``no-referrer``
    policy — so the second sign never misses a browser; it keeps out a server that copies
    the shopper's User-Agent onto its own request, which sends neither header.
    """
    return user_agent.startswith(BROWSER_UA_PREFIX) and bool(origin or referer)


@dataclass(frozen=True)
class IngestContext:
    """Request facts that every event of one request shares."""

    tenant: Tenant
    received_at: int = field(default_factory=lambda: int(time.time() * 1000))
    ip: str = ""
    user_agent: str = ""
    referrer: str = ""
    #: the request came from a shopper's browser (:func:`browser_request`): its IP is the
    #: shopper's, so fraud rules may judge it; otherwise only an IP the event forwards is
    browser: bool = False
    limits: Limits = field(default_factory=Limits)
    converter: CurrencyConverter = field(default_factory=CurrencyConverter)
    #: historical import (CLI, demo): timestamps are taken as given, however old.
    historical: bool = False
    #: a batch body's ``sentAt`` (epoch ms): the client's send time for events without
    #: their own, for clock-skew correction (``ingest.clock``)
    sent_at: int | None = None
    #: what every event goes through after its format built it (``ingest.stages``)
    stages: Stages = field(default_factory=Stages)
