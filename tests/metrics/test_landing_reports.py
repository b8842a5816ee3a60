"""Landing-page metrics (seed 004) on the real chDB store, at a fixed ``now``.

Rows go in through the real insert path (``events_table`` + ``store.insert``); expectations
are computed in plain Python from the same fixture rows, never by re-running SQL.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import landing
from shoplens.store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
# 2026-03-20 15:00 UTC is 2026-03-21 00:00 in Tokyo: Tokyo's "today" has just begun.
NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
COUNTERS = {
    "click_whatsapp": "whatsapp_clicks",
    "click_call": "call_clicks",
    "click_toggle_currency": "currency_toggles",
    "qr_scan": "qr_scans",
    "product_click": "products_viewed",
}


def event(tenant_id: int, at: datetime, event_type: str, **fields: Any) -> Event:
    ms = (at - EPOCH) // MS
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_name=event_type,
        source="landing",
        timestamp=ms,
        received_at=ms,
        **fields,
    )


def insert(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"test-landing-{uuid.uuid4()}")


@pytest.fixture
def new_tenant(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[..., Tenant]:
    def make(timezone: str = "UTC") -> Tenant:
        keys = make_tenant("landing", timezone=timezone, plan="pro")
        tenant = meta.tenant(keys.id)
        assert tenant is not None
        return tenant

    return make


# -- independent expectations --------------------------------------------------------------


def local_day(e: Event, timezone: str) -> date:
    return (EPOCH + e.timestamp * MS).astimezone(ZoneInfo(timezone)).date()


def seconds_of(e: Event) -> float | None:
    for key in ("seconds", "duration", "time"):
        try:
            value = float(e.properties[key])
        except (KeyError, ValueError):
            continue
        if value == value and value not in (float("inf"), float("-inf")) and value >= 0:
            return value
    return None


def expected(events: list[Event], days: list[date], timezone: str) -> dict[str, Any]:
    kept = [e for e in events if not e.is_flagged and local_day(e, timezone) in days]
    out: dict[str, Any] = {
        "visitors": len(
            {e.visitor_id for e in kept if e.event_type == "page_view" and e.visitor_id}
        )
    }
    for kind, name in COUNTERS.items():
        out[name] = sum(e.event_type == kind for e in kept)
    seconds = [
        s for e in kept if e.event_type == "time_on_page" and (s := seconds_of(e)) is not None
    ]
    out["avg_time_on_page"] = (
        int((Decimal(repr(sum(seconds))) / len(seconds)).quantize(1, rounding=ROUND_HALF_UP))
        if seconds
        else 0
    )
    return out


def actual(c: landing.LandingCounts) -> dict[str, Any]:
    return {
        "visitors": c.visitors,
        **{name: getattr(c, name) for name in COUNTERS.values()},
        "avg_time_on_page": c.avg_time_on_page,
    }


def week_days(timezone: str) -> list[date]:
    today = NOW.astimezone(ZoneInfo(timezone)).date()
    return [today - timedelta(days=n) for n in range(6, -1, -1)]


def random_events(tenant_id: int, timezone: str, seed: int) -> list[Event]:
    """~300 landing events over the last 10 local days, around local midnights too."""
    rng = random.Random(seed)
    visitors = [f"ip-{i}" for i in range(25)]
    kinds = [*landing.EVENT_TYPES, "page_view", "page_view", "purchase"]
    out = []
    for _ in range(300):
        at = NOW - timedelta(minutes=rng.randrange(10 * 24 * 60))
        if rng.random() < 0.1:  # exactly on (or 1 ms before) a local midnight
            local = at.astimezone(ZoneInfo(timezone)).replace(hour=0, minute=0, second=0)
            at = local.astimezone(UTC) - rng.choice([timedelta(0), MS])
        kind = rng.choice(kinds)
        props: dict[str, str] = {}
        if kind == "time_on_page":
            props = rng.choice(
                [
                    {"seconds": str(rng.randrange(1, 600))},
                    {"duration": f"{rng.randrange(1, 6000) / 10}"},
                    {"time": "42"},
                    {"seconds": "abc", "duration": "30"},
                    {"seconds": "-5"},
                    {"button_location": "hero"},
                ]
            )
        out.append(
            event(
                tenant_id,
                at,
                kind,
                visitor_id=rng.choice([*visitors, ""]),
                properties=props,
                is_flagged=int(rng.random() < 0.05),
            )
        )
    return out


# -- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Tokyo", "America/New_York", "Asia/Kolkata"])
def test_report_matches_python(
    store: Store, new_tenant: Callable[..., Tenant], timezone: str
) -> None:
    tenant = new_tenant(timezone)
    events = random_events(tenant.id, timezone, seed=len(timezone))
    insert(store, events)

    report = landing.landing_report(store, tenant, NOW)

    days = week_days(timezone)
    assert actual(report.week) == expected(events, days, timezone)
    assert actual(report.today) == expected(events, days[-1:], timezone)
    assert [(d.date, d.visitors) for d in report.last_7_days] == [
        (day.isoformat(), expected(events, [day], timezone)["visitors"]) for day in days
    ]


def test_windows_are_local_days_in_the_tenant_zone(new_tenant: Callable[..., Tenant]) -> None:
    tokyo = new_tenant("Asia/Tokyo")
    today, week = landing.windows(tokyo, NOW)
    assert today.first_day == today.last_day == date(2026, 3, 21)
    assert today.start == NOW  # Tokyo midnight
    assert (week.first_day, week.last_day) == (date(2026, 3, 15), date(2026, 3, 21))
    assert week.days == 7 and week.granularity == "day"


def test_tokyo_midnight_boundary(store: Store, new_tenant: Callable[..., Tenant]) -> None:
    """1 ms before Tokyo midnight is yesterday; midnight itself is today (not the UTC day)."""
    tenant = new_tenant("Asia/Tokyo")
    insert(
        store,
        [
            event(tenant.id, NOW - MS, "page_view", visitor_id="late"),
            event(tenant.id, NOW - MS, "qr_scan", visitor_id="late"),
            event(tenant.id, NOW, "page_view", visitor_id="early"),
            event(tenant.id, NOW, "click_whatsapp", visitor_id="early"),
            # 7 local days ago: 1 ms before the week starts, and the week's first instant
            event(tenant.id, NOW - timedelta(days=6) - MS, "page_view", visitor_id="old"),
            event(tenant.id, NOW - timedelta(days=6), "page_view", visitor_id="first"),
        ],
    )
    report = landing.landing_report(store, tenant, NOW + timedelta(hours=1))

    assert (report.today.visitors, report.today.whatsapp_clicks, report.today.qr_scans) == (1, 1, 0)
    assert (report.week.visitors, report.week.whatsapp_clicks, report.week.qr_scans) == (3, 1, 1)
    assert [(d.date, d.visitors) for d in report.last_7_days] == [
        ("2026-03-15", 1),
        ("2026-03-16", 0),
        ("2026-03-17", 0),
        ("2026-03-18", 0),
        ("2026-03-19", 0),
        ("2026-03-20", 1),
        ("2026-03-21", 1),
    ]


def test_empty_tenant_is_zeros_with_seven_zero_filled_days(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant("Asia/Tokyo")
    other = new_tenant("Asia/Tokyo")  # another tenant's events must not leak in
    insert(store, [event(other.id, NOW, "page_view", visitor_id="x")])

    report = landing.landing_report(store, tenant, NOW)

    zero = landing.LandingCounts(0, 0, 0, 0, 0, 0, 0, 0.0)
    assert report.today == report.week == zero
    assert report.week.avg_time_on_page == 0
    assert report.last_7_days == [
        landing.DayVisitors(day.isoformat(), 0) for day in week_days("Asia/Tokyo")
    ]


def test_visitors_week_is_distinct_over_the_week_not_a_sum_of_days(
    store: Store, new_tenant: Callable[..., Tenant]
) -> None:
    tenant = new_tenant()
    insert(
        store,
        [
            event(tenant.id, NOW - timedelta(days=d), "page_view", visitor_id="same")
            for d in range(7)
        ]
        # clicks without a page view are not visitors
        + [event(tenant.id, NOW, "click_call", visitor_id="clicker")],
    )
    report = landing.landing_report(store, tenant, NOW)
    assert report.week.visitors == 1
    assert [d.visitors for d in report.last_7_days] == [1] * 7
    assert report.week.call_clicks == 1


@pytest.mark.parametrize(
    ("props", "average"),
    [
        ([{"seconds": "10"}, {"seconds": "11"}], 11),  # 10.5 rounds half up
        ([{"duration": "12.4"}], 12),
        ([{"time": "7"}, {"button_location": "hero"}], 7),  # no number: not averaged
        ([{"seconds": "abc", "duration": "30"}], 30),  # first key with a number wins
        ([{"seconds": "-3"}, {"seconds": "nan"}, {"seconds": "inf"}], 0),
        ([], 0),
    ],
)
def test_avg_time_on_page(
    store: Store,
    new_tenant: Callable[..., Tenant],
    props: list[dict[str, str]],
    average: int,
) -> None:
    tenant = new_tenant()
    insert(
        store,
        [event(tenant.id, NOW - MS, "time_on_page", properties=p) for p in props]
        + [event(tenant.id, NOW - MS, "page_view", visitor_id="v")],
    )
    assert landing.landing_report(store, tenant, NOW).week.avg_time_on_page == average
