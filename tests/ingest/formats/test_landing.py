"""Seed 004's landing-page tracker: its types, its errors, and an IP that is never kept."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event
from shoplens.ingest.formats import decode
from shoplens.ingest.formats.landing import (
    IP_HASH_LENGTH,
    LANDING_TYPES,
    LandingIn,
    ip_hash,
    to_event,
    validate,
)
from shoplens.meta import Tenant

IP = "203.0.113.42"
SALT = "tenant-salt-1"
RECEIVED_AT = 1_705_315_000_000


def make_ctx(ip: str = IP, **fields: Any) -> IngestContext:
    tenant = Tenant(
        id=1,
        name="Landing",
        base_currency="USD",
        timezone="UTC",
        plan="free",
        created_at="2024-01-01T00:00:00+00:00",
    )
    return IngestContext(tenant=tenant, received_at=RECEIVED_AT, ip=ip, **fields)


def track(body: dict[str, Any], ctx: IngestContext | None = None) -> Event:
    raw = decode(msgspec.json.encode(body), LandingIn)
    return to_event(raw, ctx or make_ctx())


def strings_in(value: Any) -> list[str]:
    """Every string inside an event as plain data: fields, keys, values, items."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


SEED_004_TYPES = [
    "pageview",
    "click_whatsapp",
    "click_call",
    "click_toggle_currency",
    "time_on_page",
    "qr_scan",
    "product_click",
]


def test_the_registry_holds_seed_004s_types() -> None:
    assert list(LANDING_TYPES) == SEED_004_TYPES


@pytest.mark.parametrize(("event_type", "canonical"), list(LANDING_TYPES.items()))
def test_each_type_is_accepted(event_type: str, canonical: str) -> None:
    event = track({"tenant_id": 1, "event_type": event_type})
    assert event.event_type == canonical
    assert event.event_name == event_type
    assert event.source == "landing"
    assert event.tenant_id == 1
    assert event.timestamp == event.received_at == RECEIVED_AT


def test_pageview_is_the_canonical_page_view() -> None:
    assert LANDING_TYPES["pageview"] == "page_view"


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({"event_type": "pageview"}, "tenant_id is required", "tenant_id"),
        ({"tenant_id": None, "event_type": "pageview"}, "tenant_id is required", "tenant_id"),
        ({"tenant_id": 1}, "event_type is required", "event_type"),
        ({"tenant_id": 1, "event_type": ""}, "event_type is required", "event_type"),
    ],
)
def test_missing_fields(body: dict[str, Any], message: str, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate(decode(msgspec.json.encode(body), LandingIn))
    assert (caught.value.status, caught.value.message, caught.value.field) == (400, message, field)


@pytest.mark.parametrize("event_type", ["page_view", "PAGEVIEW", "click_email", "purchase"])
def test_invalid_type_lists_the_allowed_values(event_type: str) -> None:
    with pytest.raises(BadRequest) as caught:
        track({"tenant_id": 1, "event_type": event_type})
    assert caught.value.field == "event_type"
    assert caught.value.message == (
        "event_type must be one of: pageview, click_whatsapp, click_call, "
        "click_toggle_currency, time_on_page, qr_scan, product_click"
    )


def test_validate_returns_the_tenant_and_canonical_type() -> None:
    raw = decode(b'{"tenant_id": 42, "event_type": "pageview"}', LandingIn)
    assert validate(raw) == (42, "page_view")


def test_tenant_id_must_be_an_integer() -> None:
    with pytest.raises(BadRequest) as caught:
        decode(b'{"tenant_id": "one", "event_type": "pageview"}', LandingIn)
    assert caught.value.field == "tenant_id"


# The IP ---------------------------------------------------------------------------------


def test_ip_hash_is_the_first_45_characters_of_sha256() -> None:
    expected = hashlib.sha256(f"{SALT}:{IP}".encode()).hexdigest()[:45]
    assert IP_HASH_LENGTH == 45
    assert ip_hash(SALT, IP) == expected
    assert len(expected) == 45


def test_ip_hash_is_stable_per_salt_and_ip() -> None:
    assert ip_hash(SALT, IP) == ip_hash(SALT, IP)
    assert ip_hash(SALT, IP) != ip_hash(SALT, "203.0.113.43")
    assert ip_hash(SALT, IP) != ip_hash("another-tenant", IP)


def test_the_format_leaves_the_hashes_to_the_privacy_stage() -> None:
    # Without stages nothing IP-derived is set: the salts are the privacy stage's
    # (tests/ingest/test_privacy.py checks the hashes it makes).
    event = track({"tenant_id": 1, "event_type": "pageview"})
    assert (event.ip_hash, event.visitor_id) == ("", "")


@pytest.mark.parametrize("ip", [IP, "2001:db8::1", "10.0.0.7"])
def test_the_raw_ip_is_nowhere_in_the_event(ip: str) -> None:
    event = track(
        {
            "tenant_id": 1,
            "event_type": "click_whatsapp",
            "metadata": {"button_location": "hero", "page": "/menu?utm_source=qr", "n": [1, 2]},
        },
        make_ctx(
            ip=ip,
            user_agent="Mozilla/5.0 (iPhone)",
            referrer="https://wa.me/",
        ),
    )
    fields = msgspec.structs.asdict(event)
    found = strings_in(fields)
    assert found, "the walk must see the event's strings"
    assert "Mozilla/5.0 (iPhone)" in found  # sanity: the walk reaches the fields
    assert not [s for s in found if ip in s]
    assert ip.encode() not in msgspec.json.encode(event)
    assert ip.encode() not in msgspec.msgpack.encode(event)  # what the WAL writes


def test_metadata_becomes_properties_and_page() -> None:
    event = track(
        {
            "tenant_id": 1,
            "event_type": "time_on_page",
            "metadata": {"seconds": 120, "page": "/menu?utm_campaign=qr", "hero": True},
        },
        make_ctx(referrer="https://google.com/"),
    )
    assert event.properties == {
        "seconds": "120",
        "page": "/menu?utm_campaign=qr",
        "hero": "true",
    }
    assert (event.page_url, event.page_path, event.utm_campaign, event.referrer) == (
        "/menu?utm_campaign=qr",
        "/menu",
        "qr",
        "https://google.com/",
    )


def test_metadata_url_is_the_page_when_page_is_absent() -> None:
    event = track({"tenant_id": 1, "event_type": "pageview", "metadata": {"url": "/p/1"}})
    assert event.page_path == "/p/1"


def test_a_non_string_page_is_ignored() -> None:
    event = track({"tenant_id": 1, "event_type": "pageview", "metadata": {"page": 5}})
    assert (event.page_url, event.page_path) == ("", "")
    assert event.properties == {"page": "5"}


def test_metadata_must_be_an_object() -> None:
    with pytest.raises(BadRequest) as caught:
        decode(b'{"tenant_id": 1, "event_type": "pageview", "metadata": [1]}', LandingIn)
    assert caught.value.field == "metadata"
