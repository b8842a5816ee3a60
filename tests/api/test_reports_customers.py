"""The customers routes (cohorts, user journey) over HTTP, events sent through ingestion.

The routes use the real clock, so fixture events are placed in whole months back from the
current UTC month (on the 1st..15th, never in the future); expectations are computed in
plain Python from the fixture list.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from shoplens.ingest.columns import events_table, items_table
from shoplens.ingest.event import Event, Item
from shoplens.store import Store
from tests.conftest import TenantKeys, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"
SETTINGS = "/analytics/settings"
COHORTS = "/v1/api/analytics/ecommerce/cohorts"
JOURNEY = "/v1/api/analytics/ecommerce/user-journey"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def month_start(back: int) -> datetime:
    """00:00 UTC on the 1st of the UTC month ``back`` months before the current one."""
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 - back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def in_month(back: int, day: int = 10, hour: int = 12) -> datetime:
    """A moment in that month; in the current month, one second after it starts."""
    if back == 0:
        return month_start(0) + timedelta(seconds=1)
    return month_start(back) + timedelta(days=day - 1, hours=hour)


@dataclass
class Sent:
    kind: str
    at: datetime
    user: str | None
    amount: Decimal = Decimal(0)
    items: list[dict[str, Any]] = field(default_factory=list)
    tx: str = field(default_factory=lambda: f"tx-{uuid.uuid4()}")

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_type": self.kind,
            "timestamp": self.at.isoformat().replace("+00:00", "Z"),
        }
        if self.user is not None:
            out["user_id"] = self.user
        else:
            out["anonymous_id"] = "guest-device"
        if self.kind in ("purchase", "refund"):
            out |= {"transaction_id": self.tx, "revenue": float(self.amount)}
        if self.items:
            out["items"] = self.items
        return out


def send(client: TestClient, keys: TenantKeys, events: list[Sent]) -> None:
    # Events up to a year old: live ingestion refuses anything older than the tenant's
    # raw-event retention (90 days unless set; ingest.clock), so keep a year (pro's limit).
    kept = client.patch(SETTINGS, json={"retention": {"rawEvents": 365}}, headers=keys.sk)
    assert kept.status_code == 200, kept.text
    batch = [e.body() for e in events]
    response = client.post(BATCH, json={"events": batch}, headers=keys.pk)
    assert response.json() == {"ok": True, "accepted": len(batch)}, response.json()
    wait_stored(client)


def insert_flagged(store: Store, tenant_id: int, at: datetime, user: str, **fields: Any) -> None:
    """A flagged event written as the flusher would write one the fraud rules had marked."""
    ms = (at - EPOCH) // timedelta(milliseconds=1)
    event = Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_name=fields.get("event_type", "purchase"),
        source="test",
        timestamp=ms,
        received_at=ms,
        user_id=user,
        visitor_id=user,
        is_flagged=1,
        **({"event_type": "purchase"} | fields),
    )
    token = f"test-customers-flagged-{uuid.uuid4()}"
    store.insert("events", events_table([event]), token)
    if event.items:
        store.insert("event_items", items_table([event]), f"{token}-items")


def half_up(value: Decimal, exp: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-exp), rounding=ROUND_HALF_UP)


def expect_cohorts(
    events: list[Sent],
    months: int,
    tz: str = "UTC",
    exp: int = 2,
    window: tuple[date, date] | None = None,
) -> dict[str, Any]:
    """The cohort response, computed from the fixture list alone (unflagged, sent events);
    ``window``: the local first and last day asked for with ``days`` or ``start``/``end``."""
    zone = ZoneInfo(tz)

    def index(at: datetime) -> int:
        local = at.astimezone(zone)
        return local.year * 12 + local.month - 1

    def inside(at: datetime) -> bool:
        return window is None or window[0] <= at.astimezone(zone).date() <= window[1]

    last = window[1] if window else None
    purchases = [
        e
        for e in events
        if e.kind == "purchase"
        and e.user
        and (last is None or e.at.astimezone(zone).date() <= last)
    ]
    first: dict[str, int] = {}
    for e in purchases:
        assert e.user is not None
        first[e.user] = min(first.get(e.user, 10**9), index(e.at))
    current = index(datetime.now(UTC)) if last is None else last.year * 12 + last.month - 1
    cells: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for e in purchases:
        assert e.user is not None
        if inside(e.at):
            cells[first[e.user], index(e.at) - first[e.user]] += e.amount
    cohorts, users_total, revenue_total = [], 0, Decimal(0)
    for m in range(current, current - months, -1):
        users = sum(1 for c in first.values() if c == m)
        row = {str(k): float(cells[m, k]) for k in range(current - m + 1)}
        users_total += users
        revenue_total += sum(cells[m, k] for k in range(current - m + 1))
        cohorts.append(
            {"month": f"{m // 12:04d}-{m % 12 + 1:02d}", "users": users, "revenue_by_month": row}
        )
    ltv = half_up(revenue_total / users_total, exp) if users_total else Decimal(0)
    answer = {"cohorts": cohorts, "avg_ltv": float(ltv), "total_purchasing_users": users_total}
    if window is not None:
        answer["days"] = (window[1] - window[0]).days + 1
    return answer


# alice: acquired 5 months ago, buys again 3 months ago and this month (and refunds).
# bob: acquired 2 months ago (two orders that month). carol: acquired 8 months ago, so her
# purchase 2 months ago is month 6 of an old cohort, never a new acquisition. dave only
# browses; a guest purchase has no user id.
FIXTURE = [
    Sent("purchase", in_month(5), "alice", Decimal("30.00")),
    Sent("purchase", in_month(3), "alice", Decimal("12.50")),
    Sent("purchase", in_month(0), "alice", Decimal("7.25")),
    Sent("refund", in_month(0), "alice", Decimal("7.25")),
    Sent("purchase", in_month(2, day=3), "bob", Decimal("20.00")),
    Sent("purchase", in_month(2, day=9), "bob", Decimal("5.01")),
    Sent("purchase", in_month(8), "carol", Decimal("100.00")),
    Sent("purchase", in_month(2), "carol", Decimal("40.00")),
    Sent("view_item", in_month(1), "dave", items=[{"item_id": "sku_1"}]),
    Sent("purchase", in_month(1), None, Decimal("999.00")),
]


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store) -> TenantKeys:
    keys = make_tenant("cohort-shop", plan="pro")
    send(client, keys, FIXTURE)
    # Flagged purchases count nowhere: one would make bob a cohort of 6 months ago, one
    # would acquire mallory last month.
    insert_flagged(store, keys.id, in_month(6), "bob", transaction_id="f-1", revenue=50_000)
    insert_flagged(store, keys.id, in_month(1), "mallory", transaction_id="f-2", revenue=70_000)
    return keys


def test_cohorts_match_the_fixture(client: TestClient, shop: TenantKeys) -> None:
    body = client.get(COHORTS, headers=shop.sk).json()
    assert body == expect_cohorts(FIXTURE, 6)
    by_month = {c["month"]: c for c in body["cohorts"]}
    month = [c["month"] for c in body["cohorts"]]
    assert len(month) == 6 and month == sorted(month, reverse=True)  # newest first
    alice, bob = by_month[month[5]], by_month[month[2]]
    assert alice["users"] == 1
    assert alice["revenue_by_month"] == {
        "0": 30.0,
        "1": 0.0,
        "2": 12.5,
        "3": 0.0,
        "4": 0.0,
        "5": 7.25,
    }
    assert bob == {
        "month": month[2],
        "users": 1,
        "revenue_by_month": {"0": 25.01, "1": 0.0, "2": 0.0},
    }
    assert by_month[month[0]]["revenue_by_month"] == {"0": 0.0}  # keys stop at this month
    # alice 49.75 + bob 25.01 over 2 users (carol's cohort is older; guests don't count).
    assert (body["total_purchasing_users"], body["avg_ltv"]) == (2, 37.38)


def test_months_widens_the_window_to_older_cohorts(client: TestClient, shop: TenantKeys) -> None:
    body = client.get(COHORTS, params={"months": "12"}, headers=shop.sk).json()
    assert body == expect_cohorts(FIXTURE, 12)
    carol = body["cohorts"][8]
    assert carol["users"] == 1
    assert carol["revenue_by_month"]["0"] == 100.0 and carol["revenue_by_month"]["6"] == 40.0
    assert body["total_purchasing_users"] == 3
    one = client.get(COHORTS, params={"months": "1"}, headers=shop.sk).json()
    assert one == expect_cohorts(FIXTURE, 1)
    assert one["total_purchasing_users"] == 0 and one["avg_ltv"] == 0
    assert client.get(COHORTS, params={"months": ""}, headers=shop.sk).json() == expect_cohorts(
        FIXTURE, 6
    )


def test_cohort_months_are_local_months(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    # 03:00 UTC on the 1st is still the previous month's last evening in New York.
    events = [
        Sent("purchase", month_start(3) + timedelta(hours=3), "early", Decimal("10.00")),
        Sent("purchase", month_start(3) + timedelta(hours=18), "late", Decimal("20.00")),
        Sent("purchase", month_start(2) + timedelta(hours=3), "early", Decimal("5.00")),
    ]
    ny = make_tenant("ny", timezone="America/New_York", plan="pro")
    utc = make_tenant("utc", plan="pro")
    send(client, ny, events)
    send(client, utc, events)
    ny_body = client.get(COHORTS, headers=ny.sk).json()
    utc_body = client.get(COHORTS, headers=utc.sk).json()
    assert ny_body == expect_cohorts(events, 6, "America/New_York")
    assert utc_body == expect_cohorts(events, 6)
    # New York: "early" was acquired 4 months back and bought again a month later (month 1:
    # 5.00); UTC: both users 3 months back, "early" buying again in month 1.
    ny_users = {c["month"]: c["users"] for c in ny_body["cohorts"] if c["users"]}
    utc_users = {c["month"]: c["users"] for c in utc_body["cohorts"] if c["users"]}
    assert sorted(ny_users.values()) == [1, 1] and list(utc_users.values()) == [2]


def test_a_jpy_tenant_gets_whole_yen(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("tokyo", base_currency="JPY", timezone="Asia/Tokyo", plan="pro")
    events = [
        Sent("purchase", in_month(1), "a", Decimal("1500")),
        Sent("purchase", in_month(1), "b", Decimal("1001")),
    ]
    send(client, keys, events)
    response = client.get(COHORTS, headers=keys.sk)
    assert response.json() == expect_cohorts(events, 6, "Asia/Tokyo", exp=0)
    assert '"avg_ltv":1251,' in response.text  # 1250.5 half up, a whole number
    assert '"0":2501,' in response.text and ".0" not in response.text


def test_cohorts_take_seed_002s_start_and_end(client: TestClient, shop: TenantKeys) -> None:
    """Regression: seed 002 says every v1 GET takes days/start/end; cohorts ignored them."""
    first, last = month_start(3).date(), (month_start(1) - timedelta(days=1)).date()
    params = {"start": first.isoformat(), "end": last.isoformat()}
    body = client.get(COHORTS, params=params, headers=shop.sk).json()
    assert body == expect_cohorts(FIXTURE, 6, window=(first, last))
    # As of the window's last month (two months back): bob's cohort is the newest; alice's
    # (five back) keeps its user but shows only her purchase inside the window (3 back).
    assert body["cohorts"][0] == {
        "month": f"{last:%Y-%m}",
        "users": 1,
        "revenue_by_month": {"0": 25.01},
    }
    alice = body["cohorts"][3]
    assert alice["users"] == 1 and alice["revenue_by_month"] == {
        "0": 0.0,
        "1": 0.0,
        "2": 12.5,
        "3": 0.0,
    }
    assert (body["total_purchasing_users"], body["avg_ltv"]) == (2, 18.76)
    assert body["days"] == (last - first).days + 1


def test_cohorts_take_days(client: TestClient, shop: TenantKeys) -> None:
    today = datetime.now(UTC).date()
    body = client.get(COHORTS, params={"days": "45"}, headers=shop.sk).json()
    assert body == expect_cohorts(FIXTURE, 6, window=(today - timedelta(days=44), today))
    assert body != expect_cohorts(FIXTURE, 6) | {"days": 45}  # alice's first order is out


@pytest.mark.parametrize(("path", "required"), [(COHORTS, {}), (JOURNEY, {"user_id": "u"})])
@pytest.mark.parametrize(
    ("params", "field"), [({"days": "abc"}, "days"), ({"start": "2026-13-01", "end": "x"}, "start")]
)
def test_a_bad_period_is_400_naming_it(
    client: TestClient,
    tenant: TenantKeys,
    path: str,
    required: dict[str, str],
    params: dict[str, str],
    field: str,
) -> None:
    response = client.get(path, params=required | params, headers=tenant.sk)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize("months", ["0", "37", "-1", "1.5", "abc", "999999999999"])
def test_bad_months_is_400_naming_months(
    client: TestClient, tenant: TenantKeys, months: str
) -> None:
    response = client.get(COHORTS, params={"months": months}, headers=tenant.sk)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ok"] is False and body["field"] == "months" and "months" in body["error"]


def test_an_empty_tenant_has_empty_cohorts(client: TestClient, tenant: TenantKeys) -> None:
    body = client.get(COHORTS, params={"months": "3"}, headers=tenant.sk).json()
    assert [c["users"] for c in body["cohorts"]] == [0, 0, 0]
    assert [len(c["revenue_by_month"]) for c in body["cohorts"]] == [1, 2, 3]
    assert (body["avg_ltv"], body["total_purchasing_users"]) == (0, 0)


# -- user journey ------------------------------------------------------------------------


def at(days: int, seconds: float = 0) -> datetime:
    base = datetime.now(UTC).replace(hour=10, minute=30, second=0, microsecond=0)
    return base - timedelta(days=days) + timedelta(seconds=seconds)


def test_user_journey_is_ordered_with_items_and_money(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    keys, other = make_tenant("journey", plan="pro"), make_tenant("other", plan="pro")
    shirt = {"item_id": "sku_1", "item_name": "T-Shirt", "price": 24.99, "quantity": 2}
    mine = [
        Sent("purchase", at(2, 300), "user_123", Decimal("49.99"), [shirt], tx="order_456"),
        Sent("view_item", at(2), "user_123", items=[{"item_id": "sku_1", "item_name": "T-Shirt"}]),
        Sent("add_to_cart", at(2, 60.25), "user_123", items=[{"item_id": "sku_1"}]),
        Sent("refund", at(1), "user_123", Decimal("10.00"), tx="order_456-r"),
        Sent("begin_checkout", at(2, 120), "user_123"),
    ]
    noise = [
        Sent("purchase", at(2, 200), "user_1234", Decimal("5.00")),
        Sent("view_item", at(2, 10), None, items=[{"item_id": "sku_2"}]),
    ]
    send(client, keys, mine + noise)
    send(client, other, [Sent("purchase", at(2, 100), "user_123", Decimal("77.00"))])
    insert_flagged(
        store, keys.id, at(2, 400), "user_123", transaction_id="f-9", revenue=1, items=[Item("x")]
    )

    response = client.get(JOURNEY, params={"user_id": "user_123"}, headers=keys.sk)
    assert response.status_code == 200
    iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert response.json() == {
        "events": [
            {
                "event_type": "view_item",
                "timestamp": iso(at(2)),
                "items": [{"item_id": "sku_1", "item_name": "T-Shirt"}],
            },
            {
                "event_type": "add_to_cart",
                "timestamp": at(2, 60.25).isoformat(timespec="milliseconds")[:-6] + "Z",
                "items": [{"item_id": "sku_1"}],
            },
            {"event_type": "begin_checkout", "timestamp": iso(at(2, 120))},
            {
                "event_type": "purchase",
                "timestamp": iso(at(2, 300)),
                "items": [{"item_id": "sku_1", "item_name": "T-Shirt"}],
                "transaction_id": "order_456",
                "revenue": 49.99,
            },
            {
                "event_type": "refund",
                "timestamp": iso(at(1)),
                "transaction_id": "order_456-r",
                "revenue": 10.0,
            },
        ],
        "user_id": "user_123",
    }
    other_body = client.get(JOURNEY, params={"user_id": "user_123"}, headers=other.sk).json()
    assert [(e["event_type"], e["revenue"]) for e in other_body["events"]] == [("purchase", 77.0)]


def test_user_journey_takes_seed_002s_period(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    """Regression: ``days``/``start``/``end`` narrow the journey (they were ignored)."""
    keys = make_tenant("journey period", plan="pro")
    events = [
        Sent("view_item", at(5), "u", items=[{"item_id": "sku_1"}]),
        Sent("purchase", at(2, 300), "u", Decimal("49.99"), tx="order_1"),
        Sent("refund", at(1), "u", Decimal("10.00"), tx="order_1-r"),
    ]
    send(client, keys, events)
    everything = client.get(JOURNEY, params={"user_id": "u"}, headers=keys.sk).json()
    assert [e["event_type"] for e in everything["events"]] == ["view_item", "purchase", "refund"]
    assert "days" not in everything
    recent = client.get(JOURNEY, params={"user_id": "u", "days": "3"}, headers=keys.sk).json()
    assert [e["event_type"] for e in recent["events"]] == ["purchase", "refund"]
    assert recent["days"] == 3
    day = at(2).date().isoformat()
    one_day = client.get(
        JOURNEY, params={"user_id": "u", "start": day, "end": day}, headers=keys.sk
    ).json()
    assert [(e["event_type"], e["revenue"]) for e in one_day["events"]] == [("purchase", 49.99)]
    assert one_day["days"] == 1


def test_an_unknown_user_has_an_empty_journey(client: TestClient, tenant: TenantKeys) -> None:
    response = client.get(JOURNEY, params={"user_id": "nobody"}, headers=tenant.sk)
    assert response.status_code == 200
    assert response.json() == {"events": [], "user_id": "nobody"}


@pytest.mark.parametrize("params", [{}, {"user_id": ""}, {"user_id": "  "}])
def test_user_journey_needs_a_user_id(
    client: TestClient, tenant: TenantKeys, params: dict[str, str]
) -> None:
    response = client.get(JOURNEY, params=params, headers=tenant.sk)
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False and body["field"] == "user_id" and "user_id" in body["error"]


@pytest.mark.parametrize("path", [COHORTS, f"{JOURNEY}?user_id=u"])
def test_a_publishable_key_is_403_and_no_key_is_401(
    client: TestClient, tenant: TenantKeys, path: str
) -> None:
    assert client.get(path, headers=tenant.pk).status_code == 403
    assert client.get(path).status_code == 401
