"""The in-memory log of rejected batch messages: per tenant, bounded, counted, logged."""

from __future__ import annotations

import logging

import pytest

from shoplens.ingest.rejections import OTHER, WHOLE_MESSAGE, Rejected, RejectionLog

T0 = 1_760_000_000_000


def bad(index: int, field: str | None = "event") -> Rejected:
    return Rejected(index, f"m-{index}", field, f"{field} is wrong")


def test_recent_rejections_are_kept_per_tenant_up_to_the_bound() -> None:
    log = RejectionLog(per_tenant=3)
    log.add(1, "segment", T0, [bad(i) for i in range(5)])
    log.add(2, "segment", T0, [bad(9)])

    mine, theirs = log.of(1), log.of(2)
    assert mine is not None and theirs is not None
    assert [r.rejected.index for r in mine.recent] == [2, 3, 4]
    assert mine.total == 5
    assert [r.rejected.index for r in theirs.recent] == [9]
    assert log.of(3) is None


def test_counts_by_field_are_bounded_too() -> None:
    log = RejectionLog(max_fields=2)
    log.add(1, "segment", T0, [bad(0, "a"), bad(1, None), bad(2, "b"), bad(3, "c"), bad(4, "a")])
    entry = log.of(1)
    assert entry is not None
    assert dict(entry.by_field) == {"a": 2, WHOLE_MESSAGE: 1, OTHER: 2}


def test_the_tenant_that_rejected_least_recently_is_forgotten_first() -> None:
    log = RejectionLog(max_tenants=2)
    log.add(1, "segment", T0, [bad(0)])
    log.add(2, "segment", T0, [bad(0)])
    log.add(1, "segment", T0, [bad(1)])  # tenant 1 is the most recent again
    log.add(3, "segment", T0, [bad(0)])

    assert (log.of(1) is not None, log.of(2), log.of(3) is not None) == (True, None, True)


def test_each_request_with_rejections_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    log = RejectionLog()
    with caplog.at_level(logging.WARNING, logger="shoplens.ingest"):
        log.add(7, "segment", T0, [])
        log.add(7, "segment", T0, [bad(3), bad(4)])
    [record] = caplog.records
    assert "tenant 7: 2 message(s) rejected" in record.getMessage()
    assert "batch[3] (messageId 'm-3'): event is wrong" in record.getMessage()
