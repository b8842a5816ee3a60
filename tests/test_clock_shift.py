"""The suite a year from now: every date a test sends or expects must follow the clock.

A test that sends a literal date passes on the day it is written and fails months later,
when live ingestion refuses the date as older than the tenant's raw retention (90 days
by default, 365 at most on plans) or a report's "last 30 days" no longer reaches it. This
test runs the rest of the suite in a child pytest under libfaketime (Debian package
``faketime``) with the wall clock moved a year ahead, and asserts it passes; then the
reports and exports again at the worst time of day and month for "today" and "this
month": one minute after midnight UTC on the first of a month (also a year ahead).

What moves: every ``time.time``/``datetime.now`` of the child and of the processes it
starts (xdist workers, the uvicorn servers of the crash tests, the CLI), and SQLite's
clock. What does not: chDB's own ``now()``/``today()`` (ClickHouse reads the clock without
going through libc), which is why no shoplens SQL reads the clock: the Python side binds
every time bound as a parameter.

TRICKY: libfaketime 0.9.10 makes ``time.sleep`` fail with EINVAL (Python 3.11 sleeps with
an absolute ``clock_nanosleep`` on CLOCK_MONOTONIC) when ``FAKETIME_DONT_FAKE_MONOTONIC=1``
is set, so the monotonic clock is shifted by the same constant offset, which is harmless.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SHIFT_DAYS = 365
#: set in the child run: this test never runs inside itself
CHILD = "SHOPLENS_CLOCK_SHIFTED"


def month_start_a_year_ahead() -> datetime:
    """00:01 UTC on the first of the first month that starts a year or more from now."""
    ahead = datetime.now(UTC) + timedelta(days=SHIFT_DAYS)
    index = ahead.year * 12 + ahead.month  # the month after ``ahead``'s, counted from 0
    return datetime(index // 12, index % 12 + 1, 1, 0, 1, tzinfo=UTC)


def faketime() -> str:
    """The ``faketime`` wrapper, or skip (fail under CI, where .ci/run installs it)."""
    tool = shutil.which("faketime")
    if tool is None:
        reason = "faketime is not installed (apt-get install faketime): the shifted run needs it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run it (.ci/run installs it)")
        pytest.skip(reason)
    return tool


def shifted(
    tool: str, spec: str, *command: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``command`` under ``faketime -f spec`` (``+365d``, or ``@YYYY-MM-DD HH:MM:SS`` UTC)."""
    env = {**os.environ, CHILD: "1", "TZ": "UTC"}
    env.pop("FAKETIME_DONT_FAKE_MONOTONIC", None)  # see TRICKY above
    return subprocess.run(
        [tool, "-f", spec, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.skipif(CHILD in os.environ, reason="already inside the shifted run")
@pytest.mark.parametrize(
    ("when", "paths"),
    [
        pytest.param("year", ["tests"], id="a-year-ahead"),
        pytest.param("month-start", ["tests/api", "tests/metrics", "tests/export"],
                     id="a-month-start-just-after-midnight"),
    ],
)  # fmt: skip
def test_the_suite_passes_with_the_clock_moved(when: str, paths: list[str]) -> None:
    tool = faketime()
    if when == "year":
        spec, expected = f"+{SHIFT_DAYS}d", time.time() + SHIFT_DAYS * 86_400
    else:
        start = month_start_a_year_ahead()
        spec, expected = "@" + start.strftime("%Y-%m-%d %H:%M:%S"), start.timestamp()
    # The tool really moves this Python's clock (a no-op preload would prove nothing).
    probe = shifted(tool, spec, sys.executable, "-c", "import time; print(time.time())", timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert abs(float(probe.stdout) - expected) < 600, f"faketime {spec} gave {probe.stdout}"

    run = shifted(
        tool,
        spec,
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-n",
        "2",
        "--ignore",
        str(Path(__file__).relative_to(ROOT)),
        *paths,
        timeout=3600,
    )
    lines = (run.stdout + run.stderr).splitlines()
    tail = "\n".join(lines[-80:])
    assert run.returncode == 0, f"the suite failed under faketime {spec}:\n{tail}"
    summary = lines[-1]  # e.g. "== 2000 passed, 9 skipped in 250.00s =="
    assert " passed" in summary and "failed" not in summary and "error" not in summary, tail
