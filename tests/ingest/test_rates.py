"""Rate files (ECB CSV, JSON), their validation, and dated lookups with cross rates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.money import CurrencyConverter
from shoplens.ingest.rates import (
    GLOBAL,
    RateBook,
    RateSet,
    day_number,
    parse_csv,
    parse_file,
    parse_json,
)

# Real rows of the ECB's eurofxref-hist.csv (units per 1 EUR), with its trailing commas.
ECB_CSV = """Date,USD,JPY,BGN,KRW,GBP,
2026-10-30,1.1172,175.68,N/A,1491.76,0.8338,
2026-10-29,1.113,175.92,N/A,1488.4,0.83578,
2026-10-28,1.1133,175.86,N/A,1490.13,0.83785,
"""


def ms(day: str, time: str = "12:00:00") -> int:
    return int(datetime.fromisoformat(f"{day}T{time}+00:00").timestamp() * 1000)


def book_of(rates: RateSet, tenant_id: int = GLOBAL) -> RateBook:
    return RateBook((tenant_id, c, day_number(d), r) for d, c, r in rates.rows())


def bad(fn: Any, *args: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        fn(*args)
    return caught.value


def test_parse_csv_reads_the_ecb_format_skipping_na_cells() -> None:
    rates = parse_csv(ECB_CSV)
    assert sorted(rates.days) == [date(2026, 10, 28), date(2026, 10, 29), date(2026, 10, 30)]
    assert rates.days[date(2026, 10, 30)] == {
        "USD": Decimal("1.1172"),
        "JPY": Decimal("175.68"),
        "KRW": Decimal("1491.76"),
        "GBP": Decimal("0.8338"),
    }
    assert rates.count == 12
    assert rates.skipped == ["BGN"]  # replaced by the euro: ISO 4217 lists it no more


def test_the_shipped_ecb_snapshot_parses() -> None:
    from shoplens.ingest.rates_store import snapshot

    rates = snapshot()
    assert rates.days[date(2026, 10, 30)]["USD"] == Decimal("1.1172")
    assert min(rates.days) == date(2023, 11, 1)
    assert len(rates.days) > 700  # three years of working days


@pytest.mark.parametrize(
    ("text", "message", "field"),
    [
        ("USD,JPY\n", "CSV must start with a Date,<currency>,... header", "line 1"),
        ("Date,XYZ\n", "CSV header names no ISO 4217 currency", "line 1"),
        ("Date,USD\n2026-13-01,1.1\n", "line 2 Date must be a date (YYYY-MM-DD)", "line 2 Date"),
        ("Date,USD\n2026-10-30,-1\n", "line 2 USD must be a positive number", "line 2 USD"),
        ("Date,USD\n2026-10-30,abc\n", "line 2 USD must be a number", "line 2 USD"),
        ("Date,USD\n2026-10-30,inf\n", "line 2 USD must be a finite number", "line 2 USD"),
    ],
)
def test_parse_csv_errors_name_the_line_and_column(text: str, message: str, field: str) -> None:
    error = bad(parse_csv, text)
    assert (error.message, error.field) == (message, field)


def test_parse_json_one_object_and_a_list() -> None:
    one = parse_json({"base": "EUR", "date": "2026-11-20", "rates": {"USD": 1.05, "jpy": "160"}})
    assert one.days == {date(2026, 11, 20): {"USD": Decimal("1.05"), "JPY": Decimal("160")}}
    many = parse_json(
        [
            {"date": "2026-11-20", "rates": {"USD": 1.05}},
            {"date": "2026-11-21", "rates": {"USD": 1.06, "EUR": 1}},
        ]
    )
    assert many.count == 2
    assert many.days[date(2026, 11, 21)] == {"USD": Decimal("1.06")}


def test_parse_json_rebases_another_base_to_eur() -> None:
    # 1 USD = 0.95 EUR and 150 JPY  →  1 EUR = 1/0.95 USD and 150/0.95 JPY.
    rates = parse_json({"base": "USD", "date": "2026-11-20", "rates": {"EUR": 0.95, "JPY": 150}})
    got = rates.days[date(2026, 11, 20)]
    assert abs(got["USD"] - Decimal(1) / Decimal("0.95")) < Decimal("1e-11")
    assert abs(got["JPY"] - Decimal(150) / Decimal("0.95")) < Decimal("1e-9")


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({"date": "2026-11-20", "rates": {"XYZ": 1}}, "Unknown currency 'XYZ'", "rates.XYZ"),
        (
            {"base": "QQQ", "date": "2026-11-20", "rates": {"USD": 1}},
            "Unknown currency 'QQQ'",
            "base",
        ),
        ({"date": "20.11.2026", "rates": {"USD": 1}}, "date must be a date (YYYY-MM-DD)", "date"),
        ({"rates": {"USD": 1}}, "date must be a date (YYYY-MM-DD)", "date"),
        ({"date": "2026-11-20", "rates": {}}, "rates must be a non-empty object", "rates"),
        (
            {"date": "2026-11-20", "rates": {"USD": 0}},
            "rates.USD must be a positive number",
            "rates.USD",
        ),
        (
            {"date": "2026-11-20", "rates": {"USD": True}},
            "rates.USD must be a positive number",
            "rates.USD",
        ),
        (
            {"date": "2026-11-20", "rates": {"EUR": 2}},
            "rates.EUR must be 1 when base is EUR",
            "rates.EUR",
        ),
        (
            {"base": "USD", "date": "2026-11-20", "rates": {"JPY": 150}},
            "rates.EUR is required when base is not EUR (rates are kept per 1 EUR)",
            "rates.EUR",
        ),
        (
            [{"date": "2026-11-20", "rates": {"USD": 1}}, {"date": "x"}],
            "[1].date must be a date (YYYY-MM-DD)",
            "[1].date",
        ),
        ("rates", "body must be a rates object or a list of them", None),
    ],
)
def test_parse_json_errors_name_the_field(body: Any, message: str, field: str | None) -> None:
    error = bad(parse_json, body)
    assert (error.message, error.field) == (message, field)


def test_parse_file_refuses_bad_json_and_unknown_formats() -> None:
    assert bad(parse_file, "{", "json").message.startswith("invalid JSON")
    assert bad(parse_file, "", "xml").message == "format must be csv or json, not 'xml'"


def test_lookup_takes_the_latest_rate_on_or_before_the_day() -> None:
    book = book_of(parse_csv(ECB_CSV))
    friday = day_number(date(2026, 10, 30))
    for day in (date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 20)):
        hit = book.lookup("USD", day_number(day))
        assert hit is not None
        assert (hit.day, hit.rate) == (friday, Decimal("1.1172"))
    thursday = book.lookup("USD", day_number(date(2026, 10, 29)))
    assert thursday is not None and thursday.rate == Decimal("1.113")
    assert book.lookup("USD", day_number(date(2026, 10, 27))) is None  # before the first rate
    assert book.lookup("BGN", friday) is None  # never quoted
    eur = book.lookup("EUR", friday)
    assert eur is not None and eur.rate == 1


def test_tenant_overrides_win_on_their_dates_and_stay_private() -> None:
    rows = [(GLOBAL, c, day_number(d), r) for d, c, r in parse_csv(ECB_CSV).rows()]
    rows.append((7, "USD", day_number(date(2026, 10, 29)), Decimal("1.5")))
    rows.append((7, "BHD", day_number(date(2026, 10, 29)), Decimal("0.42")))
    book = RateBook(rows)
    thursday, friday = day_number(date(2026, 10, 29)), day_number(date(2026, 10, 30))
    own = book.lookup("USD", thursday, 7)
    assert own is not None and (own.rate, own.override) == (Decimal("1.5"), True)
    later = book.lookup("USD", friday, 7)  # the global Friday rate is later than the override
    assert later is not None and (later.rate, later.override) == (Decimal("1.1172"), False)
    other = book.lookup("USD", thursday, 8)
    assert other is not None and other.rate == Decimal("1.113")
    assert book.lookup("BHD", friday, 8) is None
    bhd = book.lookup("BHD", friday, 7)
    assert bhd is not None and bhd.rate == Decimal("0.42")
    assert "BHD" in book.currencies(7) and "BHD" not in book.currencies(8)


def expected_minor(amount: str, rate_from: str, rate_to: str, digits: int) -> int:
    """Independent arithmetic: amount * rate_to / rate_from, rounded half up at ``digits``."""
    value = Decimal(amount) * Decimal(rate_to) / Decimal(rate_from)
    return int((value * 10**digits).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_converter_uses_cross_rates_via_eur_at_the_events_day() -> None:
    converter = CurrencyConverter(book=book_of(parse_csv(ECB_CSV)))
    sunday = ms("2026-11-01")
    convert = converter.to_base_minor
    # EUR → USD at Friday's 1.1172; JPY (no minor unit) → USD; USD → KRW (no minor unit).
    assert convert(Decimal("10.00"), "EUR", "USD", "revenue", at_ms=sunday) == 1117
    assert convert(Decimal("1500"), "JPY", "USD", "revenue", at_ms=sunday) == expected_minor(
        "1500", "175.68", "1.1172", 2
    )
    assert convert(Decimal("49.99"), "USD", "KRW", "revenue", at_ms=sunday) == expected_minor(
        "49.99", "1.1172", "1491.76", 0
    )
    # Thursday's event uses Thursday's rates: a different answer.
    assert convert(Decimal("10.00"), "EUR", "USD", "revenue", at_ms=ms("2026-10-29")) == 1113


def test_converter_names_the_currency_and_day_without_a_rate() -> None:
    converter = CurrencyConverter(book=book_of(parse_csv(ECB_CSV)))
    error = bad(
        lambda: converter.to_base_minor(
            Decimal("1"), "BHD", "USD", "revenue", at_ms=ms("2026-11-01")
        )
    )
    assert error.field == "revenue"
    assert error.message == (
        "No exchange rate from BHD to USD on 2026-11-01 (BHD has no rate on or before that "
        "day): send amounts in USD or load rates"
    )
    early = bad(
        lambda: converter.to_base_minor(Decimal("1"), "EUR", "USD", "tax", at_ms=ms("2020-01-01"))
    )
    assert "on 2020-01-01 (USD has no rate" in early.message


def test_converter_replace_drops_cached_rates() -> None:
    converter = CurrencyConverter(book=book_of(parse_csv(ECB_CSV)))
    at = ms("2026-10-30")
    assert converter.to_base_minor(Decimal("100"), "EUR", "USD", "r", at_ms=at) == 11172
    converter.replace(book_of(parse_json({"date": "2026-10-30", "rates": {"USD": 2}})))
    assert converter.to_base_minor(Decimal("100"), "EUR", "USD", "r", at_ms=at) == 20000


def test_converter_without_a_time_uses_todays_rate() -> None:
    today = datetime.now(UTC).date().isoformat()
    converter = CurrencyConverter(
        book=book_of(
            parse_json(
                [{"date": "2000-01-03", "rates": {"USD": 1}}, {"date": today, "rates": {"USD": 3}}]
            )
        )
    )
    assert converter.to_base_minor(Decimal("1"), "EUR", "USD", "price") == 300
