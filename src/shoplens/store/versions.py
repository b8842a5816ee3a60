"""Row versions for ``ReplacingMergeTree(version)`` tables written by this process."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class VersionClock:
    """Now to the millisecond (the precision of the version columns), strictly later than
    the last version it gave, so two writes in one millisecond still order and the later
    one wins under ``FINAL``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime(1970, 1, 1, tzinfo=UTC)

    def next(self) -> datetime:
        with self._lock:
            now = datetime.now(UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            self._last = max(now, self._last + timedelta(milliseconds=1))
            return self._last
