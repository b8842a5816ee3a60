"""How an export's bytes reach the client: paced by the reader, bounded, cleaned up.

Two parts, used by ``GET /analytics/export`` (:mod:`shoplens.api.export`):

- :class:`ExportSlots`: at most ``export_concurrency`` exports per tenant at a time (each
  holds a store stream and its engine buffers); one more is a 429 with ``Retry-After``.
- :class:`PacedStream`: the response. It makes the next chunk (in a worker thread) only
  once the client has taken the previous one, hands chunks to the server in pieces of
  :data:`WRITE_BYTES`, and gives up on a client that takes no piece for
  ``export_write_timeout`` seconds. However it ends — done, the client gone, the timeout, an
  error — the chunk generator is closed (the store's query cancelled, its connection
  closed), the slot is freed and the store hands freed memory back.

TRICKY: the pacing is uvicorn's flow control: ``send`` waits while the socket's write
buffer is over its high-water mark (64 KiB) and returns at once otherwise, so the
process holds at most that buffer, one piece and the chunk being sent per export. A
``StreamingResponse`` over a sync iterator paces the same way, but on a disconnect it is
cancelled without closing the iterator (the query and its files stay open until garbage
collection) and it waits forever on a client that stops reading.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable, Generator, Mapping

import anyio
import pyarrow as pa
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shoplens.errors import TooManyRequests

log = logging.getLogger(__name__)

#: Bytes handed to the server per ``send``: a piece of a chunk, so a stalled client's
#: socket buffer holds at most the high-water mark plus one piece.
WRITE_BYTES = 65_536
#: ``Retry-After`` seconds when a tenant already runs its concurrent exports.
RETRY_AFTER_SECONDS = 30


class ExportSlots:
    """Concurrent exports per tenant, counted in memory (per process)."""

    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._running: dict[int, int] = {}
        self._lock = threading.Lock()

    def take(self, tenant_id: int) -> Callable[[], None]:
        """Take one of the tenant's slots; returns its release (safe to call twice).
        A 429 naming the limit when all are taken."""
        with self._lock:
            running = self._running.get(tenant_id, 0)
            if running >= self.per_tenant:
                raise TooManyRequests(
                    f"Too many concurrent exports: at most {self.per_tenant} per tenant "
                    "at a time; retry when one has finished",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            self._running[tenant_id] = running + 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                left = self._running.get(tenant_id, 1) - 1
                if left > 0:
                    self._running[tenant_id] = left
                else:
                    self._running.pop(tenant_id, None)

        return release

    def running(self, tenant_id: int) -> int:
        """Exports of the tenant now running."""
        with self._lock:
            return self._running.get(tenant_id, 0)


class PacedStream(Response):
    """A streamed 200 whose chunks are made as the client takes them (see module doc).

    ``on_close`` runs once, in a worker thread, after ``chunks`` is closed, however the
    response ends (also if it never starts being sent: call :meth:`close`).
    """

    def __init__(
        self,
        chunks: Generator[bytes, None, None],
        *,
        write_timeout: float,
        on_close: Callable[[], None],
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        self.chunks = chunks
        self.write_timeout = write_timeout
        self.on_close = on_close
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        self._closed = threading.Event()

    def close(self) -> None:
        """Close the chunks (ending the store's query) and run ``on_close``; once."""
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self.chunks.close()
        finally:
            self.on_close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream_then_stop() -> None:
                    await self._stream(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream_then_stop)
                await _until_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.close)

    async def _stream(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        while True:
            try:
                chunk = await anyio.to_thread.run_sync(next, self.chunks, None)
            except Exception:
                # Headers are gone: all a client can be told is a cut-off body.
                log.exception("export failed while streaming; response cut off")
                return
            if chunk is None:
                break
            for start in range(0, len(chunk), WRITE_BYTES):
                piece = chunk[start : start + WRITE_BYTES]
                try:
                    with anyio.fail_after(self.write_timeout):
                        await send({"type": "http.response.body", "body": piece, "more_body": True})
                except TimeoutError:
                    log.warning(
                        "export cancelled: the client took nothing for %ss", self.write_timeout
                    )
                    return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return trim


_MALLOC_TRIM = _malloc_trim()


def give_back_memory() -> None:
    """Return this process's freed export buffers to the operating system.

    TRICKY: after a large response, freed memory stays with the allocators for reuse:
    Arrow's pool keeps the batches' buffers, and glibc keeps the chunks' (its mmap
    threshold rises to the size of the big blocks freed, so later ones come from the heap,
    which it trims only on request). The engine's own allocator is the store's
    ``release_memory``. Measured on a stalled export: 100 MB or more kept without these.
    """
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:  # glibc only (musl and others have no malloc_trim)
        _MALLOC_TRIM(0)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
