"""Ack→stored lag: how long after its ack an event is stored (so queryable)."""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid

import msgspec

from .load import HttpConnection
from .payloads import marker_request, request_head


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
        self.key = key
        self.health = request_head("GET", "/healthz", port, None) + b"\r\n"
        self.conn: HttpConnection | None = None

    async def _ingest_counters(self) -> dict[str, int]:
        assert self.conn is not None
        status, body = await self.conn.request(self.health)
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}")
        ingest: dict[str, int] = msgspec.json.decode(body)["ingest"]
        return ingest

    async def measure(self, timeout: float = 30.0) -> float:
        """One marker's lag in seconds (``inf`` if not stored within ``timeout``)."""
        if self.conn is None:
            self.conn = await HttpConnection.open(self.port)
        request = marker_request(self.port, self.key, str(uuid.uuid4()))
        status, answer = await self.conn.request(request)
        acked = time.monotonic()
        if status != 200:
            raise RuntimeError(f"marker answered {status}: {answer[:200]!r}")
        ingest = await self._ingest_counters()
        stored_at = ingest["flushed_events"] + ingest["pending_events"]
        while ingest["flushed_events"] < stored_at:
            if time.monotonic() - acked > timeout:
                return math.inf
            await asyncio.sleep(0.01)
            ingest = await self._ingest_counters()
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
