"""The fraud stage on real Events: each rule at its threshold (kept) and just past it
(flagged or blocked), severities, per-tenant settings in a real SQLite metadata store,
the velocity windows' memory bound, and blocked counts that outlive their counter.
"""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shoplens.config import Settings
from shoplens.errors import BadRequest
from shoplens.ingest import handlers
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event, Item
from shoplens.ingest.formats import ecommerce, segment
from shoplens.ingest.fraud import RULES, Fraud, FraudSettings, Velocity, describe
from shoplens.ingest.fraud_stats import ALL, BlockedCounter, utc_day
from shoplens.ingest.stages import BLOCKED, FLAGGED, Facts, Stages, build_stages
from shoplens.meta import MetaStore, Tenant

NOW = 1_705_315_000_000  # 2024-01-15T10:36:40Z
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture
def meta(tmp_path: Path) -> MetaStore:
    return MetaStore(tmp_path / "meta.sqlite3")


@pytest.fixture
def new_tenant(meta: MetaStore) -> Callable[..., Tenant]:
    def make(base_currency: str = "USD") -> Tenant:
        return meta.create_tenant("shop", base_currency=base_currency)

    return make


@pytest.fixture
def stage(meta: MetaStore) -> Fraud:
    return Fraud(FraudSettings(meta, ttl=60.0))


def purchase(tenant: Tenant, revenue: int = 5_000, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "user_agent": BROWSER,
        "transaction_id": uuid.uuid4().hex,
        "currency": tenant.base_currency,
        "original_currency": tenant.base_currency,
        **fields,
    }
    return Event(
        tenant_id=tenant.id,
        event_id=str(uuid.uuid4()),
        event_type=values.pop("event_type", "purchase"),
        event_name="purchase",
        source="ecommerce",
        timestamp=values.pop("timestamp", NOW),
        received_at=values.pop("received_at", NOW),
        revenue=revenue,
        **values,
    )


def judge(
    stage: Fraud, event: Event, ip: str = "", historical: bool = False, shopper: bool = True
) -> tuple[int, list[str]]:
    """Run the stage on ``event`` sent from ``ip``: the shopper's unless ``shopper=False``
    (a server integration's own address, as ``normalize.finish`` tells them apart)."""
    tenant = Tenant(event.tenant_id, "shop", event.currency or "USD", "UTC", "pro", "")
    ctx = IngestContext(tenant=tenant, received_at=event.received_at, historical=historical)
    stage.apply(event, Facts(ip=ip, shopper_ip=ip if shopper else ""), ctx)
    return event.is_flagged, event.fraud_reasons


def configure(stage: Fraud, tenant: Tenant, rules: dict[str, Any]) -> None:
    stage.settings.update(tenant.id, {"rules": rules})


# --- the registry -----------------------------------------------------------------------


def test_registry_defaults() -> None:
    assert list(RULES) == [
        "bot",
        "negative_amount",
        "revenue_ceiling",
        "items_mismatch",
        "velocity",
        "currency",
    ]
    assert {n: r.severity for n, r in RULES.items()} == {
        "bot": BLOCKED,
        "negative_amount": FLAGGED,
        "revenue_ceiling": FLAGGED,
        "items_mismatch": FLAGGED,
        "velocity": FLAGGED,
        "currency": FLAGGED,
    }
    assert all(rule.description for rule in RULES.values())


def test_a_clean_purchase_passes(stage: Fraud, new_tenant: Callable[..., Tenant]) -> None:
    assert judge(stage, purchase(new_tenant())) == (0, [])


# --- bot --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (BROWSER, (0, [])),
        ("", (0, [])),
        (GOOGLEBOT, (BLOCKED, ["bot"])),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36", (BLOCKED, ["bot"])),
        # Generic HTTP libraries are what server integrations send with: not judged.
        ("python-requests/2.31", (0, [])),
        ("axios/1.6.0", (0, [])),
    ],
)
def test_bot(
    stage: Fraud, new_tenant: Callable[..., Tenant], user_agent: str, expected: Any
) -> None:
    assert judge(stage, purchase(new_tenant(), user_agent=user_agent)) == expected


def test_bot_at_severity_1_is_flagged(stage: Fraud, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"bot": {"severity": 1}})
    assert judge(stage, purchase(tenant, user_agent=GOOGLEBOT)) == (FLAGGED, ["bot"])


# --- impossible amounts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "flagged"),
    [
        ({"revenue": 0}, False),
        ({"revenue": -1}, True),
        ({"discount": -1}, True),
        ({"shipping": -1}, True),
        ({"tax": -1}, True),
        ({"items": [Item("sku", price=0)]}, False),
        ({"items": [Item("sku", price=-1)]}, True),
        ({"items": [Item("sku", discount=-1)]}, True),
    ],
)
def test_negative_amount(
    stage: Fraud, new_tenant: Callable[..., Tenant], fields: dict[str, Any], flagged: bool
) -> None:
    # Any event type (a view_item here: items_mismatch judges purchases only).
    event = purchase(new_tenant(), **{"revenue": 0, "event_type": "view_item", **fields})
    assert judge(stage, event) == ((FLAGGED, ["negative_amount"]) if flagged else (0, []))


@pytest.mark.parametrize(("currency", "minor_per_major"), [("USD", 100), ("JPY", 1), ("BHD", 1000)])
def test_revenue_ceiling_default_in_base_minor_units(
    stage: Fraud, new_tenant: Callable[..., Tenant], currency: str, minor_per_major: int
) -> None:
    tenant = new_tenant(currency)
    ceiling = 1_000_000 * minor_per_major
    assert judge(stage, purchase(tenant, ceiling)) == (0, [])
    assert judge(stage, purchase(tenant, ceiling + 1)) == (FLAGGED, ["revenue_ceiling"])


def test_revenue_ceiling_per_tenant(stage: Fraud, new_tenant: Callable[..., Tenant]) -> None:
    strict, other = new_tenant(), new_tenant()
    configure(stage, strict, {"revenue_ceiling": {"thresholds": {"max_revenue": 99.5}}})
    assert judge(stage, purchase(strict, 9_950)) == (0, [])
    assert judge(stage, purchase(strict, 9_951)) == (FLAGGED, ["revenue_ceiling"])
    assert judge(stage, purchase(other, 9_951)) == (0, [])  # another tenant: defaults


def items_purchase(tenant: Tenant, revenue: int, **fields: Any) -> Event:
    # subtotal 100.00: 2 x 30.00 + 1 x 40.00
    items = [Item("a", price=3_000, quantity=2), Item("b", price=4_000, quantity=1)]
    return purchase(tenant, revenue, items=items, **fields)


@pytest.mark.parametrize(
    ("revenue", "fields", "flagged"),
    [
        # subtotal 10000, tolerance 1 % of the upper bound
        (10_000, {}, False),
        (10_100, {}, False),
        (10_101, {}, True),
        (9_900, {}, False),
        (9_899, {}, True),
        # upper bound 10000 + 500 shipping + 800 tax = 11300, tolerance 113
        (11_413, {"shipping": 500, "tax": 800}, False),
        (11_414, {"shipping": 500, "tax": 800}, True),
        # lower bound 10000 - 2000 discount = 8000, tolerance 1 % of 10000
        (7_900, {"discount": 2_000}, False),
        (7_899, {"discount": 2_000}, True),
    ],
)
def test_items_mismatch(
    stage: Fraud,
    new_tenant: Callable[..., Tenant],
    revenue: int,
    fields: dict[str, Any],
    flagged: bool,
) -> None:
    event = items_purchase(new_tenant(), revenue, **fields)
    assert judge(stage, event) == ((FLAGGED, ["items_mismatch"]) if flagged else (0, []))


def test_items_mismatch_tolerance_per_tenant(
    stage: Fraud, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"items_mismatch": {"thresholds": {"tolerance_percent": 10}}})
    assert judge(stage, items_purchase(tenant, 11_000)) == (0, [])
    assert judge(stage, items_purchase(tenant, 11_001)) == (FLAGGED, ["items_mismatch"])


def test_items_mismatch_only_judges_purchases_with_priced_items(
    stage: Fraud, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    unpriced = purchase(tenant, 99_999, items=[Item("a", quantity=3)])
    assert judge(stage, unpriced) == (0, [])
    refund = purchase(tenant, 1, event_type="refund", items=[Item("a", price=3_000)])
    assert judge(stage, refund) == (0, [])


def test_seed_example_adds_up(stage: Fraud, new_tenant: Callable[..., Tenant]) -> None:
    # Seed 002's example: revenue 49.99, 2 x 24.99, discount 5, shipping 4.99, tax 3.75.
    event = purchase(
        new_tenant(),
        4_999,
        items=[Item("sku_1", price=2_499, quantity=2)],
        discount=500,
        shipping=499,
        tax=375,
    )
    assert judge(stage, event) == (0, [])


# --- velocity ---------------------------------------------------------------------------


def test_velocity_per_user(stage: Fraud, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    for second in range(10):  # the default: 10 purchases per user per minute
        event = purchase(tenant, user_id="u1", received_at=NOW + second * 1000)
        assert judge(stage, event) == (0, [])
    eleventh = purchase(tenant, user_id="u1", received_at=NOW + 59_999)
    assert judge(stage, eleventh) == (FLAGGED, ["velocity"])
    assert judge(stage, purchase(tenant, user_id="u2", received_at=NOW + 59_999)) == (0, [])
    # Attempts count even when flagged: at +60 s the window (60 s back, exclusive) holds
    # 1 s..9 s, 59.999 s and this one: 11.
    assert judge(stage, purchase(tenant, user_id="u1", received_at=NOW + 60_000)) == (
        FLAGGED,
        ["velocity"],
    )
    # At +62 s, 0 s..2 s have left: 3 s..9 s (7), 59.999 s, 60 s and this one make 10.
    assert judge(stage, purchase(tenant, user_id="u1", received_at=NOW + 62_000)) == (0, [])


def test_velocity_per_ip_with_tenant_threshold(
    stage: Fraud, new_tenant: Callable[..., Tenant]
) -> None:
    tenant, other = new_tenant(), new_tenant()
    configure(stage, tenant, {"velocity": {"thresholds": {"per_ip": 3}}})
    for n in range(3):
        assert judge(stage, purchase(tenant, user_id=f"u{n}"), ip="198.51.100.7") == (0, [])
    assert judge(stage, purchase(tenant, user_id="u9"), ip="198.51.100.7") == (
        FLAGGED,
        ["velocity"],
    )
    assert judge(stage, purchase(tenant), ip="198.51.100.8") == (0, [])
    for n in range(4):  # another tenant, the same IP: its own window, default threshold
        assert judge(stage, purchase(other, user_id=f"u{n}"), ip="198.51.100.7") == (0, [])


def test_velocity_counts_a_retried_transaction_once(
    stage: Fraud, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"velocity": {"thresholds": {"per_user": 1}}})
    assert judge(stage, purchase(tenant, user_id="u", transaction_id="t1")) == (0, [])
    assert judge(stage, purchase(tenant, user_id="u", transaction_id="t1")) == (0, [])
    assert judge(stage, purchase(tenant, user_id="u", transaction_id="t2")) == (
        FLAGGED,
        ["velocity"],
    )


def test_velocity_skips_other_types_and_historical_loads(
    stage: Fraud, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"velocity": {"thresholds": {"per_user": 1}}})
    for _ in range(3):
        assert judge(stage, purchase(tenant, user_id="u", event_type="add_to_cart")) == (0, [])
        assert judge(stage, purchase(tenant, user_id="h"), historical=True) == (0, [])


def test_velocity_per_ip_judges_a_shopper_ip_never_the_shops_own_server(
    stage: Fraud, new_tenant: Callable[..., Tenant]
) -> None:
    # Issue 9: a server integration sends every order from its own address. 300 orders of
    # 300 shoppers in one minute from it are 300 real orders, not one fast buyer.
    tenant = new_tenant()
    server = "10.0.0.5"
    for n in range(300):
        event = purchase(tenant, user_id=f"u{n}", received_at=NOW + n * 100)
        assert judge(stage, event, ip=server, shopper=False) == (0, [])
    # The same address as a shopper's (forwarded in the event, or a browser's own): the
    # default 120 a minute applies, counted on its own window.
    flags = [
        judge(stage, purchase(tenant, user_id=f"s{n}", received_at=NOW + n * 100), ip=server)
        for n in range(122)
    ]
    assert flags[:120] == [(0, [])] * 120
    assert flags[120:] == [(FLAGGED, ["velocity"])] * 2


def test_velocity_skips_backfills(stage: Fraud, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"velocity": {"thresholds": {"per_user": 1, "per_ip": 1}}})
    minute = 60_000

    def dated(age_ms: int, user: str = "u") -> Event:
        return purchase(tenant, user_id=user, timestamp=NOW - age_ms, received_at=NOW)

    # Dated past the default 10 minutes before receipt: a backfill, never judged.
    for _ in range(5):
        assert judge(stage, dated(10 * minute + 1), ip="198.51.100.7") == (0, [])
    # Exactly 10 minutes old is live traffic: the second one of the user is flagged.
    assert judge(stage, dated(10 * minute, "v")) == (0, [])
    assert judge(stage, dated(10 * minute, "v")) == (FLAGGED, ["velocity"])
    # The tenant's own window.
    configure(stage, tenant, {"velocity": {"thresholds": {"backfill_minutes": 60}}})
    assert judge(stage, dated(30 * minute, "w")) == (0, [])
    assert judge(stage, dated(30 * minute, "w")) == (FLAGGED, ["velocity"])
    assert judge(stage, dated(61 * minute, "w")) == (0, [])


def _ecommerce(n: int, forwarded: str | None) -> tuple[bytes, type, handlers.ToEvent]:
    body: dict[str, Any] = {"event_type": "purchase", "transaction_id": f"t{n}", "revenue": 5}
    if forwarded:
        body["context"] = {"ip": forwarded}
    return msgspec.json.encode(body), ecommerce.EcommerceIn, ecommerce.to_event


def _segment(n: int, forwarded: str | None) -> tuple[bytes, type, handlers.ToEvent]:
    body: dict[str, Any] = {
        "type": "track",
        "event": "Order Completed",
        "userId": f"u{n}",
        "properties": {"order_id": f"o{n}", "revenue": 5},
    }
    if forwarded:
        body["context"] = {"ip": forwarded}
    return msgspec.json.encode(body), segment.MessageIn, segment.to_event


@pytest.mark.parametrize("wire", [_ecommerce, _segment])
@pytest.mark.parametrize(
    ("browser", "forwarded", "judged"),
    [
        (False, None, False),  # a server integration's own address: not the shopper's
        (False, "203.0.113.9", True),  # the shopper's, forwarded in context.ip
        (True, None, True),  # a browser's request: its address is the shopper's
    ],
)
def test_the_formats_tell_a_shopper_ip_from_the_senders(
    stage: Fraud,
    new_tenant: Callable[..., Tenant],
    wire: Callable[[int, str | None], tuple[bytes, type, handlers.ToEvent]],
    browser: bool,
    forwarded: str | None,
    judged: bool,
) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"velocity": {"thresholds": {"per_ip": 2}}})
    ctx = IngestContext(tenant=tenant, ip="198.51.100.20", browser=browser, stages=Stages([stage]))
    flags = []
    for n in range(4):
        body, into, to_event = wire(n, forwarded)
        flags.append(handlers.one(body, into, to_event, ctx).is_flagged)
    assert flags == ([0, 0, FLAGGED, FLAGGED] if judged else [0, 0, 0, 0])


def test_velocity_memory_is_bounded() -> None:
    velocity = Velocity(max_keys=3)
    for n in range(10):
        velocity.record((1, "user", f"u{n}"), NOW, f"t{n}", cap=5)
    assert len(velocity) == 3  # the least recently used keys went first
    assert velocity.record((1, "user", "u9"), NOW + 1, "t", cap=5) == 2  # u9 kept
    # Keys idle for a minute are evicted by the next record.
    velocity.record((1, "user", "fresh"), NOW + 60_001, "t", cap=5)
    assert len(velocity) == 1
    # A window holds at most ``cap`` entries.
    for n in range(50):
        count = velocity.record((1, "ip", "x"), NOW + 60_002, f"t{n}", cap=4)
    assert count == 4


def retained_bytes(fill: Callable[[], None]) -> int:
    """Bytes still allocated after ``fill`` returns: what the structure itself keeps (the
    ids ``fill`` made are garbage by then unless the structure holds them)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fill()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_velocity_memory_per_key_does_not_grow_with_the_ids_length() -> None:
    # 2,048-character user ids and transaction ids (the string cap) once cost ~4 KB a key.
    velocity, keys = Velocity(max_keys=100_000), 5_000

    def fill() -> None:
        for n in range(keys):
            long_id = f"{n:06d}" + "u" * 2_042
            velocity.record((1, "user", long_id), NOW, f"{n:06d}" + "t" * 2_042, cap=5)

    per_key = retained_bytes(fill) / keys
    assert len(velocity) == keys
    assert per_key < 600, per_key  # key tuple, digest, window dict, entry: no 2 KB strings


def test_long_ids_stay_distinct_and_a_retried_long_transaction_counts_once() -> None:
    velocity = Velocity()
    user_a, user_b = "a" * 2_048, "a" * 2_047 + "b"
    tx = "T" * 2_048
    assert velocity.record((1, "user", user_a), NOW, tx, cap=5) == 1
    assert velocity.record((1, "user", user_a), NOW + 1, tx, cap=5) == 1  # the retry
    assert velocity.record((1, "user", user_a), NOW + 2, tx + "2", cap=5) == 2
    assert velocity.record((1, "user", user_b), NOW + 3, tx, cap=5) == 1  # another user


# --- currency ---------------------------------------------------------------------------


def test_currency_allowlist(stage: Fraud, new_tenant: Callable[..., Tenant]) -> None:
    tenant, other = new_tenant(), new_tenant()
    assert judge(stage, purchase(tenant, original_currency="GBP")) == (0, [])  # empty: all
    configure(stage, tenant, {"currency": {"thresholds": {"allowed": ["eur"]}}})
    assert judge(stage, purchase(tenant, original_currency="EUR")) == (0, [])
    assert judge(stage, purchase(tenant, original_currency="USD")) == (0, [])  # base
    assert judge(stage, purchase(tenant, original_currency="GBP")) == (FLAGGED, ["currency"])
    item = Item("a", original_currency="GBP")
    assert judge(stage, purchase(tenant, items=[item])) == (FLAGGED, ["currency"])
    assert judge(stage, purchase(other, original_currency="GBP")) == (0, [])


# --- severities and settings ------------------------------------------------------------


def test_several_rules_flag_in_registry_order(
    stage: Fraud, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"currency": {"thresholds": {"allowed": ["EUR"]}}})
    event = purchase(tenant, -5, original_currency="GBP")
    assert judge(stage, event) == (FLAGGED, ["negative_amount", "currency"])


def test_blocked_event_names_only_its_blocking_rules(
    stage: Fraud, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"revenue_ceiling": {"severity": 2}})
    event = purchase(tenant, -5, user_agent=GOOGLEBOT)
    assert judge(stage, event) == (BLOCKED, ["bot"])
    event = purchase(tenant, 10**12)
    assert judge(stage, event) == (BLOCKED, ["revenue_ceiling"])


def test_disabled_rule_is_not_evaluated(stage: Fraud, new_tenant: Callable[..., Tenant]) -> None:
    tenant = new_tenant()
    configure(stage, tenant, {"negative_amount": {"enabled": False}})
    assert judge(stage, purchase(tenant, -5)) == (0, [])
    configure(stage, tenant, {"negative_amount": {"enabled": True}})
    assert judge(stage, purchase(tenant, -5)) == (FLAGGED, ["negative_amount"])


def test_settings_merge_partial_updates(
    tmp_path: Path, meta: MetaStore, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    settings = FraudSettings(meta)
    settings.update(tenant.id, {"rules": {"velocity": {"thresholds": {"per_user": 3}}}})
    config = settings.update(tenant.id, {"rules": {"velocity": {"severity": 2}}})
    assert config["velocity"].severity == 2
    assert config["velocity"].thresholds == {
        "per_user": 3,
        "per_ip": 120,
        "backfill_minutes": 10,
    }
    assert config["bot"] == RULES["bot"].default_config()
    # Stored in the tenant's settings, read by a fresh process's settings too.
    again = FraudSettings(MetaStore(tmp_path / "meta.sqlite3")).get(tenant.id)
    assert again["velocity"].thresholds["per_user"] == 3
    shown = describe(config)["velocity"]
    assert shown["severity"] == 2 and shown["defaults"]["severity"] == 1
    assert shown["description"] == RULES["velocity"].description


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ([], None),
        ({"other": 1}, "other"),
        ({"rules": 1}, "rules"),
        ({"rules": {"nope": {}}}, "rules.nope"),
        ({"rules": {"bot": 1}}, "rules.bot"),
        ({"rules": {"bot": {"level": 1}}}, "rules.bot.level"),
        ({"rules": {"bot": {"enabled": "yes"}}}, "rules.bot.enabled"),
        ({"rules": {"bot": {"severity": 3}}}, "rules.bot.severity"),
        ({"rules": {"bot": {"severity": 0}}}, "rules.bot.severity"),
        ({"rules": {"bot": {"severity": True}}}, "rules.bot.severity"),
        ({"rules": {"bot": {"thresholds": {"x": 1}}}}, "rules.bot.thresholds.x"),
        (
            {"rules": {"revenue_ceiling": {"thresholds": {"max_revenue": 0}}}},
            "rules.revenue_ceiling.thresholds.max_revenue",
        ),
        (
            {"rules": {"revenue_ceiling": {"thresholds": {"max_revenue": -5}}}},
            "rules.revenue_ceiling.thresholds.max_revenue",
        ),
        (
            {"rules": {"revenue_ceiling": {"thresholds": {"max_revenue": "100"}}}},
            "rules.revenue_ceiling.thresholds.max_revenue",
        ),
        (
            {"rules": {"velocity": {"thresholds": {"per_user": 2.5}}}},
            "rules.velocity.thresholds.per_user",
        ),
        (
            {"rules": {"currency": {"thresholds": {"allowed": ["EUR", "XYZ"]}}}},
            "rules.currency.thresholds.allowed",
        ),
        (
            {"rules": {"currency": {"thresholds": {"allowed": "EUR"}}}},
            "rules.currency.thresholds.allowed",
        ),
    ],
)
def test_settings_validation(
    meta: MetaStore, new_tenant: Callable[..., Tenant], patch: Any, field: str | None
) -> None:
    tenant = new_tenant()
    settings = FraudSettings(meta)
    with pytest.raises(BadRequest) as caught:
        settings.update(tenant.id, patch)
    assert caught.value.field == field
    if field:
        assert field.rsplit(".", 1)[-1] in caught.value.message
    assert meta.get_setting(tenant.id, "fraud") is None  # nothing half-stored


def test_settings_are_cached_and_update_drops_the_cache(
    meta: MetaStore, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    settings = FraudSettings(meta, ttl=3600)
    assert settings.get(tenant.id)["bot"].enabled
    meta.set_setting(tenant.id, "fraud", {"bot": {"enabled": False}})  # behind its back
    assert settings.get(tenant.id)["bot"].enabled  # cached
    settings.update(tenant.id, {"rules": {"negative_amount": {"severity": 2}}})
    config = settings.get(tenant.id)
    assert not config["bot"].enabled and config["negative_amount"].severity == 2


# --- blocked counts ---------------------------------------------------------------------


def test_blocked_counts_persist(tmp_path: Path) -> None:
    path = tmp_path / "counts.sqlite3"
    first_meta = MetaStore(path)
    tenant, other = first_meta.create_tenant("a"), first_meta.create_tenant("b")

    def blocked(t: Tenant, reasons: list[str], at: int = NOW) -> Event:
        event = purchase(t, received_at=at)
        event.is_flagged, event.fraud_reasons = BLOCKED, reasons
        return event

    day_ms = 86_400_000
    counter = BlockedCounter(first_meta)
    counter.add([blocked(tenant, ["bot"]), blocked(tenant, ["bot", "velocity"])])
    counter.add([blocked(tenant, ["bot"], NOW + day_ms), blocked(other, ["bot"])])
    today, tomorrow = date.fromisoformat(utc_day(NOW)), date.fromisoformat(utc_day(NOW + day_ms))
    # Readers see counts not yet written.
    assert counter.counts(tenant.id, today, today) == {ALL: 2, "bot": 2, "velocity": 1}
    asyncio.run(counter.stop())  # writes what is pending
    first_meta.close()

    reopened = BlockedCounter(MetaStore(path))
    assert reopened.counts(tenant.id, today, today) == {ALL: 2, "bot": 2, "velocity": 1}
    assert reopened.counts(tenant.id, today, tomorrow) == {ALL: 3, "bot": 3, "velocity": 1}
    assert reopened.counts(other.id, today, tomorrow) == {ALL: 1, "bot": 1}
    # Later counts add to the stored ones.
    reopened.add([blocked(tenant, ["velocity"])])
    asyncio.run(reopened.flush())
    assert reopened.meta.fraud_blocked(tenant.id, today.isoformat(), today.isoformat()) == {
        ALL: 3,
        "bot": 2,
        "velocity": 2,
    }


def test_fraud_is_the_last_stage(tmp_path: Path, meta: MetaStore) -> None:
    stages = build_stages(Settings(data_dir=tmp_path / "data"), meta)
    assert stages.names[-1] == "fraud"
