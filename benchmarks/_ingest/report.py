"""The results: a rich table, the JSON file, and a Markdown section for docs/benchmarks.md
with the machine they were measured on."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .payloads import BATCH_SIZE, ROUTES
from .scenarios import (
    TARGET_BATCH_EVENTS_PER_S,
    TARGET_LAG_S,
    TARGET_P99_MS,
    TARGET_SINGLE_REQUESTS_PER_S,
    ScenarioResult,
    percentile,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "benchmarks" / "results"

#: columns the table and the Markdown share (then: target, verdict)
COLUMNS = ("scenario", "load", "req/s", "events/s", "p50 ms", "p99 ms", "errors")


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, package versions, git revision and load average."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        ram = int(next(m for m in meminfo if m.startswith("MemTotal")).split()[1]) / 1024**2

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "-"

    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "chdb": version("chdb"),
        "chdb_core": version("chdb-core"),
        "uvicorn": version("uvicorn"),
        "uvloop": version("uvloop"),
        "fastapi": version("fastapi"),
        "git": commit or "-",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def build_report(
    args: argparse.Namespace,
    *,
    command: str,
    machine: dict[str, Any],
    profiler: str | None,
    profile_path: Path,
    server: dict[str, Any],
    results: list[ScenarioResult],
) -> dict[str, Any]:
    """Everything the JSON results file holds."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "workers": args.workers,
            "connections": args.connections,
            "latency_connections": args.latency_connections,
            "batch_size": BATCH_SIZE,
        },
        "profile": profiler,
        "profile_path": str(profile_path) if profiler else None,
        "server": server,
        "targets": {
            "batch_events_per_s": TARGET_BATCH_EVENTS_PER_S,
            "single_requests_per_s": TARGET_SINGLE_REQUESTS_PER_S,
            "p99_ms_at_half_load": TARGET_P99_MS,
            "lag_s": TARGET_LAG_S,
        },
        "results": [asdict(r) for r in results],
    }


def verdicts(results: list[ScenarioResult]) -> dict[str, tuple[str, bool | None]]:
    """Scenario name → (target text, met?)."""
    out: dict[str, tuple[str, bool | None]] = {}
    for r in results:
        if r.name == "batch":
            out[r.name] = (
                f">= {TARGET_BATCH_EVENTS_PER_S:,} events/s",
                r.events_per_s >= TARGET_BATCH_EVENTS_PER_S,
            )
        elif r.name == "single":
            out[r.name] = (
                f">= {TARGET_SINGLE_REQUESTS_PER_S:,} requests/s",
                r.requests_per_s >= TARGET_SINGLE_REQUESTS_PER_S,
            )
        elif r.name.startswith("latency"):
            p99 = r.p99_ms if r.p99_ms is not None else math.inf
            ok = p99 <= TARGET_P99_MS and not r.unfinished
            out[r.name] = (f"p99 <= {TARGET_P99_MS:.0f} ms", ok)
        elif r.name == "lag":
            lags = (r.lag_under_load_s or []) + (r.lag_idle_s or [])
            out[r.name] = (f"lag <= {TARGET_LAG_S:.0f} s", bool(lags) and max(lags) <= TARGET_LAG_S)
    return out


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cells(r: ScenarioResult, *, short: bool) -> list[str]:
    """The ``COLUMNS`` and server CPU µs/event; ``short``: the table's load text."""
    if r.offered_rps is None:
        load = f"max, {r.connections} conn"
    elif short:
        load = f"{r.offered_rps:,.0f}/s, {r.connections} conn"
    else:
        events = r.offered_rps * (BATCH_SIZE if r.route == ROUTES["batch"] else 1)
        load = f"paced {r.offered_rps:,.0f} req/s ({events:,.0f} ev/s), {r.connections} conn"
    return [
        r.name,
        load,
        _fmt(r.requests_per_s),
        _fmt(r.events_per_s),
        _fmt(r.p50_ms, 1),
        _fmt(r.p99_ms, 1),
        str(sum(r.errors.values()) + r.unfinished),
        _fmt(r.server_cpu_us_per_event, 1),
    ]


def _lag_text(r: ScenarioResult) -> str:
    parts = []
    for label, lags in (("under load", r.lag_under_load_s), ("idle", r.lag_idle_s)):
        if lags:
            parts.append(
                f"{label}: p50 {percentile(lags, 0.5):.2f} s, max {max(lags):.2f} s (n={len(lags)})"
            )
    return "; ".join(parts)


def _split_text(r: ScenarioResult) -> str:
    split = r.server_cpu_split_us_per_event
    return ", ".join(f"{kind} {_fmt(split.get(kind), 1)}" for kind in split)


def _has_lag(r: ScenarioResult) -> bool:
    return r.lag_under_load_s is not None or r.lag_idle_s is not None


def render_table(results: list[ScenarioResult], console: Any) -> None:
    """The results table, CPU by thread, lags and errors, on the console."""
    from rich.table import Table

    table = Table(title="shoplens ingest benchmark", caption="µs/ev: server CPU per event")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("scenario", "load") else "right")
    for column in ("µs/ev", "target", ""):
        table.add_column(column, justify="right" if column == "µs/ev" else "left")
    marks = verdicts(results)
    for r in results:
        target, ok = marks.get(r.name, ("", None))
        table.add_row(
            *_cells(r, short=True),
            target.replace(" events/s", " ev/s").replace(" requests/s", " req/s"),
            "" if ok is None else ("[green]met[/green]" if ok else "[red]missed[/red]"),
        )
    console.print(table)
    console.print("server CPU µs/event by thread:")
    for r in results:
        console.print(f"  {r.name}: {_split_text(r)}")
    for r in results:
        if _has_lag(r):
            console.print(f"ack→stored lag — {_lag_text(r)}")
        if r.errors or r.unfinished:
            console.print(f"{r.name}: errors {r.errors}, unfinished {r.unfinished}")


def markdown(report: dict[str, Any], results: list[ScenarioResult]) -> str:
    """The section for docs/benchmarks.md: machine, software, command, results, targets."""
    m = report["machine"]
    settings = report["settings"]
    marks = verdicts(results)
    lines = [
        f"### Ingest — {report['date'][:10]}",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"load average at start {m['load_average_at_start']}",
        f"- Software: Python {m['python']}, chdb {m['chdb']} (core {m['chdb_core']}), "
        f"uvicorn {m['uvicorn']}, uvloop {m['uvloop']}, FastAPI {m['fastapi']}; "
        f"shoplens `{m['git']}`",
        f"- Command: `{report['command']}`",
        f"- Server: default settings (flush interval 1 s), one uvicorn process; clients: "
        f"{settings['workers']} processes on the same machine; "
        f"{settings['duration']:g} s per scenario after {settings['warmup']:g} s warm-up"
        + (" — **profiled run: numbers are not comparable**" if report["profile"] else ""),
        "",
        "| " + " | ".join(COLUMNS) + " | server CPU µs/event | target | |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for r in results:
        target, ok = marks.get(r.name, ("", None))
        verdict = "" if ok is None else ("met" if ok else "**missed**")
        lines.append("| " + " | ".join([*_cells(r, short=False), target, verdict]) + " |")
    lines += [
        "",
        "Server CPU µs/event by thread (python threads: WAL writer, flusher and FastAPI's "
        "thread pool; chdb: ClickHouse's own threads):",
        "",
    ]
    lines += [f"- {r.name}: {_split_text(r)}" for r in results]
    for r in results:
        if _has_lag(r):
            lines += ["", f"Ack→stored lag — {_lag_text(r)}."]
    return "\n".join(lines)
