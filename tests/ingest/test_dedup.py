"""Purchase/refund de-duplication by transaction id, in memory and rebuilt from the store."""

from __future__ import annotations

import time
import tracemalloc
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from shoplens.ingest.columns import events_table
from shoplens.ingest.context import IngestContext
from shoplens.ingest.dedup import (
    ClientIdDedup,
    EventDedup,
    TransactionDedup,
    client_key,
    transaction_key,
)
from shoplens.ingest.event import Event
from shoplens.ingest.normalize import event_id
from shoplens.meta import Tenant
from shoplens.store import Store

HOUR_MS = 3_600_000
T0 = 1_760_000_000_000  # a fixed "now" (epoch ms) for the in-memory tests
TENANT = Tenant(
    id=1,
    name="Acme",
    base_currency="USD",
    timezone="UTC",
    plan="pro",
    created_at="2024-01-01T00:00:00+00:00",
)


def event(
    tenant_id: int, event_type: str = "purchase", transaction_id: str = "T-1", at: int = T0
) -> Event:
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_name=event_type,
        source="test",
        timestamp=at,
        received_at=at,
        transaction_id=transaction_id,
        revenue=1999,
    )


def ids(events: list[Event]) -> list[str]:
    return [e.event_id for e in events]


def store_events(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"test-dedup-{uuid.uuid4()}")


# in memory ---------------------------------------------------------------------------------


def test_a_repeated_purchase_within_the_window_is_dropped() -> None:
    dedup = TransactionDedup(window_hours=24)
    first, again = event(1), event(1, at=T0 + HOUR_MS)

    assert ids(dedup.claim([first], now_ms=T0)) == ids([first])
    assert dedup.claim([again], now_ms=T0 + HOUR_MS) == []
    assert len(dedup) == 1


def test_a_repeat_within_one_batch_is_dropped() -> None:
    dedup = TransactionDedup()
    a, b, other = event(1), event(1), event(1, transaction_id="T-2")

    assert ids(dedup.claim([a, b, other], now_ms=T0)) == ids([a, other])


def test_a_repeat_after_the_window_is_kept() -> None:
    dedup = TransactionDedup(window_hours=24)
    dedup.claim([event(1)], now_ms=T0)
    late_at = T0 + 24 * HOUR_MS
    late = event(1, at=late_at)

    assert ids(dedup.claim([late], now_ms=late_at)) == ids([late])
    # and the window restarts from the kept one
    assert dedup.claim([event(1, at=late_at + 1)], now_ms=late_at + 1) == []


def test_the_window_is_configurable() -> None:
    dedup = TransactionDedup(window_hours=1)
    dedup.claim([event(1)], now_ms=T0)

    assert dedup.claim([event(1)], now_ms=T0 + HOUR_MS - 1) == []
    assert len(dedup.claim([event(1)], now_ms=T0 + HOUR_MS)) == 1


def test_purchase_and_refund_with_one_transaction_id_are_both_kept() -> None:
    dedup = TransactionDedup()
    purchase, refund = event(1, "purchase"), event(1, "refund")

    assert ids(dedup.claim([purchase, refund], now_ms=T0)) == ids([purchase, refund])
    assert dedup.claim([event(1, "refund")], now_ms=T0) == []  # a second refund is not


def test_tenants_are_deduplicated_separately() -> None:
    dedup = TransactionDedup()
    mine, theirs = event(1), event(2)

    assert ids(dedup.claim([mine, theirs], now_ms=T0)) == ids([mine, theirs])
    assert dedup.claim([event(1), event(2)], now_ms=T0) == []


def test_other_event_types_and_missing_transaction_ids_are_never_dropped() -> None:
    dedup = TransactionDedup()
    events = [
        event(1, "add_to_cart"),
        event(1, "add_to_cart"),
        event(1, "begin_checkout"),
        event(1, "purchase", transaction_id=""),
        event(1, "purchase", transaction_id=""),
    ]

    assert ids(dedup.claim(events, now_ms=T0)) == ids(events)
    assert len(dedup) == 0


def test_release_undoes_a_claim_so_a_retry_is_accepted() -> None:
    dedup = TransactionDedup()
    failed = dedup.claim([event(1), event(1, "refund"), event(1, "view_item")], now_ms=T0)

    dedup.release(failed)  # the WAL append failed: nothing was stored

    assert len(dedup) == 0
    retry = [event(1), event(1, "refund")]
    assert ids(dedup.claim(retry, now_ms=T0)) == ids(retry)


def test_release_of_a_dropped_duplicate_keeps_the_original_claim() -> None:
    dedup = TransactionDedup()
    dedup.claim([event(1, at=T0)], now_ms=T0)
    duplicate = event(1, at=T0 + 5)

    dedup.release([duplicate])  # not the event that holds the claim

    assert dedup.claim([event(1)], now_ms=T0 + 10) == []


def test_observe_claims_replayed_events() -> None:
    dedup = TransactionDedup()
    dedup.observe([event(1, at=T0), event(2, "refund", at=T0)])

    assert dedup.claim([event(1), event(2, "refund")], now_ms=T0 + HOUR_MS) == []
    assert len(dedup.claim([event(2, "purchase")], now_ms=T0 + HOUR_MS)) == 1


def test_entries_older_than_the_window_are_pruned() -> None:
    dedup = TransactionDedup(window_hours=1)
    dedup.claim([event(1, transaction_id=f"T-{i}") for i in range(5)], now_ms=T0)
    assert len(dedup) == 5

    dedup.claim([], now_ms=T0 + 2 * HOUR_MS)

    assert len(dedup) == 0


def test_memory_per_purchase_does_not_grow_with_the_transaction_ids_length() -> None:
    # 2,048-character transaction ids (the string cap) once cost ~3 KB a purchase: the
    # index kept the (tenant, type, id) tuples with the ids themselves.
    dedup, purchases = TransactionDedup(), 5_000

    def fill() -> None:
        batch = [event(1, transaction_id=f"{n:06d}" + "x" * 2_042) for n in range(purchases)]
        assert len(dedup.claim(batch, now_ms=T0)) == purchases

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fill()
        per_purchase = (tracemalloc.get_traced_memory()[0] - before) / purchases
    finally:
        tracemalloc.stop()
    assert len(dedup) == purchases
    assert per_purchase < 200, per_purchase  # a 64-bit key and a time in a dict slot


def test_the_index_keeps_at_most_max_entries_forgetting_the_oldest_first() -> None:
    dedup = TransactionDedup(max_entries=100)
    for n in range(250):
        dedup.claim([event(1, transaction_id=f"T-{n}", at=T0 + n)], now_ms=T0 + n)
    assert len(dedup) == 100
    assert dedup.claim([event(1, transaction_id="T-249")], now_ms=T0 + 300) == []  # newest
    assert dedup.claim([event(1, transaction_id="T-150")], now_ms=T0 + 300) == []
    assert len(dedup.claim([event(1, transaction_id="T-149")], now_ms=T0 + 300)) == 1  # gone


def test_a_claim_refreshes_an_entry_so_eviction_takes_the_least_recently_claimed() -> None:
    dedup = TransactionDedup(max_entries=2)
    dedup.claim([event(1, transaction_id="old")], now_ms=T0)
    dedup.claim([event(1, transaction_id="mid")], now_ms=T0 + 1)
    assert dedup.claim([event(1, transaction_id="old")], now_ms=T0 + 2) == []  # a retry
    dedup.claim([event(1, transaction_id="new")], now_ms=T0 + 3)  # evicts "mid"
    assert dedup.claim([event(1, transaction_id="old")], now_ms=T0 + 4) == []
    assert len(dedup.claim([event(1, transaction_id="mid")], now_ms=T0 + 5)) == 1


def test_transaction_keys_depend_on_tenant_type_and_id() -> None:
    keys = {
        transaction_key(1, "purchase", "T-1"),
        transaction_key(2, "purchase", "T-1"),
        transaction_key(1, "refund", "T-1"),
        transaction_key(1, "purchase", "T-2"),
        transaction_key(12, "purchase", ":T-2"),
    }
    assert len(keys) == 5 and all(0 <= key < 2**64 for key in keys)


# rebuilt from the store --------------------------------------------------------------------


def test_load_rebuilds_the_index_from_the_store(
    store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant, other = make_tenant().id, make_tenant().id
    now = int(time.time() * 1000)
    store_events(
        store,
        [
            event(tenant, "purchase", "A-1", at=now - HOUR_MS),
            event(tenant, "refund", "A-1", at=now - 2 * HOUR_MS),
            event(tenant, "purchase", "A-2", at=now - 23 * HOUR_MS),
            event(tenant, "add_to_cart", "A-3", at=now),
        ],
    )

    dedup = TransactionDedup(window_hours=24)
    assert dedup.load(store) >= 3

    assert dedup.claim([event(tenant, "purchase", "A-1", at=now)]) == []
    assert dedup.claim([event(tenant, "refund", "A-1", at=now)]) == []
    assert dedup.claim([event(tenant, "purchase", "A-2", at=now)]) == []
    # not purchases/refunds, other tenants, other ids: kept
    assert len(dedup.claim([event(tenant, "add_to_cart", "A-3", at=now)])) == 1
    assert len(dedup.claim([event(tenant, "purchase", "A-3", at=now)])) == 1
    assert len(dedup.claim([event(other, "purchase", "A-1", at=now)])) == 1


def test_load_skips_what_was_received_before_the_window(
    store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant = make_tenant().id
    now = int(time.time() * 1000)
    store_events(store, [event(tenant, "purchase", "OLD-1", at=now - 25 * HOUR_MS)])

    dedup = TransactionDedup(window_hours=24)
    dedup.load(store)

    assert len(dedup.claim([event(tenant, "purchase", "OLD-1", at=now)])) == 1


def test_load_uses_the_latest_receipt_of_a_transaction(
    store: Store, make_tenant: Callable[..., Any]
) -> None:
    """Stored twice (e.g. through an import): the window runs from the later receipt."""
    tenant = make_tenant().id
    now = int(time.time() * 1000)
    store_events(
        store,
        [
            event(tenant, "purchase", "TWICE", at=now - 20 * HOUR_MS),
            event(tenant, "purchase", "TWICE", at=now - HOUR_MS),
        ],
    )

    dedup = TransactionDedup(window_hours=24)
    dedup.load(store)

    # 25 h after the first receipt, 6 h after the second: still a duplicate
    assert dedup.claim([event(tenant, "purchase", "TWICE")], now_ms=now + 5 * HOUR_MS) == []
    assert len(dedup.claim([event(tenant, "purchase", "TWICE")], now_ms=now + 23 * HOUR_MS)) == 1


# client-supplied ids (Segment messageId, core id) ------------------------------------------


def client_event(
    tenant_id: int, client_id: str, at: int = T0, event_type: str = "page_view", tx: str = ""
) -> Event:
    """An event as the formats build it from a client's id (``normalize.event_id``)."""
    ctx = IngestContext(tenant=replace(TENANT, id=tenant_id))
    return Event(
        tenant_id=tenant_id,
        event_id=event_id(ctx, client_id),
        event_type=event_type,
        event_name=event_type,
        source="test",
        timestamp=at,
        received_at=at,
        transaction_id=tx,
    )


def test_client_key_is_only_for_ids_the_client_chose() -> None:
    assert client_key(client_event(1, "m-1")) is not None
    assert client_key(client_event(1, "m-1")) == client_key(client_event(1, "m-1"))
    assert client_key(client_event(1, "m-1")) != client_key(client_event(2, "m-1"))
    server_made = event_id(IngestContext(tenant=TENANT), None)  # a UUIDv7
    assert client_key(replace_id(client_event(1, "m-1"), server_made)) is None
    assert client_key(event(1)) is None  # a random UUIDv4


def replace_id(original: Event, new_id: str) -> Event:
    original.event_id = new_id
    return original


def test_a_resent_client_id_is_dropped_in_later_and_in_the_same_batch() -> None:
    dedup = ClientIdDedup()
    first, again, other = client_event(1, "m-1"), client_event(1, "m-1"), client_event(1, "m-2")

    assert ids(dedup.claim([first, again, other], now_ms=T0)) == ids([first, other])
    assert dedup.claim([client_event(1, "m-1", at=T0 + 5)], now_ms=T0 + 5) == []
    assert len(dedup) == 2


def test_events_without_a_client_id_are_never_dropped() -> None:
    dedup = ClientIdDedup()
    events = [event(1, "page_view"), event(1, "page_view")]
    events[1].event_id = events[0].event_id  # even the same random id: not a client's
    assert ids(dedup.claim(events, now_ms=T0)) == ids(events)
    assert len(dedup) == 0


def test_the_same_client_id_in_two_tenants_is_two_events() -> None:
    dedup = ClientIdDedup()
    mine, theirs = client_event(1, "shared"), client_event(2, "shared")
    assert ids(dedup.claim([mine, theirs], now_ms=T0)) == ids([mine, theirs])


def test_the_client_id_arrays_keep_at_most_max_keys_forgetting_the_oldest_slices() -> None:
    dedup = ClientIdDedup(window_hours=24, slices=24, max_keys=250)
    for hour in range(5):  # 100 ids an hour; each hour merges the previous one
        now = T0 + hour * HOUR_MS
        dedup.claim([client_event(1, f"h{hour}-{i}", at=now) for i in range(100)], now_ms=now)
    assert len(dedup) == 250 + 100  # the arrays at their bound, hour 4 still in the set
    now = T0 + 4 * HOUR_MS
    # hours 2 and 3 (and half of hour 1) are remembered; hour 0 is forgotten first
    assert dedup.claim([client_event(1, f"h3-{i}", at=now) for i in range(100)], now_ms=now) == []
    assert dedup.claim([client_event(1, f"h2-{i}", at=now) for i in range(100)], now_ms=now) == []
    forgotten = [client_event(1, f"h0-{i}", at=now) for i in range(100)]
    assert ids(dedup.claim(forgotten, now_ms=now)) == ids(forgotten)


def test_a_burst_within_one_slice_is_merged_early_and_stays_bounded() -> None:
    dedup = ClientIdDedup(window_hours=24, slices=24, max_keys=1_000, hot_max_keys=100)
    burst = [client_event(1, f"b-{i}") for i in range(5_000)]
    for start in range(0, 5_000, 50):  # requests of 50 events
        assert len(dedup.claim(burst[start : start + 50], now_ms=T0)) == 50  # all new
    assert len(dedup._hot) < 100 and len(dedup._keys) <= 1_000  # the bound is the point
    remembered = len(dedup)
    # Within one slice there is no age to evict by: which ids stay is arbitrary, but every
    # one the index still counts is still dropped when resent, and no other.
    assert 1_000 <= remembered < 1_100
    resent = [client_event(1, f"b-{i}") for i in range(5_000)]
    assert len(dedup.claim(resent, now_ms=T0)) == 5_000 - remembered


def test_ids_are_remembered_across_slices_for_the_whole_window() -> None:
    dedup = ClientIdDedup(window_hours=24, slices=24)
    dedup.claim([client_event(1, f"m-{i}") for i in range(100)], now_ms=T0)
    for hour in range(1, 24):  # each hour merges the previous one into the sorted arrays
        now = T0 + hour * HOUR_MS
        assert dedup.claim([client_event(1, f"m-{hour}", at=now)], now_ms=now) == []
        dedup.claim([client_event(1, f"h-{hour}", at=now)], now_ms=now)
    assert len(dedup) == 100 + 23
    # a whole batch looked up in the arrays at once (one vectorized search)
    now = T0 + 23 * HOUR_MS
    resent = [client_event(1, f"m-{i}", at=now) for i in range(100)]
    fresh = client_event(1, "fresh", at=now)
    assert ids(dedup.claim([*resent, fresh], now_ms=now)) == ids([fresh])

    late = T0 + 26 * HOUR_MS  # past the window plus the one slice of slack
    assert len(dedup.claim([client_event(1, "m-1", at=late)], now_ms=late)) == 1
    assert dedup.claim([client_event(1, "h-23", at=late)], now_ms=late) == []
    assert dedup.claim([client_event(1, "fresh", at=late)], now_ms=late) == []


def test_release_undoes_a_claim_also_after_its_slice_was_merged() -> None:
    dedup = ClientIdDedup(window_hours=24, slices=24)
    failed = dedup.claim([client_event(1, "m-1"), client_event(1, "m-2")], now_ms=T0)
    dedup.claim([], now_ms=T0 + HOUR_MS)  # the slice ends: m-1, m-2 move to the arrays

    dedup.release(failed)  # the WAL append failed: nothing was stored

    retry = [client_event(1, "m-1", at=T0 + HOUR_MS), client_event(1, "m-2", at=T0 + HOUR_MS)]
    assert ids(dedup.claim(retry, now_ms=T0 + HOUR_MS)) == ids(retry)
    assert dedup.claim([client_event(1, "m-1")], now_ms=T0 + 2 * HOUR_MS) == []
    assert len(dedup) == 2


def test_observe_claims_replayed_client_ids() -> None:
    dedup = ClientIdDedup()
    dedup.observe([client_event(1, "m-1")], now_ms=T0)
    assert dedup.claim([client_event(1, "m-1")], now_ms=T0 + HOUR_MS) == []


def test_a_repeated_order_under_a_new_client_id_releases_that_id() -> None:
    dedup = EventDedup()
    order = client_event(1, "m-1", event_type="purchase", tx="T-1")
    retry = client_event(1, "m-2", event_type="purchase", tx="T-1")

    assert ids(dedup.claim([order], now_ms=T0)) == ids([order])
    assert dedup.claim([retry], now_ms=T0) == []  # the order was already accepted
    assert len(dedup.client_ids) == 1  # m-2 was not stored, so it is not remembered
    # both rules apply to one event: a resent message of the accepted order is dropped too
    assert dedup.claim([client_event(1, "m-1", event_type="purchase", tx="T-9")], T0) == []


def test_client_ids_are_rebuilt_from_the_store(
    store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant, other = make_tenant().id, make_tenant().id
    now = int(time.time() * 1000)
    unkeyed = event(tenant, "page_view", at=now - HOUR_MS)
    store_events(
        store,
        [
            client_event(tenant, "recent", at=now - HOUR_MS),
            client_event(tenant, "almost-a-day", at=now - 23 * HOUR_MS),
            client_event(tenant, "too-old", at=now - 25 * HOUR_MS),
            unkeyed,
        ],
    )

    dedup = ClientIdDedup(window_hours=24)
    assert dedup.load(store) >= 2

    assert dedup.claim([client_event(tenant, "recent", at=now)]) == []
    assert dedup.claim([client_event(tenant, "almost-a-day", at=now)]) == []
    assert len(dedup.claim([client_event(tenant, "too-old", at=now)])) == 1
    assert len(dedup.claim([client_event(other, "recent", at=now)])) == 1
    assert len(dedup.claim([client_event(tenant, "new", at=now)])) == 1
