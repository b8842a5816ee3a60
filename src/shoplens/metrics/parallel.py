"""Run a report's independent queries at the same time.

A report that sends several statements (sales: totals, the previous period's totals, the
cart rates and the series) would otherwise pay for them one after another. Each store keeps
one connection (chDB) or client (server) per thread, and a query releases the GIL while the
engine works, so statements sent from different threads really run side by side: on chDB
the engine's own threads share the cores, and the request waits for the slowest statement
instead of the sum.

TRICKY: the pool is shared by every request of the process and small on purpose. Each
worker thread opens its own store connection the first time it runs a query and keeps it
(``threading.local`` in the stores; opening one costs ~25 ms on chDB, once per thread).
A call that itself uses :func:`gather` while running
on the pool runs its calls one after another: a worker waiting for work queued behind it
could deadlock a full pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, overload

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")

#: Worker threads, shared by all requests. A few statements per request are enough to
#: overlap one request's statements; more would only add connections.
WORKERS = 8

_worker = threading.local()


def _mark_worker() -> None:
    _worker.active = True


_pool = ThreadPoolExecutor(
    max_workers=WORKERS, thread_name_prefix="shoplens-query", initializer=_mark_worker
)


@overload
def gather(a: Callable[[], A], b: Callable[[], B], /) -> tuple[A, B]: ...
@overload
def gather(a: Callable[[], A], b: Callable[[], B], c: Callable[[], C], /) -> tuple[A, B, C]: ...
@overload
def gather(
    a: Callable[[], A], b: Callable[[], B], c: Callable[[], C], d: Callable[[], D], /
) -> tuple[A, B, C, D]: ...
@overload
def gather(*calls: Callable[[], A]) -> tuple[A, ...]: ...
def gather(*calls: Callable[[], Any]) -> tuple[Any, ...]:
    """Run ``calls`` concurrently (the first in this thread, the rest on the pool) and
    return their results in order. When calls fail, the error of the first failing one in
    argument order is raised, after every call has ended."""
    if getattr(_worker, "active", False):
        return tuple(call() for call in calls)
    futures = [_pool.submit(call) for call in calls[1:]]
    try:
        first = calls[0]()
    finally:
        # Wait for every call even when one failed, so none outlives the request.
        for future in futures:
            future.exception()
    return (first, *(future.result() for future in futures))
