"""Ingestion benchmark: a real uvicorn server, concurrent HTTP clients, measured acks.

    .venv/bin/python benchmarks/ingest.py [--duration 10] [--workers 2] [--connections 16]
        [--scenarios batch,single,latency,lag] [--profile]

A fresh data directory, a ``pro`` tenant made with ``shoplens tenants create``, and
``python -m shoplens serve`` with default settings (flush interval 1 s) in a subprocess.
Load comes from separate client processes (``--workers``), so client CPU is never in the
server's GIL; each drives keep-alive HTTP/1.1 connections with a minimal asyncio protocol
over uvloop and sends request bytes encoded before the clock starts. Only 127.0.0.1 is
contacted. The scenarios:

``batch``    closed loop, ``--connections`` connections each sending the next 100-event
             ``/v1/api/analytics/ecommerce/batch`` request as soon as the last is acked:
             maximum events/s.
``single``   the same with one event per ``/v1/api/analytics/ecommerce/track`` request:
             maximum requests/s.
``latency``  open loop at 50 % of the maximum measured above (of the targets when that
             scenario was not run, or ``--latency-rate-*``): requests are due on a fixed
             schedule and latency runs from when a request was *due* to its ack, so time
             spent queued behind a slow server counts (no coordinated omission).
``lag``      ack→stored lag: a marker event is sent, and the lag is the time from its ack
             until ``/healthz`` shows it stored. Measured during a paced batch run at the
             latency rate and again with the server idle. See ``measure_lag``.

Purchases get order ids unique to the run (the server drops repeated ones), and every
request template is sent once before timing to check that all its events are accepted.
Results: a table, ``benchmarks/results/ingest-<date>.json`` and a Markdown section for
docs/benchmarks.md. See benchmarks/README.md for how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing as mp
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
HOST = "127.0.0.1"
ROUTES = {
    "batch": "/v1/api/analytics/ecommerce/batch",
    "single": "/v1/api/analytics/ecommerce/track",
}
BATCH_SIZE = 100
SCENARIOS = ("batch", "single", "latency", "lag")

# The targets on 2 cores.
TARGET_BATCH_EVENTS_PER_S = 50_000
TARGET_SINGLE_REQUESTS_PER_S = 5_000
TARGET_P99_MS = 50.0
TARGET_LAG_S = 2.0
LATENCY_LOAD = 0.5  # the latency scenarios run at this fraction of the maximum

# Builtins in which the server's threads wait rather than work (dropped from profiles).
IDLE_FUNCTIONS = ("SimpleQueue' objects>", "'acquire' of '_thread.lock", "'wait' of")


# -- realistic events ---------------------------------------------------------------------
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
        if self.static is not None:
            return self.static
        chunks = [self.head, self.parts[0]]
        for part in self.parts[1:]:
            chunks += (next(order_ids), part)
        return b"".join(chunks)


def request_head(method: str, path: str, port: int, key: str | None) -> bytes:
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
    factory = EventFactory(seed)
    head = request_head("POST", ROUTES[route], port, key)
    encode = msgspec.json.encode
    if route == "batch":
        return [
            RequestTemplate(
                head,
                encode({"events": [factory.event() for _ in range(BATCH_SIZE)]}),
                BATCH_SIZE,
                id_width,
            )
            for _ in range(count)
        ]
    return [RequestTemplate(head, encode(factory.event()), 1, id_width) for _ in range(count)]


# -- a minimal keep-alive HTTP/1.1 client ---------------------------------------------------
class HttpConnection(asyncio.Protocol):
    """One request in flight at a time; responses must carry Content-Length (uvicorn's do).
    Cheaper per request than any general client, so the clients leave the CPU to the
    server."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, HOST, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None:
            return
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._fail(ConnectionError("response without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        total = end + 4 + int(head[at + 17 : stop if stop > 0 else None])
        if len(buffer) < total:
            return
        response = (int(buffer[9:12]), bytes(buffer[end + 4 : total]))
        del buffer[:total]
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(response)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(ConnectionError(f"connection lost: {exc or 'closed by server'}"))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ConnectionError("connection closed")
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# -- load-generating worker processes ----------------------------------------------------
@dataclass(frozen=True)
class Load:
    """What one worker process does (all rates and connections are per worker)."""

    route: str  # batch | single
    paced: bool  # open loop at ``rate`` requests/s, else closed loop
    connections: int
    rate: float
    warmup: float
    duration: float
    port: int
    key: str
    order_prefix: str
    seed: int
    phase: float = 0.0  # paced: offset of this worker's schedule, in request intervals
    templates: int = 32


@dataclass
class WorkerResult:
    ok_requests: int = 0
    ok_events: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds
    unfinished: int = 0  # paced: due in the window, not answered within the drain time
    cpu_seconds: float = 0.0
    request_bytes: int = 0
    failure: str = ""


class Recorder:
    """Counts what belongs to the measured window [t0, t1]. Closed loop: responses that
    arrived in it (latency only for requests also sent in it). Open loop: requests that
    fell due in it, however late they were answered (that lateness is the latency)."""

    def __init__(self, t0: float, t1: float, paced: bool, result: WorkerResult) -> None:
        self.t0, self.t1, self.paced, self.result = t0, t1, paced, result

    def record(self, began: float, ended: float, status: int, body: bytes, events: int) -> None:
        """``began``: when the request was sent (closed loop) or due (open loop)."""
        if self.paced:
            if not self.t0 <= began < self.t1:
                return
        elif not self.t0 <= ended <= self.t1:
            return
        result = self.result
        if status != 200:
            result.errors[f"HTTP {status}"] += 1
            return
        if b'"errors"' in body:  # some events of a batch were rejected
            accepted = msgspec.json.decode(body).get("accepted", 0)
            result.errors["rejected events"] += events - accepted
            events = accepted
        result.ok_requests += 1
        result.ok_events += events
        if began >= self.t0:
            result.latencies.append(ended - began)


async def _preflight(port: int, templates: list[RequestTemplate], ids: Iterator[bytes]) -> str:
    """Send every template once: all its events must be accepted, or the run is void."""
    conn = await HttpConnection.open(port)
    try:
        for template in templates:
            status, body = await conn.request(template.render(ids))
            if status != 200 or b'"errors"' in body:
                return f"preflight request answered {status}: {body[:300]!r}"
    finally:
        conn.close()
    return ""


async def _closed_loop(
    load: Load, templates: list[RequestTemplate], ids: Iterator[bytes], recorder: Recorder
) -> None:
    async def connection(index: int) -> None:
        conn = await HttpConnection.open(load.port)
        turn = index
        while (began := time.monotonic()) < recorder.t1:
            template = templates[turn % len(templates)]
            turn += load.connections
            try:
                status, body = await conn.request(template.render(ids))
            except ConnectionError:
                recorder.result.errors["connection"] += 1
                conn = await HttpConnection.open(load.port)
                continue
            recorder.record(began, time.monotonic(), status, body, template.events)
        conn.close()

    await asyncio.gather(*(connection(i) for i in range(load.connections)))


async def _open_loop(
    load: Load,
    templates: list[RequestTemplate],
    ids: Iterator[bytes],
    recorder: Recorder,
    start: float,
) -> None:
    """Requests fall due every 1/rate s from ``start``; idle connections take them in turn.
    Latency is measured from the due time, so a backlog shows up in it."""
    due: asyncio.Queue[float | None] = asyncio.Queue()
    interval = 1.0 / load.rate
    sent = 0

    async def schedule() -> None:
        nonlocal sent
        while True:
            at = start + (sent + load.phase) * interval
            if at >= recorder.t1:
                break
            now = time.monotonic()
            if at > now:
                await asyncio.sleep(at - now)
            due.put_nowait(at)
            sent += 1
        for _ in range(load.connections):
            due.put_nowait(None)

    async def connection(index: int) -> None:
        conn = await HttpConnection.open(load.port)
        turn = index
        while (at := await due.get()) is not None:
            template = templates[turn % len(templates)]
            turn += load.connections
            try:
                status, body = await conn.request(template.render(ids))
            except ConnectionError:
                recorder.result.errors["connection"] += 1
                conn = await HttpConnection.open(load.port)
                continue
            recorder.record(at, time.monotonic(), status, body, template.events)
        conn.close()

    tasks = [asyncio.create_task(connection(i)) for i in range(load.connections)]
    await schedule()
    drain = 10.0  # answered later than this after the window: counted as unfinished
    _, pending = await asyncio.wait(tasks, timeout=recorder.t1 - time.monotonic() + drain)
    for task in pending:
        task.cancel()
    answered = recorder.result.ok_requests + sum(recorder.result.errors.values())
    first_in_window = max(0, math.ceil((recorder.t0 - start) / interval - load.phase))
    recorder.result.unfinished = max(0, sent - first_in_window - answered)


async def _run_worker(load: Load, ready: Any, go: Any, start_at: Any) -> WorkerResult:
    ids, id_width = order_ids(load.order_prefix)
    templates = build_templates(
        load.route, load.port, load.key, load.seed, load.templates, id_width
    )
    result = WorkerResult(request_bytes=sum(t.size for t in templates) // len(templates))
    result.failure = await _preflight(load.port, templates, ids)
    ready.put(result.failure)
    if result.failure:
        return result
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    start = start_at.value
    t0 = start + load.warmup
    recorder = Recorder(t0, t0 + load.duration, load.paced, result)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    if load.paced:
        await _open_loop(load, templates, ids, recorder, start)
    else:
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        await asyncio.wait_for(
            _closed_loop(load, templates, ids, recorder), timeout=load.warmup + load.duration + 30
        )
    used = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    return result


def worker_main(load: Load, ready: Any, go: Any, start_at: Any, results: Any) -> None:
    """Entry point of a client process: returns its WorkerResult on ``results``."""
    import uvloop

    try:
        result = uvloop.run(_run_worker(load, ready, go, start_at))
    except Exception as exc:  # report, never hang the parent
        result = WorkerResult(failure=f"{type(exc).__name__}: {exc}")
        ready.put(result.failure)
    results.put(result)


# -- the server under test ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The environment without SHOPLENS_* overrides: the server runs on default settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SHOPLENS_")}


def _shoplens(*args: str) -> list[str]:
    return [sys.executable, "-m", "shoplens", *args]


class Server:
    """``shoplens serve`` in a subprocess on a fresh data dir, optionally profiled."""

    def __init__(self, data_dir: Path, profile: str | None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.profile = profile  # None, "py-spy" or "cprofile"
        self.profile_path = data_dir.parent / f"{data_dir.name}-server.prof"
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.spy: subprocess.Popen[bytes] | None = None
        self.spy_error = ""
        self.key = ""

    def create_tenant(self) -> None:
        out = subprocess.run(
            _shoplens(
                "tenants",
                "create",
                "bench",
                "--plan",
                "pro",
                "--json",
                "--data-dir",
                str(self.data_dir),
            ),
            capture_output=True,
            check=True,
            env=_clean_env(),
            cwd=ROOT,
        )
        self.key = json.loads(out.stdout)["publishable_key"]

    @property
    def command(self) -> list[str]:
        serve = [
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]
        if self.profile == "cprofile":
            return [sys.executable, __file__, "--serve-profiled", str(self.profile_path), *serve]
        return _shoplens(*serve)

    def start(self, timeout: float = 120.0) -> None:
        self.create_tenant()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=_clean_env(), cwd=ROOT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log()}")
            with contextlib.suppress(OSError, ValueError):
                if self.healthz()["ok"]:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"server not healthy after {timeout:.0f} s:\n{self.log()}")
        if self.profile == "py-spy":
            self.spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(self.process.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--threads",
                    "--output",
                    str(self.profile_path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

    def healthz(self) -> dict[str, Any]:
        with socket.create_connection((HOST, self.port), timeout=5) as s:
            s.sendall(
                request_head("GET", "/healthz", self.port, None) + b"Connection: close\r\n\r\n"
            )
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        result: dict[str, Any] = json.loads(data.split(b"\r\n\r\n", 1)[1])
        return result

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU the server has used, by thread kind: ``event loop`` (the main
        thread); ``python threads`` (threads Python started keep the name "python": the WAL
        writer and flusher via asyncio.to_thread, and the thread pool FastAPI runs sync
        dependencies in); ``chdb`` (threads that name themselves: ClickHouse's, a little of
        libuv's); ``total`` (the process, exited threads included)."""
        assert self.process is not None
        pid = self.process.pid
        tick = os.sysconf("SC_CLK_TCK")

        def cpu(stat: Path) -> tuple[str, float]:
            name, _, rest = stat.read_text().partition(" (")[2].rpartition(")")
            fields = rest.split()
            return name, (int(fields[11]) + int(fields[12])) / tick

        split = {"total": cpu(Path(f"/proc/{pid}/stat"))[1], "event loop": 0.0}
        split |= {"python threads": 0.0, "chdb": 0.0}
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):  # a thread that just exited
                name, seconds = cpu(task / "stat")
                kind = "event loop" if task.name == str(pid) else "python threads"
                split["chdb" if name != "python" else kind] += seconds
        return split

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 120.0) -> int | None:
        """Graceful stop (SIGTERM: uvicorn shuts down, the pipeline flushes); the exit code:
        -15 after a graceful stop too (uvicorn re-raises the signal), None if it hung."""
        if self.spy is not None:
            self.spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                _, err = self.spy.communicate(timeout=30)
                if self.spy.returncode:
                    self.spy_error = err.decode(errors="replace")[-2000:]
            except subprocess.TimeoutExpired:
                self.spy.kill()
                self.spy_error = "py-spy did not stop within 30 s"
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


def serve_profiled(out: str, argv: list[str]) -> None:
    """Run ``shoplens <argv>`` under cProfile in every thread (the event loop and the
    WAL/flush threads); at exit write the event-loop thread's stats to ``out`` and the
    other threads' merged stats to ``out.threads``."""
    import cProfile
    import pstats
    import threading

    thread_profiles: list[cProfile.Profile] = []

    def profile_this_thread(*_: object) -> None:
        profile = cProfile.Profile()
        thread_profiles.append(profile)
        profile.enable()  # replaces this bootstrap hook for the rest of the thread

    threading.setprofile(profile_this_thread)
    # uvicorn re-raises the SIGTERM it handled once it has shut down; absorb that one so
    # this process gets to write the profile.
    signal.signal(signal.SIGTERM, lambda *_: None)
    main = cProfile.Profile()
    sys.argv = ["shoplens", *argv]
    from shoplens.cli import app

    main.enable()
    try:
        app()
    except SystemExit:
        pass
    finally:
        main.disable()
        threading.setprofile(None)
        pstats.Stats(main).dump_stats(out)
        if thread_profiles:
            stats = pstats.Stats(thread_profiles[0])
            for profile in thread_profiles[1:]:
                stats.add(profile)
            stats.dump_stats(out + ".threads")


# -- scenarios ---------------------------------------------------------------------------
@dataclass
class ScenarioResult:
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
    server_cpu_split_us_per_event: dict[str, float | None]  # by thread kind, see cpu_seconds
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
    def __init__(self, args: argparse.Namespace, server: Server, progress: Any) -> None:
        self.args = args
        self.server = server
        self.progress = progress
        self.ctx = mp.get_context("spawn")  # no fork of a process with threads (rich, asyncio)
        self.results: list[ScenarioResult] = []
        self.number = 0

    def _loads(self, route: str, paced: bool, connections: int, rate: float) -> list[Load]:
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
        during: Callable[[float, float], Coroutine[Any, Any, list[float]]] | None = None,
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
        self,
        t0: float,
        t1: float,
        tick: Callable[[], None],
        during: Callable[[float, float], Coroutine[Any, Any, list[float]]] | None,
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


# -- ack→stored lag ----------------------------------------------------------------------
class LagProbe:
    """Marker events and ``/healthz`` polls over one keep-alive connection.

    There are no query routes yet, so "queryable" is read off the flusher's counters: at
    the marker's ack it is durable and counted in ``pending_events`` (the flusher takes
    events in WAL order and a flushed batch is queryable once its insert returns). So
    ``S = flushed_events + pending_events``, read just after the ack, is at least the
    marker's position in the log, and once ``flushed_events >= S`` the marker is stored.
    The lag reported is from the ack to the first poll (every 10 ms) that shows it: an
    upper bound that can include a few ms of events acked after the marker.
    """

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.track = request_head("POST", ROUTES["single"], port, key)
        self.health = request_head("GET", "/healthz", port, None) + b"\r\n"
        self.conn: HttpConnection | None = None

    async def _healthz(self) -> dict[str, int]:
        assert self.conn is not None
        status, body = await self.conn.request(self.health)
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}")
        ingest: dict[str, int] = msgspec.json.decode(body)["ingest"]
        return ingest

    async def measure(self, timeout: float = 30.0) -> float:
        if self.conn is None:
            self.conn = await HttpConnection.open(self.port)
        marker = str(uuid.uuid4())
        body = msgspec.json.encode(
            {
                "event_type": "view_item",
                "user_id": "bench-marker",
                "items": [{"item_id": "bench-marker"}],
                "properties": {"bench_marker": marker},
            }
        )
        status, answer = await self.conn.request(
            self.track + b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        acked = time.monotonic()
        if status != 200:
            raise RuntimeError(f"marker answered {status}: {answer[:200]!r}")
        ingest = await self._healthz()
        stored_at = ingest["flushed_events"] + ingest["pending_events"]
        while ingest["flushed_events"] < stored_at:
            if time.monotonic() - acked > timeout:
                return math.inf
            await asyncio.sleep(0.01)
            ingest = await self._healthz()
        return time.monotonic() - acked

    async def under_load(self, t0: float, t1: float) -> list[float]:
        """Markers at random moments (0.2 to 0.8 s apart) while the load runs."""
        lags: list[float] = []
        rng = random.Random(11)
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        while time.monotonic() < t1 - 0.5:
            lags.append(await self.measure())
            await asyncio.sleep(rng.uniform(0.2, 0.8))
        self.close()
        return lags

    async def idle(self, samples: int) -> list[float]:
        """Markers with the server otherwise idle, at random points of the flush cycle."""
        rng = random.Random(13)
        lags = []
        for _ in range(samples):
            await asyncio.sleep(rng.uniform(0.1, 1.1))
            lags.append(await self.measure())
        self.close()
        return lags

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# -- profiles ------------------------------------------------------------------------------
def _function_name(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if path == "~":
        return name
    for marker in ("site-packages/", "/src/", "/lib/python"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{line}({name})"


def cprofile_tables(path: Path, events: int, top: int) -> list[tuple[str, list[tuple[str, ...]]]]:
    """(title, rows) tables: the event-loop thread by cumulative and by own time, the other
    threads by own time; with each function's time per event in µs."""
    import pstats

    per = 1e6 / max(events, 1)

    def rows(entries: dict[Any, Any], index: int, count: int) -> list[tuple[str, ...]]:
        ranked = sorted(entries.items(), key=lambda kv: kv[1][index], reverse=True)
        return [
            (_function_name(k), f"{v[1]:,}", f"{v[2]:.2f}", f"{v[3]:.2f}", f"{v[index] * per:.1f}")
            for k, v in ranked[:count]
        ]

    loop: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    # The outermost frames (asyncio.run and its callers) hold the whole run, idle included
    # (uvloop's own C loop counts as their own time): leave them out.
    longest = max((v[3] for v in loop.values()), default=0.0)
    loop = {k: v for k, v in loop.items() if v[3] < 0.98 * longest}
    tables = [
        (f"event-loop thread, top {top} by cumulative time", rows(loop, 3, top)),
        (f"event-loop thread, top {top} by own time", rows(loop, 2, top)),
    ]
    threads = path.with_name(path.name + ".threads")
    if threads.exists():
        stats = pstats.Stats(str(threads)).stats  # type: ignore[attr-defined]
        busy = {k: v for k, v in stats.items() if not any(i in k[2] for i in IDLE_FUNCTIONS)}
        title = "WAL and flush threads (wall time; I/O and chDB release the GIL), top 15 by own"
        tables.append((title, rows(busy, 2, 15)))
    return tables


def pyspy_tables(path: Path, events: int, top: int) -> list[tuple[str, list[tuple[str, ...]]]]:
    """Top functions from py-spy's raw (collapsed stacks) output: inclusive and own samples."""
    tables: list[tuple[str, list[tuple[str, ...]]]] = []
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("thread ", "process "))]
        total += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        if frames:
            own[frames[-1]] += int(count)
    for title, counter in (("inclusive", inclusive), ("own", own)):
        tables.append(
            (
                f"all threads, top {top} by {title} samples (of {total:,})",
                [
                    (name, f"{n:,}", f"{100 * n / max(total, 1):.1f}%", "", "")
                    for name, n in counter.most_common(top)
                ],
            )
        )
    return tables


# -- machine and report ---------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        ram = int(next(m for m in meminfo if m.startswith("MemTotal")).split()[1]) / 1024**2

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "-"

    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "chdb": version("chdb"),
        "chdb_core": version("chdb-core"),
        "uvicorn": version("uvicorn"),
        "uvloop": version("uvloop"),
        "fastapi": version("fastapi"),
        "git": commit or "-",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def verdicts(results: list[ScenarioResult]) -> dict[str, tuple[str, bool | None]]:
    """Scenario name → (target text, met?)."""
    out: dict[str, tuple[str, bool | None]] = {}
    for r in results:
        if r.name == "batch":
            out[r.name] = (
                f">= {TARGET_BATCH_EVENTS_PER_S:,} events/s",
                r.events_per_s >= TARGET_BATCH_EVENTS_PER_S,
            )
        elif r.name == "single":
            out[r.name] = (
                f">= {TARGET_SINGLE_REQUESTS_PER_S:,} requests/s",
                r.requests_per_s >= TARGET_SINGLE_REQUESTS_PER_S,
            )
        elif r.name.startswith("latency"):
            p99 = r.p99_ms if r.p99_ms is not None else math.inf
            ok = p99 <= TARGET_P99_MS and not r.unfinished
            out[r.name] = (f"p99 <= {TARGET_P99_MS:.0f} ms", ok)
        elif r.name == "lag":
            lags = (r.lag_under_load_s or []) + (r.lag_idle_s or [])
            out[r.name] = (f"lag <= {TARGET_LAG_S:.0f} s", bool(lags) and max(lags) <= TARGET_LAG_S)
    return out


def _load_text(r: ScenarioResult) -> str:
    if r.offered_rps is None:
        return f"max, {r.connections} conn"
    events = r.offered_rps * (BATCH_SIZE if r.route == ROUTES["batch"] else 1)
    return f"paced {r.offered_rps:,.0f} req/s ({events:,.0f} ev/s), {r.connections} conn"


def _lag_text(r: ScenarioResult) -> str:
    parts = []
    for label, lags in (("under load", r.lag_under_load_s), ("idle", r.lag_idle_s)):
        if lags:
            parts.append(
                f"{label}: p50 {percentile(lags, 0.5):.2f} s, max {max(lags):.2f} s (n={len(lags)})"
            )
    return "; ".join(parts)


def _split_text(r: ScenarioResult) -> str:
    split = r.server_cpu_split_us_per_event
    return ", ".join(f"{kind} {_fmt(split.get(kind), 1)}" for kind in split)


def render_table(results: list[ScenarioResult], console: Any) -> None:
    from rich.table import Table

    table = Table(title="shoplens ingest benchmark", caption="µs/ev: server CPU per event")
    for column in ("scenario", "load", "req/s", "events/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column in ("scenario", "load") else "right")
    for column in ("µs/ev", "target", ""):
        table.add_column(column, justify="right" if column == "µs/ev" else "left")
    marks = verdicts(results)
    for r in results:
        target, ok = marks.get(r.name, ("", None))
        errors = sum(r.errors.values()) + r.unfinished
        load = (
            f"max, {r.connections} conn"
            if r.offered_rps is None
            else f"{r.offered_rps:,.0f}/s, {r.connections} conn"
        )
        table.add_row(
            r.name,
            load,
            _fmt(r.requests_per_s),
            _fmt(r.events_per_s),
            _fmt(r.p50_ms, 1),
            _fmt(r.p99_ms, 1),
            str(errors),
            _fmt(r.server_cpu_us_per_event, 1),
            target.replace(" events/s", " ev/s").replace(" requests/s", " req/s"),
            "" if ok is None else ("[green]met[/green]" if ok else "[red]missed[/red]"),
        )
    console.print(table)
    console.print("server CPU µs/event by thread:")
    for r in results:
        console.print(f"  {r.name}: {_split_text(r)}")
    for r in results:
        if r.lag_under_load_s is not None or r.lag_idle_s is not None:
            console.print(f"ack→stored lag — {_lag_text(r)}")
        if r.errors or r.unfinished:
            console.print(f"{r.name}: errors {r.errors}, unfinished {r.unfinished}")


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    results = [ScenarioResult(**r) for r in report["results"]]
    marks = verdicts(results)
    lines = [
        f"### Ingest — {report['date'][:10]}",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"load average at start {m['load_average_at_start']}",
        f"- Software: Python {m['python']}, chdb {m['chdb']} (core {m['chdb_core']}), "
        f"uvicorn {m['uvicorn']}, uvloop {m['uvloop']}, FastAPI {m['fastapi']}; "
        f"shoplens `{m['git']}`",
        f"- Command: `{report['command']}`",
        f"- Server: default settings (flush interval 1 s), one uvicorn process; clients: "
        f"{report['settings']['workers']} processes on the same machine; "
        f"{report['settings']['duration']:g} s per scenario after "
        f"{report['settings']['warmup']:g} s warm-up"
        + (" — **profiled run: numbers are not comparable**" if report["profile"] else ""),
        "",
        "| scenario | load | req/s | events/s | p50 ms | p99 ms | errors | server CPU µs/event "
        "| target | |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for r in results:
        target, ok = marks.get(r.name, ("", None))
        errors = sum(r.errors.values()) + r.unfinished
        lines.append(
            f"| {r.name} | {_load_text(r)} | {_fmt(r.requests_per_s)} | {_fmt(r.events_per_s)} "
            f"| {_fmt(r.p50_ms, 1)} | {_fmt(r.p99_ms, 1)} | {errors} "
            f"| {_fmt(r.server_cpu_us_per_event, 1)} | {target} "
            f"| {'' if ok is None else ('met' if ok else '**missed**')} |"
        )
    lines += [
        "",
        "Server CPU µs/event by thread (python threads: WAL writer, flusher and FastAPI's "
        "thread pool; chdb: ClickHouse's own threads):",
        "",
    ]
    lines += [f"- {r.name}: {_split_text(r)}" for r in results]
    for r in results:
        if r.lag_under_load_s is not None or r.lag_idle_s is not None:
            lines += ["", f"Ack→stored lag — {_lag_text(r)}."]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Ingestion benchmark against a real shoplens server on this machine."
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument(
        "--connections", type=int, default=16, help="connections in the max-throughput scenarios"
    )
    parser.add_argument(
        "--latency-connections", type=int, default=64, help="connections in the paced scenarios"
    )
    parser.add_argument(
        "--latency-rate-batch",
        type=float,
        default=None,
        help="events/s for latency-batch and lag (default: half the max)",
    )
    parser.add_argument(
        "--latency-rate-single",
        type=float,
        default=None,
        help="requests/s for latency-single (default: half the max)",
    )
    parser.add_argument("--lag-samples", type=int, default=5, help="idle lag markers")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the server (py-spy if installed, else cProfile)",
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="where the temporary data dir goes (its disk's fsync matters)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the data dir")
    parser.add_argument("--output", type=Path, default=None, help="results JSON path")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.workers < 1 or args.connections < 1 or args.duration <= 0:
        parser.error("--workers, --connections and --duration must be positive")
    return args


def run_scenarios(bench: Bench, args: argparse.Namespace, server: Server) -> None:
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
        probe = LagProbe(server.port, server.key)
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


def main(argv: list[str]) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log file: room for the table
        console = Console(width=132)
    machine = machine_info()
    profiler = None
    if args.profile:
        profiler = "py-spy" if shutil.which("py-spy") else "cprofile"
    data_dir = Path(tempfile.mkdtemp(prefix="shoplens-bench-", dir=args.data_root))
    server = Server(data_dir, profiler)
    command = "python benchmarks/ingest.py" + (f" {shlex.join(argv)}" if argv else "")
    console.print(
        f"[bold]shoplens ingest benchmark[/bold]: {machine['cpu']}, {machine['cores']} cores, "
        f"load average {machine['load_average_at_start']}; data in {data_dir}"
        + (f"; server profiled with {profiler}" if profiler else "")
    )
    exit_code = None
    bench: Bench | None = None
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("starting server", total=None)
            server.start()
            progress.remove_task(task)
            bench = Bench(args, server, progress)
            run_scenarios(bench, args, server)
            task = progress.add_task("stopping server (final flush)", total=None)
            health = server.healthz()["ingest"]
            exit_code = server.stop()
            progress.remove_task(task)
    except BaseException:
        server.stop(timeout=30)
        console.print(f"[red]server log (tail):[/red]\n{server.log()}\n(log: {server.log_path})")
        raise
    finally:
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    if not args.keep_data:
        server.log_path.unlink(missing_ok=True)

    assert bench is not None
    results = bench.results
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "workers": args.workers,
            "connections": args.connections,
            "latency_connections": args.latency_connections,
            "batch_size": BATCH_SIZE,
        },
        "profile": profiler,
        "profile_path": str(server.profile_path) if profiler else None,
        "server": {"exit_code": exit_code, "healthz_ingest_at_end": health},
        "targets": {
            "batch_events_per_s": TARGET_BATCH_EVENTS_PER_S,
            "single_requests_per_s": TARGET_SINGLE_REQUESTS_PER_S,
            "p99_ms_at_half_load": TARGET_P99_MS,
            "lag_s": TARGET_LAG_S,
        },
        "results": [asdict(r) for r in results],
    }
    output = args.output or RESULTS_DIR / f"ingest-{datetime.now():%Y-%m-%d-%H%M%S}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")

    render_table(results, console)
    if exit_code not in (0, -signal.SIGTERM):
        console.print(f"[red]server did not stop cleanly: exit code {exit_code}[/red]")
    console.print(f"results: {output}")
    console.print("\n[bold]Markdown for docs/benchmarks.md:[/bold]\n")
    console.print(markdown(report), markup=False, highlight=False, soft_wrap=True)
    if profiler:
        stored = health["flushed_events"] + health["pending_events"]
        print_profile(server, profiler, stored, args.profile_top, console)
    return 0


def print_profile(server: Server, profiler: str, events: int, top: int, console: Any) -> None:
    """The server's profile over the whole run; times per event are per event the server
    took in (``events``: warm-ups, preflight and markers included)."""
    from rich.table import Table

    path = server.profile_path
    if not path.exists():
        console.print(f"[yellow]no profile written ({profiler}) at {path}[/yellow]")
        if server.spy_error:
            console.print(f"py-spy: {server.spy_error}", markup=False)
        return
    tables = (pyspy_tables if profiler == "py-spy" else cprofile_tables)(path, events, top)
    for title, rows in tables:
        table = Table(title=f"server profile ({profiler}): {title}")
        headers = (
            ("function", "samples", "share")
            if profiler == "py-spy"
            else ("function", "calls", "own s", "cumulative s", "µs/event")
        )
        for h in headers:
            table.add_column(h, justify="left" if h == "function" else "right")
        for row in rows:
            table.add_row(*row[: len(headers)])
        console.print(table)
    console.print(
        f"per event: over the {events:,} events the server took in during the whole run. "
        "A profiler slows Python code several times over: compare shares, not absolutes."
    )
    console.print(f"profile: {path} (open with `python -m pstats` or snakeviz)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-profiled"]:
        serve_profiled(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main(sys.argv[1:]))
