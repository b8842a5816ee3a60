"""The HTTP phase: each route timed over real HTTP against ``shoplens serve``, and the
dashboard set issued concurrently (as a browser would) and one after another.

Times run from sending the request to having read and decoded the whole JSON body, on a
keep-alive connection (httpx), so they include HTTP, routing, auth, the metrics layer's
queries and JSON encoding. A non-200 answer fails the run: a fast error is not a result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .routes import Route

#: connections a browser opens to one host over HTTP/1.1
BROWSER_CONNECTIONS = 6


@dataclass
class HttpResult:
    route: str
    url: str
    bytes: int
    times_ms: list[float]


def url_of(route: Route, ctx_params: dict[str, Any], tenant_id: int) -> str:
    """The route's path with ``{tenant}``/``{product}`` filled in, and its query string."""
    path = route.path.replace("{tenant}", str(tenant_id))
    path = path.replace("{product}", quote(str(ctx_params["product"]), safe=""))
    query = {
        name: str(value).replace("{user}", str(ctx_params["user"]))
        for name, value in route.params.items()
    }
    return path + ("?" + str(httpx.QueryParams(query)) if query else "")


def _get(client: httpx.Client, url: str, body: dict[str, Any] | None = None) -> int:
    """GET the url (POST ``body`` as JSON when given); fails the run on anything but 200."""
    response = client.get(url) if body is None else client.post(url, json=body)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:500]}")
    response.json()
    return len(response.content)


def time_routes(
    base_url: str,
    key: str,
    urls: list[tuple[Route, str]],
    *,
    warmup: int,
    requests: int,
    on_route: Callable[[str], None] = lambda _: None,
) -> list[HttpResult]:
    """Each route ``requests`` times, one at a time, after ``warmup`` unmeasured calls."""
    headers = {"Authorization": f"Bearer {key}"}
    results = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client:
        for route, url in urls:
            on_route(route.name)
            size = 0
            for _ in range(warmup):
                size = _get(client, url, route.body)
            times = []
            for _ in range(requests):
                began = time.perf_counter()
                _get(client, url, route.body)
                times.append((time.perf_counter() - began) * 1000)
            results.append(HttpResult(route.name, url, size, times))
    return results


#: a secret-key route that runs no report query: HTTP, routing and the key check
FLOOR_PATH = "/v1/tenant"


def time_floor(base_url: str, key: str, *, warmup: int, requests: int) -> list[float]:
    """``GET /v1/tenant`` ms: the fixed cost every report route pays before its queries."""
    floor = Route("floor", FLOOR_PATH, "", None)
    return time_routes(base_url, key, [(floor, FLOOR_PATH)], warmup=warmup, requests=requests)[
        0
    ].times_ms


def time_dashboard_sequential(base_url: str, key: str, urls: list[str], rounds: int) -> list[float]:
    """Wall ms to load every dashboard route one after another, ``rounds`` times."""
    headers = {"Authorization": f"Bearer {key}"}
    out = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client:
        for url in urls:  # warm the connection and the server
            _get(client, url)
        for _ in range(rounds):
            began = time.perf_counter()
            for url in urls:
                _get(client, url)
            out.append((time.perf_counter() - began) * 1000)
    return out


def time_dashboard_concurrent(base_url: str, key: str, urls: list[str], rounds: int) -> list[float]:
    """Wall ms to load every dashboard route at once over up to ``BROWSER_CONNECTIONS``
    keep-alive connections, until the last answer is read, ``rounds`` times."""

    async def run() -> list[float]:
        limits = httpx.Limits(max_connections=BROWSER_CONNECTIONS)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, limits=limits, timeout=120.0
        ) as client:

            async def get(url: str) -> None:
                response = await client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:500]}")
                response.json()

            await asyncio.gather(*(get(u) for u in urls))  # warm-up, opens the connections
            out = []
            for _ in range(rounds):
                began = time.perf_counter()
                await asyncio.gather(*(get(u) for u in urls))
                out.append((time.perf_counter() - began) * 1000)
            return out

    return asyncio.run(run())
