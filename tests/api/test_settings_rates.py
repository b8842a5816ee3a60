"""Currency conversion over HTTP: the shipped ECB snapshot, dated lookups, zero- and
three-decimal currencies, and ``PUT``/``GET /v1/settings/exchange-rates`` (tenant overrides).

Expected amounts are computed here from the ECB's published numbers (units per 1 EUR on
Friday 2026-10-30: USD 1.1172, JPY 175.68, KRW 1491.76), independently of the converter.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import TenantKeys, rows, stored_events, wait_stored

TRACK = "/v1/api/analytics/ecommerce/track"
RATES = "/v1/settings/exchange-rates"
SUNDAY = "2026-11-01T15:00:00Z"  # the ECB publishes no rate on weekends: Friday's applies
FRIDAY = {"USD": "1.1172", "JPY": "175.68", "KRW": "1491.76", "EUR": "1"}
THURSDAY = {"USD": "1.113", "EUR": "1"}


def minor(amount: str, frm: str, to: str, digits: int, rates: dict[str, str]) -> int:
    """``amount`` of ``frm`` in minor units of ``to``: amount * rate(to) / rate(frm)."""
    value = Decimal(amount) * Decimal(rates[to]) / Decimal(rates[frm])
    return int((value * 10**digits).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def items_of(store: Store, tenant_id: int) -> list[dict[str, Any]]:
    return rows(
        store,
        "SELECT * FROM event_items WHERE tenant_id = {t:UInt32} ORDER BY item_index",
        t=tenant_id,
    )


@pytest.fixture
def make_tenant(
    make_tenant: Callable[..., TenantKeys], meta: MetaStore
) -> Callable[..., TenantKeys]:
    """Tenants that keep raw events forever (enterprise, ``rawEvents: null``): these tests
    send events dated on the days of real ECB rows, which any finite retention would refuse
    as too old once those days are past it."""

    def make(name: str = "shop", **fields: Any) -> TenantKeys:
        keys = make_tenant(name, **{**fields, "plan": "enterprise"})
        forever = {"rawEvents": None, "aggregatedMetrics": None}
        meta.set_setting(keys.id, "retention", forever)
        return keys

    return make


@pytest.fixture
def tenant(make_tenant: Callable[..., TenantKeys]) -> TenantKeys:
    return make_tenant("Acme")


def purchase(**fields: Any) -> dict[str, Any]:
    return {"event_type": "purchase", "transaction_id": "o1", "timestamp": SUNDAY, **fields}


def test_a_fresh_install_converts_with_the_shipped_ecb_rates_of_the_events_day(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    body = purchase(
        revenue=100.00,
        currency="EUR",
        discount=5.55,
        shipping=4.99,
        tax=19.00,
        items=[
            {"item_id": "a", "price": 45.5, "quantity": 2, "discount": 1.25},
            {"item_id": "b", "price": 1980, "currency": "JPY"},
            {"item_id": "c", "price": 15000, "currency": "KRW"},
        ],
    )
    response = client.post(TRACK, headers=tenant.pk, json=body)
    assert response.status_code == 200, response.text
    wait_stored(client)

    [event] = stored_events(store, tenant.id)
    assert (event["currency"], event["original_currency"]) == ("USD", "EUR")
    assert event["original_revenue"] == Decimal("100")
    assert event["revenue"] == minor("100.00", "EUR", "USD", 2, FRIDAY) == 11172
    assert event["discount"] == minor("5.55", "EUR", "USD", 2, FRIDAY)
    assert event["shipping"] == minor("4.99", "EUR", "USD", 2, FRIDAY)
    assert event["tax"] == minor("19.00", "EUR", "USD", 2, FRIDAY)

    a, b, c = items_of(store, tenant.id)
    assert (a["price"], a["original_price"], a["original_currency"], a["currency"]) == (
        minor("45.5", "EUR", "USD", 2, FRIDAY),
        Decimal("45.5"),
        "EUR",
        "USD",
    )
    assert a["discount"] == minor("1.25", "EUR", "USD", 2, FRIDAY)
    # JPY and KRW have no minor unit: 1980 JPY is 1980 units, not 19.80.
    assert (b["price"], b["original_price"], b["original_currency"]) == (
        minor("1980", "JPY", "USD", 2, FRIDAY),
        Decimal("1980"),
        "JPY",
    )
    assert (c["price"], c["original_currency"]) == (minor("15000", "KRW", "USD", 2, FRIDAY), "KRW")


def test_each_event_converts_at_its_own_days_rate(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    for order, when in (("thu", "2026-10-29T23:59:00Z"), ("sun", SUNDAY)):
        body = purchase(transaction_id=order, revenue=250, currency="EUR", timestamp=when)
        assert client.post(TRACK, headers=tenant.pk, json=body).status_code == 200
    wait_stored(client)
    thursday, sunday = stored_events(store, tenant.id, order_by="timestamp")
    assert thursday["revenue"] == minor("250", "EUR", "USD", 2, THURSDAY) == 27825
    assert sunday["revenue"] == minor("250", "EUR", "USD", 2, FRIDAY) == 27930


def test_zero_and_three_decimal_currencies_with_tenant_rates(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    # The ECB quotes neither BHD, KWD nor VND: the tenant supplies them (per 1 EUR).
    shop = make_tenant("Gulf", base_currency="KWD", plan="pro")
    own = {"BHD": "0.4212", "KWD": "0.3431", "VND": "29412.5"}
    put = client.put(
        RATES,
        headers=shop.sk,
        json={"base": "EUR", "date": "2026-10-30", "rates": {k: float(v) for k, v in own.items()}},
    )
    assert put.json() == {"ok": True, "dates": 1, "rates": 3}
    rates = {**FRIDAY, **own}
    body = purchase(
        revenue=12.345,
        currency="BHD",
        items=[
            {"item_id": "v", "price": 250000, "currency": "VND"},
            {"item_id": "u", "price": 49.99, "currency": "USD"},
            {"item_id": "k", "price": 1.5, "currency": "KWD"},
        ],
    )
    assert client.post(TRACK, headers=shop.pk, json=body).status_code == 200
    wait_stored(client)
    [event] = stored_events(store, shop.id)
    # KWD has three minor digits: amounts are stored in fils (1/1000 dinar).
    assert event["revenue"] == minor("12.345", "BHD", "KWD", 3, rates)
    assert (event["original_revenue"], event["original_currency"]) == (Decimal("12.345"), "BHD")
    v, u, k = items_of(store, shop.id)
    assert v["price"] == minor("250000", "VND", "KWD", 3, rates)
    assert u["price"] == minor("49.99", "USD", "KWD", 3, rates)
    assert k["price"] == 1500  # the base currency itself: 1.5 KWD = 1500 fils


def test_a_zero_decimal_base_currency(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    shop = make_tenant("Tokyo", base_currency="JPY", plan="pro")
    body = purchase(revenue=49.99, currency="USD", shipping=5)
    assert client.post(TRACK, headers=shop.pk, json=body).status_code == 200
    wait_stored(client)
    [event] = stored_events(store, shop.id)
    assert event["revenue"] == minor("49.99", "USD", "JPY", 0, FRIDAY) == 7861  # whole yen
    assert event["shipping"] == minor("5", "USD", "JPY", 0, FRIDAY)


def test_a_missing_currency_is_the_tenants_base_currency(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    shop = make_tenant("Seoul", base_currency="KRW", plan="pro")
    assert client.post(TRACK, headers=shop.pk, json=purchase(revenue=15000)).status_code == 200
    wait_stored(client)
    [event] = stored_events(store, shop.id)
    assert (event["revenue"], event["currency"], event["original_currency"]) == (
        15000,
        "KRW",
        "KRW",
    )


def test_an_unknown_currency_is_a_400_naming_it(client: TestClient, tenant: TenantKeys) -> None:
    response = client.post(TRACK, headers=tenant.pk, json=purchase(revenue=1, currency="XTS1"))
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "Unknown currency 'XTS1'", "field": "currency"}


def test_a_currency_without_a_rate_is_a_400_naming_it(
    client: TestClient, tenant: TenantKeys, store: Store
) -> None:
    response = client.post(TRACK, headers=tenant.pk, json=purchase(revenue=1, currency="BHD"))
    assert response.status_code == 400
    assert response.json()["field"] == "revenue"
    assert response.json()["error"] == (
        "No exchange rate from BHD to USD on 2026-11-01 (BHD has no rate on or before that "
        "day): send amounts in USD or load rates"
    )
    wait_stored(client)
    assert stored_events(store, tenant.id) == []


def test_put_overrides_convert_new_events_for_that_tenant_only(
    client: TestClient, make_tenant: Callable[..., TenantKeys], store: Store
) -> None:
    mine, other = make_tenant("mine", plan="pro"), make_tenant("other", plan="pro")
    put = client.put(RATES, headers=mine.sk, json=[{"date": "2026-10-31", "rates": {"USD": 2}}])
    assert put.json() == {"ok": True, "dates": 1, "rates": 1}
    for shop in (mine, other):
        body = purchase(revenue=10, currency="EUR")
        assert client.post(TRACK, headers=shop.pk, json=body).status_code == 200
    wait_stored(client)
    assert stored_events(store, mine.id)[0]["revenue"] == 2000  # Saturday's own rate
    assert stored_events(store, other.id)[0]["revenue"] == 1117  # the ECB's Friday rate

    shown = client.get(RATES, headers=mine.sk, params={"date": "2026-11-01"}).json()
    usd = next(r for r in shown["rates"] if r["currency"] == "USD")
    assert usd == {
        "currency": "USD",
        "rate": 2.0,
        "date": "2026-10-31",
        "override": True,
        "to_base": 1.0,
    }
    others = client.get(RATES, headers=other.sk, params={"date": "2026-11-01"}).json()
    assert (others["quote"], others["base_currency"], others["date"]) == (
        "EUR",
        "USD",
        "2026-11-01",
    )
    by_code = {r["currency"]: r for r in others["rates"]}
    assert by_code["USD"] == {
        "currency": "USD",
        "rate": 1.1172,
        "date": "2026-10-30",
        "override": False,
        "to_base": 1.0,
    }
    assert by_code["JPY"]["to_base"] == float(Decimal("1.1172") / Decimal("175.68"))
    assert by_code["EUR"]["to_base"] == 1.1172


def test_put_rejects_bad_rates_naming_the_field_and_needs_a_secret_key(
    client: TestClient, tenant: TenantKeys
) -> None:
    bad = client.put(RATES, headers=tenant.sk, json={"date": "2026-10-31", "rates": {"ABC": 1}})
    assert bad.status_code == 400
    assert bad.json() == {"ok": False, "error": "Unknown currency 'ABC'", "field": "rates.ABC"}
    negative = client.put(
        RATES, headers=tenant.sk, json={"date": "2026-10-31", "rates": {"USD": -1}}
    )
    assert negative.json()["field"] == "rates.USD"
    broken = client.put(RATES, headers=tenant.sk, content=b"{").json()["error"]
    assert broken.startswith("Request body is not valid JSON")
    body = {"date": "2026-10-31", "rates": {"USD": 1}}
    assert client.put(RATES, headers=tenant.pk, json=body).status_code == 403
    assert client.get(RATES, headers=tenant.pk).status_code == 403
    assert client.get(RATES, headers=tenant.sk, params={"date": "x"}).json()["field"] == "date"
