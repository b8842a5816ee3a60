"""Report-query benchmark: every report route over real HTTP beside the same question asked
as one raw SQL scan of ``events``, on the demo shop (issue 3: 10,000,000 events).

    .venv/bin/python benchmarks/queries.py --data-dir /tmp/demo10m            # 10M events
    .venv/bin/python benchmarks/queries.py --data-dir /tmp/q200k --events 200000

1. Data: ``--data-dir`` is reused when it holds the demo tenant (``bench-queries.json`` in
   it keeps the secret key; a dir made by hand with ``shoplens demo`` gets a new key), else
   ``shoplens demo --events N`` fills it (10M: ~9 min).
2. Raw SQL: this process opens the store (chDB, the same engine and files the server uses)
   and times each route's baseline query (``_queries/routes.py``): warm-up, then
   ``--requests`` runs; p50/p95. Then it closes the store: chDB allows one data path per
   process and the server needs it.
3. HTTP: ``shoplens serve`` in a subprocess (tests/serverproc.py, default settings); each
   route warmed up, then ``--requests`` keep-alive GETs one at a time; p50/p95 from send to
   the decoded JSON body. Then the dashboard set loaded whole ``--rounds`` times, all at
   once over up to 6 connections (a browser) and one after another.
4. Output: a table route | p50 | p95 | raw-SQL p50 | ratio | target | met?,
   ``benchmarks/results/queries-<date>-<time>.json`` (every sample and each baseline's SQL)
   and a Markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

# The repo root, for tests.serverproc (it starts the server and runs the CLI).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _ingest.report import RESULTS_DIR, machine_info
from _queries.dataset import Dataset, prepare
from _queries.http import (
    time_dashboard_concurrent,
    time_dashboard_sequential,
    time_floor,
    time_routes,
    url_of,
)
from _queries.profile import print_profiles, profile_routes
from _queries.raw import context, run_raw
from _queries.report import (
    Dashboard,
    build_report,
    build_rows,
    floor_line,
    markdown,
    render_table,
)
from _queries.routes import ROUTES, Route


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Report routes over HTTP vs raw SQL on the demo shop (issue 3)."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="holds the demo tenant (reused) or is empty/missing (generated)",
    )
    parser.add_argument(
        "--events", type=int, default=10_000_000, help="events to generate into a new data dir"
    )
    parser.add_argument("--requests", type=int, default=20, help="timed requests per route")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests per route")
    parser.add_argument("--rounds", type=int, default=10, help="dashboard loads of each kind")
    parser.add_argument(
        "--routes", default="", help="comma-separated route names (default: all); see --list"
    )
    parser.add_argument("--list", action="store_true", help="list the routes and exit")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead: each route in process, its queries timed (where the time goes)",
    )
    parser.add_argument("--output", type=Path, default=None, help="results JSON path")
    args = parser.parse_args(argv)
    if args.data_dir is None and not args.list:
        parser.error("--data-dir is required")
    if args.requests < 1 or args.warmup < 0 or args.rounds < 1 or args.events < 1:
        parser.error("--requests, --rounds and --events must be positive, --warmup >= 0")
    return args


def pick_routes(names: str) -> list[Route]:
    if not names:
        return list(ROUTES)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {r.name: r for r in ROUTES}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"unknown routes: {', '.join(unknown)} (see --list)")
    return [known[n] for n in wanted]


def profile(
    args: argparse.Namespace, settings: Any, dataset: Dataset, routes: list[Route], console: Any
) -> int:
    """``--profile``: no server, no baselines; the app in this process, every query timed."""
    from shoplens.store.base import open_store

    store = open_store(settings.resolved_store_url)
    try:
        ctx = context(store, dataset.tenant_id, dataset.timezone)
        urls = [(r, url_of(r, ctx.params, dataset.tenant_id)) for r in routes]
        console.print(f"profiling {len(urls)} routes on {ctx.events:,} events, in process")
        found = profile_routes(
            settings, store, dataset.secret_key, urls, warmup=args.warmup, requests=args.requests
        )
    finally:
        store.close()
    print_profiles(found, console)
    return 0


def main(argv: list[str]) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from tests.serverproc import start_server

    from shoplens.config import Settings

    args = parse_args(argv)
    if args.list:
        for r in ROUTES:
            print(f"{r.name:24} {r.path}")
        return 0
    routes = pick_routes(args.routes)
    console = Console()
    if not console.is_terminal:
        console = Console(width=132)
    machine = machine_info()
    command = "python benchmarks/queries.py" + (f" {shlex.join(argv)}" if argv else "")
    console.print(
        f"[bold]shoplens report-query benchmark[/bold]: {machine['cpu']}, {machine['cores']} "
        f"cores, load average {machine['load_average_at_start']}; data in {args.data_dir}"
    )
    dataset = prepare(args.data_dir.resolve(), args.events)
    if dataset.generated_now:
        console.print(f"generated {args.events:,} demo events into {dataset.data_dir}")
    settings = Settings(data_dir=dataset.data_dir)
    if args.profile:
        return profile(args, settings, dataset, routes, console)

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("raw SQL: opening the store", total=None)
        ctx, raw = run_raw(
            settings,
            dataset.tenant_id,
            dataset.timezone,
            routes,
            warmup=args.warmup,
            requests=args.requests,
            on_route=lambda name: progress.update(task, description=f"raw SQL: {name}"),
        )
        console.print(
            f"raw SQL done: {ctx.events:,} events, {ctx.items:,} item rows in tenant "
            f"{dataset.tenant_id}; period {ctx.period['first_day']} .. {ctx.period['last_day']}"
        )
        progress.update(task, description="starting the server")
        server = start_server(dataset.data_dir, startup_timeout=600.0)
        try:
            urls = [(r, url_of(r, ctx.params, dataset.tenant_id)) for r in routes]
            http = time_routes(
                server.url,
                dataset.secret_key,
                urls,
                warmup=args.warmup,
                requests=args.requests,
                on_route=lambda name: progress.update(task, description=f"HTTP: {name}"),
            )
            floor_ms = time_floor(
                server.url, dataset.secret_key, warmup=args.warmup, requests=args.requests
            )
            dash_urls = [url for r, url in urls if r.dashboard]
            progress.update(task, description="HTTP: dashboard set")
            dashboard = Dashboard(
                routes=[r.name for r, _ in urls if r.dashboard],
                concurrent_ms=time_dashboard_concurrent(
                    server.url, dataset.secret_key, dash_urls, args.rounds
                )
                if dash_urls
                else [],
                sequential_ms=time_dashboard_sequential(
                    server.url, dataset.secret_key, dash_urls, args.rounds
                )
                if dash_urls
                else [],
            )
        except BaseException:
            console.print(f"[red]server log (tail):[/red]\n{server.log()[-4000:]}")
            raise
        finally:
            progress.update(task, description="stopping the server")
            server.stop(120.0)
    server.log_path.unlink(missing_ok=True)

    rows = build_rows(routes, http, raw)
    report = build_report(
        command=command,
        machine=machine,
        settings={
            "requests": args.requests,
            "warmup": args.warmup,
            "rounds": args.rounds,
            # set when the server runs other code than the checkout (e.g. an exported HEAD)
            "pythonpath": os.environ.get("PYTHONPATH"),
        },
        floors={"chdb_select_1_ms": ctx.floor_ms, "http_v1_tenant_ms": floor_ms},
        data={
            "data_dir": str(dataset.data_dir),
            "tenant_id": dataset.tenant_id,
            "timezone": dataset.timezone,
            "events": ctx.events,
            "event_items": ctx.items,
            "generated_events": dataset.generated_events,
            "period": ctx.period,
            "product": ctx.params["product"],
            "user": ctx.params["user"],
        },
        rows=rows,
        dashboard=dashboard,
        http=http,
        raw=raw,
    )
    output = args.output or RESULTS_DIR / f"queries-{datetime.now():%Y-%m-%d-%H%M%S}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=str) + "\n")

    render_table(rows, dashboard, console)
    console.print(floor_line(report))
    console.print(f"results: {output}")
    console.print("\n[bold]Markdown for docs/benchmarks.md:[/bold]\n")
    console.print(markdown(report, rows, dashboard), markup=False, highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
