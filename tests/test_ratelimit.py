"""The sliding-window limiter, on a clock the tests move by hand."""

from __future__ import annotations

import pytest

from shoplens.ratelimit import SlidingWindow, Verdict


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_limit_holds_and_remaining_counts_down() -> None:
    limiter = SlidingWindow(clock=Clock())
    verdicts = [limiter.hit("k", limit=3) for _ in range(4)]
    assert [(v.allowed, v.remaining) for v in verdicts] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    assert verdicts[-1].limit == 3


def test_a_refused_hit_counts_nothing() -> None:
    clock = Clock(1_000.0)
    limiter = SlidingWindow(clock=clock)
    limiter.hit("k", limit=2)
    limiter.hit("k", limit=2)
    for _ in range(5):
        assert not limiter.hit("k", limit=2).allowed
    clock.now += 60  # both units have left the window; the refusals never entered it
    assert limiter.hit("k", limit=2).remaining == 1


def test_a_burst_is_not_refilled_until_its_slot_leaves_the_window() -> None:
    """Unlike a token bucket, 100 units in one second stay counted for the whole minute."""
    clock = Clock(1_000.0)
    limiter = SlidingWindow(clock=clock)
    for _ in range(100):
        assert limiter.hit("tenant", limit=100).allowed
    clock.now += 59.5
    refused = limiter.hit("tenant", limit=100)
    assert not refused.allowed
    assert refused.retry_after == 1  # the burst's slot (1000 .. 1001) leaves at 1060
    clock.now += 0.5
    assert limiter.hit("tenant", limit=100).allowed


def test_retry_after_waits_only_for_the_slots_that_must_leave() -> None:
    clock = Clock(1_000.0)
    limiter = SlidingWindow(clock=clock)
    limiter.hit("k", limit=3)  # slot 1000, leaves at 1060
    clock.now = 1_010.0
    limiter.hit("k", limit=3)  # slot 1010, leaves at 1070
    clock.now = 1_020.0
    limiter.hit("k", limit=3)  # slot 1020, leaves at 1080
    clock.now = 1_030.0
    refused = limiter.hit("k", limit=3)
    assert (refused.allowed, refused.retry_after) == (False, 30)
    assert refused.reset == 50  # every unit gone when slot 1020 leaves
    assert limiter.hit("k", limit=3, cost=2).retry_after == 40  # two must leave


def test_keys_are_counted_apart() -> None:
    limiter = SlidingWindow(clock=Clock())
    assert limiter.hit("a", limit=1).allowed
    assert not limiter.hit("a", limit=1).allowed
    assert limiter.hit("b", limit=1).allowed


def test_the_limit_is_read_per_hit() -> None:
    """A plan upgrade takes effect on the next request, with what was used still counted."""
    limiter = SlidingWindow(clock=Clock())
    for _ in range(3):
        limiter.hit("k", limit=3)
    assert not limiter.hit("k", limit=3).allowed
    upgraded = limiter.hit("k", limit=10)
    assert (upgraded.allowed, upgraded.remaining) == (True, 6)


def test_a_cost_over_the_limit_never_fits() -> None:
    limiter = SlidingWindow(clock=Clock())
    verdict = limiter.hit("k", limit=5, cost=6)
    assert (verdict.allowed, verdict.remaining, verdict.retry_after) == (False, 5, 60)


def test_idle_keys_are_forgotten_when_the_key_table_is_full() -> None:
    clock = Clock(1_000.0)
    limiter = SlidingWindow(clock=clock, max_keys=2)
    limiter.hit("old", limit=1)
    clock.now += 61
    limiter.hit("active", limit=1)
    limiter.hit("new", limit=1)  # the table is full: "old" is idle and goes
    assert set(limiter._usage) == {"active", "new"}
    assert not limiter.hit("active", limit=1).allowed  # an active key keeps its count


def test_headers() -> None:
    verdict = Verdict(allowed=True, limit=10, remaining=7, reset=42, retry_after=0)
    assert verdict.headers() == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "7",
        "X-RateLimit-Reset": "42",
    }


@pytest.mark.parametrize(("limit", "cost"), [(0, 1), (1, 0)])
def test_limit_and_cost_must_be_positive(limit: int, cost: int) -> None:
    with pytest.raises(ValueError):
        SlidingWindow().hit("k", limit=limit, cost=cost)
