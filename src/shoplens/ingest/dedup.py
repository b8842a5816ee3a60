"""Purchase and refund de-duplication by ``transaction_id`` (seed 002).

A purchase or refund whose (tenant, type, transaction id) was accepted within the window
(24 h) is dropped and answered like an accepted event. The index lives in memory and is
rebuilt at start from what the store holds (received in the window) plus what the WAL
replays — so it holds across restarts without a write per purchase. Keys are claimed
before the WAL append and released if the append fails, so two concurrent retries of one
order cannot both get in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from shoplens.ingest.event import DEDUPLICATED_TYPES, Event
from shoplens.store import Store

Key = tuple[int, str, str]


def _key(event: Event) -> Key | None:
    if event.event_type in DEDUPLICATED_TYPES and event.transaction_id:
        return (event.tenant_id, event.event_type, event.transaction_id)
    return None


class TransactionDedup:
    def __init__(self, window_hours: float = 24.0) -> None:
        self.window_ms = int(window_hours * 3600 * 1000)
        self._seen: dict[Key, int] = {}
        self._next_prune = 0

    def __len__(self) -> int:
        return len(self._seen)

    def claim(self, events: list[Event], now_ms: int | None = None) -> list[Event]:
        """The events to keep; duplicates (of earlier events or of each other) dropped."""
        now_ms = now_ms or int(time.time() * 1000)
        self._prune(now_ms)
        kept = []
        for event in events:
            key = _key(event)
            if key is not None:
                seen = self._seen.get(key)
                if seen is not None and now_ms - seen < self.window_ms:
                    continue
                self._seen[key] = event.received_at
            kept.append(event)
        return kept

    def release(self, events: Iterable[Event]) -> None:
        """Undo ``claim`` for events that were not stored after all."""
        for event in events:
            key = _key(event)
            if key is not None and self._seen.get(key) == event.received_at:
                del self._seen[key]

    def observe(self, events: Iterable[Event]) -> None:
        for event in events:
            key = _key(event)
            if key is not None:
                self._seen[key] = max(self._seen.get(key, 0), event.received_at)

    def load(self, store: Store, now_ms: int | None = None) -> int:
        """Rebuild from the store: every purchase/refund received within the window."""
        now_ms = now_ms or int(time.time() * 1000)
        rows = store.query(
            "SELECT tenant_id, event_type, transaction_id, "
            "toUnixTimestamp64Milli(max(received_at)) AS received_ms FROM events "
            "WHERE event_type IN ('purchase', 'refund') AND transaction_id != '' "
            "AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            "GROUP BY tenant_id, event_type, transaction_id",
            {"since": now_ms - self.window_ms},
        ).to_pylist()
        for row in rows:
            key = (row["tenant_id"], row["event_type"], row["transaction_id"])
            self._seen[key] = max(self._seen.get(key, 0), row["received_ms"])
        return len(rows)

    def _prune(self, now_ms: int) -> None:
        if now_ms < self._next_prune:
            return
        self._next_prune = now_ms + 60_000
        cutoff = now_ms - self.window_ms
        self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}
