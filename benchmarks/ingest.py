"""Ingestion benchmark: a real uvicorn server, concurrent HTTP clients, measured acks.

    .venv/bin/python benchmarks/ingest.py [--duration 10] [--workers 2] [--connections 16]
        [--scenarios batch,single,latency,lag] [--profile]

A fresh data directory, a ``pro`` tenant made with ``shoplens tenants create``, and
``python -m shoplens serve`` with default settings (flush interval 1 s) in a subprocess.
Load comes from separate client processes (``--workers``), so client CPU is never in the
server's GIL; each drives keep-alive HTTP/1.1 connections with a minimal asyncio protocol
over uvloop and sends request bytes encoded before the clock starts. Only 127.0.0.1 is
contacted. The scenarios:

``batch``    closed loop, ``--connections`` connections each sending the next 100-event
             ``/v1/api/analytics/ecommerce/batch`` request as soon as the last is acked:
             maximum events/s.
``single``   the same with one event per ``/v1/api/analytics/ecommerce/track`` request:
             maximum requests/s.
``latency``  open loop at 50 % of the maximum measured above (of the targets when that
             scenario was not run, or ``--latency-rate-*``): requests are due on a fixed
             schedule and latency runs from when a request was *due* to its ack, so time
             spent queued behind a slow server counts (no coordinated omission).
``lag``      ack→stored lag: a marker event is sent, and the lag is the time from its ack
             until ``/healthz`` shows it stored. Measured during a paced batch run at the
             latency rate and again with the server idle. See ``_ingest/lag.py``.

Purchases get order ids unique to the run (the server drops repeated ones), and every
request template is sent once before timing to check that all its events are accepted.
Results: a table, ``benchmarks/results/ingest-<date>-<time>.json`` and a Markdown section
for docs/benchmarks.md. See benchmarks/README.md for how to read them; the code is in
benchmarks/_ingest/ (the server is started with tests/serverproc.py).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

# The repo root, for tests.serverproc (it starts the server).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _ingest.profiles import print_profile
from _ingest.report import RESULTS_DIR, build_report, machine_info, markdown, render_table
from _ingest.scenarios import SCENARIOS, Bench, run_scenarios
from _ingest.server import Server


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options; ``scenarios`` becomes a list, checked against ``SCENARIOS``."""
    parser = argparse.ArgumentParser(
        description="Ingestion benchmark against a real shoplens server on this machine."
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument(
        "--connections", type=int, default=16, help="connections in the max-throughput scenarios"
    )
    parser.add_argument(
        "--latency-connections", type=int, default=64, help="connections in the paced scenarios"
    )
    parser.add_argument(
        "--latency-rate-batch",
        type=float,
        default=None,
        help="events/s for latency-batch and lag (default: half the max)",
    )
    parser.add_argument(
        "--latency-rate-single",
        type=float,
        default=None,
        help="requests/s for latency-single (default: half the max)",
    )
    parser.add_argument("--lag-samples", type=int, default=5, help="idle lag markers")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of: {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the server (py-spy if installed, else cProfile)",
    )
    parser.add_argument("--profile-top", type=int, default=25, help="rows in the profile tables")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="where the temporary data dir goes (its disk's fsync matters)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the data dir")
    parser.add_argument("--output", type=Path, default=None, help="results JSON path")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.workers < 1 or args.connections < 1 or args.duration <= 0:
        parser.error("--workers, --connections and --duration must be positive")
    return args


def main(argv: list[str]) -> int:
    """Start the server, run the scenarios, stop it; print and save the results."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log file: room for the table
        console = Console(width=132)
    machine = machine_info()
    profiler = None
    if args.profile:
        profiler = "py-spy" if shutil.which("py-spy") else "cprofile"
    data_dir = Path(tempfile.mkdtemp(prefix="shoplens-bench-", dir=args.data_root))
    server = Server(data_dir, profiler)
    command = "python benchmarks/ingest.py" + (f" {shlex.join(argv)}" if argv else "")
    console.print(
        f"[bold]shoplens ingest benchmark[/bold]: {machine['cpu']}, {machine['cores']} cores, "
        f"load average {machine['load_average_at_start']}; data in {data_dir}"
        + (f"; server profiled with {profiler}" if profiler else "")
    )
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("starting server", total=None)
            server.start()
            progress.remove_task(task)
            bench = Bench(args, server, progress)
            run_scenarios(bench)
            task = progress.add_task("stopping server (final flush)", total=None)
            health = server.process.healthz()["ingest"]
            stop_error = server.stop()
            progress.remove_task(task)
    except BaseException:
        server.stop(timeout=30)
        if server.started:
            log = server.process.log()[-4000:]
            console.print(f"[red]server log (tail):[/red]\n{log}\n(log: {server.process.log_path})")
        raise
    finally:
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    if not args.keep_data:
        server.process.log_path.unlink(missing_ok=True)

    report = build_report(
        args,
        command=command,
        machine=machine,
        profiler=profiler,
        profile_path=server.profile_path,
        server={"exit_code": server.process.proc.returncode, "healthz_ingest_at_end": health},
        results=bench.results,
    )
    output = args.output or RESULTS_DIR / f"ingest-{datetime.now():%Y-%m-%d-%H%M%S}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")

    render_table(bench.results, console)
    if stop_error:
        console.print(f"[red]server did not stop cleanly: {stop_error}[/red]")
    console.print(f"results: {output}")
    console.print("\n[bold]Markdown for docs/benchmarks.md:[/bold]\n")
    console.print(markdown(report, bench.results), markup=False, highlight=False, soft_wrap=True)
    if profiler:
        stored = health["flushed_events"] + health["pending_events"]
        print_profile(
            server.profile_path, profiler, stored, args.profile_top, console, server.spy_error
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
