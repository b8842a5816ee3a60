"""Money: amounts as sent → Int64 minor units of the tenant's base currency.

Minor units come from ISO 4217 data (the ``iso4217`` package): JPY has none, USD two,
BHD three. Amounts are handled as ``Decimal`` built from the number's shortest repr, so
``49.99`` is exactly 4999 cents, never 4998.9999.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from iso4217 import Currency

from shoplens.errors import BadRequest


@cache
def exponent(code: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency; BadRequest if unknown."""
    try:
        currency = Currency(code.upper())
    except ValueError:
        raise BadRequest(f"Unknown currency {code!r}", field="currency") from None
    return int(currency.exponent or 0)


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
    """Converts amounts into one tenant's base currency.

    Rates are "units of base per unit of the other currency"; with none loaded, only the
    base currency itself is accepted and anything else is a 400 naming the currency.
    """

    def __init__(self, rates: dict[tuple[str, str], Decimal] | None = None) -> None:
        self.rates = rates or {}

    def to_base_minor(self, amount: Decimal, currency: str, base: str, field: str) -> int:
        exponent(currency)  # unknown codes fail first, with the currency named
        if currency == base:
            return to_minor(amount, base, field)
        rate = self.rates.get((currency, base))
        if rate is None:
            raise BadRequest(
                f"No exchange rate from {currency} to {base}: send amounts in {base} or load rates",
                field=field,
            )
        return to_minor(amount * rate, base, field)
