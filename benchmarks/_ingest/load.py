"""The load generator: client processes driving keep-alive HTTP/1.1 connections.

Each client process (``worker_main``, started by ``scenarios.Bench``) builds its requests,
checks them (``_preflight``), waits for the common start, then drives its connections in a
closed loop (next request as soon as the last is answered: maximum throughput) or an open
loop (requests fall due on a fixed schedule: latency at a given load). A ``Recorder``
counts what belongs to the measured window and the process sends back a ``WorkerResult``.
Separate processes keep client CPU out of the server's GIL; the minimal protocol below
keeps it small.
"""

from __future__ import annotations

import asyncio
import math
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .payloads import HOST, RequestTemplate, build_templates, order_ids

#: seconds after the window in which a paced request may still be answered
DRAIN_SECONDS = 10.0


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
        """Send a whole request; (status, body) of its response."""
        if self.transport is None:
            raise ConnectionError("connection closed")
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


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
    phase: float  # paced: offset of this worker's schedule, in request intervals
    templates: int  # distinct requests to cycle through


@dataclass
class WorkerResult:
    """What one worker process measured in the window (sent back over a queue)."""

    ok_requests: int = 0
    ok_events: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds
    unfinished: int = 0  # paced: due in the window, not answered within DRAIN_SECONDS
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


async def _connection(
    load: Load,
    templates: list[RequestTemplate],
    ids: Iterator[bytes],
    recorder: Recorder,
    index: int,
    next_due: Callable[[], Awaitable[float | None]],
) -> None:
    """One connection: until ``next_due`` says stop (None), send the next request and record
    its answer against the time ``next_due`` gave; reconnect after a lost connection.
    Connections take the templates in turn, so each is sent as often as the others."""
    conn = await HttpConnection.open(load.port)
    turn = index
    while (began := await next_due()) is not None:
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


async def _closed_loop(
    load: Load, templates: list[RequestTemplate], ids: Iterator[bytes], recorder: Recorder
) -> None:
    """Every connection sends its next request as soon as the last is answered, until t1."""

    async def now_until_t1() -> float | None:
        now = time.monotonic()
        return now if now < recorder.t1 else None

    await asyncio.gather(
        *(
            _connection(load, templates, ids, recorder, i, now_until_t1)
            for i in range(load.connections)
        )
    )


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

    tasks = [
        asyncio.create_task(_connection(load, templates, ids, recorder, i, due.get))
        for i in range(load.connections)
    ]
    await schedule()
    _, pending = await asyncio.wait(tasks, timeout=recorder.t1 - time.monotonic() + DRAIN_SECONDS)
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
    """Entry point of a client process. It puts its preflight failure ("" if none) on
    ``ready``, waits for ``go`` and starts at ``start_at`` (shared monotonic seconds; the
    warm-up runs first), and puts its ``WorkerResult`` on ``results``."""
    import uvloop

    try:
        result = uvloop.run(_run_worker(load, ready, go, start_at))
    except Exception as exc:  # report, never hang the parent
        result = WorkerResult(failure=f"{type(exc).__name__}: {exc}")
        ready.put(result.failure)
    results.put(result)
