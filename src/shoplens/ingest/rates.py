"""Exchange rates: parse and validate rate files, and look a rate up for a day.

Every rate is quoted the ECB's way: units of a currency per 1 EUR, for one date. A cross
rate goes through EUR: one unit of X is ``rate(base) / rate(X)`` units of the base currency.
The rate for a day is the latest one published on or before it (the ECB publishes on
working days only, so a Sunday event uses Friday's rate).

Two input shapes (``shoplens rates load FILE``, ``PUT /v1/settings/exchange-rates``):

- ECB CSV (``eurofxref-hist.csv`` / ``eurofxref.csv``): a ``Date,USD,JPY,...`` header, one
  row per date, ``N/A`` or empty cells for currencies not quoted that day.
- JSON: ``{"base": "EUR", "date": "2026-11-20", "rates": {"USD": 1.05, ...}}`` or a list of
  such objects. ``base`` defaults to EUR; another base needs its EUR rate in ``rates``
  (``{"base": "USD", "rates": {"EUR": 0.95, "JPY": 150}}``) and is rebased to EUR.

Rates are global (tenant 0: the shipped ECB snapshot, a provider's refreshed rates —
:mod:`shoplens.ingest.rates_refresh` — and ``rates load``) with per-tenant
overrides: for a tenant, its own rate for a (currency, date) replaces the global one, and
the lookup takes the latest date on or before the event over both.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from shoplens.errors import BadRequest
from shoplens.ingest.money import decimal_of, exponent

QUOTE = "EUR"
GLOBAL = 0
_EPOCH = date(1970, 1, 1)
# Rates are stored as Decimal(38, 12); anything outside this range is a typo, not a currency.
_MIN_RATE = Decimal("1e-9")
_MAX_RATE = Decimal("1e15")
_PLACES = Decimal("1e-12")
_MISSING = {"", "N/A", "NA", "-"}


@dataclass
class RateSet:
    """Validated rates: ``{date: {currency: units per 1 EUR}}`` (EUR itself never stored)."""

    days: dict[date, dict[str, Decimal]] = field(default_factory=dict)
    #: CSV columns left out because ISO 4217 no longer lists them (CYP, EEK, BGN...).
    skipped: list[str] = field(default_factory=list)

    def add(self, day: date, currency: str, rate: Decimal) -> None:
        self.days.setdefault(day, {})[currency] = rate

    @property
    def count(self) -> int:
        return sum(len(rates) for rates in self.days.values())

    def rows(self) -> Iterator[tuple[date, str, Decimal]]:
        for day in sorted(self.days):
            for currency, rate in sorted(self.days[day].items()):
                yield day, currency, rate


def day_number(day: date) -> int:
    return (day - _EPOCH).days


def date_of_day(number: int) -> date:
    return date.fromordinal(_EPOCH.toordinal() + number)


def parse_date(value: Any, field: str) -> date:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a date (YYYY-MM-DD)", field=field)
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(f"{field} must be a date (YYYY-MM-DD)", field=field) from None
    if parsed.year < 1970:
        raise BadRequest(f"{field} is before 1970", field=field)
    return parsed


def _code(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{field} must be an ISO 4217 currency code", field=field)
    code = value.strip().upper()
    exponent(code)  # BadRequest "Unknown currency 'XYZ'" ...
    return code


def _rate(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise BadRequest(f"{field} must be a positive number", field=field)
    rate = decimal_of(value, field)
    if rate <= 0:
        raise BadRequest(f"{field} must be a positive number", field=field)
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise BadRequest(f"{field} must be between {_MIN_RATE} and {_MAX_RATE:.0E}", field=field)
    return rate.quantize(_PLACES)


def _unknown_currency(exc: BadRequest, field: str) -> BadRequest:
    """Keep the message naming the currency, point the field at where it was given."""
    return BadRequest(exc.message, field=field)


def parse_csv(text: str) -> RateSet:
    """An ECB ``eurofxref`` CSV → rates; a 400 names the line and column at fault."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if not header or header[0].strip().lower() != "date":
        raise BadRequest("CSV must start with a Date,<currency>,... header", field="line 1")
    columns: list[tuple[int, str]] = []
    skipped: list[str] = []
    for index, name in enumerate(header[1:], start=1):
        if not name.strip():
            continue  # the ECB file ends every line with a comma
        try:
            columns.append((index, _code(name, f"line 1 column {index + 1}")))
        except BadRequest:
            # The ECB's history keeps currencies since replaced by the euro (CYP, EEK, BGN):
            # no event can be in them (ISO 4217 no longer lists them), so their columns go.
            skipped.append(name.strip())
    if not columns:
        raise BadRequest("CSV header names no ISO 4217 currency", field="line 1")
    found = RateSet(skipped=skipped)
    for line, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        day = parse_date(row[0], f"line {line} Date")
        for index, currency in columns:
            cell = row[index].strip() if index < len(row) else ""
            if cell.upper() in _MISSING:
                continue
            if currency != QUOTE:
                found.add(day, currency, _rate(cell, f"line {line} {currency}"))
    return found


def parse_json(data: Any) -> RateSet:
    """One ``{"base", "date", "rates"}`` object or a list of them → rates (EUR-quoted)."""
    if isinstance(data, dict):
        entries, prefix = [data], ""
    elif isinstance(data, list):
        entries, prefix = data, "[{}]."
    else:
        raise BadRequest("body must be a rates object or a list of them", field=None)
    found = RateSet()
    for position, entry in enumerate(entries):
        where = prefix.format(position)
        if not isinstance(entry, dict):
            raise BadRequest(
                f"{where or 'body '}must be an object", field=where.rstrip(".") or None
            )
        try:
            base = _code(entry.get("base") or QUOTE, f"{where}base")
        except BadRequest as exc:
            raise _unknown_currency(exc, f"{where}base") from None
        day = parse_date(entry.get("date"), f"{where}date")
        rates = entry.get("rates")
        if not isinstance(rates, dict) or not rates:
            raise BadRequest(f"{where}rates must be a non-empty object", field=f"{where}rates")
        given: dict[str, Decimal] = {}
        for code, value in rates.items():
            try:
                currency = _code(code, f"{where}rates")
            except BadRequest as exc:
                raise _unknown_currency(exc, f"{where}rates.{code}") from None
            given[currency] = _rate(value, f"{where}rates.{code}")
        for currency, rate in _rebased(base, given, f"{where}rates").items():
            found.add(day, currency, rate)
    return found


def _rebased(base: str, given: dict[str, Decimal], field: str) -> dict[str, Decimal]:
    """Rates quoted per 1 ``base`` → per 1 EUR (EUR itself dropped)."""
    if base == QUOTE:
        eur = given.pop(QUOTE, Decimal(1))
        if eur != 1:
            raise BadRequest(f"{field}.EUR must be 1 when base is EUR", field=f"{field}.EUR")
        return given
    eur_per_base = given.pop(QUOTE, None)
    if eur_per_base is None:
        raise BadRequest(
            f"{field}.EUR is required when base is not EUR (rates are kept per 1 EUR)",
            field=f"{field}.EUR",
        )
    out = {
        currency: _rate(rate / eur_per_base, f"{field}.{currency}")
        for currency, rate in given.items()
    }
    out[base] = _rate(1 / eur_per_base, f"{field}.EUR")
    return out


def parse_file(text: str, fmt: str) -> RateSet:
    """``fmt`` is ``csv`` or ``json``."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"invalid JSON: {exc.msg} at line {exc.lineno}", field=None) from None
        return parse_json(data)
    if fmt == "csv":
        return parse_csv(text)
    raise BadRequest(f"format must be csv or json, not {fmt!r}", field="format")


class RateBook:
    """Rates in memory for lookups on the ingest hot path.

    Per (tenant, currency) parallel sorted lists (day numbers, rates, whether the row is the
    tenant's own) searched with ``bisect``; a tenant with overrides gets its own merged
    series (its rows win on equal dates), built once. Never changed once built: a reload
    builds a new book and swaps it in.
    """

    def __init__(self, rows: Iterable[tuple[int, str, int, Decimal]] = ()) -> None:
        """``rows``: (tenant_id, currency, day number, rate per 1 EUR)."""
        by_key: dict[tuple[int, str], dict[int, Decimal]] = {}
        for tenant_id, currency, day, rate in rows:
            by_key.setdefault((tenant_id, currency), {})[day] = rate
        self._series: dict[tuple[int, str], _Series] = {}
        self._overridden = {tenant_id for tenant_id, _ in by_key if tenant_id != GLOBAL}
        for (tenant_id, currency), own in by_key.items():
            merged = {d: (r, False) for d, r in by_key.get((GLOBAL, currency), {}).items()}
            merged.update({d: (r, tenant_id != GLOBAL) for d, r in own.items()})
            ordered = sorted(merged)
            self._series[(tenant_id, currency)] = _Series(
                ordered, [merged[d][0] for d in ordered], [merged[d][1] for d in ordered]
            )

    def lookup(self, currency: str, day: int, tenant_id: int = GLOBAL) -> RateFound | None:
        """The rate of ``currency`` (units per 1 EUR) on or before ``day``, or None."""
        if currency == QUOTE:
            return RateFound(day, Decimal(1), False)
        series = None
        if tenant_id in self._overridden:
            series = self._series.get((tenant_id, currency))
        if series is None:
            series = self._series.get((GLOBAL, currency))
        if series is None:
            return None
        index = bisect.bisect_right(series.days, day) - 1
        if index < 0:
            return None
        return RateFound(series.days[index], series.rates[index], series.own[index])

    def currencies(self, tenant_id: int = GLOBAL) -> list[str]:
        """Every currency with a rate for this tenant (global or its own), EUR included."""
        codes = {c for (t, c) in self._series if t in (GLOBAL, tenant_id)}
        return sorted(codes | {QUOTE})


@dataclass(frozen=True)
class _Series:
    days: list[int]
    rates: list[Decimal]
    own: list[bool]


@dataclass(frozen=True)
class RateFound:
    """A looked-up rate: the day it was published for, units per 1 EUR, tenant's own?"""

    day: int
    rate: Decimal
    override: bool
