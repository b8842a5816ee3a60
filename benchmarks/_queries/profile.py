"""``--profile``: where a report route's time goes, in process (no server).

The app (``create_app``) runs on the data dir's store under Starlette's TestClient, with the
store wrapped so every query it sends is timed. Per route: the request's wall time, how
many queries it sent, their summed time (the rest is Python: parameter parsing, result
shaping, JSON), and each query's time with the head of its SQL, so the slow statement can
be taken to ``EXPLAIN`` (``EXPLAIN indexes = 1 <sql>`` shows the granules it reads).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .routes import Route


@dataclass
class TimedStore:
    """A store that records ``(sql, ms)`` for each query; everything else passes through."""

    inner: Any
    log: list[tuple[str, float]] = field(default_factory=list)

    def query(self, sql: str, params: Any = None) -> Any:
        began = time.perf_counter()
        try:
            return self.inner.query(sql, params)
        finally:
            self.log.append((sql, (time.perf_counter() - began) * 1000))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class RouteProfile:
    route: str
    wall_ms: float
    queries: int
    query_ms: float
    statements: list[tuple[float, str]]


def profile_routes(
    settings: Any,
    opened: Any,
    key: str,
    urls: list[tuple[Route, str]],
    *,
    warmup: int,
    requests: int,
) -> list[RouteProfile]:
    """Each route ``requests`` times after ``warmup`` on the app over ``opened`` (the data
    dir's store, which stays open); the median wall time, and the statements of the median
    request with their times."""
    from starlette.testclient import TestClient

    from shoplens.app import create_app

    store = TimedStore(opened)
    app = create_app(settings, store=store)
    out = []
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app, headers=headers) as client:
        for route, url in urls:

            def call(route: Route = route, url: str = url) -> None:
                if route.body is None:
                    client.get(url).raise_for_status()
                else:
                    client.post(url, json=route.body).raise_for_status()

            for _ in range(warmup):
                call()
            runs = []
            for _ in range(requests):
                store.log.clear()
                began = time.perf_counter()
                call()
                wall = (time.perf_counter() - began) * 1000
                runs.append((wall, list(store.log)))
            runs.sort(key=lambda run: run[0])
            wall, log = runs[(len(runs) - 1) // 2]  # the nearest-rank median's run
            out.append(
                RouteProfile(
                    route=route.name,
                    wall_ms=wall,
                    queries=len(log),
                    query_ms=sum(ms for _, ms in log),
                    statements=[(ms, " ".join(sql.split())) for sql, ms in log],
                )
            )
    return out


def print_profiles(profiles: list[RouteProfile], console: Any, sql_chars: int = 160) -> None:
    for p in profiles:
        console.print(
            f"[bold]{p.route}[/bold]: {p.wall_ms:.1f} ms in process, {p.queries} queries "
            f"taking {p.query_ms:.1f} ms, Python {p.wall_ms - p.query_ms:.1f} ms"
        )
        for ms, sql in sorted(p.statements, reverse=True):
            console.print(f"  {ms:7.1f} ms  {sql[:sql_chars]}", markup=False, highlight=False)
