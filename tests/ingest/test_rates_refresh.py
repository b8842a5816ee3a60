"""The exchange-rate refresh against a provider stand-in (tests/rates_provider.py: a real
HTTP server on 127.0.0.1), into the real store, and through the real app.

Expected amounts are computed here from the provider's numbers: 100 AED at OXR's 3.6725
AED per USD is 100 / 3.6725 = 27.2294 USD → 2723 cents.

TRICKY: the session store is shared by every test of this process, and a refresh writes
global rates dated today; the ``clean_refresh`` fixture deletes them (and the recorded
refresh status) after each test, so no other test converts at this module's rates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from shoplens.app import create_app
from shoplens.config import Settings
from shoplens.ingest import rates_store
from shoplens.ingest.rates import day_number
from shoplens.ingest.rates_refresh import MAX_BODY_BYTES, RatesRefresher, RefreshFailed
from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import TenantKeys, rows, stored_events, wait_stored
from tests.rates_provider import ECB_PATH, OXR_PATH, ProviderStandIn, provider_stand_in

TRACK = "/v1/api/analytics/ecommerce/track"
APP_ID = "stand-in-app-id-0123"
#: OXR's shape: per 1 USD, EUR included (rebased to per 1 EUR when stored)
OXR_RATES = {"USD": 1, "EUR": 0.9123, "AED": 3.6725, "JPY": 151.2, "BTC": 0.0000105}
AED_100_IN_CENTS = 2723


@pytest.fixture
def stand_in() -> Iterator[ProviderStandIn]:
    with provider_stand_in() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_refresh(store: Store, meta: MetaStore) -> Iterator[None]:
    meta.drop_setting("rates_refresh")
    yield
    store.command("DELETE FROM exchange_rates WHERE tenant_id = 0 AND source LIKE 'provider:%'")
    assert provider_rows(store) == []
    meta.drop_setting("rates_refresh")


def oxr_settings(settings: Settings, stand_in: ProviderStandIn, **fields: Any) -> Settings:
    """``settings`` refreshing from the stand-in's OXR ``latest.json``, on a data dir of
    their own (an app of the ``client`` fixture may hold the fixture's)."""
    update = {
        "data_dir": settings.data_dir.with_name("refreshing"),
        "rates_provider": "openexchangerates",
        "rates_url": stand_in.url(OXR_PATH),
        "rates_app_id": SecretStr(APP_ID),
        "rates_timeout": 2.0,
        **fields,
    }
    return settings.model_copy(update=update)


def refresher(settings: Settings, store: Store, meta: MetaStore) -> RatesRefresher:
    return RatesRefresher(settings, store, rates_store.open_converter(store), meta)


def provider_rows(store: Store) -> list[dict[str, Any]]:
    return rows(
        store,
        "SELECT currency, date, rate, source FROM exchange_rates FINAL "
        "WHERE tenant_id = 0 AND source LIKE 'provider:%' ORDER BY currency",
    )


def today_rate(refreshing: RatesRefresher, currency: str) -> Decimal | None:
    book = refreshing.converter.book
    assert book is not None
    found = book.lookup(currency, day_number(datetime.now(UTC).date()))
    return found.rate if found else None


def per_eur(rate: str) -> Decimal:
    return (Decimal(rate) / Decimal("0.9123")).quantize(Decimal("1e-12"))


def test_an_oxr_refresh_stores_every_iso_rate_rebased_and_uses_them_at_once(
    settings: Settings, store: Store, meta: MetaStore, stand_in: ProviderStandIn
) -> None:
    stand_in.oxr(OXR_RATES)
    refreshing = refresher(oxr_settings(settings, stand_in), store, meta)
    assert today_rate(refreshing, "AED") is None

    result = asyncio.run(refreshing.refresh())

    today = datetime.now(UTC).date()
    assert (result.provider, result.last, result.rates, result.skipped) == (
        "openexchangerates",
        today,
        3,
        ["BTC"],
    )
    assert stand_in.requests_to(OXR_PATH) == [f"{OXR_PATH}?app_id={APP_ID}"]
    assert provider_rows(store) == [
        {"currency": c, "date": today, "rate": per_eur(r), "source": "provider:openexchangerates"}
        for c, r in (("AED", "3.6725"), ("JPY", "151.2"), ("USD", "1"))
    ]
    assert today_rate(refreshing, "AED") == per_eur("3.6725")  # the running converter
    status = meta.get_setting(0, "rates_refresh")
    assert status["last_error"] is None and status["last_success"] == status["last_attempt"]
    assert status["rates_date"] == today.isoformat()


def test_an_ecb_refresh_stores_the_days_rates(
    settings: Settings, store: Store, meta: MetaStore, stand_in: ProviderStandIn
) -> None:
    today = datetime.now(UTC).date()
    stand_in.ecb(today.isoformat(), {"USD": "1.0823", "AED": "3.9747", "CYP": "0.5853"})
    ecb = settings.model_copy(update={"rates_provider": "ecb", "rates_url": stand_in.url(ECB_PATH)})
    refreshing = refresher(ecb, store, meta)
    result = asyncio.run(refreshing.refresh())
    assert (result.provider, result.rates, result.skipped) == ("ecb", 2, ["CYP"])
    assert stand_in.requests_to(ECB_PATH) == [ECB_PATH]  # no app id sent to the ECB
    assert [(r["currency"], r["rate"]) for r in provider_rows(store)] == [
        ("AED", Decimal("3.9747")),
        ("USD", Decimal("1.0823")),
    ]
    assert today_rate(refreshing, "USD") == Decimal("1.0823")


def _slow(stand_in: ProviderStandIn) -> None:
    stand_in.oxr(OXR_RATES)
    stand_in.answers[OXR_PATH].delay = 30


FAILURES = {
    "server error": (
        lambda s: s.answer(OXR_PATH, "oops", status=503),
        "HTTP 503 from http://127.0.0.1:{port}/api/latest.json",
    ),
    "bad app id": (
        lambda s: s.answer(OXR_PATH, '{"error": true, "status": 401}', status=401),
        "HTTP 401 from http://127.0.0.1:{port}/api/latest.json",
    ),
    "garbage": (
        lambda s: s.answer(OXR_PATH, "<html>captive portal</html>"),
        "bad answer from http://127.0.0.1:{port}/api/latest.json: not JSON",
    ),
    "one invalid rate": (
        lambda s: s.oxr({**OXR_RATES, "JPY": -151.2}),
        "rates.JPY must be a positive number",
    ),
    "too large": (
        lambda s: s.answer(OXR_PATH, b" " * (MAX_BODY_BYTES + 1)),
        f"is larger than {MAX_BODY_BYTES} bytes",
    ),
    "too slow": (_slow, "no answer from http://127.0.0.1:{port}/api/latest.json within 2 s"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failed_refresh_stores_nothing_and_keeps_the_last_rates(
    failure: str, settings: Settings, store: Store, meta: MetaStore, stand_in: ProviderStandIn
) -> None:
    stand_in.oxr(OXR_RATES)
    refreshing = refresher(oxr_settings(settings, stand_in), store, meta)
    first = asyncio.run(refreshing.refresh())
    before, book = provider_rows(store), refreshing.converter.book

    serve, message = FAILURES[failure]
    serve(stand_in)
    # the next provider answer would change every rate: none of it may land
    with pytest.raises(RefreshFailed) as failed:
        asyncio.run(refreshing.refresh())

    assert message.format(port=stand_in.port) in str(failed.value)
    assert APP_ID not in str(failed.value)
    assert provider_rows(store) == before
    assert refreshing.converter.book is book
    assert today_rate(refreshing, "AED") == per_eur("3.6725")
    status = meta.get_setting(0, "rates_refresh")
    assert status["last_error"] == str(failed.value)
    assert status["last_attempt"] > status["last_success"]
    assert status["rates_date"] == first.last.isoformat()


def test_openexchangerates_without_an_app_id_fails_before_asking(
    settings: Settings, store: Store, meta: MetaStore, stand_in: ProviderStandIn
) -> None:
    stand_in.oxr(OXR_RATES)
    no_id = oxr_settings(settings, stand_in).model_copy(update={"rates_app_id": None})
    with pytest.raises(RefreshFailed, match="set SHOPLENS_RATES_APP_ID"):
        asyncio.run(refresher(no_id, store, meta).refresh())
    assert stand_in.requests == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/latest.json", "cannot fetch ftp://127.0.0.1/latest.json: Unsupported"),
        ("http://[::1/latest.json", "cannot fetch"),
        ("http://127.0.0.1:1/latest.json", "cannot fetch http://127.0.0.1:1/latest.json: Connect"),
    ],
)
def test_an_unusable_url_is_a_recorded_failure(
    url: str, message: str, settings: Settings, store: Store, meta: MetaStore
) -> None:
    with provider_stand_in() as unused:
        broken = oxr_settings(settings, unused, rates_url=url)
    refreshing = refresher(broken, store, meta)
    with pytest.raises(RefreshFailed, match=message):
        asyncio.run(refreshing.refresh())
    assert meta.get_setting(0, "rates_refresh")["last_error"].startswith("cannot fetch")
    assert refreshing.seconds_until_due() > 3500  # the schedule waits, it does not spin


def test_the_next_refresh_is_due_an_interval_after_the_last_attempt_across_restarts(
    settings: Settings, store: Store, meta: MetaStore, stand_in: ProviderStandIn
) -> None:
    stand_in.answer(OXR_PATH, "down", status=502)
    hourly = oxr_settings(settings, stand_in, rates_refresh_interval=3600)
    assert refresher(hourly, store, meta).seconds_until_due() == 0  # never attempted
    with pytest.raises(RefreshFailed):
        asyncio.run(refresher(hourly, store, meta).refresh())
    restarted = refresher(hourly, store, meta)  # reads the last attempt from the metadata
    assert 3590 < restarted.seconds_until_due() <= 3600
    assert restarted.status.last_error == f"HTTP 502 from {stand_in.url(OXR_PATH)}"


# Through the real app ------------------------------------------------------------------


def wait_for_rates(client: TestClient, done: str, timeout: float = 20.0) -> dict[str, Any]:
    """The ``rates`` part of /healthz once its ``done`` field (last_success, last_error) is set."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rates: dict[str, Any] = client.get("/healthz").json()["rates"]
        if rates[done] is not None:
            return rates
        time.sleep(0.05)
    raise AssertionError(f"no refresh set rates.{done} in time")


def aed_purchase(order: str) -> dict[str, Any]:
    return {"event_type": "purchase", "transaction_id": order, "revenue": 100, "currency": "AED"}


def test_the_app_refreshes_on_schedule_and_converts_a_newly_refreshed_currency(
    client: TestClient,
    settings: Settings,
    store: Store,
    tenant: TenantKeys,
    stand_in: ProviderStandIn,
) -> None:
    # Before: the ECB snapshot has no AED, so an AED amount is refused (and nothing fetched).
    refused = client.post(TRACK, headers=tenant.pk, json=aed_purchase("before"))
    assert refused.status_code == 400 and "No exchange rate from AED" in refused.text
    assert client.get("/healthz").json()["rates"]["provider"] == "none"
    snapshot_currencies = client.get("/healthz").json()["rates"]["currencies"]

    stand_in.oxr(OXR_RATES)
    with TestClient(create_app(oxr_settings(settings, stand_in), store=store)) as refreshing:
        rates = wait_for_rates(refreshing, "last_success")
        assert rates["provider"] == "openexchangerates"
        assert rates["url"] == stand_in.url(OXR_PATH)
        assert rates["refresh_interval"] == 3600
        assert rates["last_error"] is None
        assert rates["rates_date"] == datetime.now(UTC).date().isoformat()
        assert rates["currencies"] == snapshot_currencies + 1  # AED
        assert len(stand_in.requests_to(OXR_PATH)) == 1

        accepted = refreshing.post(TRACK, headers=tenant.pk, json=aed_purchase("after"))
        assert accepted.status_code == 200, accepted.text
        wait_stored(refreshing)
    [event] = stored_events(store, tenant.id)
    assert (event["original_currency"], event["original_revenue"]) == ("AED", Decimal(100))
    assert (event["currency"], event["revenue"]) == ("USD", AED_100_IN_CENTS)


def test_a_failed_refresh_shows_in_healthz_and_the_last_rates_still_convert(
    settings: Settings, store: Store, tenant: TenantKeys, stand_in: ProviderStandIn
) -> None:
    stand_in.oxr(OXR_RATES)
    often = oxr_settings(settings, stand_in, rates_refresh_interval=0.2)
    with TestClient(create_app(often, store=store)) as client:
        succeeded = wait_for_rates(client, "last_success")
        stand_in.answer(OXR_PATH, "upstream down", status=500)
        failed = wait_for_rates(client, "last_error")
        assert failed["last_error"] == f"HTTP 500 from {stand_in.url(OXR_PATH)}"
        # the last success (maybe a later round than the first) is kept beside the error
        assert succeeded["last_success"] <= failed["last_success"] <= failed["last_attempt"]
        assert failed["rates_date"] == succeeded["rates_date"]

        stand_in.answer(OXR_PATH, '{"base": "USD", "rates": "none"}')  # garbage now
        deadline = time.monotonic() + 20
        while "bad answer" not in (wait_for_rates(client, "last_error")["last_error"] or ""):
            assert time.monotonic() < deadline, "the garbage answer was not reported"
            time.sleep(0.05)

        accepted = client.post(TRACK, headers=tenant.pk, json=aed_purchase("kept"))
        assert accepted.status_code == 200, accepted.text
        wait_stored(client)
    [event] = stored_events(store, tenant.id)
    assert (event["currency"], event["revenue"]) == ("USD", AED_100_IN_CENTS)


def test_shutdown_does_not_wait_for_a_slow_provider(
    settings: Settings, store: Store, stand_in: ProviderStandIn
) -> None:
    _slow(stand_in)
    patient = oxr_settings(settings, stand_in, rates_timeout=60.0)
    started = time.monotonic()
    with TestClient(create_app(patient, store=store)):
        while not stand_in.requests_to(OXR_PATH):
            assert time.monotonic() - started < 20, "the app never asked the provider"
            time.sleep(0.05)
    # the fetch was cancelled at shutdown, long before the provider's 30 s answer
    assert time.monotonic() - started < 25
