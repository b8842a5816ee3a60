"""Attribution on the real chDB store: every model and window on hand-built touch histories.

Rows go in through the real insert path (``events_table`` + ``store.insert``) so each
touch's time, visitor, session and flag are exact; ``visitor_id`` is filled as ingestion
fills it (anonymous id, else user id). Expected credits are worked out by hand below.

The shop (every purchase at ``P`` unless said otherwise, period 2026-03-01..03-10 UTC):

- alice ($100): anonymous visits (``a-anon``) from the spring email at P-20d (two page
  views of one session: one touch), a google/cpc "brand" ad at P-10d, a facebook click
  (``fbclid``, no UTM) at P-2d and a flagged tiktok visit at P-1h (ignored); she buys
  logged in (user id + the same anonymous id).
- bob ($50): buys with only his user id on one device; on another device (``b-anon``) he
  saw the "winter" email at P-30d-1h and the brand ad at P-30d+1h, and logged in later.
- carol ($30): no touch at all. dave ($40): only the winter email at P-31d.
- erin ($20): no earlier touch, but her purchase itself carries the summer/google/cpc tags.
- a flagged $1000 tagged purchase, a purchase before the period, and another tenant's
  purchase by "alice": none count.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from shoplens.errors import BadRequest
from shoplens.ingest.channel import classify
from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.meta import MetaStore, Tenant
from shoplens.metrics import attribution
from shoplens.metrics.attribution import MODELS, WINDOWS, attribution_query, parse_model
from shoplens.metrics.period import Period, parse_period
from shoplens.store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
DAY = timedelta(days=1)
NOW = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
P = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
PERIOD = parse_period({"start": "2026-03-01", "end": "2026-03-10"}, timezone="UTC", now=NOW)

FB_URL = "https://shop.example/?fbclid=IwAR0abc&x=1"
SPRING = ("spring-sale", "email", "newsletter")
BRAND = ("brand", "google", "cpc")
FB_CLICK = ("", "facebook", "referral")  # fbclid: channel.CLICK_IDS
WINTER = ("winter", "email", "newsletter")
SUMMER = ("summer", "google", "cpc")
TIKTOK = ("tt", "tiktok", "cpc")


def event(tenant_id: int, at: datetime, event_type: str = "page_view", **fields: Any) -> Event:
    ms = (at - EPOCH) // MS
    visitor = fields.get("anonymous_id") or fields.get("user_id") or ""
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        event_name=event_type,
        source="test",
        timestamp=ms,
        received_at=ms,
        visitor_id=visitor,
        **fields,
    )


def touch(tenant_id: int, at: datetime, tags: tuple[str, str, str], **fields: Any) -> Event:
    campaign, source, medium = tags
    return event(
        tenant_id, at, utm_campaign=campaign, utm_source=source, utm_medium=medium, **fields
    )


def buy(tenant_id: int, at: datetime, dollars: int, **fields: Any) -> Event:
    return event(
        tenant_id,
        at,
        "purchase",
        transaction_id=str(uuid.uuid4()),
        revenue=dollars * 100,
        currency="USD",
        **fields,
    )


def insert(store: Store, events: list[Event]) -> None:
    store.insert("events", events_table(events), f"test-attribution-{uuid.uuid4()}")


@pytest.fixture
def new_tenant(make_tenant: Callable[..., Any], meta: MetaStore) -> Callable[[], Tenant]:
    def make() -> Tenant:
        tenant = meta.tenant(make_tenant("attribution", plan="pro").id)
        assert tenant is not None
        return tenant

    return make


@pytest.fixture
def shop(store: Store, new_tenant: Callable[[], Tenant]) -> Tenant:
    tenant, other = new_tenant(), new_tenant()
    t = tenant.id
    insert(
        store,
        [
            # alice
            touch(t, P - 20 * DAY, SPRING, anonymous_id="a-anon", session_id="s1"),
            touch(t, P - 20 * DAY + 60_000 * MS, SPRING, anonymous_id="a-anon", session_id="s1"),
            touch(t, P - 10 * DAY, BRAND, anonymous_id="a-anon", session_id="s2"),
            event(
                t,
                P - 2 * DAY,
                anonymous_id="a-anon",
                session_id="s3",
                page_url=FB_URL,
                channel=classify(FB_URL, ""),  # as enrichment fills it at ingestion
            ),
            event(t, P - 1 * DAY, anonymous_id="a-anon", session_id="s4"),  # untagged
            touch(t, P - timedelta(hours=1), TIKTOK, anonymous_id="a-anon", is_flagged=1),
            buy(t, P, 100, user_id="alice", anonymous_id="a-anon", session_id="s5"),
            # bob
            touch(t, P - 30 * DAY - timedelta(hours=1), WINTER, anonymous_id="b-anon"),
            touch(t, P - 30 * DAY + timedelta(hours=1), BRAND, anonymous_id="b-anon"),
            event(t, P - 5 * DAY, "identify", user_id="bob", anonymous_id="b-anon"),
            buy(t, P, 50, user_id="bob"),
            # carol, dave, erin
            buy(t, P, 30, user_id="carol"),
            touch(t, P - 31 * DAY, WINTER, anonymous_id="d-anon"),
            buy(t, P, 40, user_id="dave", anonymous_id="d-anon"),
            buy(
                t,
                P,
                20,
                user_id="erin",
                utm_campaign="summer",
                utm_source="google",
                utm_medium="cpc",
            ),
            # never counted
            buy(
                t,
                P,
                1000,
                user_id="mallory",
                utm_campaign="x",
                utm_source="x",
                utm_medium="x",
                is_flagged=1,
            ),
            buy(t, datetime(2026, 2, 27, tzinfo=UTC), 70, user_id="alice", anonymous_id="a-anon"),
            touch(other.id, P - DAY, SPRING, anonymous_id="a-anon"),
            buy(other.id, P, 999, user_id="alice", anonymous_id="a-anon"),
        ],
    )
    return tenant


def cents(value: float) -> Decimal:
    """Expected revenue in dollars (from cents), rounded like the report: half up."""
    return (Decimal(repr(value)) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)


def report(store: Store, tenant: Tenant, model: str, window: int) -> dict[str, Any]:
    return attribution.attribution(store, tenant, PERIOD, MODELS[model], window)


def credits(result: dict[str, Any]) -> dict[tuple[str, str, str], tuple[Decimal, Decimal]]:
    return {
        (r["campaign"], r["source"], r["medium"]): (r["revenue"], r["orders"])
        for r in result["attributed"]
    }


def decay(*ages_days: float) -> list[float]:
    """Time-decay weights of touches ``ages_days`` old, normalized (half-life 7 days)."""
    raw = [2 ** (-age / 7) for age in ages_days]
    return [w / sum(raw) for w in raw]


# Credit per touch key in cents and in orders, per (model, window), worked out by hand.
# alice (10000): spring 20d, brand 10d, fb 2d.  bob (5000): winter 30d+1h, brand 30d-1h.
# dave (4000): winter 31d.  erin (2000): summer at the purchase.  carol: never.
_A = decay(20, 10, 2)
_B = decay(30 + 1 / 24, 30 - 1 / 24)
_A14 = decay(10, 2)
EXPECTED: dict[tuple[str, int], dict[tuple[str, str, str], tuple[float, float]]] = {
    ("last_click", 30): {FB_CLICK: (10000, 1), BRAND: (5000, 1), SUMMER: (2000, 1)},
    ("first_click", 30): {SPRING: (10000, 1), BRAND: (5000, 1), SUMMER: (2000, 1)},
    ("linear", 30): {
        SPRING: (10000 / 3, 1 / 3),
        BRAND: (10000 / 3 + 5000, 1 / 3 + 1),
        FB_CLICK: (10000 / 3, 1 / 3),
        SUMMER: (2000, 1),
    },
    ("time_decay", 30): {
        SPRING: (10000 * _A[0], _A[0]),
        BRAND: (10000 * _A[1] + 5000, _A[1] + 1),
        FB_CLICK: (10000 * _A[2], _A[2]),
        SUMMER: (2000, 1),
    },
    ("position_based", 30): {
        SPRING: (4000, 0.4),
        BRAND: (2000 + 5000, 0.2 + 1),
        FB_CLICK: (4000, 0.4),
        SUMMER: (2000, 1),
    },
    # 60 days: bob's winter email (30d+1h) and dave's (31d) come in.
    ("last_click", 60): {
        FB_CLICK: (10000, 1),
        BRAND: (5000, 1),
        WINTER: (4000, 1),
        SUMMER: (2000, 1),
    },
    ("first_click", 60): {SPRING: (10000, 1), WINTER: (9000, 2), SUMMER: (2000, 1)},
    ("linear", 60): {
        SPRING: (10000 / 3, 1 / 3),
        BRAND: (10000 / 3 + 2500, 1 / 3 + 0.5),
        FB_CLICK: (10000 / 3, 1 / 3),
        WINTER: (2500 + 4000, 1.5),
        SUMMER: (2000, 1),
    },
    ("time_decay", 60): {
        SPRING: (10000 * _A[0], _A[0]),
        BRAND: (10000 * _A[1] + 5000 * _B[1], _A[1] + _B[1]),
        FB_CLICK: (10000 * _A[2], _A[2]),
        WINTER: (5000 * _B[0] + 4000, _B[0] + 1),
        SUMMER: (2000, 1),
    },
    ("position_based", 60): {
        SPRING: (4000, 0.4),
        BRAND: (2000 + 2500, 0.2 + 0.5),
        FB_CLICK: (4000, 0.4),
        WINTER: (2500 + 4000, 1.5),
        SUMMER: (2000, 1),
    },
    # 14 days: alice keeps brand (10d) and fb (2d); bob loses everything.
    ("last_click", 14): {FB_CLICK: (10000, 1), SUMMER: (2000, 1)},
    ("first_click", 14): {BRAND: (10000, 1), SUMMER: (2000, 1)},
    ("linear", 14): {BRAND: (5000, 0.5), FB_CLICK: (5000, 0.5), SUMMER: (2000, 1)},
    ("time_decay", 14): {
        BRAND: (10000 * _A14[0], _A14[0]),
        FB_CLICK: (10000 * _A14[1], _A14[1]),
        SUMMER: (2000, 1),
    },
    ("position_based", 14): {BRAND: (5000, 0.5), FB_CLICK: (5000, 0.5), SUMMER: (2000, 1)},
}
# 7 days: only alice's facebook click (2d) and erin's tagged purchase, whatever the model.
EXPECTED.update({(m, 7): {FB_CLICK: (10000, 1), SUMMER: (2000, 1)} for m in MODELS})
TOTAL = 10000 + 5000 + 3000 + 4000 + 2000


@pytest.mark.parametrize(("model", "window"), sorted(EXPECTED))
def test_each_model_and_window_on_hand_built_histories(
    store: Store, shop: Tenant, model: str, window: int
) -> None:
    result = report(store, shop, model, window)
    expected = EXPECTED[(model, window)]
    got = credits(result)
    assert set(got) == set(expected)
    for key, (revenue, orders) in expected.items():
        assert got[key][0] == cents(revenue), key
        assert float(got[key][1]) == pytest.approx(orders, abs=0.005), key
    unattributed_cents = TOTAL - sum(revenue for revenue, _ in expected.values())
    assert result["unattributed"]["revenue"] == cents(unattributed_cents)
    # Five purchases count; those credited to no touch are unattributed, whole.
    assert result["unattributed"]["orders"] == 5 - round(sum(o for _, o in expected.values()))
    assert (result["model"], result["window_days"]) == (model, window)
    revenues = [r["revenue"] for r in result["attributed"]]
    assert revenues == sorted(revenues, reverse=True)


def test_pct_of_total_shares_all_period_revenue(store: Store, shop: Tenant) -> None:
    result = report(store, shop, "linear", 30)
    pct = {
        (r["campaign"], r["source"], r["medium"]): r["pct_of_total"] for r in result["attributed"]
    }
    # Of $240: spring 33.33 → 13.9%, brand 83.33 → 34.7%, fb 13.9%, summer 20 → 8.3%.
    assert pct == {SPRING: 13.9, BRAND: 34.7, FB_CLICK: 13.9, SUMMER: 8.3}
    assert result["unattributed"]["pct_of_total"] == 29.2  # carol + dave: $70
    shares = [*pct.values(), result["unattributed"]["pct_of_total"]]
    assert math.isclose(sum(shares), 100, abs_tol=0.05 * len(shares))


def test_single_touch_models_report_whole_orders(store: Store, shop: Tenant) -> None:
    result = report(store, shop, "last_click", 30)
    assert [r["orders"] for r in result["attributed"]] == [1, 1, 1]
    assert all(r["orders"].as_tuple().exponent == 0 for r in result["attributed"])
    assert sum(r["revenue"] for r in result["attributed"]) + result["unattributed"][
        "revenue"
    ] == cents(TOTAL)


def test_a_tenant_without_purchases_has_nothing(
    store: Store, new_tenant: Callable[[], Tenant]
) -> None:
    tenant = new_tenant()
    insert(store, [touch(tenant.id, P, SPRING, anonymous_id="x")])
    result = report(store, tenant, "linear", 30)
    assert result["attributed"] == []
    assert result["unattributed"] == {"revenue": Decimal("0.00"), "orders": 0, "pct_of_total": 0.0}


def test_purchases_without_any_id_are_unattributed_one_by_one(
    store: Store, new_tenant: Callable[[], Tenant]
) -> None:
    tenant = new_tenant()
    insert(
        store,
        [
            touch(tenant.id, P - DAY, SPRING),  # no id: cannot be anyone's touch
            buy(tenant.id, P, 10),
            buy(tenant.id, P, 15),
        ],
    )
    result = report(store, tenant, "last_click", 30)
    assert result["attributed"] == []
    assert result["unattributed"]["revenue"] == Decimal("25.00")
    assert result["unattributed"]["orders"] == 2


def test_each_session_touch_counts_once_and_separate_sessions_separately(
    store: Store, new_tenant: Callable[[], Tenant]
) -> None:
    tenant = new_tenant()
    t = tenant.id
    insert(
        store,
        [
            touch(t, P - 3 * DAY, SPRING, anonymous_id="v", session_id="s1"),
            touch(t, P - 3 * DAY + 5 * MS, SPRING, anonymous_id="v", session_id="s1"),
            touch(t, P - 2 * DAY, SPRING, anonymous_id="v", session_id="s2"),
            touch(t, P - 1 * DAY, BRAND, anonymous_id="v", session_id="s3"),
            buy(t, P, 90, anonymous_id="v"),
        ],
    )
    got = credits(report(store, tenant, "linear", 7))
    # Touches: spring (s1), spring (s2), brand → 2/3 and 1/3 of $90.
    assert got == {
        SPRING: (Decimal("60.00"), Decimal("0.67")),
        BRAND: (Decimal("30.00"), Decimal("0.33")),
    }


def test_click_ids_count_on_events_their_channel_came_from(
    store: Store, new_tenant: Callable[[], Tenant]
) -> None:
    tenant = new_tenant()
    t = tenant.id
    gclid = "https://shop.example/p?x=1&gclid=Cj0K"
    insert(
        store,
        [
            event(t, P - 3 * DAY, anonymous_id="v", page_url=gclid, channel=classify(gclid, "")),
            # Stored without a channel (never classified): its click id is not searched for.
            event(t, P - 2 * DAY, anonymous_id="v", page_url="https://shop.example/?msclkid=1"),
            buy(t, P, 10, anonymous_id="v"),
        ],
    )
    assert classify(gclid, "") == "paid_search"
    got = credits(report(store, tenant, "last_click", 7))
    assert got == {("", "google", "cpc"): (Decimal("10.00"), Decimal(1))}


def test_parse_model_and_window() -> None:
    assert parse_model(None).name == "last_click"
    assert parse_model("position_based").name == "position_based"
    assert attribution.parse_window(None) == 30
    assert attribution.parse_window("90") == 90
    with pytest.raises(BadRequest, match="model must be one of") as bad:
        parse_model("data_driven")
    assert bad.value.field == "model"
    for value in ("8", "30d", "-7", "١٤", "0"):
        with pytest.raises(BadRequest, match="window must be one of 7, 14, 30, 60, 90") as bad:
            attribution.parse_window(value)
        assert bad.value.field == "window"


def test_the_query_binds_every_value(store: Store, shop: Tenant) -> None:
    period: Period = PERIOD
    sql, params = attribution_query(shop.id, period, MODELS["time_decay"], 90).compile()
    assert "gclid" not in sql and "604800" not in sql and str(shop.id) not in sql
    assert params["half_life_s"] == 7 * 86400
    assert params["window_ms"] == 90 * 86_400_000
    with pytest.raises(ValueError, match="window_days"):
        attribution_query(shop.id, period, MODELS["linear"], 45)
    assert set(WINDOWS) == {7, 14, 30, 60, 90}
