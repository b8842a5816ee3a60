"""Purchase/refund de-duplication by transaction id, in memory and rebuilt from the store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from shoplens.ingest.columns import events_table
from shoplens.ingest.dedup import TransactionDedup
from shoplens.ingest.event import Event
from shoplens.store import Store

HOUR_MS = 3_600_000
T0 = 1_760_000_000_000  # a fixed "now" (epoch ms) for the in-memory tests


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
