"""The clock stage: skew correction with sentAt, future clamp, retention refusal, and the
historical bypass — on its own and end to end over HTTP (Segment and core routes)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens import plans, retention
from shoplens.config import Settings
from shoplens.errors import BadRequest
from shoplens.ingest.clock import DAY_MS, FUTURE_TIMESTAMP, Clock, TenantRetention
from shoplens.ingest.context import IngestContext
from shoplens.ingest.event import Event
from shoplens.ingest.stages import Facts, build_stages
from shoplens.meta import MetaStore, Tenant
from shoplens.store import Store
from tests.conftest import TenantKeys, assert_bad_request, rows, stored_events, wait_stored

RECEIVED_AT = 1_763_900_000_000  # 2025-11-23T12:13:20Z
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


def tenant(plan: str = "pro") -> Tenant:
    return Tenant(4, "Acme", "USD", "UTC", plan, "2025-01-01T00:00:00+00:00")


def ctx(plan: str = "pro", **fields: Any) -> IngestContext:
    return IngestContext(tenant=tenant(plan), received_at=RECEIVED_AT, **fields)


def event(timestamp: int) -> Event:
    return Event(
        tenant_id=4,
        event_id=str(uuid.uuid4()),
        event_type="page_view",
        event_name="page_view",
        source="core",
        timestamp=timestamp,
        received_at=RECEIVED_AT,
    )


def run(
    timestamp: int, sent_at: int | None = None, clock: Clock | None = None, **ctx_fields: Any
) -> Event:
    out = event(timestamp)
    (clock or Clock()).apply(out, Facts(sent_at=sent_at), ctx(**ctx_fields))
    return out


# -- skew correction ---------------------------------------------------------------------


@pytest.mark.parametrize("skew", [-3 * HOUR_MS, -31_000, 31_000, 2 * HOUR_MS, 400 * DAY_MS])
def test_skew_is_corrected_whichever_way_the_client_clock_is_off(skew: int) -> None:
    # The event happened 7 s before the request was sent; the client clock reads
    # server time + skew, so both of its readings carry the skew.
    true_time = RECEIVED_AT - 7_000
    out = run(true_time + skew, sent_at=RECEIVED_AT + skew)
    assert out.timestamp == true_time
    assert out.fraud_reasons == []


def test_the_transit_time_ends_up_in_the_corrected_time() -> None:
    # The event happened 5 s before sending; the request took 400 ms; the clock is 2 h fast.
    true_time = RECEIVED_AT - 400 - 5_000
    out = run(true_time + 2 * HOUR_MS, sent_at=RECEIVED_AT - 400 + 2 * HOUR_MS)
    assert out.timestamp == true_time + 400


def test_without_sent_at_the_timestamp_is_kept() -> None:
    assert run(RECEIVED_AT - 3 * HOUR_MS).timestamp == RECEIVED_AT - 3 * HOUR_MS


@pytest.mark.parametrize("off", [0, 1, 30_000, -30_000])
def test_a_sent_at_within_the_tolerance_is_latency_and_changes_nothing(off: int) -> None:
    # Keeps an SDK retry's row identical (same sorting key) when the clock is right.
    out = run(RECEIVED_AT - 60_000, sent_at=RECEIVED_AT + off)
    assert out.timestamp == RECEIVED_AT - 60_000


def test_just_past_the_skew_tolerance_is_corrected() -> None:
    out = run(RECEIVED_AT - 60_000, sent_at=RECEIVED_AT - 30_001)
    assert out.timestamp == RECEIVED_AT - 60_000 + 30_001


# -- future clamp ------------------------------------------------------------------------


def test_up_to_the_future_tolerance_is_kept_as_sent() -> None:
    out = run(RECEIVED_AT + 10 * MINUTE_MS)
    assert (out.timestamp, out.fraud_reasons, out.is_flagged) == (
        RECEIVED_AT + 10 * MINUTE_MS,
        [],
        0,
    )


@pytest.mark.parametrize("ahead", [10 * MINUTE_MS + 1, 3 * HOUR_MS, 5 * 365 * DAY_MS])
def test_past_the_future_tolerance_is_clamped_to_the_receive_time_and_marked(ahead: int) -> None:
    out = run(RECEIVED_AT + ahead)
    assert out.timestamp == RECEIVED_AT
    assert out.fraud_reasons == [FUTURE_TIMESTAMP]
    assert out.is_flagged == 0  # a marker, not a fraud flag: revenue still counts


def test_a_corrected_time_in_the_future_is_clamped_too() -> None:
    # sentAt before the event's own time (a clock changed between the two): the correction
    # lands an hour ahead of the receipt.
    out = run(RECEIVED_AT, sent_at=RECEIVED_AT - HOUR_MS)
    assert (out.timestamp, out.fraud_reasons) == (RECEIVED_AT, [FUTURE_TIMESTAMP])


def test_the_tolerances_come_from_the_settings(meta: MetaStore) -> None:
    clock = Clock.from_settings(
        Settings(clock_future_tolerance_seconds=60, clock_skew_tolerance_seconds=5), meta
    )
    assert isinstance(clock.retention, TenantRetention)
    assert (clock.future_tolerance_ms, clock.skew_tolerance_ms) == (60_000, 5_000)
    assert run(RECEIVED_AT + 60_001, clock=clock).timestamp == RECEIVED_AT
    assert run(RECEIVED_AT + 60_000, clock=clock).timestamp == RECEIVED_AT + 60_000
    assert run(RECEIVED_AT, sent_at=RECEIVED_AT + 5_001, clock=clock).timestamp == (
        RECEIVED_AT - 5_001
    )


# -- retention ---------------------------------------------------------------------------


def days(n: int | None) -> Clock:
    return Clock(retention=lambda tenant: n)


def test_the_oldest_time_inside_the_retention_window_is_accepted() -> None:
    oldest = RECEIVED_AT - 30 * DAY_MS
    assert run(oldest, clock=days(30)).timestamp == oldest


def test_a_millisecond_older_is_refused_naming_the_import_path() -> None:
    with pytest.raises(BadRequest) as caught:
        run(RECEIVED_AT - 30 * DAY_MS - 1, clock=days(30))
    assert (caught.value.message, caught.value.field) == (
        "timestamp is older than the 30-day retention window; "
        "use `shoplens import` for historical data",
        "timestamp",
    )


def test_the_window_applies_to_the_corrected_time() -> None:
    # A clock 400 days fast; the event waited 91 days on the device before it was sent:
    # its timestamp reads 309 days ahead, but it is 91 days old → refused.
    sent = RECEIVED_AT + 400 * DAY_MS
    with pytest.raises(BadRequest):
        run(sent - 91 * DAY_MS, sent_at=sent, clock=days(90))
    # Stamped 400 days ago by a clock 400 days slow: really just now → accepted.
    slow = RECEIVED_AT - 400 * DAY_MS
    assert run(slow - 1_000, sent_at=slow, clock=days(90)).timestamp == RECEIVED_AT - 1_000


def test_no_retention_limit_refuses_nothing() -> None:
    ancient = RECEIVED_AT - 20 * 365 * DAY_MS
    assert run(ancient, clock=days(None)).timestamp == ancient


def test_tenant_retention_is_the_tenants_setting_bounded_by_its_plan(
    meta: MetaStore, make_tenant: Callable[..., TenantKeys]
) -> None:
    pro = meta.tenant(make_tenant("Pro", plan="pro").id)
    free = meta.tenant(make_tenant("Free", plan="free").id)
    assert pro is not None and free is not None
    lookup = TenantRetention(meta, ttl=0)
    free_limit = plans.PLANS["free"].retention_days
    assert free_limit is not None and free_limit < retention.DEFAULT_RAW_DAYS
    # seed 000's default of 90 days, capped by the free plan's limit
    assert (lookup(pro), lookup(free)) == (retention.DEFAULT_RAW_DAYS, free_limit)
    retention.update(meta, pro, {"retention": {"rawEvents": 20}})
    assert lookup(pro) == 20


def test_tenant_retention_is_cached_for_its_ttl(
    meta: MetaStore, make_tenant: Callable[..., TenantKeys]
) -> None:
    shop = meta.tenant(make_tenant("Cached", plan="pro").id)
    assert shop is not None
    lookup = TenantRetention(meta, ttl=3600)
    assert lookup(shop) == retention.DEFAULT_RAW_DAYS
    retention.update(meta, shop, {"retention": {"rawEvents": 20}})
    assert lookup(shop) == retention.DEFAULT_RAW_DAYS  # until the TTL runs out
    assert TenantRetention(meta, ttl=3600)(shop) == 20


# -- historical loads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        (RECEIVED_AT - 20 * 365 * DAY_MS, None),  # older than any retention
        (RECEIVED_AT + 3 * HOUR_MS, None),  # future
        (RECEIVED_AT - 5 * DAY_MS, RECEIVED_AT - 5 * DAY_MS + 1_000),  # not "corrected"
    ],
)
def test_historical_loads_take_timestamps_as_given(timestamp: int, sent_at: int | None) -> None:
    out = run(timestamp, sent_at=sent_at, clock=days(30), historical=True)
    assert (out.timestamp, out.fraud_reasons) == (timestamp, [])


def test_the_clock_runs_first_in_the_servers_stages(tmp_path: Any) -> None:
    meta = MetaStore(tmp_path / "meta.sqlite3")
    try:
        stages = build_stages(Settings(data_dir=tmp_path), meta)
    finally:
        meta.close()
    assert stages.names[0] == "clock"
    first = stages.stages[0]
    assert isinstance(first, Clock)
    assert first.future_tolerance_ms == 600_000


def test_a_batch_sent_at_reaches_the_stage_through_the_context() -> None:
    assert replace(ctx(), sent_at=5).sent_at == 5


# -- end to end over HTTP ------------------------------------------------------------------


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def stored(store: Store, tenant_id: int) -> list[dict[str, Any]]:
    return rows(
        store,
        "SELECT event_name, timestamp, received_at, fraud_reasons FROM events"
        " WHERE tenant_id = {t:UInt32} ORDER BY event_name",
        t=tenant_id,
    )


def ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def test_segment_sent_at_corrects_the_stored_timestamp(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    # A phone whose clock is 3 hours slow: every reading it makes is 3 h behind.
    skew = -3 * HOUR_MS
    now = int(datetime.now(UTC).timestamp() * 1000)
    batch = {
        "batch": [
            {"type": "track", "event": "A", "userId": "u", "timestamp": iso(now + skew - 60_000)},
            {
                "type": "track",
                "event": "B",
                "userId": "u",
                "timestamp": iso(now + skew - 120_000),
                "sentAt": iso(now + skew),  # the message's own sentAt wins over the batch's
            },
            {"type": "track", "event": "C", "userId": "u"},  # no timestamp: receive time
        ],
        "sentAt": iso(now + skew + 1_000),
    }
    response = client.post("/v1/batch", headers=basic(tenant.publishable), json=batch)
    assert response.status_code == 200, response.text
    wait_stored(client)
    a, b, c = stored(store, tenant.id)
    received = ms(a["received_at"])
    assert received - now < 60_000  # the server's clock, not the phone's
    # timestamp = received_at - (sent_at - timestamp)
    assert ms(a["timestamp"]) == received - (1_000 + 60_000)
    assert ms(b["timestamp"]) == received - 120_000
    assert ms(c["timestamp"]) == ms(c["received_at"])
    assert [r["fraud_reasons"] for r in (a, b, c)] == [[], [], []]


def test_core_batch_sent_at_corrects_and_a_future_time_is_clamped(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    fast = 2 * HOUR_MS  # this server-side sender's clock runs 2 hours fast
    body = {
        "events": [
            {"event": "a_corrected", "timestamp": now + fast - 30_000},
            {"event": "b_future", "timestamp": now + 3 * HOUR_MS, "sentAt": now},
        ],
        "sentAt": now + fast,
    }
    response = client.post("/analytics/event/batch", headers=tenant.pk, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == 2
    wait_stored(client)
    a, b = stored(store, tenant.id)
    assert ms(a["timestamp"]) == ms(a["received_at"]) - 30_000
    assert a["fraud_reasons"] == []
    # sentAt ≈ now: no skew to correct, and 3 h ahead is past the 10 min tolerance.
    assert ms(b["timestamp"]) == ms(b["received_at"])
    assert b["fraud_reasons"] == [FUTURE_TIMESTAMP]


def test_an_event_older_than_the_retention_is_a_400_live_and_accepted_in_a_batch_report(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    keys = make_tenant("Free shop", plan="free")  # the plan caps the default 90 days to 30
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    response = client.post(
        "/analytics/event", headers=keys.pk, json={"event": "page_view", "timestamp": old}
    )
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "timestamp is older than the 30-day retention window; "
        "use `shoplens import` for historical data",
        "field": "timestamp",
    }
    recent = (datetime.now(UTC) - timedelta(days=29)).isoformat()
    batch = {"events": [{"event": "old", "timestamp": old}, {"event": "ok", "timestamp": recent}]}
    response = client.post("/analytics/event/batch", headers=keys.pk, json=batch)
    assert response.status_code == 201
    assert response.json()["accepted"] == 1
    assert response.json()["errors"] == [
        "events[0]: timestamp is older than the 30-day retention window; "
        "use `shoplens import` for historical data"
    ]
    wait_stored(client)
    assert [r["event_name"] for r in stored(store, keys.id)] == ["ok"]


# -- time range ---------------------------------------------------------------------------


def test_a_sent_at_decades_after_the_timestamp_is_a_400_naming_sent_at() -> None:
    # Both in range, but the correction would place the event before 1970.
    with pytest.raises(BadRequest) as caught:
        run(0, sent_at=RECEIVED_AT + HOUR_MS)
    assert caught.value.field == "sentAt"
    assert "before" not in caught.value.message and "1970-01-01" in caught.value.message


def unlimited_enterprise(client: TestClient, make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    """An enterprise tenant that keeps raw events forever: no retention refusal hides a bad
    time behind "older than the retention window"."""
    keys = make_tenant("Forever", plan="enterprise")
    forever = {"retention": {"rawEvents": None, "aggregatedMetrics": None}}
    assert client.patch("/analytics/settings", headers=keys.sk, json=forever).status_code == 200
    return keys


def test_an_absurd_sent_at_is_a_400_and_the_purchase_retried_without_it_is_stored(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    keys = unlimited_enterprise(client, make_tenant)
    now = int(datetime.now(UTC).timestamp() * 1000)
    purchase = {
        "event_type": "purchase",
        "transaction_id": "absurd-1",
        "revenue": 10,
        "currency": "USD",
        "timestamp": now,
    }
    track = "/v1/api/analytics/ecommerce/track"
    # 1.18e21 as a JSON integer: once a 500 from the WAL encoder with the claim kept.
    response = client.post(
        track, headers=keys.pk, json={**purchase, "sentAt": 1_180_000_000_000_000_000_000}
    )
    assert_bad_request(response, "sentAt")
    assert client.post(track, headers=keys.pk, json=purchase).json() == {"ok": True}
    wait_stored(client)
    assert [r["transaction_id"] for r in stored_events(store, keys.id)] == ["absurd-1"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/analytics/event", {"event": "p", "timestamp": 2**62}, "timestamp"),
        ("/analytics/event", {"event": "p", "timestamp": "now", "sentAt": 2**62}, "sentAt"),
        (
            "/v1/api/analytics/ecommerce/track",
            {"event_type": "search", "timestamp": 2**62},
            "timestamp",
        ),
        (
            "/v1/api/analytics/ecommerce/track",
            {"event_type": "search", "timestamp": 1_000, "sentAt": 2**62},
            "sentAt",
        ),
        (
            "/v1/track",
            {"event": "p", "userId": "u", "originalTimestamp": 2**62},
            "originalTimestamp",
        ),
        (
            "/v1/track",
            {"event": "p", "userId": "u", "timestamp": "9999-01-01T00:00:00Z"},
            "timestamp",
        ),
    ],
)
def test_times_out_of_range_are_400s_naming_the_field(
    client: TestClient,
    make_tenant: Callable[..., TenantKeys],
    store: Store,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    keys = unlimited_enterprise(client, make_tenant)
    if body.get("timestamp") == "now":
        body = {**body, "timestamp": int(datetime.now(UTC).timestamp() * 1000)}
    headers = keys.pk
    if path.startswith("/v1/track"):
        token = base64.b64encode(f"{keys.publishable}:".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
    assert_bad_request(client.post(path, headers=headers, json=body), field)
    wait_stored(client)
    assert stored(store, keys.id) == []


def test_a_batch_sent_at_out_of_range_is_a_400(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = unlimited_enterprise(client, make_tenant)
    batch = {"events": [{"event": "p", "timestamp": 1_000}], "sentAt": 2**62}
    assert_bad_request(client.post("/analytics/event/batch", headers=keys.pk, json=batch), "sentAt")
