"""``shoplens rates``: load exchange-rate files into the store and show the rates in use.

``rates load FILE`` stores the global rates (every tenant's conversions use them) or, with
``--tenant``, one tenant's overrides; the file is an ECB ``eurofxref`` CSV or the JSON shape
of ``PUT /v1/settings/exchange-rates`` (see :mod:`shoplens.ingest.rates`). It opens the
store itself, so it needs the data directory free (a running embedded server holds it:
use the PUT route then, or stop the server; the server reads rates at start).

``rates refresh`` fetches the configured provider's latest rates once (what the server
does every ``SHOPLENS_RATES_REFRESH_INTERVAL``; see :mod:`shoplens.ingest.rates_refresh`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shoplens.cli_common import DataDir, console, fail, out, settings_for
from shoplens.config import Settings
from shoplens.errors import BadRequest
from shoplens.ingest import rates_store
from shoplens.ingest.rates import GLOBAL, QUOTE, date_of_day, day_number, parse_date, parse_file
from shoplens.ingest.rates_providers import PROVIDERS
from shoplens.ingest.rates_refresh import RatesRefresher, RefreshFailed
from shoplens.meta import MetaStore
from shoplens.store import Store

rates_app = typer.Typer(help="Load and show exchange rates.", no_args_is_help=True)
TenantOption = Annotated[
    int | None,
    typer.Option("--tenant", help="A tenant's overrides instead of the global rates."),
]


@contextmanager
def _opened(settings: Settings, tenant: int | None) -> Iterator[tuple[Store, MetaStore]]:
    """The data dir locked, its store open and migrated; ``tenant`` checked to exist."""
    from shoplens.app import DataDirLocked, lock_data_dir, open_components

    try:
        lock = lock_data_dir(settings.data_dir)
    except DataDirLocked as exc:
        raise fail(str(exc)) from None
    try:
        store, meta = open_components(settings, None)
        try:
            rates_store.ensure_snapshot(store)  # as the server does at start
            if tenant is not None and tenant != GLOBAL and meta.tenant(tenant) is None:
                raise fail(f"no tenant {tenant}; see `shoplens tenants list`")
            yield store, meta
        finally:
            meta.close()
            store.close()
    finally:
        os.close(lock)


@rates_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON file.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or json (default: from the file name)."),
    ] = None,
    tenant: TenantOption = None,
    data_dir: DataDir = None,
) -> None:
    """Store the rates of FILE (an ECB eurofxref CSV, or JSON); reloads replace by date."""
    chosen = (fmt or ("json" if file.suffix.lower() == ".json" else "csv")).lower()
    try:
        rates = parse_file(file.read_text("utf-8"), chosen)
    except BadRequest as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise fail(f"{file}{where}: {exc.message}") from None
    if not rates.days:
        raise fail(f"{file}: no rates found")
    with _opened(settings_for(data_dir), tenant) as (store, _):
        console.print(
            f"rates: parsed {rates.count:,} rates for {len(rates.days):,} dates; storing…"
        )
        rates_store.save(store, rates, tenant_id=tenant or GLOBAL, source=f"file:{file.name}")
    first, last = min(rates.days), max(rates.days)
    scope = f"tenant {tenant}" if tenant else "global"
    out.print(
        f"loaded {rates.count:,} {scope} rates for {len(rates.days):,} dates "
        f"({first} … {last}); a running server picks them up at its next start"
    )


@rates_app.command("show")
def show(
    date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: today, UTC).")] = None,
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """The rate per 1 EUR of every currency on DATE (the latest on or before it)."""
    try:
        day = day_number(parse_date(date, "--date") if date else datetime.now(UTC).date())
    except BadRequest as exc:
        raise fail(exc.message) from None
    with _opened(settings_for(data_dir), tenant) as (store, _):
        book = rates_store.load_book(store)
    found = []
    for currency in book.currencies(tenant or GLOBAL):
        hit = book.lookup(currency, day, tenant or GLOBAL)
        if hit is not None and currency != QUOTE:
            found.append((currency, hit))
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "quote": QUOTE,
                    "date": date_of_day(day).isoformat(),
                    "rates": {
                        c: {
                            "rate": format(h.rate.normalize(), "f"),
                            "date": date_of_day(h.day).isoformat(),
                            "override": h.override,
                        }
                        for c, h in found
                    },
                }
            )
        )
        return
    table = Table("currency", f"per 1 {QUOTE}", "date", "override")
    for currency, hit in found:
        table.add_row(
            currency,
            format(hit.rate.normalize(), "f"),
            date_of_day(hit.day).isoformat(),
            "yes" if hit.override else "",
        )
    out.print(table)


@rates_app.command("refresh")
def refresh(
    provider: Annotated[
        str | None,
        typer.Option(help="ecb or openexchangerates (default: SHOPLENS_RATES_PROVIDER)."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="The provider's URL (default: its own).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Fetch the provider's latest rates once and store them as the global rates."""
    if provider is not None and provider not in PROVIDERS:
        raise fail(f"--provider must be ecb or openexchangerates, not {provider!r}")
    settings = settings_for(data_dir, rates_provider=provider, rates_url=url)
    with _opened(settings, None) as (store, meta):
        refresher = RatesRefresher(settings, store, rates_store.open_converter(store), meta)
        console.print(f"rates: fetching from {refresher.provider_name}…")
        try:
            result = asyncio.run(refresher.refresh())
        except RefreshFailed as exc:
            raise fail(f"rates refresh failed, the stored rates are unchanged: {exc}") from None
    dates = f"{result.first} … {result.last}" if result.first != result.last else result.last
    out.print(
        f"refreshed {result.rates:,} global rates ({dates}) from {result.provider} ({result.url})"
    )
    if result.skipped:
        out.print(f"skipped codes ISO 4217 does not list: {', '.join(result.skipped)}")
