"""A sliding-window rate limiter: at most ``limit`` units per ``window`` seconds per key.

The window is cut into ``slots`` equal sub-windows (by default 60 one-second slots of a
minute) and each key keeps a count per slot it used. A unit counts until its slot is
``window`` seconds old, so the limit holds over any window, to a slot's precision, and a
burst is not refilled bit by bit as a token bucket would: 100 requests in one second
followed by a 101st is refused until the first second's slot leaves the window. Memory is
at most ``slots`` counters per active key.

State is in memory, per process: a limit is per server process, and it starts afresh when
the process restarts. Thread-safe (one lock; routes call it from the event loop and from
the thread pool).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    """One hit's answer, with what the ``X-RateLimit-*`` headers report."""

    allowed: bool
    limit: int
    #: units left in the window after this hit
    remaining: int
    #: seconds until every unit now in the window has left it (the limit is whole again)
    reset: int
    #: seconds until this hit would be allowed (0 when it was)
    retry_after: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


@dataclass
class _Usage:
    slots: deque[list[int]] = field(default_factory=deque)  # [slot number, units], oldest first
    total: int = 0


class SlidingWindow:
    """Per-key counters over a sliding window. ``limit`` is given per hit, so a key's limit
    follows its tenant's plan when the plan changes."""

    def __init__(
        self,
        window: float = 60.0,
        slots: int = 60,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if window <= 0 or slots < 1:
            raise ValueError("window must be positive and slots at least 1")
        self.window = window
        self.slots = slots
        self.slot_seconds = window / slots
        self.clock = clock
        self.max_keys = max_keys
        self._usage: dict[Hashable, _Usage] = {}
        self._lock = threading.Lock()

    def hit(self, key: Hashable, limit: int, cost: int = 1) -> Verdict:
        """Count ``cost`` units for ``key`` if they fit under ``limit``; say so either way."""
        if limit < 1 or cost < 1:
            raise ValueError("limit and cost must be at least 1")
        now = self.clock()
        slot = math.floor(now / self.slot_seconds)
        with self._lock:
            usage = self._usage.get(key)
            if usage is None:
                if len(self._usage) >= self.max_keys:
                    self._forget_idle(slot)
                usage = self._usage[key] = _Usage()
            self._expire(usage, slot)
            allowed = usage.total + cost <= limit
            if allowed:
                if usage.slots and usage.slots[-1][0] == slot:
                    usage.slots[-1][1] += cost
                else:
                    usage.slots.append([slot, cost])
                usage.total += cost
            retry_after = 0 if allowed else self._wait(usage, limit, cost, now)
            reset = self._until_gone(usage.slots[-1][0], now) if usage.slots else 0
            return Verdict(
                allowed=allowed,
                limit=limit,
                remaining=max(limit - usage.total, 0),
                reset=reset,
                retry_after=retry_after,
            )

    def _expire(self, usage: _Usage, slot: int) -> None:
        while usage.slots and usage.slots[0][0] <= slot - self.slots:
            usage.total -= usage.slots.popleft()[1]

    def _until_gone(self, slot: int, now: float) -> int:
        """Whole seconds (at least 1) until ``slot`` has left the window."""
        return max(1, math.ceil((slot + self.slots) * self.slot_seconds - now))

    def _wait(self, usage: _Usage, limit: int, cost: int, now: float) -> int:
        """Seconds until enough old slots leave the window for ``cost`` more units."""
        if cost > limit:
            return math.ceil(self.window)  # never fits; say "a window from now"
        freed = 0
        for slot, units in usage.slots:
            freed += units
            if usage.total - freed + cost <= limit:
                return self._until_gone(slot, now)
        return 1  # unreachable: expiring every slot frees the whole limit

    def _forget_idle(self, slot: int) -> None:
        """Drop keys with nothing left in the window; if all are active, start afresh
        (a bound on memory matters more than a few keys' counts)."""
        idle = [
            k for k, u in self._usage.items() if not u.slots or u.slots[-1][0] <= slot - self.slots
        ]
        for key in idle:
            del self._usage[key]
        if len(self._usage) >= self.max_keys:
            self._usage.clear()
