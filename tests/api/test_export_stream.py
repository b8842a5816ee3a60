"""Exports against slow and stalled clients: a real ``shoplens serve`` process, raw sockets.

A client that reads a few KB of a large export and then stops must not make the server
produce (and hold) the rest of the file; once it disconnects, or takes nothing for
``export_write_timeout`` seconds, the export's query, files and memory are released; and
a tenant runs at most ``export_concurrency`` exports at a time (429 beyond).

Memory is the server's RSS (``/proc/<pid>/status``), files its ``/proc/<pid>/fd``. The
baseline is taken after one complete export: the engine opens its thread pools and caches
on its first streamed query and keeps them, which is not a leak.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shoplens.api.export_stream import RETRY_AFTER_SECONDS, ExportSlots
from shoplens.errors import TooManyRequests
from tests.serverproc import ServerProcess, run_cli, start_server

MB = 1024 * 1024
#: What one running export may hold on the embedded store (measured: 100-180 MB here, the
#: engine's read buffers for the table's parts plus one batch; docs/operations.md).
EXPORT_BOUND = 300 * MB
#: What a finished export may leave behind (allocator caches, the engine's mark cache).
LEFT_OVER = 96 * MB
WRITE_TIMEOUT = 2.0
EXPORT = "/analytics/export?type=events&format=csv&period=90d"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    """Open files, without the engine's per-thread statistics files (``/proc/<pid>/task/
    <tid>/stat`` …): a thread of its pool keeps those for its life, not a query's."""
    fds = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        fds += not target.startswith(f"/proc/{pid}/task/")
    return fds


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A server on a demo shop of 60,000 events (a csv export of about 28 MB), with a
    short write timeout and the default two exports per tenant; and the tenant's secret key."""
    data_dir = tmp_path_factory.mktemp("stalled") / "data"
    done = run_cli("demo", "--events", "60000", "--days", "30", data_dir=data_dir, timeout=300)
    found = re.search(r"secret key (sk_\w+)", done.stdout)
    assert found, done.stdout
    server = start_server(
        data_dir,
        env={
            "SHOPLENS_EXPORT_WRITE_TIMEOUT": str(WRITE_TIMEOUT),
            "SHOPLENS_RATE_LIMITS": "false",
        },
    )
    try:
        yield server, found.group(1)
    finally:
        server.stop()


def full_export(server: ServerProcess, key: str) -> httpx.Response:
    return httpx.get(server.url + EXPORT, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def stalled_client(server: ServerProcess, key: str, read: int = 4096) -> socket.socket:
    """A client that asks for the export, reads ``read`` bytes, then reads no more (a
    small receive window, as a slow or stuck reader advertises)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.port))
    request = f"GET {EXPORT} HTTP/1.1\r\nHost: shoplens\r\nAuthorization: Bearer {key}\r\n\r\n"
    sock.sendall(request.encode())
    head = sock.recv(read)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock


def settle(check: Callable[[], bool], seconds: float) -> bool:
    """Poll ``check`` until it holds or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def baseline(server: ServerProcess, key: str) -> tuple[int, int]:
    """RSS and open files after two complete exports at once (warm pools and caches)."""
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: full_export(server, key), range(2)))
    for response in responses:
        assert response.status_code == 200 and response.content.count(b"\n") > 60_000
    time.sleep(0.5)
    return rss(server.pid), open_fds(server.pid)


def test_a_stalled_export_holds_a_bounded_memory_and_is_released_on_disconnect(
    shop: tuple[ServerProcess, str],
) -> None:
    server, key = shop
    memory, fds = baseline(server, key)
    clients = [stalled_client(server, key) for _ in range(2)]
    try:
        time.sleep(0.5)
        stalled = rss(server.pid)
        time.sleep(1.0)
        # Paced by the reader: nothing more is made while the clients read nothing.
        assert rss(server.pid) - stalled < 32 * MB
        assert rss(server.pid) - memory < 2 * EXPORT_BOUND
    finally:
        for client in clients:
            client.close()
    assert settle(lambda: open_fds(server.pid) <= fds, 5), (open_fds(server.pid), fds)
    assert settle(lambda: rss(server.pid) - memory < LEFT_OVER, 5), (rss(server.pid), memory)
    assert full_export(server, key).status_code == 200  # both slots are free again


def test_exports_beyond_the_tenant_limit_are_429_and_a_stuck_client_times_out(
    shop: tuple[ServerProcess, str],
) -> None:
    server, key = shop
    memory, fds = baseline(server, key)
    clients = [stalled_client(server, key) for _ in range(2)]
    try:
        third = full_export(server, key)
        assert third.status_code == 429
        assert third.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert third.json() == {
            "ok": False,
            "error": "Too many concurrent exports: at most 2 per tenant at a time; "
            "retry when one has finished",
            "field": None,
        }
        # The clients stay connected but take nothing: after the write timeout their
        # exports end, their queries and files are released and the slots are free.
        time.sleep(WRITE_TIMEOUT)
        assert settle(lambda: open_fds(server.pid) <= fds + len(clients), 5)
        assert settle(lambda: rss(server.pid) - memory < LEFT_OVER, 5)
        assert full_export(server, key).status_code == 200
        assert "the client took nothing for 2.0s" in server.log()
    finally:
        for client in clients:
            client.close()


def test_slots_are_counted_per_tenant_and_released_once() -> None:
    slots = ExportSlots(per_tenant=1)
    release = slots.take(7)
    with pytest.raises(TooManyRequests, match="at most 1 per tenant"):
        slots.take(7)
    other = slots.take(8)  # another tenant has slots of its own
    release()
    release()  # a second release must not free a slot someone else holds
    again = slots.take(7)
    with pytest.raises(TooManyRequests):
        slots.take(7)
    assert (slots.running(7), slots.running(8)) == (1, 1)
    again()
    other()
    assert (slots.running(7), slots.running(8)) == (0, 0)
