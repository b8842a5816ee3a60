"""Monthly quotas: counting and refusing, month roll-over, and rebuilding the count from the
real store and the WAL replay (through the real pipeline, crash included)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shoplens.errors import TooManyRequests
from shoplens.ingest.event import Event
from shoplens.ingest.pipeline import IngestPipeline, SubmitResult
from shoplens.quota import MonthlyQuota, month_bounds
from shoplens.store import Store
from tests.ingest.test_pipeline import crash, make_settings, never_flushing


def event(tenant_id: int, at: datetime | None = None, source: str = "core", **fields: Any) -> Event:
    ms = int((at or datetime.now(UTC)).timestamp() * 1000)
    return Event(
        tenant_id=tenant_id,
        event_id=str(uuid.uuid4()),
        event_type=fields.pop("event_type", "page_view"),
        event_name="e",
        source=source,
        timestamp=ms,
        received_at=ms,
        **fields,
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        ("2026-03-15T12:00:00+00:00", "2026-03-01", "2026-04-01"),
        ("2026-12-31T23:59:59+00:00", "2026-12-01", "2027-01-01"),
        ("2026-01-01T00:00:00+00:00", "2026-01-01", "2026-02-01"),
        # 01:00 on 1 May in Berlin is still April in UTC
        ("2026-05-01T01:00:00+02:00", "2026-04-01", "2026-05-01"),
    ],
)
def test_month_bounds_are_utc_calendar_months(now: str, start: str, end: str) -> None:
    first, following = month_bounds(datetime.fromisoformat(now))
    assert (first, following) == (
        datetime.fromisoformat(start).replace(tzinfo=UTC),
        datetime.fromisoformat(end).replace(tzinfo=UTC),
    )


def test_the_quota_takes_n_events_and_refuses_the_next() -> None:
    clock = Clock(datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    quota = MonthlyQuota({7: 3}.get, clock=clock)
    quota.charge([event(7), event(7)])
    quota.charge([event(7)])
    assert quota.used(7) == 3
    with pytest.raises(TooManyRequests) as refused:
        quota.charge([event(7)])
    assert refused.value.message == "Monthly event quota exceeded"
    assert refused.value.retry_after == 3600  # the month ends in an hour
    assert quota.used(7) == 3


def test_a_submission_that_would_cross_the_quota_is_refused_whole() -> None:
    quota = MonthlyQuota({7: 5}.get)
    quota.charge([event(7)] * 3)
    with pytest.raises(TooManyRequests):
        quota.charge([event(7)] * 3)
    assert quota.used(7) == 3
    quota.charge([event(7)] * 2)  # exactly up to the quota
    assert quota.used(7) == 5


def test_the_message_follows_the_events_format() -> None:
    quota = MonthlyQuota({7: 0}.get)
    with pytest.raises(TooManyRequests) as refused:
        quota.charge([event(7, source="ecommerce")])
    assert refused.value.message == "Ecommerce event quota exceeded"  # seed 002's text


def test_tenants_and_unlimited_plans() -> None:
    limits: dict[int, int | None] = {1: 1, 2: None}
    quota = MonthlyQuota(lambda t: limits[t])
    quota.charge([event(1)])
    quota.charge([event(2)] * 10_000)  # None: no limit
    with pytest.raises(TooManyRequests):
        quota.charge([event(2), event(1)])  # one tenant over refuses the whole submission
    assert (quota.used(1), quota.used(2)) == (1, 10_000)


def test_a_new_month_starts_from_zero() -> None:
    clock = Clock(datetime(2026, 1, 31, 23, 59, tzinfo=UTC))
    quota = MonthlyQuota({7: 2}.get, clock=clock)
    quota.charge([event(7)] * 2)
    with pytest.raises(TooManyRequests):
        quota.charge([event(7)])
    clock.now = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
    assert quota.used(7) == 0
    quota.charge([event(7)] * 2)


def test_a_refund_gives_back_a_charge_never_below_zero() -> None:
    quota = MonthlyQuota({7: 2}.get)
    quota.charge([event(7)] * 2)
    quota.refund([event(7)])
    quota.charge([event(7)])
    quota.refund([event(7)] * 5)
    assert quota.used(7) == 0


# rebuilt from the store ---------------------------------------------------------------------


def test_load_counts_this_months_stored_and_pending_events(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    tenant, other = make_tenant().id, make_tenant().id
    now = datetime.now(UTC)
    start, _ = month_bounds(now)
    last_month = start - timedelta(hours=1)
    stored = [event(tenant), event(tenant), event(tenant, at=start), event(other)]
    stored += [event(tenant, at=last_month)]  # another month: not counted

    async def store_them() -> None:
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store)
        await pipeline.start()
        await pipeline.submit(stored)
        await pipeline.stop()

    asyncio.run(store_them())
    quota = MonthlyQuota(lambda _: None)
    pending = [event(tenant), event(tenant, at=last_month), event(other)]
    quota.load(store, pending)
    assert (quota.used(tenant), quota.used(other)) == (3 + 1, 1 + 1)


def test_the_count_survives_a_crash_exactly_once(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    """Events flushed before the crash are counted from the store, events only in the WAL
    from the replay, none twice; the quota then refuses what would go past it."""
    tenant = make_tenant().id
    limit = {tenant: 10}.get

    async def before_crash() -> None:
        pipeline = IngestPipeline(
            make_settings(tmp_path, meta_file), store, quota=MonthlyQuota(limit)
        )
        await pipeline.start()
        assert await pipeline.submit([event(tenant) for _ in range(3)]) == SubmitResult(3, 0)
        await pipeline.stop()  # these 3 are in the store
        pipeline = IngestPipeline(
            never_flushing(tmp_path, meta_file), store, quota=MonthlyQuota(limit)
        )
        await pipeline.start()
        assert pipeline.quota is not None and pipeline.quota.used(tenant) == 3
        await pipeline.submit([event(tenant) for _ in range(4)])  # only in the WAL
        await crash(pipeline)

    asyncio.run(before_crash())

    async def after_restart() -> None:
        quota = MonthlyQuota(limit)
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store, quota=quota)
        assert await pipeline.start() == 4
        assert quota.used(tenant) == 7
        await pipeline.submit([event(tenant) for _ in range(3)])
        with pytest.raises(TooManyRequests):
            await pipeline.submit([event(tenant)])
        await pipeline.stop()

    asyncio.run(after_restart())


def test_a_refused_purchase_is_not_claimed_by_dedup(
    tmp_path: Path, meta_file: Path, store: Store, make_tenant: Callable[..., Any]
) -> None:
    """The 429 releases the transaction id: once the quota allows (an upgrade), the same
    order is accepted, not dropped as a duplicate."""
    tenant = make_tenant().id
    limits = {tenant: 0}

    def order() -> Event:
        return event(tenant, event_type="purchase", transaction_id="T-quota", revenue=1000)

    async def run() -> SubmitResult:
        quota = MonthlyQuota(limits.get)
        pipeline = IngestPipeline(make_settings(tmp_path, meta_file), store, quota=quota)
        await pipeline.start()
        try:
            with pytest.raises(TooManyRequests):
                await pipeline.submit([order()])
            limits[tenant] = 1
            return await pipeline.submit([order()])
        finally:
            await pipeline.stop()

    assert asyncio.run(run()) == SubmitResult(1, 0)
