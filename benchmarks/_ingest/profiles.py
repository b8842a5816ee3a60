"""Reading the server's profile (``--profile``) into tables of its top functions."""

from __future__ import annotations

import pstats
from collections import Counter
from pathlib import Path
from typing import Any

# Builtins in which the server's threads wait rather than work (dropped from profiles).
IDLE_FUNCTIONS = ("SimpleQueue' objects>", "'acquire' of '_thread.lock", "'wait' of")

CPROFILE_COLUMNS = ("function", "calls", "own s", "cumulative s", "µs/event")
PYSPY_COLUMNS = ("function", "samples", "share")

#: (title, rows); a row has a cell per column of its profiler's columns
Table = tuple[str, list[tuple[str, ...]]]


def _function_name(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if path == "~":
        return name
    for marker in ("site-packages/", "/src/", "/lib/python"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{line}({name})"


def cprofile_tables(path: Path, events: int, top: int) -> list[Table]:
    """The event-loop thread by cumulative and by own time, the other threads by own time;
    with each function's time per event in µs."""
    per = 1e6 / max(events, 1)

    def rows(entries: dict[Any, Any], index: int, count: int) -> list[tuple[str, ...]]:
        ranked = sorted(entries.items(), key=lambda kv: kv[1][index], reverse=True)
        return [
            (_function_name(k), f"{v[1]:,}", f"{v[2]:.2f}", f"{v[3]:.2f}", f"{v[index] * per:.1f}")
            for k, v in ranked[:count]
        ]

    loop: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    # The outermost frames (asyncio.run and its callers) hold the whole run, idle included
    # (uvloop's own C loop counts as their own time): leave them out.
    longest = max((v[3] for v in loop.values()), default=0.0)
    loop = {k: v for k, v in loop.items() if v[3] < 0.98 * longest}
    tables = [
        (f"event-loop thread, top {top} by cumulative time", rows(loop, 3, top)),
        (f"event-loop thread, top {top} by own time", rows(loop, 2, top)),
    ]
    threads = path.with_name(path.name + ".threads")
    if threads.exists():
        stats = pstats.Stats(str(threads)).stats  # type: ignore[attr-defined]
        busy = {k: v for k, v in stats.items() if not any(i in k[2] for i in IDLE_FUNCTIONS)}
        title = "WAL and flush threads (wall time; I/O and chDB release the GIL), top 15 by own"
        tables.append((title, rows(busy, 2, 15)))
    return tables


def pyspy_tables(path: Path, top: int) -> list[Table]:
    """Top functions from py-spy's raw (collapsed stacks) output: inclusive and own samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("thread ", "process "))]
        total += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        if frames:
            own[frames[-1]] += int(count)
    return [
        (
            f"all threads, top {top} by {title} samples (of {total:,})",
            [
                (name, f"{n:,}", f"{100 * n / max(total, 1):.1f}%")
                for name, n in counter.most_common(top)
            ],
        )
        for title, counter in (("inclusive", inclusive), ("own", own))
    ]


def print_profile(
    path: Path, profiler: str, events: int, top: int, console: Any, spy_error: str = ""
) -> None:
    """The server's profile over the whole run; times per event are per event the server
    took in (``events``: warm-ups, preflight and markers included)."""
    from rich.table import Table as RichTable

    if not path.exists():
        console.print(f"[yellow]no profile written ({profiler}) at {path}[/yellow]")
        if spy_error:
            console.print(f"py-spy: {spy_error}", markup=False)
        return
    if profiler == "py-spy":
        columns, tables = PYSPY_COLUMNS, pyspy_tables(path, top)
    else:
        columns, tables = CPROFILE_COLUMNS, cprofile_tables(path, events, top)
    for title, rows in tables:
        table = RichTable(title=f"server profile ({profiler}): {title}")
        for column in columns:
            table.add_column(column, justify="left" if column == "function" else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(
        f"per event: over the {events:,} events the server took in during the whole run. "
        "A profiler slows Python code several times over: compare shares, not absolutes."
    )
    how = "collapsed stacks" if profiler == "py-spy" else "open with `python -m pstats` or snakeviz"
    console.print(f"profile: {path} ({how})")
