"""Money: amounts as sent → Int64 minor units of the tenant's base currency.

Minor units come from ISO 4217 data (the ``iso4217`` package): JPY has none, USD two,
BHD three. Amounts are handled as ``Decimal`` built from the number's shortest repr, so
``49.99`` is exactly 4999 cents, never 4998.9999.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any

from iso4217 import Currency

from shoplens.errors import BadRequest

if TYPE_CHECKING:
    from shoplens.ingest.rates import RateBook


@cache
def exponent(code: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency; BadRequest if unknown."""
    try:
        currency = Currency(code.upper())
    except ValueError:
        raise BadRequest(f"Unknown currency {code!r}", field="currency") from None
    return int(currency.exponent or 0)


def currency_code(value: str | None) -> str | None:
    """A report's currency parameter as an upper-case ISO 4217 code; None when absent or
    empty; an unknown code is a 400 naming ``currency``."""
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    exponent(code)  # an unknown code is a 400 naming it
    return code


def require_base_currency(value: Any, base: str, field: str = "currency") -> None:
    """A report's requested currency: absent, or the tenant's base currency. Amounts are
    stored converted to it at ingestion, so no other currency can be reported in."""
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{field} must be a currency code", field=field)
    code = currency_code(value)
    if code is not None and code != base:
        raise BadRequest(
            f"{field} must be {base}: amounts are stored converted to the base currency",
            field=field,
        )


def decimal_of(value: float | int | str | Decimal, field: str) -> Decimal:
    try:
        amount = (
            value
            if isinstance(value, Decimal)
            else Decimal(repr(value) if isinstance(value, float) else str(value))
        )
    except InvalidOperation:
        raise BadRequest(f"{field} must be a number", field=field) from None
    if not amount.is_finite():
        raise BadRequest(f"{field} must be a finite number", field=field)
    return amount


_INT64 = (-(2**63), 2**63 - 1)
_MS_PER_DAY = 86_400_000
_EPOCH = date(1970, 1, 1)


def to_minor(amount: Decimal, currency: str, field: str = "amount") -> int:
    """A major-unit amount in ``currency`` → integer minor units of that currency.

    Out of Int64 range (what the store keeps) is a 400 now, not a failed flush later.
    """
    try:
        minor = int(amount.scaleb(exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        minor = _INT64[1] + 1
    if not _INT64[0] <= minor <= _INT64[1]:
        raise BadRequest(f"{field} is too large", field=field)
    return minor


def from_minor(minor: int | Decimal, currency: str) -> Decimal:
    """Minor units (possibly fractional, e.g. an average) → major units at the currency's
    digits, rounded half up: 4999 USD → 49.99, 1500 JPY → 1500."""
    digits = exponent(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)


class CurrencyConverter:
    """Converts amounts into one tenant's base currency, at the rate of the amount's day.

    Rates come from a :class:`~shoplens.ingest.rates.RateBook` (EUR-quoted, dated; cross
    rates via EUR: one X is ``rate(base) / rate(X)`` base units), or from fixed
    ``{(from, to): rate}`` pairs, which win when given (tests, simple setups). With neither
    only the base currency itself is accepted; anything else is a 400 naming the currency.

    TRICKY: this is on the ingest hot path (several amounts per event), so the cross rate
    per (tenant, currency, base, day) is cached; :meth:`replace` swaps in a reloaded book
    and drops the cache in one assignment, so a concurrent lookup sees old or new, whole.
    """

    _CACHE_LIMIT = 100_000

    def __init__(
        self, rates: dict[tuple[str, str], Decimal] | None = None, book: RateBook | None = None
    ) -> None:
        self.rates = rates or {}
        self.book = book
        self._cache: dict[tuple[int, str, str, int], Decimal] = {}

    def replace(self, book: RateBook) -> None:
        """Use a newly loaded book from now on."""
        self.book, self._cache = book, {}

    def to_base_minor(
        self,
        amount: Decimal,
        currency: str,
        base: str,
        field: str,
        *,
        at_ms: int | None = None,
        tenant_id: int = 0,
    ) -> int:
        """``amount`` of ``currency`` → minor units of ``base`` at the rate of ``at_ms``'s
        UTC day (now when None): the latest rate on or before that day."""
        exponent(currency)  # unknown codes fail first, with the currency named
        if currency == base:
            return to_minor(amount, base, field)
        rate = self.rates.get((currency, base))
        if rate is None:
            rate = self.cross_rate(currency, base, field, at_ms=at_ms, tenant_id=tenant_id)
        return to_minor(amount * rate, base, field)

    def cross_rate(
        self, currency: str, base: str, field: str, *, at_ms: int | None, tenant_id: int
    ) -> Decimal:
        """Units of ``base`` per unit of ``currency`` on ``at_ms``'s day; 400 if unknown."""
        day = (time.time_ns() // 1_000_000 if at_ms is None else at_ms) // _MS_PER_DAY
        key = (tenant_id, currency, base, day)
        cache = self._cache
        rate = cache.get(key)
        if rate is not None:
            return rate
        book = self.book
        found_from = book.lookup(currency, day, tenant_id) if book else None
        found_to = book.lookup(base, day, tenant_id) if book else None
        if found_from is None or found_to is None:
            missing = currency if found_from is None else base
            on = "" if at_ms is None or book is None else f" on {_EPOCH + timedelta(days=day)}"
            raise BadRequest(
                f"No exchange rate from {currency} to {base}{on}"
                + (f" ({missing} has no rate on or before that day)" if on else "")
                + f": send amounts in {base} or load rates",
                field=field,
            )
        rate = found_to.rate / found_from.rate
        if len(cache) >= self._CACHE_LIMIT:
            cache.clear()
        cache[key] = rate
        return rate
