"""``shoplens import FILE --tenant ID``: the historical import path.

Live ingestion refuses events older than the tenant's raw-event retention window
(``ingest.clock``); history — a shop's past orders, a dataset — comes in here, through the
same handlers, stages and pipeline with timestamps taken as given. The file formats and
the column mapping are ``ingest.importer``'s (docs/operations.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shoplens.cli_common import DataDir, console, fail, settings_for
from shoplens.config import Settings
from shoplens.ingest.importer import FORMATS, TYPES, ImportFile, ImportFileError, ImportStats
from shoplens.meta import MetaStore


def _summary(stats: ImportStats, tenant_id: int) -> str:
    return (
        f"import: {stats.rows:,} rows read, {stats.accepted:,} events accepted, "
        f"{stats.duplicates:,} duplicate orders dropped, {stats.rejected:,} rejected "
        f"for tenant {tenant_id}"
    )


def run_import(settings: Settings, source: ImportFile, tenant_id: int) -> ImportStats:
    """Open the data dir's pipeline, import ``source`` into ``tenant_id``, flush, close."""
    from shoplens.ingest.bulk import running_pipeline
    from shoplens.ingest.importer import import_file
    from shoplens.ingest.stages import build_stages

    meta_only = MetaStore(settings.meta_path)  # fail before the store is opened
    try:
        if meta_only.tenant(tenant_id) is None:
            raise ImportFileError(f"no tenant {tenant_id}; see `shoplens tenants list`")
    finally:
        meta_only.close()

    async def run() -> ImportStats:
        async with running_pipeline(settings) as (pipeline, meta):
            tenant = meta.tenant(tenant_id)
            assert tenant is not None
            with Progress(
                TextColumn("[bold]import[/bold] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task(source.path.name, total=None)
                stats = await import_file(
                    pipeline,
                    tenant,
                    source,
                    stages=build_stages(settings, meta),
                    on_progress=lambda n: bar.advance(task, n),
                )
            console.print(f"{_summary(stats, tenant.id)}; flushing…")
            return stats

    return asyncio.run(run())


def import_command(
    file: Annotated[Path, typer.Argument(help="CSV, NDJSON (.ndjson/.jsonl) or Parquet file.")],
    tenant: Annotated[int, typer.Option(help="Tenant id (`shoplens tenants list`).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"{' | '.join(FORMATS)} (default: from the suffix)."),
    ] = None,
    kind: Annotated[
        str,
        typer.Option("--type", help=f"Row shape: {' | '.join(TYPES)} (docs/operations.md)."),
    ] = "ecommerce",
    data_dir: DataDir = None,
) -> None:
    """Import historical events from a file (timestamps taken as given, however old)."""
    from shoplens.app import DataDirLocked

    try:
        source = ImportFile(file, kind, fmt)
        stats = run_import(settings_for(data_dir), source, tenant)
    except ImportFileError as exc:
        raise fail(str(exc)) from None
    except DataDirLocked as exc:
        raise fail(f"{exc} (stop the server to import)") from None
    for error in stats.first_errors:
        console.print(f"[yellow]rejected:[/yellow] {error}")
    if stats.rejected > len(stats.first_errors):
        console.print(f"[yellow]… and {stats.rejected - len(stats.first_errors):,} more[/yellow]")
    typer.echo(_summary(stats, tenant))
