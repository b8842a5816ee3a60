"""Connection limits at the socket: header size, header and body read times, keep-alive.

uvicorn (its httptools protocol, which ``uvicorn[standard]`` selects) enforces none of
these: a 100 MB header is buffered and answered, a client trickling a header a byte at a
time or sending a body shorter than its ``Content-Length`` holds a connection (and its
buffers) for as long as it likes, and a connection that never sends anything is never
closed. :class:`GuardedHttpProtocol` is uvicorn's protocol with four limits added, read
from :class:`ConnectionLimits` (``SHOPLENS_*`` settings and ``shoplens serve`` flags,
docs/operations.md "Limits"):

- ``max_header_bytes``: the request line and headers together; past it the server answers
  ``431`` and closes (while the head is still arriving it stops reading at the first chunk
  past the limit, so memory stays bounded whatever the client sends);
- ``header_timeout``: seconds from a connection opening, or from the first byte of a
  request on a kept-alive one, until its head is complete; past it ``408`` and close;
- ``body_timeout``: seconds from the end of the head until the body is complete (a body
  shorter than its ``Content-Length``, a stalled upload); past it ``408`` (if the app
  has not answered yet) and close;
- ``keep_alive_timeout``: seconds an idle connection is kept between requests.

Errors use the one error shape (``{"ok": false, "error": …, "field": null}``), written
straight to the socket: the request never reached the app.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from shoplens.config import Settings


@dataclass(frozen=True)
class ConnectionLimits:
    """The limits one connection is held to (see the module docstring)."""

    max_header_bytes: int = 32 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            keep_alive_timeout=settings.keep_alive_timeout,
        )


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that broke a limit."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol held to :attr:`limits`; use :func:`protocol_for`."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn arms its keep-alive timer with this attribute (its setting is whole seconds).
        self.timeout_keep_alive = self.limits.keep_alive_timeout  # type: ignore[assignment]
        self._in_head = True  # between the end of one request and the end of the next head
        self._head_open = False  # between the first byte of a request and the end of its head
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str] | None = None

    # connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        if self._in_head and self._head_timer is None:
            self._arm_head_timer()
        head_was_open = self._head_open
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(*self._refusal)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if self._head_open:
            # The head is still arriving: refuse before buffering more than the limit (plus
            # the one chunk just read), however long a header the client goes on sending.
            # A chunk that began the head may also end a previous request: count only what
            # the parser has taken of this head so far (the header being read excluded).
            self._head_bytes += len(data) if head_was_open else self._parsed_head_bytes()
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, self._too_large())

    # parser callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = self._head_open = False
        self._cancel_head_timer()
        if self._parsed_head_bytes() > self.limits.max_header_bytes:
            self._refusal = (431, self._too_large())
            raise _Refused  # httptools stops parsing; data_received answers the refusal
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)

    def on_message_complete(self) -> None:
        self._cancel_body_timer()
        self._in_head = True
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timers()  # the WebSocket protocol owns the connection from here
        super().handle_websocket_upgrade()

    # limits -------------------------------------------------------------------------------
    def _parsed_head_bytes(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _too_large(self) -> str:
        return f"Request header fields too large: over {self.limits.max_header_bytes} bytes"

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a pipelined head: no 408 in the middle of a response
            return
        seconds = self.limits.header_timeout
        self._refuse(408, f"Request header not received within {seconds:g} seconds")

    def _body_late(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.disconnected = True  # the app's answer, if it comes, is dropped
            cycle.message_event.set()  # its pending receive() reports the disconnect
            seconds = self.limits.body_timeout
            self._refuse(408, f"Request body not received within {seconds:g} seconds")
        else:
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` in the one error shape and close the connection."""
        self._cancel_timers()
        self.logger.info("connection closed: %s", message)  # no address: docs/privacy.md
        body = json.dumps({"ok": False, "error": message, "field": None}).encode()
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()


def protocol_for(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """The protocol class to give uvicorn (``http=``), held to ``limits``."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})
