"""Row versions: strictly increasing at millisecond precision, even within a millisecond."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from shoplens.store.versions import VersionClock


def test_versions_strictly_increase_in_whole_milliseconds_across_threads() -> None:
    clock = VersionClock()
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda _: clock.next(), range(2000)))
    assert len(set(versions)) == len(versions)  # no two writes share a version
    assert all(v.microsecond % 1000 == 0 and v.tzinfo is UTC for v in versions)
    assert min(versions) >= before
    assert sorted(versions)[-1] - sorted(versions)[0] >= timedelta(milliseconds=1999)
