"""The results: one row per route (HTTP p50/p95 beside the raw-SQL p50, their ratio, the
target), the dashboard set, a rich table, the JSON file and the Markdown section."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from _ingest.scenarios import percentile

from .http import HttpResult
from .raw import RawResult
from .routes import DASHBOARD_MS, Route

COLUMNS = ("route", "p50 ms", "p95 ms", "raw-SQL p50 ms", "ratio", "target p50", "met?")


@dataclass
class Row:
    route: str
    path: str
    p50_ms: float
    p95_ms: float
    raw_p50_ms: float
    raw_p95_ms: float
    ratio: float
    target_ms: float | None
    met: bool | None
    response_bytes: int
    raw_rows: int
    dashboard: bool


@dataclass
class Dashboard:
    routes: list[str]
    concurrent_ms: list[float]
    sequential_ms: list[float]

    def summary(self) -> dict[str, float | None]:
        return {
            "concurrent_p50_ms": percentile(self.concurrent_ms, 0.5),
            "concurrent_p95_ms": percentile(self.concurrent_ms, 0.95),
            "sequential_p50_ms": percentile(self.sequential_ms, 0.5),
            "sequential_p95_ms": percentile(self.sequential_ms, 0.95),
        }


def build_rows(routes: list[Route], http: list[HttpResult], raw: list[RawResult]) -> list[Row]:
    rows = []
    for route, h, r in zip(routes, http, raw, strict=True):
        p50 = percentile(h.times_ms, 0.5) or math.nan
        raw50 = percentile(r.times_ms, 0.5) or math.nan
        rows.append(
            Row(
                route=route.name,
                path=h.url,
                p50_ms=p50,
                p95_ms=percentile(h.times_ms, 0.95) or math.nan,
                raw_p50_ms=raw50,
                raw_p95_ms=percentile(r.times_ms, 0.95) or math.nan,
                ratio=p50 / raw50 if raw50 else math.nan,
                target_ms=route.target_ms,
                met=None if route.target_ms is None else p50 <= route.target_ms,
                response_bytes=h.bytes,
                raw_rows=r.rows,
                dashboard=route.dashboard,
            )
        )
    return rows


def _cells(row: Row) -> list[str]:
    target = "-" if row.target_ms is None else f"<= {row.target_ms:.0f} ms"
    met = "" if row.met is None else ("met" if row.met else "missed")
    return [
        row.route + (" *" if row.dashboard else ""),
        f"{row.p50_ms:.1f}",
        f"{row.p95_ms:.1f}",
        f"{row.raw_p50_ms:.1f}",
        f"{row.ratio:.2f}",
        target,
        met,
    ]


def _dashboard_lines(d: Dashboard) -> list[str]:
    s = d.summary()
    c50 = s["concurrent_p50_ms"] or math.nan
    q50 = s["sequential_p50_ms"] or math.nan
    verdict = "met" if c50 <= DASHBOARD_MS else "missed"
    return [
        f"Dashboard set ({len(d.routes)} routes, marked *: {', '.join(d.routes)}), "
        f"whole page p50/p95 over {len(d.concurrent_ms)} loads:",
        f"- concurrent (up to 6 connections, as a browser): p50 {c50:.0f} ms, "
        f"p95 {s['concurrent_p95_ms'] or math.nan:.0f} ms — target <= {DASHBOARD_MS:.0f} ms: "
        f"{verdict}",
        f"- sequential (one after another): p50 {q50:.0f} ms, "
        f"p95 {s['sequential_p95_ms'] or math.nan:.0f} ms",
    ]


def floor_line(report: dict[str, Any]) -> str:
    floors = report["floors_p50_ms"]
    return (
        f"Fixed costs (p50): a chDB query round trip (`SELECT 1`, in process) "
        f"{floors['chdb_select_1_ms'] or math.nan:.1f} ms; HTTP, routing and the key check "
        f"(`GET /v1/tenant`, no report query) {floors['http_v1_tenant_ms'] or math.nan:.1f} ms."
    )


def render_table(rows: list[Row], dashboard: Dashboard, console: Any) -> None:
    from rich.table import Table

    table = Table(
        title="shoplens report queries",
        caption="ratio = HTTP p50 / raw-SQL p50; * = dashboard set",
    )
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("route", "met?") else "right")
    for row in rows:
        cells = _cells(row)
        if row.met is not None:
            cells[-1] = "[green]met[/green]" if row.met else "[red]missed[/red]"
        table.add_row(*cells)
    console.print(table)
    for line in _dashboard_lines(dashboard):
        console.print(line)


def build_report(
    *,
    command: str,
    machine: dict[str, Any],
    settings: dict[str, Any],
    floors: dict[str, list[float]],
    data: dict[str, Any],
    rows: list[Row],
    dashboard: Dashboard,
    http: list[HttpResult],
    raw: list[RawResult],
) -> dict[str, Any]:
    """Everything the JSON file holds: every sample, and each baseline's SQL."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "settings": settings,
        "data": data,
        "floors_ms": floors,
        "floors_p50_ms": {name: percentile(v, 0.5) for name, v in floors.items()},
        "rows": [asdict(r) for r in rows],
        "dashboard": asdict(dashboard) | dashboard.summary(),
        "http_samples_ms": {h.route: h.times_ms for h in http},
        "raw": [asdict(r) for r in raw],
    }


def markdown(report: dict[str, Any], rows: list[Row], dashboard: Dashboard) -> str:
    m = report["machine"]
    d = report["data"]
    s = report["settings"]
    lines = [
        f"### Report queries — {report['date'][:10]}",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"load average at start {m['load_average_at_start']}",
        f"- Software: Python {m['python']}, chdb {m['chdb']} (core {m['chdb_core']}), "
        f"uvicorn {m['uvicorn']}, FastAPI {m['fastapi']}; shoplens `{m['git']}`",
        f"- Command: `{report['command']}`",
        f"- Data: {d['events']:,} events ({d['event_items']:,} item rows) in tenant "
        f"{d['tenant_id']} ({d['timezone']}); period {d['period']['first_day']} .. "
        f"{d['period']['last_day']} (the default 30 days)",
        f"- {s['warmup']} warm-up + {s['requests']} timed requests per route, one at a time, "
        "keep-alive; raw SQL in the benchmark process on the same chDB store before the "
        "server started",
    ]
    if s["pythonpath"]:
        lines.append(f"- Server and store code from `PYTHONPATH={s['pythonpath']}`")
    lines += [
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|---|--:|--:|--:|--:|---|---|",
    ]
    for row in rows:
        cells = _cells(row)
        cells[-1] = {"missed": "**missed**"}.get(cells[-1], cells[-1])
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *_dashboard_lines(dashboard), "", floor_line(report)]
    return "\n".join(lines)
