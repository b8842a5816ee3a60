"""``shoplens export --tenant ID --type orders --period 30d --format csv -o FILE``.

The same row sets, formats and files as ``GET /analytics/export`` (:mod:`shoplens.export`),
written from the data dir with a progress bar of rows written. It opens the data dir like
``import`` does (locked, so not while a server runs on it; acknowledged events still in the
write-ahead log are stored first) and writes ``FILE.part`` then renames it, so an
interrupted export leaves no half file under the asked name.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shoplens import plans
from shoplens.cli_common import DataDir, console, fail, settings_for
from shoplens.config import Settings
from shoplens.errors import BadRequest
from shoplens.export.rowsets import ROW_SETS
from shoplens.export.writers import FORMATS
from shoplens.metrics.period import parse_period


class ExportError(Exception):
    """A problem to report on the command line (bad option, unknown tenant)."""


def _format_of(fmt: str | None, output: Path | None) -> str | None:
    """``--format``, else the output file's suffix when it names a format, else None (csv)."""
    if fmt or output is None:
        return fmt
    suffix = output.suffix.lstrip(".").lower()
    return suffix if suffix in FORMATS else None


def run_export(
    settings: Settings,
    tenant_id: int,
    type_: str,
    fmt: str | None,
    period_params: dict[str, str | None],
    output: Path | None,
) -> tuple[Path, int]:
    """Write the export; returns the file written and its row count."""
    from shoplens import export
    from shoplens.ingest.bulk import running_pipeline

    async def run() -> tuple[Path, int]:
        async with running_pipeline(settings) as (pipeline, meta):
            tenant = meta.tenant(tenant_id)
            if tenant is None:
                raise ExportError(f"no tenant {tenant_id}; see `shoplens tenants list`")
            try:
                period = parse_period(
                    period_params,
                    timezone=tenant.timezone,
                    now=datetime.now(UTC),
                    retention_days=plans.retention_days(tenant),
                )
                job = export.plan(type_, _format_of(fmt, output), tenant.id, period)
            except BadRequest as exc:
                raise ExportError(f"--{exc.field or 'period'}: {exc.message}") from None
            target = output or Path(job.filename)
            partial = target.with_name(target.name + ".part")
            rows = 0
            with Progress(
                SpinnerColumn(),
                TextColumn("[bold]export[/bold] {task.description}"),
                TextColumn("{task.completed:,} rows"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task(target.name, total=None)

                def advance(n: int) -> None:
                    nonlocal rows
                    rows += n
                    bar.advance(task, n)

                def write() -> None:
                    with partial.open("wb") as out:
                        for chunk in job.chunks(job.batches(pipeline.store), on_rows=advance):
                            out.write(chunk)

                try:
                    await asyncio.to_thread(write)
                    os.replace(partial, target)
                finally:
                    partial.unlink(missing_ok=True)
            return target, rows

    return asyncio.run(run())


def export_command(
    tenant: Annotated[int, typer.Option(help="Tenant id (`shoplens tenants list`).")],
    kind: Annotated[
        str, typer.Option("--type", help=f"Row set: {' | '.join(ROW_SETS)}.")
    ] = "orders",
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"{' | '.join(FORMATS)} (default: from the -o suffix, else csv).",
        ),
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="7d | 30d | 90d | 12m (default 30 days).")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day YYYY-MM-DD (with --end).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day YYYY-MM-DD (with --start).")] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write (default: shoplens-<type>-<start>-<end>.<ext>)."
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Export orders, events, products or customers of a period to a file."""
    from shoplens import export
    from shoplens.app import DataDirLocked

    params = {"period": period, "start": start, "end": end}
    try:
        # Checked before the data dir is opened, so a typo fails at once.
        export.row_set_of(kind)
        export.format_of(_format_of(fmt, output))
    except BadRequest as exc:
        raise fail(f"--{exc.field}: {exc.message}") from None
    try:
        written, rows = run_export(settings_for(data_dir), tenant, kind, fmt, params, output)
    except ExportError as exc:
        raise fail(str(exc)) from None
    except DataDirLocked as exc:
        raise fail(f"{exc} (stop the server, or use GET /analytics/export)") from None
    typer.echo(f"export: {rows:,} rows written to {written}")
