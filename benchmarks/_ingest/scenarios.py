"""The scenarios: each runs one load on every client process and measures the window.

``batch`` and ``single`` find the maximum throughput (closed loop); ``latency`` runs both
routes paced at ``LATENCY_LOAD`` of that maximum (of the targets when it was not measured);
``lag`` runs a paced batch load with ack→stored markers and then markers with the server
idle (see ``lag.LagProbe``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .lag import LagProbe
from .load import Load, WorkerResult, worker_main
from .payloads import BATCH_SIZE, ROUTES
from .server import Server

SCENARIOS = ("batch", "single", "latency", "lag")

# The targets on 2 cores.
TARGET_BATCH_EVENTS_PER_S = 50_000
TARGET_SINGLE_REQUESTS_PER_S = 5_000
TARGET_P99_MS = 50.0
TARGET_LAG_S = 2.0
LATENCY_LOAD = 0.5  # the latency scenarios run at this fraction of the maximum

#: runs in the benchmark process during a load's window, given (t0, t1): the lag markers
During = Callable[[float, float], Coroutine[Any, Any, list[float]]]


@dataclass
class ScenarioResult:
    """One scenario's figures, as they go into the JSON results."""

    name: str
    route: str
    mode: str  # closed | paced
    connections: int
    workers: int
    duration: float
    offered_rps: float | None  # paced: requests/s scheduled
    requests: int
    events: int
    requests_per_s: float
    events_per_s: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: dict[str, int]
    unfinished: int
    server_cpu_s: float
    server_cpu_us_per_event: float | None
    server_cpu_split_us_per_event: dict[str, float | None]  # see Server.cpu_seconds
    client_cpu_s: float
    request_bytes: int
    lag_under_load_s: list[float] | None = None
    lag_idle_s: list[float] | None = None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Bench:
    """Runs loads against ``server`` with ``args.workers`` client processes and collects a
    ``ScenarioResult`` per load in ``results``; shows progress on a rich ``Progress``."""

    def __init__(self, args: argparse.Namespace, server: Server, progress: Any) -> None:
        self.args = args
        self.server = server
        self.progress = progress
        self.ctx = mp.get_context("spawn")  # no fork of a process with threads (rich, asyncio)
        self.results: list[ScenarioResult] = []
        self.number = 0

    def _loads(self, route: str, paced: bool, connections: int, rate: float) -> list[Load]:
        """The load split over the workers; order ids unique to this run and load."""
        workers = self.args.workers
        self.number += 1
        run = uuid.uuid4().hex[:6]
        return [
            Load(
                route=route,
                paced=paced,
                connections=max(1, connections // workers + (k < connections % workers)),
                rate=rate / workers,
                warmup=self.args.warmup,
                duration=self.args.duration,
                port=self.server.port,
                key=self.server.key,
                order_prefix=f"b{run}s{self.number:02d}w{k:02d}-",
                seed=1000 * self.number + k,
                phase=k / workers,
                templates=32 if route == "batch" else 256,
            )
            for k in range(workers)
        ]

    def run(
        self,
        name: str,
        route: str,
        *,
        paced: bool,
        connections: int,
        rate: float = 0.0,
        during: During | None = None,
    ) -> ScenarioResult:
        """Run one load on all workers; ``during(t0, t1)`` runs in this process meanwhile
        (the lag markers) and its result is kept as the lag under load."""
        loads = self._loads(route, paced, connections, rate)
        task = self.progress.add_task(name, total=self.args.warmup + self.args.duration)
        ready, results = self.ctx.Queue(), self.ctx.Queue()
        go, start_at = self.ctx.Event(), self.ctx.Value("d", 0.0)
        processes = [
            self.ctx.Process(
                target=worker_main, args=(load, ready, go, start_at, results), daemon=True
            )
            for load in loads
        ]
        for p in processes:
            p.start()
        try:
            failures = [ready.get(timeout=180) for _ in processes]
            if any(failures):
                raise RuntimeError(f"{name}: client failed: {next(f for f in failures if f)}")
            start = time.monotonic() + 0.2
            start_at.value = start
            go.set()

            def tick() -> None:
                self.progress.update(task, completed=min(time.monotonic(), t1) - start)

            t0, t1 = start + self.args.warmup, start + self.args.warmup + self.args.duration
            server_cpu, lags = asyncio.run(self._supervise(t0, t1, tick, during))
            worker_results: list[WorkerResult] = [
                results.get(timeout=60 + self.args.duration) for _ in processes
            ]
        finally:
            for p in processes:
                p.join(timeout=10)
                if p.is_alive():
                    p.terminate()
            self.progress.remove_task(task)
        failed = [r.failure for r in worker_results if r.failure]
        if failed:
            raise RuntimeError(f"{name}: client failed: {failed[0]}")
        result = self._aggregate(name, route, paced, connections, rate, worker_results, server_cpu)
        result.lag_under_load_s = lags
        self.results.append(result)
        return result

    async def _supervise(
        self, t0: float, t1: float, tick: Callable[[], None], during: During | None
    ) -> tuple[dict[str, float], list[float] | None]:
        """Show progress and read the server's CPU time at t0 and t1 (and run ``during``)."""
        extra = asyncio.create_task(during(t0, t1)) if during else None
        cpu = []
        for mark in (t0, t1):
            while (now := time.monotonic()) < mark:
                tick()
                await asyncio.sleep(min(0.1, mark - now))
            cpu.append(self.server.cpu_seconds())
        tick()
        used = {kind: cpu[1][kind] - cpu[0].get(kind, 0.0) for kind in cpu[1]}
        return used, (await extra if extra else None)

    def _aggregate(
        self,
        name: str,
        route: str,
        paced: bool,
        connections: int,
        rate: float,
        parts: list[WorkerResult],
        server_cpu: dict[str, float],
    ) -> ScenarioResult:
        latencies = [v for r in parts for v in r.latencies]
        errors: Counter[str] = Counter()
        for r in parts:
            errors.update(r.errors)
        requests = sum(r.ok_requests for r in parts)
        events = sum(r.ok_events for r in parts)
        duration = self.args.duration

        def per_event(seconds: float) -> float | None:
            return round(seconds / events * 1e6, 1) if events else None

        def ms(q: float) -> float | None:
            value = percentile(latencies, q)
            return None if value is None else round(value * 1000, 2)

        return ScenarioResult(
            name=name,
            route=ROUTES[route],
            mode="paced" if paced else "closed",
            connections=connections,
            workers=len(parts),
            duration=duration,
            offered_rps=round(rate, 1) if paced else None,
            requests=requests,
            events=events,
            requests_per_s=round(requests / duration, 1),
            events_per_s=round(events / duration, 1),
            p50_ms=ms(0.50),
            p90_ms=ms(0.90),
            p99_ms=ms(0.99),
            max_ms=ms(1.0),
            errors=dict(errors),
            unfinished=sum(r.unfinished for r in parts),
            server_cpu_s=round(server_cpu["total"], 2),
            server_cpu_us_per_event=per_event(server_cpu["total"]),
            server_cpu_split_us_per_event={
                kind: per_event(seconds) for kind, seconds in server_cpu.items() if kind != "total"
            },
            client_cpu_s=round(sum(r.cpu_seconds for r in parts), 2),
            request_bytes=parts[0].request_bytes if parts else 0,
        )


def run_scenarios(bench: Bench) -> None:
    """The scenarios in ``bench.args.scenarios``, maxima first (the paced rates follow)."""
    args = bench.args
    wanted = set(args.scenarios)
    maxima: dict[str, float] = {}  # route → max requests/s measured
    for route in ("batch", "single"):
        if route in wanted:
            result = bench.run(route, route, paced=False, connections=args.connections)
            maxima[route] = result.requests_per_s
    batch_rate = (  # requests/s
        args.latency_rate_batch / BATCH_SIZE
        if args.latency_rate_batch
        else LATENCY_LOAD * maxima.get("batch", TARGET_BATCH_EVENTS_PER_S / BATCH_SIZE)
    )
    single_rate = args.latency_rate_single or LATENCY_LOAD * maxima.get(
        "single", TARGET_SINGLE_REQUESTS_PER_S
    )
    if "latency" in wanted:
        for route, rate in (("batch", batch_rate), ("single", single_rate)):
            bench.run(
                f"latency-{route}",
                route,
                paced=True,
                connections=args.latency_connections,
                rate=rate,
            )
    if "lag" in wanted:
        probe = LagProbe(bench.server.port, bench.server.key)
        result = bench.run(
            "lag",
            "batch",
            paced=True,
            connections=args.latency_connections,
            rate=batch_rate,
            during=probe.under_load,
        )
        task = bench.progress.add_task("lag (idle)", total=None)
        result.lag_idle_s = asyncio.run(probe.idle(args.lag_samples))
        bench.progress.remove_task(task)
