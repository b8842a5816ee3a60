"""The four export row sets on the real store, events sent through the ingestion API.

Expected rows are worked out in Python from the sent events (tests/export/shop.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from shoplens.export import plan
from shoplens.export.rowsets import ROW_SETS
from shoplens.metrics.period import Period, parse_period
from shoplens.store import Store
from tests.conftest import TenantKeys
from tests.export import shop


def period(days: int = 7) -> Period:
    return parse_period({"days": str(days)}, timezone="UTC", now=datetime.now(UTC))


def exported(store: Store, tenant_id: int, type_: str, window: Period) -> list[dict[str, Any]]:
    job = plan(type_, "parquet", tenant_id, window)
    batches = list(job.batches(store, batch_rows=3))
    table = pa.Table.from_batches(batches, schema=job.row_set.schema)
    return [
        {k: shop.iso(v) if isinstance(v, datetime) else v for k, v in row.items()}
        for row in table.to_pylist()
    ]


@pytest.mark.parametrize("type_", list(ROW_SETS))
def test_each_row_set_equals_the_rows_worked_out_from_the_sent_events(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys], type_: str
) -> None:
    mine, other = make_tenant("mine", plan="pro"), make_tenant("other", plan="pro")
    events = shop.shop_events()
    shop.send(client, mine, events)
    shop.send(client, other, events[:3])  # another tenant's rows never show

    rows = exported(store, mine.id, type_, period())

    expected = shop.EXPECTED[type_](events)
    assert expected  # the shop has rows of every kind
    assert shop.project(rows, expected) == expected
    assert list(rows[0]) == ROW_SETS[type_].schema.names


def test_orders_carry_the_order_columns(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("orders", plan="pro")
    events = shop.shop_events()
    shop.send(client, keys, events)

    rows = exported(store, keys.id, "orders", period())

    first = rows[0]
    assert len(first["event_id"]) == 36 and first["event_id"].count("-") == 4  # UUID text
    assert (first["discount"], first["shipping"], first["tax"]) == (0, 0, 0)
    # item_count is the units in the order (normalize sums item quantities)
    assert [r["item_count"] for r in rows] == [
        sum(q for *_, q in e.items)
        for e in sorted(events, key=lambda e: e.at)
        if e.kind == "purchase"
    ]


def test_rows_outside_the_period_are_left_out(
    client: TestClient, store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("period", plan="pro")
    recent = shop.shop_events()
    old = shop.shop_events(datetime.now(UTC) - timedelta(days=10), tag="-old")
    shop.send(client, keys, recent + old)

    last_week = exported(store, keys.id, "events", period(7))
    two_weeks = exported(store, keys.id, "events", period(14))

    assert len(last_week) == len(recent)
    assert len(two_weeks) == len(recent) + len(old)


def test_an_empty_period_has_no_rows(store: Store, make_tenant: Callable[..., TenantKeys]) -> None:
    keys = make_tenant("empty")
    for type_ in ROW_SETS:
        assert exported(store, keys.id, type_, period()) == []
