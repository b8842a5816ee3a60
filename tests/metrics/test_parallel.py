"""gather(): a report's independent statements run at the same time, results in order."""

from __future__ import annotations

import threading
import time

import pytest

from shoplens.metrics import parallel
from shoplens.metrics.parallel import gather
from shoplens.store import Store


def test_results_come_back_in_call_order() -> None:
    assert gather(lambda: 1, lambda: "two", lambda: [3], lambda: None) == (1, "two", [3], None)


def test_calls_really_overlap() -> None:
    # Each call waits for all three to have started: run one after another, they would
    # break the barrier (timeout) instead of passing it.
    barrier = threading.Barrier(3, timeout=5)
    names: list[str] = []

    def call() -> str:
        barrier.wait()
        names.append(threading.current_thread().name)
        return "ok"

    assert gather(call, call, call) == ("ok", "ok", "ok")
    assert len(set(names)) == 3  # the caller's thread and two pool workers


def test_an_error_is_raised_after_every_call_ended() -> None:
    finished = threading.Event()

    def slow() -> int:
        time.sleep(0.2)
        finished.set()
        return 1

    def boom() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        gather(boom, slow)
    assert finished.is_set()
    with pytest.raises(ValueError, match="boom"):
        gather(slow, boom)


def test_nested_gather_on_a_worker_runs_in_line_and_cannot_deadlock() -> None:
    # More nested calls than the pool has workers: were they queued to the pool from
    # workers that wait for them, a full pool would never run them.
    def inner() -> tuple[str, ...]:
        return gather(*(lambda: threading.current_thread().name for _ in range(3)))

    results = gather(*(inner for _ in range(4)))
    for names in results[1:]:
        assert len(set(names)) == 1  # each worker ran its three calls itself
    assert parallel.WORKERS < 4 * 3


def test_statements_from_pool_threads_see_the_same_store(store: Store) -> None:
    # Each worker opens its own connection to the store's one data path.
    results = gather(*(lambda: store.query("SELECT 41 + 1 AS x").to_pylist() for _ in range(4)))
    assert results == ([{"x": 42}],) * 4
