"""A stand-in for the exchange-rate providers (Open Exchange Rates, the ECB).

TEST DOUBLE: the real providers are on the internet, which tests cannot reach. This is a
real HTTP server (``http.server`` on 127.0.0.1, a free port, in a thread) answering
whatever a test sets per path — a body in either provider's format, an error status,
garbage, a slow answer — and recording every request it got.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

OXR_PATH = "/api/latest.json"
ECB_PATH = "/stats/eurofxref/eurofxref-daily.xml"


@dataclass
class Answer:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    #: seconds to wait before answering
    delay: float = 0.0


class ProviderStandIn:
    """The stand-in's state: answers by path, requests received (path with query)."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[str] = []
        self.closing = threading.Event()
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, body: bytes | str, **fields: Any) -> None:
        self.answers[path] = Answer(body.encode() if isinstance(body, str) else body, **fields)

    def oxr(self, rates: dict[str, Any], *, base: str = "USD", at: float | None = None) -> None:
        """Serve an Open Exchange Rates ``latest.json`` at OXR_PATH."""
        stamp = int(time.time() if at is None else at)
        body = {"disclaimer": "stand-in", "timestamp": stamp, "base": base, "rates": rates}
        self.answer(OXR_PATH, json.dumps(body))

    def ecb(self, day: str, rates: dict[str, str]) -> None:
        """Serve an ECB ``eurofxref-daily.xml`` at ECB_PATH."""
        self.answer(ECB_PATH, ecb_xml({day: rates}), content_type="text/xml")

    def requests_to(self, path: str) -> list[str]:
        return [r for r in self.requests if urlsplit(r).path == path]


def ecb_xml(days: dict[str, dict[str, str]]) -> str:
    """The ECB's file as it publishes it (namespaces, gesmes envelope, single quotes): one
    ``Cube time`` per day, like the daily file (one day) or the 90-day history."""
    cubes = "".join(
        f"\t\t<Cube time='{day}'>\n"
        + "".join(f"\t\t\t<Cube currency='{c}' rate='{r}'/>\n" for c, r in rates.items())
        + "\t\t</Cube>\n"
        for day, rates in days.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
        "\t<gesmes:subject>Reference rates</gesmes:subject>\n"
        "\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n"
        "\t</gesmes:Sender>\n"
        f"\t<Cube>\n{cubes}\t</Cube>\n"
        "</gesmes:Envelope>\n"
    )


def _handler(stand_in: ProviderStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stand_in.requests.append(self.path)
            answer = stand_in.answers.get(urlsplit(self.path).path)
            if answer is None:
                answer = Answer(b'{"error": true, "message": "not_found"}', status=404)
            if answer.delay and stand_in.closing.wait(answer.delay):
                return  # the test is over: nobody is waiting for this answer
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a slow answer (a timeout under test) is expected


@contextmanager
def provider_stand_in() -> Iterator[ProviderStandIn]:
    """A running stand-in on a free port of 127.0.0.1, stopped afterwards."""
    stand_in = ProviderStandIn()
    server = _Server(("127.0.0.1", 0), _handler(stand_in))
    stand_in.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="rates-provider", daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.closing.set()
        server.shutdown()
        server.server_close()
        thread.join()
