"""The funnel routes over real HTTP (ASGI), with events sent through the real ingestion API.

The routes use the real clock, so fixture events are placed relative to ``datetime.now``,
on whole days ago (never on a period's first or last day unless a test is about the
boundary), and expectations are computed in plain Python from the fixture list.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from shoplens.ingest.columns import events_table
from shoplens.ingest.event import Event
from shoplens.store import Store
from tests.conftest import TenantKeys, assert_bad_request, wait_stored

BATCH = "/v1/api/analytics/ecommerce/batch"
CORE_BATCH = "/analytics/event/batch"
OVERVIEW = "/v1/api/analytics/ecommerce/overview"
FUNNEL = "/analytics/funnel"
CONVERSION = "/analytics/conversion"
V1_FUNNEL = "/v1/api/analytics/ecommerce/funnel"
CARTS = "/v1/api/analytics/ecommerce/cart-abandonment"
ROUTES = [FUNNEL, CONVERSION, V1_FUNNEL, CARTS]
CORE = [
    ("Product Views", "view_item"),
    ("Add to Cart", "add_to_cart"),
    ("Checkout Started", "begin_checkout"),
    ("Payment Completed", "add_payment_info"),
    ("Order Confirmed", "purchase"),
]
V1 = ["view_item", "add_to_cart", "view_cart", "begin_checkout", "add_payment_info", "purchase"]


@dataclass
class Sent:
    """One fixture event: its type, time, visitor, and cart value for item events."""

    kind: str
    at: datetime
    visitor: str
    price: Decimal = Decimal("10.00")
    quantity: int = 1
    anonymous: bool = False  # identify by anonymous_id instead of user_id
    extra: dict[str, Any] = field(default_factory=dict)  # more seed 002 fields (page_url…)

    def body(self) -> dict[str, Any]:
        who = "anonymous_id" if self.anonymous else "user_id"
        out: dict[str, Any] = {
            "event_type": self.kind,
            who: self.visitor,
            "timestamp": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if self.kind == "purchase":
            out |= {"transaction_id": f"tx-{uuid.uuid4()}", "revenue": 10.0}
        if self.kind in ("view_item", "add_to_cart", "remove_from_cart"):
            out["items"] = [
                {"item_id": "sku", "price": float(self.price), "quantity": self.quantity}
            ]
        return out | self.extra


def send(client: TestClient, keys: TenantKeys, events: list[Sent]) -> None:
    for i in range(0, len(events), 100):
        batch = [e.body() for e in events[i : i + 100]]
        response = client.post(BATCH, json={"events": batch}, headers=keys.pk)
        assert response.json() == {"ok": True, "accepted": len(batch)}, response.json()
    wait_stored(client)


def send_core(client: TestClient, keys: TenantKeys, events: list[dict[str, Any]]) -> None:
    """Seed 000 events (``event``, ``userId``, ``timestamp``, ``properties``) via its batch."""
    response = client.post(CORE_BATCH, json={"events": events}, headers=keys.pk)
    assert response.json()["accepted"] == len(events), response.json()
    wait_stored(client)


def core_event(name: str, user: str, at: datetime, **properties: Any) -> dict[str, Any]:
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"event": name, "userId": user, "timestamp": stamp, "properties": properties}


def days_ago(n: int, hour: int = 12, minute: int = 0) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=n) + timedelta(hours=hour, minutes=minute)


def walk(visitor: str, kinds: list[str], day: int, anonymous: bool = False) -> list[Sent]:
    """``kinds`` done by ``visitor`` in this order, a minute apart, ``day`` days ago."""
    return [
        Sent(k, days_ago(day, 12, i), visitor, anonymous=anonymous) for i, k in enumerate(kinds)
    ]


def rate(part: int, whole: int) -> float:
    if not whole:
        return 0.0
    return float((Decimal(part) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def ordered_counts(events: list[Sent], steps: list[str], first: datetime) -> list[int]:
    """Visitors reaching each step in order, from events at or after ``first`` (plain Python)."""
    by_visitor: dict[str, list[Sent]] = {}
    for e in events:
        if e.at >= first:
            by_visitor.setdefault(e.visitor, []).append(e)
    counts = [0] * len(steps)
    for evs in by_visitor.values():
        level = 0
        for e in sorted(evs, key=lambda e: e.at):
            if level < len(steps) and e.kind == steps[level]:
                level += 1
        for i in range(level):
            counts[i] += 1
    return counts


# Ten visitors over the last week, plus an older one (day 12) outside 7d.
FIXTURE = [
    *walk("full-1", [t for _, t in CORE], 1),
    *walk("full-2", V1, 2, anonymous=True),
    *walk("to-checkout", ["view_item", "add_to_cart", "view_cart", "begin_checkout"], 3),
    *walk("carted", ["view_item", "add_to_cart"], 4),
    *walk("carted-2", ["view_item", "add_to_cart", "view_cart"], 2),
    *walk("viewer", ["view_item"], 1),
    *walk("viewer-2", ["view_item", "view_item"], 5),
    # out of order: bought, then carted, then viewed — only the view counts
    *walk("backwards", ["purchase", "add_to_cart", "view_item"], 3),
    # cart before view counts as no cart
    *walk("cart-first", ["add_to_cart", "view_item", "begin_checkout"], 2),
    *walk("old", [t for _, t in CORE], 12),
]


@pytest.fixture
def shop(client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store) -> TenantKeys:
    keys = make_tenant("funnel-shop", plan="pro")
    send(client, keys, FIXTURE)
    # A flagged purchase for "carted" (fraud rules don't exist yet): written through the
    # store's insert path, as the flusher would write an event the rules had marked.
    ms = int(days_ago(4, 14).timestamp() * 1000)
    flagged = Event(
        tenant_id=keys.id,
        event_id=str(uuid.uuid4()),
        event_type="purchase",
        event_name="purchase",
        source="test",
        timestamp=ms,
        received_at=ms,
        transaction_id=f"flagged-{uuid.uuid4()}",
        revenue=999_900,
        user_id="carted",
        visitor_id="carted",
        is_flagged=1,
    )
    store.insert("events", events_table([flagged]), f"test-funnel-flagged-{uuid.uuid4()}")
    return keys


def week_start() -> datetime:
    return days_ago(6, 0)


def drop_offs(counts: list[int]) -> list[tuple[float, float, int, float]]:
    """(rate vs previous, rate vs first, drop-off, drop-off rate) per step, in plain Python."""
    out = []
    for i, n in enumerate(counts):
        before = counts[i - 1] if i else n
        out.append((rate(n, before), rate(n, counts[0]), before - n, rate(before - n, before)))
    return out


def test_core_funnel_is_ordered_visitors_per_stage(client: TestClient, shop: TenantKeys) -> None:
    counts = ordered_counts(FIXTURE, [t for _, t in CORE], week_start())
    # view_cart is not a core stage, so full-2 completes the core funnel too
    assert counts == [9, 5, 3, 2, 2]
    body = client.get(FUNNEL, params={"period": "7d"}, headers=shop.sk).json()
    assert body["stages"] == [
        {
            "name": name,
            "count": n,
            "rate": r,
            "overallRate": overall,
            "dropOff": lost,
            "dropOffRate": lost_rate,
        }
        for (name, _), n, (r, overall, lost, lost_rate) in zip(
            CORE, counts, drop_offs(counts), strict=True
        )
    ]
    assert body["stages"][2]["dropOff"] == 2 and body["stages"][2]["dropOffRate"] == 40.0
    assert body["conversionRate"] == rate(2, 9) == 22.2
    # THE cart abandonment rate (the cart-abandonment report's): 5 of 7 carts abandoned
    assert body["abandonmentRate"] == rate(5, 7) == 71.4
    assert (body["window"], body["order"]) == (None, "ordered")


def test_v1_funnel_has_six_steps_with_percentages(client: TestClient, shop: TenantKeys) -> None:
    counts = ordered_counts(FIXTURE, V1, week_start())
    body = client.get(V1_FUNNEL, params={"days": "7"}, headers=shop.sk).json()
    assert body == {
        "steps": [
            {
                "name": name,
                "count": n,
                "percentage": r,
                "overall_percentage": overall,
                "drop_off": lost,
                "drop_off_rate": lost_rate,
            }
            for name, n, (r, overall, lost, lost_rate) in zip(
                V1, counts, drop_offs(counts), strict=True
            )
        ],
        "conversion_rate": rate(counts[-1], counts[0]),
        "window": None,
        "order": "ordered",
        "days": 7,
    }
    assert counts == [9, 5, 3, 2, 1, 1]  # full-1 never viewed its cart
    # the older visitor is in a 30-day range
    wide = client.get(V1_FUNNEL, headers=shop.sk).json()
    assert wide["days"] == 30 and wide["steps"][0]["count"] == 10


def test_conversion_is_the_core_funnel_in_both_spellings(
    client: TestClient, shop: TenantKeys
) -> None:
    body = client.get(
        CONVERSION,
        params={
            "time_range": "custom",
            "start_date": str(days_ago(6).date()),
            "end_date": str(days_ago(0).date()),
        },
        headers=shop.sk,
    ).json()
    core = client.get(FUNNEL, params={"period": "7d"}, headers=shop.sk).json()
    assert body["stages"] == core["stages"]
    assert body["conversion_rate"] == body["conversionRate"] == core["conversionRate"]
    assert body["cart_abandonment_rate"] == body["abandonmentRate"] == core["abandonmentRate"]
    assert (body["time_range"], body["start_date"]) == ("custom", str(days_ago(6).date()))


def test_cart_abandonment_in_decimals(client: TestClient, shop: TenantKeys) -> None:
    body = client.get(CARTS, params={"days": "7"}, headers=shop.sk).json()
    # carts: full-1, full-2, to-checkout, carted, carted-2, backwards, cart-first;
    # completed: full-1, full-2 (the flagged purchase of "carted" does not count; the
    # purchase of "backwards" came before its cart). Each abandoned cart is 10.00.
    assert body == {
        "abandonment_rate": rate(5, 7),
        "abandoned_carts": 5,
        "abandoned_revenue": 50.0,
        "completed_carts": 2,
        "days": 7,
    }


def test_remove_from_cart_lowers_the_abandoned_value(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("remover", plan="pro")
    send(
        client,
        keys,
        [
            Sent("add_to_cart", days_ago(2, 10), "r", Decimal("12.50"), 3),
            Sent("remove_from_cart", days_ago(2, 11), "r", Decimal("12.50"), 1),
        ],
    )
    body = client.get(CARTS, params={"days": "7"}, headers=keys.sk).json()
    assert (body["abandoned_carts"], body["abandoned_revenue"]) == (1, 25.0)


def test_new_york_periods_start_at_local_midnight(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("ny-funnel", timezone="America/New_York", plan="pro")
    tz = ZoneInfo("America/New_York")
    today = datetime.now(UTC).astimezone(tz).date()
    first = today - timedelta(days=2)  # days=3
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    events = [
        # viewed 1 minute before the period's local midnight, carted after: no view counted
        Sent("view_item", start - timedelta(minutes=1), "early"),
        Sent("add_to_cart", start + timedelta(minutes=1), "early"),
        # both inside, right after local midnight (which is 04:00 or 05:00 UTC)
        Sent("view_item", start + timedelta(seconds=1), "inside"),
        Sent("add_to_cart", start + timedelta(minutes=2), "inside"),
    ]
    send(client, keys, events)
    body = client.get(V1_FUNNEL, params={"days": "3"}, headers=keys.sk).json()
    assert [s["count"] for s in body["steps"]][:2] == ordered_counts(events, V1, start)[:2]
    assert [s["count"] for s in body["steps"]][:2] == [1, 1]
    wider = client.get(V1_FUNNEL, params={"days": "4"}, headers=keys.sk).json()
    assert [s["count"] for s in wider["steps"]][:2] == [2, 2]


def test_an_empty_range_is_zeros_not_an_error(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("empty-funnel", plan="pro")
    core = client.get(FUNNEL, params={"period": "7d"}, headers=keys.sk).json()
    assert [(s["count"], s["rate"]) for s in core["stages"]] == [(0, 0.0)] * 5
    assert (core["abandonmentRate"], core["conversionRate"]) == (0.0, 0.0)
    v1 = client.get(V1_FUNNEL, headers=keys.sk).json()
    assert [(s["count"], s["percentage"]) for s in v1["steps"]] == [(0, 0.0)] * 6
    assert client.get(CARTS, headers=keys.sk).json() == {
        "abandonment_rate": 0.0,
        "abandoned_carts": 0,
        "abandoned_revenue": 0.0,
        "completed_carts": 0,
        "days": 30,
    }


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (FUNNEL, {"period": "5d"}, "period"),
        (FUNNEL, {"period": "7d", "time_range": "week"}, "time_range"),
        (CONVERSION, {"time_range": "decade"}, "time_range"),
        (CONVERSION, {"time_range": "custom", "start_date": "2026-01-01"}, "end_date"),
        (V1_FUNNEL, {"days": "0"}, "days"),
        (V1_FUNNEL, {"start": "2026-01-01"}, "end"),
        (CARTS, {"days": "abc"}, "days"),
        (CARTS, {"start": "2026-02-01", "end": "2026-01-01"}, "start"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    client: TestClient, tenant: TenantKeys, path: str, params: dict[str, str], field: str
) -> None:
    assert_bad_request(client.get(path, params=params, headers=tenant.sk), field)


def test_tenants_see_only_their_own_funnel(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    one, two = make_tenant("f-one", plan="pro"), make_tenant("f-two", plan="pro")
    send(client, one, walk("same", ["view_item", "add_to_cart"], 1))
    send(client, two, walk("same", ["view_item"], 1) + walk("other", ["view_item"], 1))
    for keys, counts in ((one, [1, 1]), (two, [2, 0])):
        body = client.get(V1_FUNNEL, params={"days": "7"}, headers=keys.sk).json()
        assert [s["count"] for s in body["steps"]][:2] == counts
    assert client.get(CARTS, headers=one.sk).json()["abandoned_carts"] == 1
    assert client.get(CARTS, headers=two.sk).json()["abandoned_carts"] == 0


@pytest.mark.parametrize("path", ROUTES)
def test_a_publishable_key_is_403_and_no_key_is_401(
    client: TestClient, tenant: TenantKeys, path: str
) -> None:
    assert client.get(path, headers=tenant.pk).status_code == 403
    assert client.get(path).status_code == 401


# -- custom steps, filters, window, order (issue 9) ----------------------------------------


def counts_of(body: dict[str, Any]) -> list[int]:
    return [s["count"] for s in body.get("stages", body.get("steps", []))]


def test_a_shop_without_checkout_events_gets_purchasers_with_custom_steps(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("no-checkout", plan="pro")
    events = [
        *walk("b1", ["view_item", "add_to_cart", "purchase"], 1),
        *walk("b2", ["view_item", "add_to_cart", "purchase"], 2),
        *walk("b3", ["view_item", "add_to_cart", "purchase"], 3),
        *walk("c1", ["view_item", "add_to_cart"], 2),
        *walk("v1", ["view_item"], 4),
    ]
    send(client, keys, events)
    steps = ["view_item", "add_to_cart", "purchase"]
    want = ordered_counts(events, steps, week_start())
    assert want == [5, 4, 3]
    # the seeds' default steps need checkout events this shop never sends: 0 purchasers
    default = client.get(FUNNEL, params={"period": "7d"}, headers=keys.sk).json()
    assert counts_of(default)[-1] == 0
    # seed 000's names and the canonical ones are the same steps
    core = client.get(
        FUNNEL,
        params={"period": "7d", "steps": "product_view,add_to_cart,order_completed"},
        headers=keys.sk,
    ).json()
    assert counts_of(core) == want
    assert [s["name"] for s in core["stages"]] == [
        "product_view",
        "add_to_cart",
        "order_completed",
    ]
    assert core["stages"][2] == {
        "name": "order_completed",
        "count": 3,
        "rate": 75.0,
        "overallRate": 60.0,
        "dropOff": 1,
        "dropOffRate": 25.0,
    }
    assert core["conversionRate"] == 60.0
    v1 = client.get(
        V1_FUNNEL, params={"days": "7", "steps": ",".join(steps)}, headers=keys.sk
    ).json()
    assert counts_of(v1) == want
    assert v1["steps"][1] == {
        "name": "add_to_cart",
        "count": 4,
        "percentage": 80.0,
        "overall_percentage": 80.0,
        "drop_off": 1,
        "drop_off_rate": 20.0,
    }
    conversion = client.get(
        CONVERSION, params={"time_range": "week", "steps": ",".join(steps)}, headers=keys.sk
    ).json()
    assert counts_of(conversion)[-1] > 0


def test_property_and_column_filtered_steps(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("filtered-steps", plan="pro")
    t = days_ago(2)
    minute = timedelta(minutes=1)
    send_core(
        client,
        keys,
        [
            # saw pricing, signed up for pro: both steps
            core_event("page_view", "pro-1", t, page="/pricing"),
            core_event("signup", "pro-1", t + minute, plan="pro"),
            # saw pricing, signed up for free: pricing only
            core_event("page_view", "free-1", t, page="/pricing"),
            core_event("signup", "free-1", t + minute, plan="free"),
            # saw another page, signed up for pro: no pricing view, so nothing
            core_event("page_view", "about-1", t, page="/about"),
            core_event("signup", "about-1", t + minute, plan="pro"),
        ],
    )
    steps = "page_view:page_path=/pricing,signup:properties.plan=pro"
    core = client.get(FUNNEL, params={"period": "7d", "steps": steps}, headers=keys.sk).json()
    assert counts_of(core) == [2, 1]
    assert [s["name"] for s in core["stages"]] == [
        "page_view:page_path=/pricing",
        "signup:properties.plan=pro",
    ]
    # != and a seed 004 alias (pageview) for the type
    steps = "pageview:page_path!=/about,signup:properties.plan!=pro"
    v1 = client.get(V1_FUNNEL, params={"days": "7", "steps": steps}, headers=keys.sk).json()
    assert counts_of(v1) == [2, 1]
    # the dimension name "page" is page_path; event_name matches what the client sent
    steps = "page_view:page=/pricing,signup:event_name=signup;properties.plan=free"
    v1 = client.get(V1_FUNNEL, params={"days": "7", "steps": steps}, headers=keys.sk).json()
    assert counts_of(v1) == [2, 1]


def test_a_conversion_window_excludes_a_slow_converter(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("slow-buyer", plan="pro")
    send(
        client,
        keys,
        [
            Sent("view_item", days_ago(2, 10), "fast"),
            Sent("purchase", days_ago(2, 11), "fast"),  # an hour later
            Sent("view_item", days_ago(5, 10), "slow"),
            Sent("purchase", days_ago(1, 10), "slow"),  # four days later
        ],
    )
    steps = "view_item,purchase"

    def purchasers(path: str, **params: str) -> int:
        body = client.get(path, params={"steps": steps, **params}, headers=keys.sk).json()
        return counts_of(body)[-1]

    assert purchasers(FUNNEL, period="7d") == 2  # default: the whole period
    assert purchasers(FUNNEL, period="7d", window="1d") == 1
    assert purchasers(FUNNEL, period="7d", window="90m") == 1
    assert purchasers(FUNNEL, period="7d", window="30m") == 0
    assert purchasers(V1_FUNNEL, days="7", window="24h") == 1
    assert purchasers(V1_FUNNEL, days="7", window="4d") == 2
    body = client.get(
        FUNNEL, params={"period": "7d", "steps": steps, "window": "24h"}, headers=keys.sk
    ).json()
    assert body["window"] == "1d"


def test_strict_order_breaks_on_any_event_between_steps(
    client: TestClient, make_tenant: Callable[..., TenantKeys]
) -> None:
    keys = make_tenant("strict", plan="pro")
    send(
        client,
        keys,
        [
            *walk("direct", ["view_item", "add_to_cart"], 2),
            *walk("browsed", ["view_item", "search", "add_to_cart"], 2),
        ],
    )
    params = {"days": "7", "steps": "view_item,add_to_cart"}
    loose = client.get(V1_FUNNEL, params=params, headers=keys.sk).json()
    assert counts_of(loose) == [2, 2] and loose["order"] == "ordered"
    strict = client.get(V1_FUNNEL, params=params | {"order": "strict"}, headers=keys.sk).json()
    assert counts_of(strict) == [2, 1] and strict["order"] == "strict"


@pytest.mark.parametrize("path", [FUNNEL, CONVERSION, V1_FUNNEL])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"steps": "view_item"}, "steps"),  # one step
        ({"steps": ",".join(["view_item"] * 11)}, "steps"),
        ({"steps": "view_item,,purchase"}, "steps"),
        ({"steps": "view_item,purchase:nope=1"}, "steps"),
        ({"steps": "view_item,page_path=/x"}, "steps"),
        ({"steps": "view_item,page_view:page_path"}, "steps"),
        ({"steps": "view_item,page_view:=/x"}, "steps"),
        ({"steps": "view_item,page_view:page_path=" + "x" * 300}, "steps"),
        ({"window": "7w"}, "window"),
        ({"window": "0m"}, "window"),
        ({"window": "366d"}, "window"),
        ({"window": "-1d"}, "window"),
        ({"order": "random"}, "order"),
    ],
)
def test_bad_steps_window_and_order_are_400_naming_the_parameter(
    client: TestClient, tenant: TenantKeys, path: str, params: dict[str, str], field: str
) -> None:
    assert_bad_request(client.get(path, params=params, headers=tenant.sk), field)


def test_every_abandonment_figure_is_the_one_definition(
    client: TestClient, shop: TenantKeys
) -> None:
    """The v1 overview, the core funnel, seed 003's conversion and the cart-abandonment
    report used three definitions (63.4 / 63.4 / 68.3 on one shop); now one."""
    overview = client.get(OVERVIEW, params={"days": "7"}, headers=shop.sk).json()
    core = client.get(FUNNEL, params={"period": "7d"}, headers=shop.sk).json()
    conversion = client.get(CONVERSION, params={"time_range": "week"}, headers=shop.sk).json()
    carts = client.get(CARTS, params={"days": "7"}, headers=shop.sk).json()
    # "backwards" bought before adding to its cart: abandoned by the one definition (the
    # overview counted it as bought, the ordered funnel did not count its cart at all)
    assert (
        overview["cart_abandonment_rate"]
        == core["abandonmentRate"]
        == carts["abandonment_rate"]
        == rate(5, 7)
    )
    week = client.get(
        CONVERSION,
        params={
            "time_range": "custom",
            "start_date": str(days_ago(6).date()),
            "end_date": str(days_ago(0).date()),
        },
        headers=shop.sk,
    ).json()
    assert week["cart_abandonment_rate"] == week["abandonmentRate"] == rate(5, 7)
    assert conversion["cart_abandonment_rate"] == conversion["abandonmentRate"]
    # custom steps do not change the cart figure
    custom = client.get(
        FUNNEL, params={"period": "7d", "steps": "view_item,purchase"}, headers=shop.sk
    ).json()
    assert custom["abandonmentRate"] == rate(5, 7)
