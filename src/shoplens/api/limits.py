"""Request rate limits at the HTTP edge, and the ``X-RateLimit-*`` headers that report them.

Two limits, both sliding windows of a minute (``shoplens.ratelimit``), in memory per process:

- every authenticated request counts against its API key's limit, which its tenant's plan
  sets (``plans.Plan.requests_per_minute``); off with ``SHOPLENS_RATE_LIMITS=false``;
- every event on the public landing route (seed 004) counts against its tenant's limit,
  ``SHOPLENS_LANDING_RATE_PER_MINUTE`` (default 100; 0 turns it off).

Over a limit is a 429 in the one error shape with ``Retry-After``. Whichever limit a request
was checked against is reported on its response, success or error, by
:class:`RateLimitHeaders`: the check leaves its verdict in the ASGI scope and the
middleware adds the headers as the response starts.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoplens import plans
from shoplens.auth import Principal
from shoplens.config import Settings
from shoplens.errors import TooManyRequests
from shoplens.ratelimit import SlidingWindow, Verdict

#: Where a check leaves its verdict for the headers middleware.
SCOPE_KEY = "shoplens.ratelimit"
#: The headers a response may carry (CORS exposes them to browsers).
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")


class RequestLimits:
    """The server's request limits: per API key and per tenant on the landing route."""

    def __init__(self, settings: Settings) -> None:
        self.per_key = settings.rate_limits
        self.landing_per_minute = settings.landing_rate_per_minute
        self._keys = SlidingWindow()
        self._landing = SlidingWindow()

    def check_key(self, scope: MutableMapping[str, Any], principal: Principal) -> None:
        """Count one request for the caller's key; 429 over its plan's limit."""
        if not self.per_key:
            return
        limit = plans.plan_of(principal.tenant).requests_per_minute
        verdict = self._keys.hit(principal.key_id, limit)
        _report(scope, verdict, f"Rate limit exceeded: {limit} requests per minute per API key")

    def check_landing(self, scope: MutableMapping[str, Any], tenant_id: int, events: int) -> None:
        """Count ``events`` for the tenant on the public route; 429 over its limit."""
        limit = self.landing_per_minute
        if not limit:
            return
        verdict = self._landing.hit(tenant_id, limit, events)
        _report(scope, verdict, f"Rate limit exceeded: {limit} events per minute per tenant")


def _report(scope: MutableMapping[str, Any], verdict: Verdict, message: str) -> None:
    scope[SCOPE_KEY] = verdict
    if not verdict.allowed:
        raise TooManyRequests(message, retry_after=verdict.retry_after)


class RateLimitHeaders:
    """ASGI middleware: adds the verdict's ``X-RateLimit-*`` headers to the response of a
    request that was rate-checked (errors included: it sits outside the error handlers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            verdict = scope.get(SCOPE_KEY)
            if message["type"] == "http.response.start" and isinstance(verdict, Verdict):
                headers = list(message.get("headers", []))
                headers.extend(
                    (k.lower().encode(), v.encode()) for k, v in verdict.headers().items()
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
