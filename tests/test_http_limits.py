"""Connection limits against a real ``shoplens serve`` process, over raw sockets: what an
attacker or a broken client sends (a huge header, a header trickled byte by byte, a body
shorter than its Content-Length, a connection left idle) and what the server does."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serverproc import ServerProcess, create_tenant, start_server

MAX_HEADER_BYTES = 16 * 1024
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
KEEP_ALIVE_TIMEOUT = 1.0
#: how long past a configured time a close may come (a loaded 2-core machine)
SLACK = 3.0
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Any]]:
    data_dir = tmp_path_factory.mktemp("limits") / "data"
    tenant = create_tenant(data_dir, "Limits Shop")
    # Two limits as environment variables, two as serve flags: both ways are read.
    env = {
        "SHOPLENS_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "SHOPLENS_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    }
    flags = ("--body-timeout", str(BODY_TIMEOUT), "--keep-alive-timeout", str(KEEP_ALIVE_TIMEOUT))
    proc = start_server(data_dir, env=env, log_dir=data_dir.parent, args=flags)
    try:
        yield proc, tenant
    finally:
        proc.stop()


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset counts as closed)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and its Content-Length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def error_of(response: bytes) -> str:
    body = response.split(b"\r\n\r\n", 1)[1]
    parsed = json.loads(body)
    assert parsed["ok"] is False and parsed["field"] is None
    error: str = parsed["error"]
    return error


def send_huge_header(server: ServerProcess, total: int, outcome: list[tuple[int, bytes]]) -> None:
    """Send a request whose one header is ``total`` bytes long, until the server stops it."""
    sock = connect(server)
    sent = 0
    with sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop\r\nX-Filler: ")
            chunk = b"a" * MIB
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        outcome.append((sent, read_until_closed(sock)))


def test_a_100_mb_header_is_cut_off_and_memory_stays_bounded(server: Any) -> None:
    proc, _ = server
    before = rss_bytes(proc.pid)
    outcomes: list[tuple[int, bytes]] = []
    senders = [
        threading.Thread(target=send_huge_header, args=(proc, 100 * MIB, outcomes))
        for _ in range(4)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=120)
    assert len(outcomes) == 4
    for sent, response in outcomes:
        # The server stopped reading long before 100 MB (the socket buffers hold a few MB)
        # and either said 431 or reset the connection it had stopped reading.
        assert sent < 100 * MIB
        assert response == b"" or response.startswith(b"HTTP/1.1 431 ")
    # Four 100 MB headers once cost +450 MB; now each is dropped past 16 KiB + one read.
    assert rss_bytes(proc.pid) - before < 32 * MIB
    assert proc.healthz()["ok"] is True


def test_headers_over_the_limit_are_answered_431(server: Any) -> None:
    proc, _ = server
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"b" * 1000) for i in range(20))
    with connect(proc) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop\r\n" + headers + b"\r\n")
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 431 ")
    assert error_of(response) == f"Request header fields too large: over {MAX_HEADER_BYTES} bytes"


def test_headers_within_the_limit_are_served(server: Any) -> None:
    proc, _ = server
    headers = {f"X-Filler-{i}": "c" * 1000 for i in range(12)}
    response = httpx.get(f"{proc.url}/healthz", headers=headers, timeout=10)
    assert response.status_code == 200


def test_a_header_trickled_byte_by_byte_is_closed_in_time(server: Any) -> None:
    proc, _ = server
    with connect(proc) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop\r\n")
        started = time.monotonic()
        closed_at = None
        for byte in b"X-Slow: " + b"d" * 200:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            sock.settimeout(0.2)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            assert data == b"" or data.startswith(b"HTTP/1.1 408 ")
            closed_at = time.monotonic()
            break
    assert closed_at is not None, "a slowloris header kept its connection for 40 s"
    assert closed_at - started < HEADER_TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed(server: Any) -> None:
    proc, _ = server
    with connect(proc) as sock:
        started = time.monotonic()
        response = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert response.startswith(b"HTTP/1.1 408 ")
    assert error_of(response) == "Request header not received within 1 seconds"
    assert HEADER_TIMEOUT * 0.5 < elapsed < HEADER_TIMEOUT + SLACK


def test_a_body_shorter_than_its_content_length_is_answered_408(server: Any) -> None:
    proc, tenant = server
    head = (
        "POST /analytics/event HTTP/1.1\r\nHost: shop\r\n"
        f"Authorization: Bearer {tenant['publishable_key']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    with connect(proc) as sock:
        sock.sendall(head.encode() + b'{"event_type": "page_view"')
        started = time.monotonic()
        response = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert response.startswith(b"HTTP/1.1 408 ")
    assert error_of(response) == "Request body not received within 1 seconds"
    assert elapsed < BODY_TIMEOUT + SLACK
    assert proc.healthz()["ok"] is True
    # The route waiting for the rest of the body learns of the close, without a traceback.
    assert "Exception in ASGI application" not in proc.log()


def test_a_whole_body_is_still_accepted(server: Any) -> None:
    proc, tenant = server
    response = httpx.post(
        f"{proc.url}/analytics/event",
        headers={"Authorization": f"Bearer {tenant['publishable_key']}"},
        json={"event": "page_view", "properties": {"path": "/"}},
        timeout=10,
    )
    assert response.status_code in (200, 201, 202), response.text


def test_a_large_body_sent_with_its_head_in_one_write_is_not_taken_for_a_header(
    server: Any,
) -> None:
    # A batch of 200 KiB (over the 16 KiB header limit, under the 512 KiB body limit) sent
    # in one write reaches the server in reads that hold the head, the body and its end.
    proc, tenant = server
    events = [{"event": "page_view", "properties": {"pad": "e" * 500}} for _ in range(400)]
    body = json.dumps({"events": events}).encode()
    head = (
        "POST /analytics/event/batch HTTP/1.1\r\nHost: shop\r\n"
        f"Authorization: Bearer {tenant['publishable_key']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with connect(proc) as sock:
        for _ in range(2):  # and again on the same kept-alive connection
            sock.sendall(head.encode() + body)
            response = read_response(sock)
            assert response.split(b" ", 2)[1] in (b"200", b"201", b"202"), response[:300]


def test_an_idle_keep_alive_connection_is_closed(server: Any) -> None:
    proc, _ = server
    request = b"GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n"
    with connect(proc) as sock:
        for _ in range(2):  # kept alive between requests sent without a pause
            sock.sendall(request)
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert read_until_closed(sock) == b""
        elapsed = time.monotonic() - started
    assert KEEP_ALIVE_TIMEOUT * 0.5 < elapsed < KEEP_ALIVE_TIMEOUT + SLACK
