"""The privacy stage and its salts: daily rotating visitor hashes, no raw IP anywhere.

The salts keeper gets a clock the test moves (a plain function, not a mock); everything
else is real: SQLite metadata files, the app over HTTP, the WAL files, the chDB tables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event
from shoplens.ingest.privacy import DAY_SECONDS, Privacy, Salts, redact_ips
from shoplens.ingest.stages import Facts, build_stages
from shoplens.meta import MetaStore, Tenant
from shoplens.store import Store
from tests.conftest import TenantKeys, rows, wait_stored

IP = "203.0.113.42"
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
DAY = 19_723  # 2024-01-01
NOON = DAY * DAY_SECONDS + 12 * 3600


class Clock:
    """A clock the test moves: seconds since the epoch, like ``time.time``."""

    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def next_day(self) -> None:
        self.now += DAY_SECONDS


@pytest.fixture
def meta_path(tmp_path: Path) -> Path:
    return tmp_path / "meta.sqlite3"


@pytest.fixture
def own_meta(meta_path: Path) -> Iterator[MetaStore]:
    opened = MetaStore(meta_path)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def privacy(own_meta: MetaStore, clock: Clock) -> Privacy:
    return Privacy(Salts(own_meta, clock))


def tenant(tenant_id: int = 1) -> Tenant:
    return Tenant(tenant_id, "shop", "USD", "UTC", "free", "2024-01-01T00:00:00+00:00")


def hashed(
    privacy: Privacy,
    *,
    ip: str = IP,
    ua: str = UA,
    tenant_id: int = 1,
    source: str = "core",
    historical: bool = False,
    timestamp_ms: int = NOON * 1000,
    **fields: Any,
) -> Event:
    """One event through the stage, as ``normalize.finish`` runs it."""
    event = Event(
        tenant_id=tenant_id,
        event_id="e",
        event_type="page_view",
        event_name="page_view",
        source=source,
        timestamp=timestamp_ms,
        received_at=timestamp_ms,
        user_agent=ua,
        **fields,
    )
    ctx = IngestContext(tenant=tenant(tenant_id), ip=ip, historical=historical)
    privacy.apply(event, Facts(ip=ip), ctx)
    return event


def expected_visitor(day_salt: bytes, tenant_id: int, ip: str, ua: str) -> str:
    """The documented hash, computed independently of the module."""
    key = hmac.new(day_salt, f"tenant:{tenant_id}".encode(), hashlib.sha256).digest()
    return hashlib.blake2b(f"{ip}\n{ua}".encode(), key=key, digest_size=8).hexdigest()


# Visitor hashes -------------------------------------------------------------------------


def test_the_same_visitor_on_the_same_day_is_one_id(
    privacy: Privacy, own_meta: MetaStore, clock: Clock
) -> None:
    morning = hashed(privacy)
    clock.now += 11 * 3600  # 23:00, still the same UTC day
    evening = hashed(privacy)
    assert morning.visitor_id == evening.visitor_id
    assert morning.visitor_id == expected_visitor(own_meta.salts()[DAY], 1, IP, UA)
    assert hashed(privacy, ua=UA + " other").visitor_id != morning.visitor_id  # device
    assert hashed(privacy, ip="203.0.113.43").visitor_id != morning.visitor_id


def test_the_next_day_the_same_visitor_gets_an_unrelated_id(
    privacy: Privacy, own_meta: MetaStore, clock: Clock
) -> None:
    today = hashed(privacy).visitor_id
    today_salt = own_meta.salts()[DAY]
    clock.next_day()
    tomorrow = hashed(privacy).visitor_id

    assert tomorrow != today
    tomorrow_salt = own_meta.salts()[DAY + 1]
    assert tomorrow_salt != today_salt  # a fresh random salt, not derived from the last
    assert tomorrow == expected_visitor(tomorrow_salt, 1, IP, UA)
    # Not linkable: today's id is a keyed hash under a salt that is neither stored with
    # tomorrow's nor computable from it; once destroyed it cannot be recomputed at all.
    clock.next_day()
    hashed(privacy)
    assert DAY not in own_meta.salts()


def test_salts_older_than_yesterday_are_destroyed_even_on_disk(
    privacy: Privacy, own_meta: MetaStore, meta_path: Path, clock: Clock
) -> None:
    first = privacy.salts.current()
    clock.next_day()
    second = privacy.salts.current()
    assert own_meta.salts() == {DAY: first, DAY + 1: second}  # today and yesterday kept

    clock.next_day()
    third = privacy.salts.current()
    assert own_meta.salts() == {DAY + 1: second, DAY + 2: third}
    # not just unlisted: the bytes are gone from the database file and its WAL
    files = [meta_path, *meta_path.parent.glob(meta_path.name + "-*")]
    on_disk = b"".join(path.read_bytes() for path in files if path.exists())
    assert second in on_disk  # sanity: a kept salt is visible to this search
    assert first not in on_disk


def test_a_restart_keeps_todays_salt(own_meta: MetaStore, meta_path: Path, clock: Clock) -> None:
    before = hashed(Privacy(Salts(own_meta, clock))).visitor_id
    reopened = MetaStore(meta_path)  # a new process on the same data dir
    try:
        after = hashed(Privacy(Salts(reopened, clock))).visitor_id
    finally:
        reopened.close()
    assert after == before


def test_a_start_after_days_offline_destroys_the_old_salts(
    own_meta: MetaStore, clock: Clock
) -> None:
    Salts(own_meta, clock)
    clock.now += 5 * DAY_SECONDS
    Salts(own_meta, clock)  # no event needed
    assert list(own_meta.salts()) == [DAY + 5]


def test_different_tenants_get_different_ids_for_the_same_visitor(privacy: Privacy) -> None:
    ids = {hashed(privacy, tenant_id=t).visitor_id for t in (1, 2, 3)}
    assert len(ids) == 3


# Which id is the visitor ------------------------------------------------------------------


def test_an_id_the_sender_gives_is_the_visitor(privacy: Privacy) -> None:
    assert hashed(privacy, anonymous_id="anon-1", user_id="u-1").visitor_id == "anon-1"
    assert hashed(privacy, user_id="u-1").visitor_id == "u-1"


def test_without_an_ip_the_visitor_is_the_senders_id_or_none(privacy: Privacy) -> None:
    assert hashed(privacy, ip="", user_id="u-1").visitor_id == "u-1"
    event = hashed(privacy, ip="", source="landing")
    assert (event.visitor_id, event.ip_hash) == ("", "")


def test_landing_events_keep_seed_004s_ip_hash(privacy: Privacy, own_meta: MetaStore) -> None:
    event = hashed(privacy, source="landing", tenant_id=7)
    salt = hmac.new(own_meta.salts()[DAY], b"tenant:7", hashlib.sha256).hexdigest()
    assert event.ip_hash == hashlib.sha256(f"{salt}:{IP}".encode()).hexdigest()[:45]
    assert len(event.ip_hash) == 45
    assert hashed(privacy, source="core").ip_hash == ""
    assert hashed(privacy, source="segment", ip_hash="sent-by-someone").ip_hash == ""


def test_historical_imports_use_a_throwaway_salt_per_day(
    privacy: Privacy, own_meta: MetaStore
) -> None:
    old_day_ms = (DAY - 100) * DAY_SECONDS * 1000
    one = hashed(privacy, historical=True, timestamp_ms=old_day_ms)
    again = hashed(privacy, historical=True, timestamp_ms=old_day_ms + 3_600_000)
    next_day = hashed(privacy, historical=True, timestamp_ms=old_day_ms + DAY_SECONDS * 1000)
    assert one.visitor_id == again.visitor_id  # one visitor per day within the import
    assert next_day.visitor_id != one.visitor_id
    assert one.visitor_id != hashed(privacy).visitor_id  # not today's live id either
    assert list(own_meta.salts()) == [DAY]  # nothing written for the imported days
    # a second import run cannot reproduce the ids: the salt died with the first
    other_run = Privacy(Salts(own_meta, Clock()))
    assert hashed(other_run, historical=True, timestamp_ms=old_day_ms).visitor_id != one.visitor_id


# Properties -----------------------------------------------------------------------------


def test_properties_holding_the_ip_are_dropped(privacy: Privacy) -> None:
    event = hashed(
        privacy,
        properties={
            "ip": "198.51.100.9",
            "IP_Address": "198.51.100.9",
            "x-forwarded-for": "198.51.100.9, 10.0.0.1",
            "client": IP,  # any key whose value is exactly the visitor's IP
            "plan": "gold",
            "ipsum": "lorem",
        },
    )
    assert event.properties == {"plan": "gold", "ipsum": "lorem"}


def test_ips_under_any_key_nested_or_in_arrays_are_scrubbed(privacy: Privacy) -> None:
    # What normalize.properties makes of {"geo": {...}, "hops": [...]}: their JSON text.
    nested = json.dumps({"origin": "198.51.100.20", "city": "Lyon", "v6": ["2001:db8::20"]})
    event = hashed(
        privacy,
        properties={
            "ipv4": "198.51.100.21",  # a key the name list never had
            "lastSeenFrom": "2001:db8::21",
            "proxies": "198.51.100.22, 2001:db8::22",
            "geo": nested,
            "hops": json.dumps(["198.51.100.23", "cdn", 3]),
            "note": "seen from 198.51.100.24:8443 yesterday",
            "198.51.100.25": "a key that is an IP",
            "version": "4.2",
        },
    )
    assert event.properties == {
        "geo": json.dumps({"origin": "[ip]", "city": "Lyon", "v6": ["[ip]"]}),
        "hops": json.dumps(["[ip]", "cdn", 3]),
        "note": "seen from [ip]:8443 yesterday",
        "[ip]": "a key that is an IP",
        "version": "4.2",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.5", "[ip]"),
        ("from 203.0.113.5.", "from [ip]."),
        ("http://203.0.113.5:8080/cart", "http://[ip]:8080/cart"),
        ("http://[2001:db8::1]/", "http://[[ip]]/"),
        ("2001:DB8:0:0:8:800:200C:417A", "[ip]"),
        ("::1", "[ip]"),
        ("fe80::1%eth0", "[ip]%eth0"),
        ("::ffff:203.0.113.5", "::ffff:[ip]"),
        ("11.2.3.45", "[ip]"),  # one address, not 1.2.3.4 inside another
        # not addresses: left as they are
        ("49.99", "49.99"),
        ("12:30:45", "12:30:45"),
        ("2026-12-04T17:28:32.123Z", "2026-12-04T17:28:32.123Z"),
        ("1.3.6.1.4.1", "1.3.6.1.4.1"),
        ("256.1.1.1", "256.1.1.1"),
        ("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff"),
        ("123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"),
        ("v1.2.3", "v1.2.3"),
        ("v1.2.3.4", "v1.2.3.4"),
        (
            "Mozilla/5.0 Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 Chrome/131.0.0.0 Safari/537.36",
        ),
        ("http://203.0.113.5/ and https://[::1]/", "http://[ip]/ and https://[[ip]]/"),
    ],
)
def test_redact_ips_finds_addresses_by_their_shape(text: str, expected: str) -> None:
    assert redact_ips(text) == expected


def test_build_stages_has_the_privacy_stage(own_meta: MetaStore, tmp_path: Path) -> None:
    stages = build_stages(Settings(data_dir=tmp_path / "d"), own_meta)
    assert "privacy" in stages.names


# End to end: every route, every file --------------------------------------------------------

# Documentation addresses (RFC 5737 / 3849), one per route, so a leak names its route.
FORWARDED = "192.0.2.201"


@pytest.fixture
def proxied(tmp_path: Path, meta_file: Path, store: Store) -> Iterator[tuple[TestClient, Settings]]:
    """The app behind a trusted proxy, so each request can say which IP it comes from."""
    settings = Settings(
        data_dir=tmp_path / "data", meta_file=meta_file, flush_interval=0.2, trust_proxy=True
    )
    with TestClient(create_app(settings, store=store)) as client:
        yield client, settings


def _send_everywhere(client: TestClient, shop: TenantKeys) -> list[str]:
    """One request per ingest route; returns the IPs used (each must vanish)."""
    ips: list[str] = []

    def post(path: str, body: dict[str, Any], auth: bool = True, ip: str = "") -> None:
        forwarded = ip or f"192.0.2.{len(ips) + 10}"
        ips.append(forwarded)
        headers = {"X-Forwarded-For": forwarded, "User-Agent": UA}
        if auth:
            headers |= shop.pk
        response = client.post(path, json=body, headers=headers)
        assert response.is_success, (path, response.text)

    ctx_ip = "198.51.100.77"  # an IP given in the body's context instead of the request's
    ips.append(ctx_ip)
    leak = {"ip": "198.51.100.78", "note": "kept", "client_ip": "198.51.100.79"}
    ips += ["198.51.100.78", "198.51.100.79"]
    post("/analytics/event", {"event": "signup", "properties": leak})
    post("/analytics/event", {"event": "signup", "context": {"ip": ctx_ip}})
    post("/analytics/event/batch", {"events": [{"event": "signup", "anonymousId": "a1"}]})
    post("/v1/api/analytics/ecommerce/track", {"event_type": "view_cart", "properties": leak})
    post(
        "/v1/api/analytics/ecommerce/batch",
        {"events": [{"event_type": "view_cart", "anonymous_id": "a2"}]},
    )
    post("/api/analytics/track", {"tenant_id": shop.id, "event_type": "pageview"}, auth=False)
    post(
        "/api/analytics/track",
        {"tenant_id": shop.id, "event_type": "click_call", "metadata": leak},
        auth=False,
    )
    post("/v1/track", {"userId": "u", "event": "A", "context": {"ip": ctx_ip}, "properties": leak})
    post("/v1/page", {"anonymousId": "a3", "name": "Home"})
    post("/v1/identify", {"userId": "u", "traits": {"ip": "198.51.100.78"}})
    post("/v1/batch", {"batch": [{"type": "track", "event": "B", "anonymousId": "a4"}]})
    return ips


def test_no_raw_ip_reaches_any_file_or_column(
    proxied: tuple[TestClient, Settings], make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    client, settings = proxied
    shop = make_tenant("Privacy shop", plan="pro")
    ips = _send_everywhere(client, shop)
    wait_stored(client)

    stored = {
        table: rows(store, f"SELECT * FROM {table} WHERE tenant_id = {{t:UInt32}}", t=shop.id)
        for table in ("events", "event_items", "event_properties")
    }
    assert len(stored["events"]) == 11  # sanity: everything sent was stored
    notes = [dict(row["properties"]).get("note") for row in stored["events"]]
    assert notes.count("kept") == 4  # only the IP-holding properties were dropped
    assert_stored_nowhere(ips, stored, settings)


def assert_stored_nowhere(
    ips: list[str], stored: dict[str, list[dict[str, Any]]], settings: Settings
) -> None:
    """None of ``ips`` in any column of ``stored`` rows, any WAL file, any metadata file."""
    wal_files = [p for p in settings.wal_dir.rglob("*") if p.is_file()]
    assert wal_files, "sanity: the WAL was written"
    meta_files = list(settings.meta_path.parent.glob(settings.meta_path.name + "*"))
    for ip in ips:
        for table, table_rows in stored.items():
            for row in table_rows:
                for column, value in row.items():
                    assert ip not in str(value), f"{ip} stored in {table}.{column}"
        for path in [*wal_files, *meta_files]:
            assert ip.encode() not in path.read_bytes(), f"{ip} written to {path}"


def test_ips_anywhere_in_properties_traits_and_metadata_are_stored_nowhere(
    proxied: tuple[TestClient, Settings], make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    client, settings = proxied
    shop = make_tenant("Privacy shop, shapes", plan="pro")
    ips = [f"198.51.100.{n}" for n in range(30, 40)] + [f"2001:db8::{n}" for n in range(30, 36)]
    # The addresses a request comes from are real-looking too; each must vanish as well.
    sent_from = iter(f"192.0.2.{n}" for n in range(130, 140))

    def post(path: str, body: dict[str, Any], auth: bool = True) -> None:
        forwarded = next(sent_from)
        ips.append(forwarded)
        headers = {"X-Forwarded-For": forwarded, "User-Agent": UA} | (shop.pk if auth else {})
        response = client.post(path, json=body, headers=headers)
        assert response.is_success, (path, response.text)

    post(
        "/analytics/event",
        {
            "event": "signup",
            "properties": {
                "ipv4": ips[0],
                "geo": {"origin": ips[1], "path": [ips[2], "cdn"], "v6": ips[10]},
                "note": f"seen from {ips[3]}, then {ips[11]}",
            },
        },
    )
    post(
        "/v1/api/analytics/ecommerce/track",
        {"event_type": "view_cart", "properties": {"ipv4": ips[4]}},
    )
    post("/v1/identify", {"userId": "u-1", "traits": {"lastIp": ips[5], "ipv6": ips[12]}})
    post(
        "/v1/batch",
        {
            "batch": [
                {"type": "identify", "userId": "u-2", "traits": {"address": {"ip": ips[6]}}},
                {"type": "track", "event": "B", "userId": "u-2", "properties": {"hops": [ips[13]]}},
            ]
        },
    )
    post(
        "/api/analytics/track",
        {
            "tenant_id": shop.id,
            "event_type": "click_call",
            "metadata": {"visitor": ips[7], "visitor6": ips[14], "ua": f"via {ips[8]}"},
        },
        auth=False,
    )
    wait_stored(client)

    stored = {
        table: rows(store, f"SELECT * FROM {table} WHERE tenant_id = {{t:UInt32}}", t=shop.id)
        for table in ("events", "event_items", "event_properties")
    }
    assert len(stored["events"]) == 6  # sanity: everything sent was stored
    properties = [dict(row["properties"]) for row in stored["events"]]
    signup = next(p for p in properties if "geo" in p)
    # What is not an address stays, with the addresses redacted in place.
    assert json.loads(signup["geo"]) == {"origin": "[ip]", "path": ["[ip]", "cdn"], "v6": "[ip]"}
    assert signup["note"] == "seen from [ip], then [ip]"
    assert "ipv4" not in signup
    assert_stored_nowhere(ips, stored, settings)


def test_over_http_a_landing_visitor_counts_once_a_day(
    proxied: tuple[TestClient, Settings], make_tenant: Callable[..., TenantKeys]
) -> None:
    client, _ = proxied
    shop = make_tenant("Landing privacy")

    def pageview(ip: str, ua: str) -> None:
        response = client.post(
            "/api/analytics/track",
            json={"tenant_id": shop.id, "event_type": "pageview"},
            headers={"X-Forwarded-For": ip, "User-Agent": ua},
        )
        assert response.status_code == 200

    for ip, ua in [(IP, UA), (IP, UA), (IP, UA + " tablet"), ("203.0.113.50", UA)]:
        pageview(ip, ua)
    wait_stored(client)
    today = client.get(f"/api/analytics/{shop.id}/today", headers=shop.sk).json()
    assert today["visitors_today"] == 3  # two pageviews of one browser are one visitor
