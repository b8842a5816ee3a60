"""Money: ISO 4217 exponents, exact decimals, minor units, conversion to the base currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.money import (
    CurrencyConverter,
    currency_code,
    decimal_of,
    exponent,
    from_minor,
    require_base_currency,
    to_minor,
)


@pytest.mark.parametrize(
    ("code", "digits"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("VND", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("usd", 2),
        ("jpy", 0),
    ],
)
def test_exponent_comes_from_iso_4217(code: str, digits: int) -> None:
    assert exponent(code) == digits


@pytest.mark.parametrize("code", ["XYZ", "US", "", "DOLLAR"])
def test_unknown_currency_is_400_naming_it(code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        exponent(code)
    assert caught.value.status == 400
    assert caught.value.field == "currency"
    assert repr(code) in caught.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (49.99, Decimal("49.99")),
        (0.1, Decimal("0.1")),
        (1.005, Decimal("1.005")),  # the decimal as written, not the binary float
        (10, Decimal("10")),
        ("12.50", Decimal("12.50")),
        (Decimal("3.3"), Decimal("3.3")),
    ],
)
def test_decimal_of_is_exact(value: float | int | str | Decimal, expected: Decimal) -> None:
    assert decimal_of(value, "revenue") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "revenue must be a number"),
        ("", "revenue must be a number"),
        (float("inf"), "revenue must be a finite number"),
        (float("nan"), "revenue must be a finite number"),
        ("Infinity", "revenue must be a finite number"),
    ],
)
def test_decimal_of_rejects_non_numbers(value: float | str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decimal_of(value, "revenue")
    assert (caught.value.message, caught.value.field) == (message, "revenue")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("49.99", "USD", 4999),
        ("1.005", "USD", 101),  # half up: 100.5 cents → 101, where float math gives 100
        ("0.125", "EUR", 13),
        ("-0.125", "EUR", -13),  # half away from zero
        ("1500", "JPY", 1500),
        ("1500.5", "JPY", 1501),
        ("1.234", "BHD", 1234),
        ("0", "USD", 0),
    ],
)
def test_to_minor(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [(4999, "USD", "49.99"), (1500, "JPY", "1500"), (1234, "BHD", "1.234")],
)
def test_from_minor_round_trips(minor: int, currency: str, amount: str) -> None:
    assert from_minor(minor, currency) == Decimal(amount)
    assert to_minor(from_minor(minor, currency), currency) == minor


def test_converter_takes_the_base_currency_without_rates() -> None:
    assert CurrencyConverter().to_base_minor(Decimal("49.99"), "USD", "USD", "revenue") == 4999


def test_converter_refuses_another_currency_without_a_rate() -> None:
    with pytest.raises(BadRequest) as caught:
        CurrencyConverter().to_base_minor(Decimal("10"), "EUR", "USD", "revenue")
    assert caught.value.field == "revenue"
    assert caught.value.message == (
        "No exchange rate from EUR to USD: send amounts in USD or load rates"
    )


def test_converter_applies_a_rate_in_the_base_currencys_minor_units() -> None:
    converter = CurrencyConverter(
        {("EUR", "JPY"): Decimal("161.2345"), ("JPY", "USD"): Decimal("0.0067")}
    )
    assert converter.to_base_minor(Decimal("10.00"), "EUR", "JPY", "revenue") == 1612
    assert converter.to_base_minor(Decimal("1500"), "JPY", "USD", "revenue") == 1005


def test_converter_rates_are_directional() -> None:
    converter = CurrencyConverter({("EUR", "USD"): Decimal("1.1")})
    with pytest.raises(BadRequest):
        converter.to_base_minor(Decimal("1"), "USD", "EUR", "revenue")


def test_converter_names_an_unknown_currency_before_looking_for_a_rate() -> None:
    with pytest.raises(BadRequest) as caught:
        CurrencyConverter().to_base_minor(Decimal("1"), "XYZ", "USD", "revenue")
    assert "'XYZ'" in caught.value.message


@pytest.mark.parametrize("amount", ["92233720368547758.08", "1e20", "1e300", "-1e20"])
def test_amounts_beyond_int64_minor_units_are_400(amount: str) -> None:
    # Minor units are stored as Int64: beyond it the flush fails (or, past 28 digits,
    # Decimal.quantize raises InvalidOperation, a 500). Either way the event must be refused.
    with pytest.raises(BadRequest) as caught:
        CurrencyConverter().to_base_minor(Decimal(amount), "USD", "USD", "revenue")
    assert caught.value.field == "revenue"


def test_largest_int64_amount_is_accepted() -> None:
    assert (
        CurrencyConverter().to_base_minor(Decimal("92233720368547758.07"), "USD", "USD", "revenue")
        == 2**63 - 1
    )


@pytest.mark.parametrize("asked", [None, "", "  ", "usd", " USD "])
def test_a_report_may_ask_for_nothing_or_the_base_currency(asked: str | None) -> None:
    require_base_currency(asked, "USD")


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ("EUR", "filters.currency must be USD: amounts are stored converted"),
        ("XYZ", "Unknown currency 'XYZ'"),
        (5, "filters.currency must be a currency code"),
    ],
)
def test_any_other_requested_currency_is_a_400(asked: object, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        require_base_currency(asked, "USD", "filters.currency")
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("asked", "code"), [(None, None), ("", None), (" ", None), (" eur ", "EUR")]
)
def test_a_currency_parameter_is_an_upper_case_iso_code_or_none(
    asked: str | None, code: str | None
) -> None:
    assert currency_code(asked) == code


@pytest.mark.parametrize("asked", ["XYZ", "euro", "E"])
def test_an_unknown_currency_parameter_is_a_400_naming_currency(asked: str) -> None:
    with pytest.raises(BadRequest) as caught:
        currency_code(asked)
    assert (caught.value.field, caught.value.message) == (
        "currency",
        f"Unknown currency {asked.upper()!r}",
    )
