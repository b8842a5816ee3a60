"""Exact de-duplication at ingestion: one event per client id, one order per transaction.

Two indexes, combined by :class:`EventDedup` (what the pipeline uses):

- :class:`TransactionDedup`: a purchase or refund whose (tenant, type, transaction id) was
  accepted within the window (24 h) is dropped (seed 002). Kept as 64-bit digests, at most
  ``MAX_TRANSACTIONS`` of them.
- :class:`ClientIdDedup`: an event whose id the client chose (a Segment ``messageId``, a
  core ``id``: ``normalize.event_id`` makes those a UUIDv5) is dropped when that id was
  accepted within the window — an SDK retry counts once in every report at once, not
  "after a merge" (ReplacingMergeTree stays only the backstop).

Both drop duplicates of earlier events and of each other within one batch; dropped events
are answered like accepted ones. Both live in memory, per process, and are rebuilt at start
from what the store holds (received in the window) plus what the WAL replays — so they hold
across restarts without a write per event. Keys are claimed before the WAL append and
released if the append fails, so two concurrent retries cannot both get in.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from shoplens.ingest.event import DEDUPLICATED_TYPES, Event
from shoplens.store import Store

__all__ = [
    "MAX_CLIENT_IDS",
    "MAX_TRANSACTIONS",
    "ClientIdDedup",
    "EventDedup",
    "TransactionDedup",
    "client_key",
    "transaction_key",
]

_SCALAR_LOOKUPS = 4  # up to this many keys per claim, one binary search each

Keys = npt.NDArray[np.uint64]
Slices = npt.NDArray[np.uint32]

#: purchases/refunds remembered at most (a burst beyond it forgets the oldest first); at
#: ~70 bytes a key (measured) that is ~70 MB, whatever the length of the transaction ids
MAX_TRANSACTIONS = 1_000_000


def transaction_key(tenant_id: int, event_type: str, transaction_id: str) -> int:
    """The 64-bit key of (tenant, type, transaction id): the first 8 bytes of SHA-256 over
    ``tenant:type:id``, read big-endian — what ``TransactionDedup.load`` computes in SQL.

    A fixed-size key whatever the id's length (ids may be 2,048 characters): the index
    never holds the strings themselves.
    """
    text = f"{tenant_id}:{event_type}:{transaction_id}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def _key(event: Event) -> int | None:
    if event.event_type in DEDUPLICATED_TYPES and event.transaction_id:
        return transaction_key(event.tenant_id, event.event_type, event.transaction_id)
    return None


class TransactionDedup:
    """The purchases/refunds accepted within the window: 64-bit key → received_at (ms).

    Keys are digests (``transaction_key``), so an entry costs the same for any id length;
    at most ``max_entries`` are kept, the least recently claimed evicted first (the dict is
    kept in claim order). An evicted order's retry within the window is stored again (only
    a retry under the same client id is still caught) — the price of a bounded index.
    """

    def __init__(self, window_hours: float = 24.0, max_entries: int = MAX_TRANSACTIONS) -> None:
        self.window_ms = int(window_hours * 3600 * 1000)
        self.max_entries = max_entries
        self._seen: dict[int, int] = {}
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
                seen = self._seen.pop(key, None)  # re-inserted below: newest last
                if seen is not None and now_ms - seen < self.window_ms:
                    self._seen[key] = seen
                    continue
                self._remember(key, event.received_at)
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
                self._remember(key, max(self._seen.pop(key, 0), event.received_at))

    def load(self, store: Store, now_ms: int | None = None) -> int:
        """Rebuild from the store: every purchase/refund received within the window."""
        now_ms = now_ms or int(time.time() * 1000)
        # TRICKY: the key is ``transaction_key`` computed by ClickHouse (SHA256 is in every
        # build, chDB's too): the first 8 bytes read big-endian, hence the reverse before
        # the little-endian reinterpret. Oldest first, so the cap keeps the newest.
        table = store.query(
            "SELECT reinterpretAsUInt64(reverse(substring(SHA256(concat(toString(tenant_id), "
            "':', toString(event_type), ':', transaction_id)), 1, 8))) AS key, "
            "toUnixTimestamp64Milli(max(received_at)) AS received_ms FROM events "
            "WHERE event_type IN ('purchase', 'refund') AND transaction_id != '' "
            "AND received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            "GROUP BY key ORDER BY received_ms",
            {"since": now_ms - self.window_ms},
        )
        keys = table.column("key").to_numpy().tolist()
        received = table.column("received_ms").to_numpy().tolist()
        for key, received_ms in zip(keys, received, strict=True):
            self._remember(key, max(self._seen.pop(key, 0), received_ms))
        return len(keys)

    def _remember(self, key: int, received_at: int) -> None:
        self._seen[key] = received_at
        while len(self._seen) > self.max_entries:
            del self._seen[next(iter(self._seen))]

    def _prune(self, now_ms: int) -> None:
        if now_ms < self._next_prune:
            return
        self._next_prune = now_ms + 60_000
        cutoff = now_ms - self.window_ms
        self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}


#: client ids remembered at most (12 bytes each: ~240 MB), and at most in the current
#: slice's set (~80 bytes each: ~80 MB) before it is merged early
MAX_CLIENT_IDS = 20_000_000
MAX_HOT_CLIENT_IDS = 1_000_000


def client_key(event: Event) -> int | None:
    """The 64-bit key of an event whose id came from the client, else None.

    ``normalize.event_id`` makes a client's id a UUIDv5 of (tenant, id) and every other
    id a UUIDv7, so the version digit tells them apart. The key is the UUID's low 64 bits
    (62 of them SHA-1 output): the tenant is already hashed in, so keys of different
    tenants never need comparing as strings.
    """
    uid = event.event_id
    if len(uid) != 36 or uid[14] != "5":
        return None
    return int(uid[19:23] + uid[24:], 16)


class ClientIdDedup:
    """The client ids accepted within the window, as 64-bit keys in little memory.

    Time is cut into ``slices`` (1 h of a 24 h window). Keys of the current slice are in a
    Python set (fast to add and to release); when the slice ends they are merged into one
    sorted ``uint64`` array with a parallel ``uint32`` array of their slice numbers, where
    a lookup is a binary search. The merge also drops the slices that left the window, so
    a key is remembered for the window plus at most one slice. Cost (docs/architecture.md):
    12 bytes per key in the arrays, ~80 in the current slice's set; one merge per slice.

    Bounded: the set is merged early when it reaches ``hot_max_keys``, and the arrays keep
    at most ``max_keys`` keys — past that the keys of the oldest slices are forgotten
    first (their retries are stored again; ReplacingMergeTree's merge is the backstop).
    """

    def __init__(
        self,
        window_hours: float = 24.0,
        slices: int = 24,
        *,
        max_keys: int = MAX_CLIENT_IDS,
        hot_max_keys: int = MAX_HOT_CLIENT_IDS,
    ) -> None:
        self.window_ms = int(window_hours * 3600 * 1000)
        self.slice_ms = max(1, self.window_ms // slices)
        self.max_keys = max_keys
        self.hot_max_keys = min(hot_max_keys, max_keys)
        self._slices_kept = slices + 1
        self._hot: set[int] = set()
        self._hot_slice = -1
        self._keys: Keys = np.empty(0, dtype=np.uint64)  # sorted
        self._slice_of: Slices = np.empty(0, dtype=np.uint32)  # the slice each key was received in
        #: keys released after their slice was merged (an append that failed across a
        #: slice boundary); removed from the arrays at the next merge
        self._released: set[int] = set()

    def __len__(self) -> int:
        return len(self._hot) + len(self._keys) - len(self._released)

    def claim(self, events: list[Event], now_ms: int | None = None) -> list[Event]:
        """The events to keep; repeats of an accepted client id (or of each other) dropped."""
        now_ms = now_ms or int(time.time() * 1000)
        self._rotate(now_ms // self.slice_ms)
        keyed = [(event, client_key(event)) for event in events]
        merged = self._merged_hits([key for _, key in keyed if key is not None])
        kept = []
        for event, key in keyed:
            if key is not None:
                if key in self._hot or (key in merged and key not in self._released):
                    continue
                # A reclaimed released key stays in ``_released`` too: its old copy in
                # the arrays is dropped at the next merge, this one is in the set.
                self._hot.add(key)
            kept.append(event)
        self._bound_hot()
        return kept

    def release(self, events: Iterable[Event]) -> None:
        """Undo ``claim`` for events that were not stored after all."""
        for event in events:
            key = client_key(event)
            if key is None:
                continue
            if key in self._hot:
                self._hot.discard(key)
            else:
                self._released.add(key)

    def observe(self, events: Iterable[Event], now_ms: int | None = None) -> None:
        """Remember events accepted before this process claimed anything (WAL replay)."""
        self._rotate((now_ms or int(time.time() * 1000)) // self.slice_ms)
        for event in events:
            key = client_key(event)
            if key is not None:
                self._hot.add(key)
        self._bound_hot()

    def load(self, store: Store, now_ms: int | None = None) -> int:
        """Rebuild from the store: the client ids of every event received within the window."""
        now_ms = now_ms or int(time.time() * 1000)
        # TRICKY: the version digit of a UUID's text (position 15) is 5 for client ids;
        # the key is the low 8 bytes read big-endian, as ``client_key`` reads the hex —
        # UUIDStringToNum gives the RFC byte order and reinterpretAsUInt64 reads
        # little-endian, hence the reverse.
        table = store.query(
            "SELECT reinterpretAsUInt64(reverse(substring(UUIDStringToNum(toString(event_id)), "
            "9, 8))) AS key, intDiv(toUnixTimestamp64Milli(max(received_at)), {slice:Int64}) "
            "AS slice FROM events "
            "WHERE received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            "AND substring(toString(event_id), 15, 1) = '5' GROUP BY key ORDER BY key",
            {"since": now_ms - self.window_ms, "slice": self.slice_ms},
        )
        keys = table.column("key").to_numpy().astype(np.uint64)
        slice_of = table.column("slice").to_numpy().astype(np.uint32)
        self._merge(keys, slice_of, now_ms // self.slice_ms)
        return len(keys)

    def _merged_hits(self, keys: list[int]) -> set[int]:
        """Which of ``keys`` are in the sorted array (one vectorized binary search)."""
        if not keys or not len(self._keys):
            return set()
        if len(keys) <= _SCALAR_LOOKUPS:  # single-event requests: no temporary arrays
            last = len(self._keys) - 1
            hits = set()
            for key in keys:
                place = min(int(self._keys.searchsorted(np.uint64(key))), last)
                if int(self._keys[place]) == key:
                    hits.add(key)
            return hits
        wanted = np.array(keys, dtype=np.uint64)
        places = np.minimum(self._keys.searchsorted(wanted), len(self._keys) - 1)
        return {key for key, hit in zip(keys, self._keys[places] == wanted, strict=True) if hit}

    def _rotate(self, current: int) -> None:
        if current == self._hot_slice:
            return
        self._merge_hot(current)
        self._hot_slice = current

    def _bound_hot(self) -> None:
        """Merge the current slice's set early once it holds ``hot_max_keys`` keys."""
        if len(self._hot) >= self.hot_max_keys:
            self._merge_hot(self._hot_slice)

    def _merge_hot(self, current: int) -> None:
        if self._hot:
            keys = np.sort(np.fromiter(self._hot, dtype=np.uint64, count=len(self._hot)))
            self._merge(keys, np.full(len(keys), self._hot_slice, dtype=np.uint32), current)
            self._hot = set()

    def _merge(self, keys: Keys, slice_of: Slices, current: int) -> None:
        """Add sorted ``keys`` to the sorted arrays; drop the slices that left the window."""
        keep = self._slice_of > current - self._slices_kept
        if self._released:
            released = np.fromiter(self._released, dtype=np.uint64, count=len(self._released))
            keep &= ~np.isin(self._keys, released)
            self._released = set()
        old_keys, old_slices = self._keys[keep], self._slice_of[keep]
        # Both runs sorted (``keys`` by the caller): each new key's place is the old keys
        # before it plus its rank — a linear merge, not a sort of the whole index.
        at = old_keys.searchsorted(keys) + np.arange(len(keys))
        new = np.zeros(len(old_keys) + len(keys), dtype=bool)
        new[at] = True
        self._keys = np.empty(len(new), dtype=np.uint64)
        self._slice_of = np.empty(len(new), dtype=np.uint32)
        self._keys[at], self._keys[~new] = keys, old_keys
        self._slice_of[at], self._slice_of[~new] = slice_of, old_slices
        self._trim()

    def _trim(self) -> None:
        """Forget the keys of the oldest slices until at most ``max_keys`` are left."""
        over = len(self._keys) - self.max_keys
        if over <= 0:
            return
        threshold = np.partition(self._slice_of, over - 1)[over - 1]
        drop = self._slice_of < threshold
        ties = np.flatnonzero(self._slice_of == threshold)[: over - int(drop.sum())]
        drop[ties] = True
        self._keys, self._slice_of = self._keys[~drop], self._slice_of[~drop]


class EventDedup:
    """Both indexes, as the pipeline uses them: an event must pass each to be kept."""

    def __init__(self, window_hours: float = 24.0) -> None:
        self.transactions = TransactionDedup(window_hours)
        self.client_ids = ClientIdDedup(window_hours)

    def __len__(self) -> int:
        return len(self.transactions) + len(self.client_ids)

    def claim(self, events: list[Event], now_ms: int | None = None) -> list[Event]:
        fresh = self.client_ids.claim(events, now_ms)
        kept = self.transactions.claim(fresh, now_ms)
        if len(kept) != len(fresh):  # a repeated order under a new client id: not stored
            kept_ids = {id(event) for event in kept}
            self.client_ids.release(e for e in fresh if id(e) not in kept_ids)
        return kept

    def release(self, events: list[Event]) -> None:
        self.transactions.release(events)
        self.client_ids.release(events)

    def observe(self, events: list[Event]) -> None:
        self.transactions.observe(events)
        self.client_ids.observe(events)

    def load(self, store: Store, now_ms: int | None = None) -> int:
        return self.transactions.load(store, now_ms) + self.client_ids.load(store, now_ms)
