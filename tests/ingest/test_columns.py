"""Events → Arrow batches → the real ``events`` / ``event_items`` tables, and back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from shoplens.ingest.columns import EVENT_SCHEMA, ITEM_SCHEMA, events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.ingest.flusher import WAL_PAYLOAD
from shoplens.store import Store
from tests.conftest import rows

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AT = 1_760_000_123_456  # 2025-10-09, with milliseconds
DECIMALS = {"original_revenue", "original_price"}


def full_event(tenant_id: int) -> Event:
    """Every field set to a non-default value, with non-ASCII text and edge values."""
    items = [
        Item(
            item_id="sku-ß-1",
            item_name="Tasse „Morgen“ ☕",
            item_category="Küche",
            item_brand="Brandé",
            item_variant="grün/XL",
            item_list_name="Empfehlungen",
            item_list_id="list-7",
            item_image_url="https://cdn.example/ü/1.png",
            price=1_250,
            quantity=3,
            currency="EUR",
            original_price="12.5",
            original_currency="CHF",
            coupon_code="WINTER10",
            discount=125,
        ),
        Item(item_id="sku-2", item_name="日本茶", price=2_000, quantity=2),
    ]
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type="purchase",
        event_name="Bestellung abgeschlossen ✓",
        source="ecommerce",
        timestamp=AT,
        received_at=AT + 789,
        user_id="użytkownik-1",
        anonymous_id="anon-Ω",
        visitor_id="v-42",
        session_id="s-42",
        cart_id="c-42",
        page_url="https://shop.example/ürün?q=é&x=1",
        page_path="/ürün",
        page_title="Café — 日本語",
        referrer="https://search.example/?q=\"quoted\" 'single' \\ back",
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="winter-🎄",
        utm_term="tea",
        utm_content="hero",
        channel="Email",
        device_type="mobile",
        platform="ios",
        os="iOS",
        browser="Safari",
        country="JP",
        region="Tōkyō",
        city="東京",
        user_agent="Mozilla/5.0 (iPhone)",
        ip_hash="9f86d081884c7d65",
        transaction_id="ORD-ü-1",
        currency="USD",
        revenue=9_007_199_254_740_993,  # beyond 2**53: breaks if it goes through a float
        discount=500,
        shipping=999,
        tax=1_234,
        original_currency="JPY",
        original_revenue="18500.123456789",
        coupon_code="WINTER10",
        search_term="grüner Tee",
        item_count=2,
        is_flagged=1,
        fraud_reasons=["velocity", "ip_mismatch"],
        properties={"gift": "yes", "ключ": "значение 🎁", "empty": "", "q": "a=b&c"},
        items=items,
    )


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row read from ClickHouse in the Event's own terms: UUIDs as text, timestamps as
    epoch ms, maps as dicts."""
    out = {}
    for name, value in row.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = (value - EPOCH) // timedelta(milliseconds=1)
        elif name == "properties":
            value = dict(value)
        out[name] = value
    return out


def decimals(expected: dict[str, Any]) -> dict[str, Any]:
    return {k: Decimal(v) if k in DECIMALS else v for k, v in expected.items()}


def table_columns(store: Store, table: str) -> list[str]:
    return [
        r["name"]
        for r in rows(
            store,
            "SELECT name FROM system.columns "
            "WHERE table = {t:String} AND database = currentDatabase() ORDER BY position",
            t=table,
        )
    ]


# schemas -----------------------------------------------------------------------------------


def test_event_schema_is_the_events_table_in_column_order(store: Store) -> None:
    assert EVENT_SCHEMA.names == table_columns(store, "events")


def test_item_schema_is_the_event_items_table_in_column_order(store: Store) -> None:
    assert ITEM_SCHEMA.names == table_columns(store, "event_items")


def test_the_full_event_sets_every_field() -> None:
    """Keeps the round-trip below complete: a new Event/Item field must be set there."""
    event = full_event(1)
    for struct in (event, *event.items[:1]):
        for field in msgspec.structs.fields(struct):
            default = (
                field.default_factory()
                if field.default_factory is not msgspec.NODEFAULT
                else field.default
            )
            assert getattr(struct, field.name) != default, f"{field.name} is left at its default"


# tables ------------------------------------------------------------------------------------


def test_events_table_has_one_row_per_event_in_the_event_schema() -> None:
    events = [full_event(1), full_event(1)]

    table = events_table(events)

    assert table.schema == EVENT_SCHEMA
    assert table.num_rows == 2
    assert table.column("event_id").to_pylist() == [e.event_id for e in events]
    assert table.column("revenue").to_pylist() == [9_007_199_254_740_993] * 2


def test_items_table_has_one_row_per_item_numbered_within_its_event() -> None:
    first, second = full_event(1), full_event(1)
    second = msgspec.structs.replace(second, items=second.items[:1], is_flagged=0)

    table = items_table([first, second])

    assert table.schema == ITEM_SCHEMA
    assert table.column("event_id").to_pylist() == [first.event_id] * 2 + [second.event_id]
    assert table.column("item_index").to_pylist() == [0, 1, 0]
    assert table.column("is_flagged").to_pylist() == [1, 1, 0]  # the event's flag, per item
    assert table.column("transaction_id").to_pylist() == ["ORD-ü-1"] * 3


@pytest.mark.parametrize("build", [events_table, items_table])
def test_no_events_make_an_empty_table_with_the_schema(build: Callable[..., Any]) -> None:
    table = build([])

    assert table.num_rows == 0
    assert table.schema == (EVENT_SCHEMA if build is events_table else ITEM_SCHEMA)


def test_events_without_items_make_no_item_rows() -> None:
    bare = msgspec.structs.replace(full_event(1), items=[])

    assert items_table([bare]).num_rows == 0


def test_a_full_event_survives_the_wal_payload_encoding() -> None:
    """Recovery stores what it decodes from the WAL: it must be the event that was acked."""
    event = full_event(1)

    assert WAL_PAYLOAD.decode(msgspec.msgpack.encode([event])) == [event]


# round trip through the store --------------------------------------------------------------


def test_a_full_event_round_trips_through_the_events_table(
    store: Store, make_tenant: Callable[..., Any]
) -> None:
    event = full_event(make_tenant().id)

    store.insert("events", events_table([event]), f"test-columns-{uuid.uuid4()}")

    got = rows(store, "SELECT * FROM events WHERE tenant_id = {t:UInt32}", t=event.tenant_id)
    expected = msgspec.structs.asdict(event)
    del expected["items"]
    assert [plain(r) for r in got] == [decimals(expected)]


def test_full_items_round_trip_through_the_event_items_table(
    store: Store, make_tenant: Callable[..., Any]
) -> None:
    event = full_event(make_tenant().id)

    store.insert("event_items", items_table([event]), f"test-columns-{uuid.uuid4()}")

    got = rows(
        store,
        "SELECT * FROM event_items WHERE tenant_id = {t:UInt32} ORDER BY item_index",
        t=event.tenant_id,
    )
    expected = [
        {
            "tenant_id": event.tenant_id,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "timestamp": event.timestamp,
            "user_id": event.user_id,
            "transaction_id": event.transaction_id,
            "item_index": index,
            **msgspec.structs.asdict(item),
            "is_flagged": event.is_flagged,
        }
        for index, item in enumerate(event.items)
    ]
    assert [plain(r) for r in got] == [decimals(e) for e in expected]
