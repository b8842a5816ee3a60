"""Rates in the real store: the shipped snapshot, reloads replacing by date, overrides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from shoplens.ingest import rates_store
from shoplens.ingest.rates import day_number, parse_json
from shoplens.store import Store
from tests.conftest import TenantKeys


def test_the_snapshot_fills_the_store_once(store: Store) -> None:
    rates_store.ensure_snapshot(store)  # whatever an earlier test did, it is now complete
    assert rates_store.ensure_snapshot(store) == 0
    have = rates_store.global_pairs(store)
    shipped = rates_store.snapshot()
    assert {(d, c) for d, c, _ in shipped.rows()} <= have
    friday = rates_store.load_book(store).lookup("USD", day_number(date(2026, 11, 1)))
    assert friday is not None and friday.rate == Decimal("1.1172")


def test_a_reload_replaces_the_rate_of_the_same_date(
    store: Store, make_tenant: Callable[..., TenantKeys]
) -> None:
    tenant = make_tenant("reloads")
    for rate in (3, 4):
        rates = parse_json({"date": "2026-10-30", "rates": {"USD": rate}})
        rates_store.save(store, rates, tenant_id=tenant.id, source="test")
    book = rates_store.load_book(store)
    day = day_number(date(2026, 10, 30))
    own = book.lookup("USD", day, tenant.id)
    assert own is not None and (own.rate, own.override) == (Decimal(4), True)
    shared = book.lookup("USD", day)
    assert shared is not None and shared.rate == Decimal("1.1172")
    stored = store.query(
        "SELECT count() AS n FROM exchange_rates FINAL WHERE tenant_id = {t:UInt32}",
        {"t": tenant.id},
    ).to_pylist()
    assert stored == [{"n": 1}]
