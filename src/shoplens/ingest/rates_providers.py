"""Exchange-rate providers: where a scheduled refresh fetches rates, and how it reads them.

A registry (``PROVIDERS``, name → default URL, parser, whether an app id is needed) of two
formats:

- ``openexchangerates``: Open Exchange Rates' ``latest.json``,
  ``{"base": "USD", "timestamp": 1700000000, "rates": {"EUR": 0.91, ...}}`` — rates per 1
  ``base``, rebased here to EUR (its ``EUR`` rate is required); the date is the UTC day of
  ``timestamp``. About 170 ISO 4217 currencies.
- ``ecb``: the ECB's ``eurofxref-daily.xml`` (a gesmes envelope around
  ``<Cube time="2026-12-03"><Cube currency="USD" rate="1.0823"/>...``), per 1 EUR; the
  90-day and full histories (``eurofxref-hist-90d.xml``) have one ``Cube time`` per day and
  read the same way. About 30 currencies.

Parsers are pure: body bytes → a validated :class:`~shoplens.ingest.rates.RateSet`, or
:class:`BadBody` saying what is wrong. Codes ISO 4217 does not list (OXR's BTC, CNH, GGP,
and currencies since replaced) are skipped and listed in ``RateSet.skipped``: no event can
be in them. Every other rate must be a positive finite number within the stored range, and
a date no later than tomorrow, or the whole body is refused: a refresh stores all of its
rates or none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from shoplens.errors import BadRequest
from shoplens.ingest.money import exponent
from shoplens.ingest.rates import RateSet, parse_date, parse_json

__all__ = ["PROVIDERS", "BadBody", "Provider", "parse_ecb_xml", "parse_oxr"]

_CODE = re.compile(r"[A-Za-z]{3}")


class BadBody(ValueError):
    """A provider's answer that is not what its format promises, or holds an invalid rate."""


def _iso_known(code: str) -> bool:
    try:
        exponent(code)
    except BadRequest:
        return False
    return True


def _validated(entries: list[tuple[str, date, Any]], today: date) -> RateSet:
    """``(base, day, {code: rate})`` entries → one RateSet (EUR-quoted) or BadBody."""
    found = RateSet()
    skipped: set[str] = set()
    for base, day, rates in entries:
        if day > today + timedelta(days=1):
            raise BadBody(f"date {day} is in the future")
        if not isinstance(rates, dict) or not rates:
            raise BadBody("rates must be a non-empty object")
        kept: dict[str, Any] = {}
        for code, rate in rates.items():
            if not isinstance(code, str) or not _CODE.fullmatch(code):
                raise BadBody(f"rates: {code!r} is not a currency code")
            if _iso_known(code):
                kept[code] = rate
            else:
                skipped.add(code.upper())
        try:
            parsed = parse_json({"base": base, "date": day.isoformat(), "rates": kept})
        except BadRequest as exc:  # names the rate: "rates.USD must be a positive number"
            raise BadBody(f"{day}: {exc.message}") from None
        for currency, rate in parsed.days.get(day, {}).items():
            found.add(day, currency, rate)
    found.skipped = sorted(skipped)
    return found


def parse_oxr(body: bytes, today: date) -> RateSet:
    """Open Exchange Rates ``latest.json`` → rates per 1 EUR for the timestamp's UTC day."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadBody("body must be a JSON object")
    base, timestamp = data.get("base"), data.get("timestamp")
    if not isinstance(base, str) or not _CODE.fullmatch(base) or not _iso_known(base):
        raise BadBody(f"base must be an ISO 4217 currency code, not {base!r}")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp <= 0:
        raise BadBody("timestamp must be a positive integer (seconds since 1970)")
    try:
        day = datetime.fromtimestamp(timestamp, UTC).date()
    except (OverflowError, OSError, ValueError):
        raise BadBody(f"timestamp {timestamp} is out of range") from None
    return _validated([(base, day, data.get("rates"))], today)


def _local(tag: Any) -> str:
    """An element's name without its namespace (``{http://...}Cube`` → ``Cube``)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_ecb_xml(body: bytes, today: date) -> RateSet:
    """ECB ``eurofxref`` XML (daily, 90-day or full history) → rates per 1 EUR.

    Parsed with defusedxml: entity declarations (billion laughs) and external references
    are refused, not expanded.
    """
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException) as exc:
        raise BadBody(f"not XML ({type(exc).__name__}: {exc})") from None
    entries: list[tuple[str, date, Any]] = []
    for cube in root.iter():
        if _local(cube.tag) != "Cube" or "time" not in cube.attrib:
            continue
        try:
            day = parse_date(cube.get("time"), "Cube time")
        except BadRequest as exc:
            raise BadBody(f"{exc.message}, not {cube.get('time')!r}") from None
        rates: dict[str, Any] = {}
        for child in cube:
            code, rate = child.get("currency"), child.get("rate")
            if _local(child.tag) != "Cube" or code is None or rate is None:
                raise BadBody(f"Cube time={day}: every child must be <Cube currency= rate=>")
            rates[code] = rate
        entries.append(("EUR", day, rates))
    if not entries:
        raise BadBody("no <Cube time=...> element: not an ECB eurofxref file")
    return _validated(entries, today)


@dataclass(frozen=True)
class Provider:
    """A source of global rates: its default URL and how to read its answer."""

    name: str
    default_url: str
    parse: Callable[[bytes, date], RateSet]
    #: sent as the ``app_id`` query parameter (SHOPLENS_RATES_APP_ID)
    needs_app_id: bool = False


PROVIDERS: dict[str, Provider] = {
    provider.name: provider
    for provider in (
        Provider(
            "ecb",
            "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml",
            parse_ecb_xml,
        ),
        Provider(
            "openexchangerates",
            "https://openexchangerates.org/api/latest.json",
            parse_oxr,
            needs_app_id=True,
        ),
    )
}
