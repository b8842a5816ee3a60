"""Exchange rates in the store (table ``exchange_rates``) and the shipped ECB snapshot.

``save`` appends rows (a reload of the same tenant/currency/date replaces the old rate:
ReplacingMergeTree on ``loaded_at``, read with ``FINAL``); ``load_book`` reads everything
into a :class:`~shoplens.ingest.rates.RateBook` for the converter; ``ensure_snapshot`` fills
in the package's ``data/eurofxref.csv`` at start: every global (date, currency) the store
lacks, so a fresh install converts out of the box and an upgrade brings newer dates.
"""

from __future__ import annotations

import threading
import uuid
from datetime import date
from importlib import resources

import pyarrow as pa

from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.rates import GLOBAL, RateBook, RateSet, day_number, parse_csv
from shoplens.store.base import Store
from shoplens.store.versions import VersionClock

SNAPSHOT = "eurofxref.csv"
SCHEMA = pa.schema(
    [
        ("tenant_id", pa.uint32()),
        ("currency", pa.string()),
        ("date", pa.date32()),
        ("rate", pa.decimal128(38, 12)),
        ("source", pa.string()),
        ("loaded_at", pa.timestamp("ms", tz="UTC")),
    ]
)
#: ``loaded_at`` of stored rates: a reload in the same millisecond still wins under FINAL
_versions = VersionClock()


def save(store: Store, rates: RateSet, *, tenant_id: int = GLOBAL, source: str) -> None:
    """Store ``rates`` for a tenant (0: global), replacing rates of the same dates."""
    rows = list(rates.rows())
    if not rows:
        return
    loaded_at = _versions.next()
    batch = pa.table(
        {
            "tenant_id": [tenant_id] * len(rows),
            "currency": [currency for _, currency, _ in rows],
            "date": [day for day, _, _ in rows],
            "rate": [rate for _, _, rate in rows],
            "source": [source] * len(rows),
            "loaded_at": [loaded_at] * len(rows),
        },
        schema=SCHEMA,
    )
    store.insert("exchange_rates", batch, f"rates:{tenant_id}:{uuid.uuid4()}")


def load_book(store: Store) -> RateBook:
    """Every stored rate (global and overrides), latest load of each, as a RateBook."""
    table = store.query(
        "SELECT tenant_id, currency, date, rate FROM exchange_rates FINAL "
        "ORDER BY tenant_id, currency, date"
    )
    columns = [table.column(name).to_pylist() for name in ("tenant_id", "currency", "date")]
    rates = table.column("rate").to_pylist()
    return RateBook(
        (tenant_id, currency, day_number(day), rate)
        for tenant_id, currency, day, rate in zip(*columns, rates, strict=True)
    )


def global_pairs(store: Store) -> set[tuple[date, str]]:
    """Every (date, currency) the store has a global rate for."""
    table = store.query("SELECT DISTINCT date, currency FROM exchange_rates WHERE tenant_id = 0")
    return set(
        zip(table.column("date").to_pylist(), table.column("currency").to_pylist(), strict=True)
    )


def snapshot() -> RateSet:
    """The ECB rates shipped with the package (see src/shoplens/data/README.md)."""
    text = resources.files("shoplens.data").joinpath(SNAPSHOT).read_text("utf-8")
    return parse_csv(text)


def ensure_snapshot(store: Store) -> int:
    """Fill in every global (date, currency) of the shipped snapshot the store lacks (all of
    it on a fresh install, newer dates after an upgrade); a stored rate is never replaced,
    so rates loaded by hand win. Returns how many rates were added."""
    have = global_pairs(store)
    missing = RateSet()
    for day, currency, rate in snapshot().rows():
        if (day, currency) not in have:
            missing.add(day, currency, rate)
    save(store, missing, source="snapshot")
    return missing.count


def open_converter(store: Store) -> CurrencyConverter:
    """At start: the shipped snapshot loaded if needed, then a converter over every rate."""
    ensure_snapshot(store)
    return CurrencyConverter(book=load_book(store))


_RELOAD = threading.Lock()


def save_and_reload(
    store: Store, converter: CurrencyConverter, rates: RateSet, *, tenant_id: int, source: str
) -> None:
    """Store rates, then swap a fresh book into the running converter.

    TRICKY: serialized, so two concurrent writers cannot swap in a book read before the
    other's rows landed (the later swap would silently drop them until the next restart).
    """
    with _RELOAD:
        save(store, rates, tenant_id=tenant_id, source=source)
        converter.replace(load_book(store))
