"""Provider formats: Open Exchange Rates ``latest.json`` and the ECB's ``eurofxref`` XML.

Expected rates are computed here from the provider's numbers (per 1 USD for OXR, rebased
to per 1 EUR: rate(X) / rate(EUR)), independently of the parser.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shoplens.ingest.rates_providers import PROVIDERS, BadBody, parse_ecb_xml, parse_oxr
from tests.rates_provider import ecb_xml

TODAY = datetime.now(UTC).date()
NOON = int(datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC).timestamp())


def oxr(rates: Any, **fields: Any) -> bytes:
    return json.dumps({"base": "USD", "timestamp": NOON, "rates": rates, **fields}).encode()


def per_eur(rate: str, eur: str) -> Decimal:
    return (Decimal(rate) / Decimal(eur)).quantize(Decimal("1e-12"))


def test_oxr_is_rebased_to_eur_on_the_timestamps_day_skipping_non_iso_codes() -> None:
    body = oxr({"USD": 1, "EUR": 0.9123, "AED": 3.6725, "JPY": 151.2, "BTC": 1.1e-5, "GGP": 0.79})
    found = parse_oxr(body, TODAY)
    assert list(found.days) == [TODAY]
    assert found.days[TODAY] == {
        "USD": per_eur("1", "0.9123"),
        "AED": per_eur("3.6725", "0.9123"),
        "JPY": per_eur("151.2", "0.9123"),
    }
    assert found.skipped == ["BTC", "GGP"]


def test_ecb_daily_xml_is_read_with_its_namespaces() -> None:
    day = (TODAY - timedelta(days=1)).isoformat()
    body = ecb_xml({day: {"USD": "1.0823", "JPY": "162.51", "ISK": "148.90", "BGN": "1.9558"}})
    found = parse_ecb_xml(body.encode(), TODAY)
    assert found.days == {
        date.fromisoformat(day): {
            "USD": Decimal("1.0823"),
            "JPY": Decimal("162.51"),
            "ISK": Decimal("148.9"),
        }
    }
    assert found.skipped == ["BGN"]  # replaced by the euro: ISO 4217 no longer lists it


def test_ecb_history_xml_gives_every_day() -> None:
    days = [(TODAY - timedelta(days=n)).isoformat() for n in (1, 2)]
    body = ecb_xml({days[0]: {"USD": "1.08"}, days[1]: {"USD": "1.07"}})
    found = parse_ecb_xml(body.encode(), TODAY)
    assert {d.isoformat(): r["USD"] for d, r in found.days.items()} == {
        days[0]: Decimal("1.08"),
        days[1]: Decimal("1.07"),
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (oxr({}), "rates must be a non-empty object"),
        (oxr({"EUR": 0.9, "AED": -3.67}), "rates.AED must be a positive number"),
        (oxr({"EUR": 0.9, "AED": "abc"}), "rates.AED must be a number"),
        (oxr({"EUR": 0.9, "AED": 1e30}), "rates.AED must be between"),
        (oxr({"EUR": 0.9, "A3D": 3.67}), "'A3D' is not a currency code"),
        (oxr({"AED": 3.67}), "rates.EUR is required when base is not EUR"),
        (oxr({"EUR": 0.9}, base="XYZ"), "base must be an ISO 4217 currency code"),
        (oxr({"EUR": 0.9}, timestamp="today"), "timestamp must be a positive integer"),
        (oxr({"EUR": 0.9}, timestamp=NOON + 5 * 86_400), "is in the future"),
    ],
)
def test_a_bad_oxr_body_is_refused_saying_why(body: bytes, message: str) -> None:
    with pytest.raises(BadBody, match=message):
        parse_oxr(body, TODAY)


def test_nan_and_infinity_are_refused() -> None:
    # Python's json reads NaN and Infinity literals; a rate must still be finite
    for literal in ("NaN", "Infinity"):
        body = oxr({"EUR": 0.9}).replace(b'"EUR": 0.9', f'"EUR": 0.9, "AED": {literal}'.encode())
        with pytest.raises(BadBody, match=r"rates\.AED must be a"):
            parse_oxr(body, TODAY)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Envelope><Cube><Cube time="2026-12-01"><Cube currency="USD" rate="&lol2;"/></Cube></Cube>
</Envelope>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Envelope><Cube><Cube time="2026-12-01"><Cube currency="USD" rate="&x;"/></Cube></Cube>
</Envelope>"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<Envelope><Cube>", "not XML"),
        (b"garbage", "not XML"),
        (BOMB, "not XML .*EntitiesForbidden"),
        (EXTERNAL, "not XML .*EntitiesForbidden"),
        (b"<Envelope><Cube/></Envelope>", "no <Cube time=...> element"),
        (ecb_xml({"yesterday": {"USD": "1.08"}}).encode(), "Cube time must be a date"),
        (ecb_xml({TODAY.isoformat(): {"USD": "0"}}).encode(), "rates.USD must be a positive"),
        (ecb_xml({TODAY.isoformat(): {"USD": "1,08"}}).encode(), "rates.USD must be a number"),
    ],
)
def test_a_bad_ecb_body_is_refused_saying_why(body: bytes, message: str) -> None:
    with pytest.raises(BadBody, match=message):
        parse_ecb_xml(body, TODAY)


def test_the_registry_names_each_providers_url_and_app_id_need() -> None:
    assert PROVIDERS["ecb"].default_url.endswith("/eurofxref-daily.xml")
    assert PROVIDERS["openexchangerates"].default_url.endswith("/api/latest.json")
    assert PROVIDERS["openexchangerates"].needs_app_id and not PROVIDERS["ecb"].needs_app_id
