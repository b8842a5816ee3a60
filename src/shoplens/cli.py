"""The ``shoplens`` command: serve, demo, tenants, keys.

Every command takes ``--data-dir`` (or ``SHOPLENS_DATA_DIR``); see docs/operations.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import zoneinfo
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from shoplens import __version__, plans
from shoplens.auth import PREFIXES, issue_key
from shoplens.cli_common import DataDir, JsonFlag, console, fail, open_meta, out, settings_for
from shoplens.cli_export import export_command
from shoplens.cli_import import import_command
from shoplens.cli_rates import rates_app
from shoplens.config import Settings
from shoplens.errors import BadRequest
from shoplens.ingest.money import exponent
from shoplens.meta import MetaStore, Tenant

app = typer.Typer(help="shoplens: self-hosted e-commerce analytics.", no_args_is_help=True)
tenants_app = typer.Typer(help="Create and list tenants (shops).", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.command("import")(import_command)
app.command("export")(export_command)
app.add_typer(rates_app, name="rates")

DEMO_TENANT = "Demo Shop"


def _version(value: bool) -> None:
    if value:
        out.print(f"shoplens {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """shoplens: self-hosted e-commerce analytics."""


# tenants -------------------------------------------------------------------------------
def _validate_tenant(base_currency: str, timezone: str, plan: str) -> None:
    try:
        exponent(base_currency)
    except BadRequest as exc:
        raise fail(f"--base-currency: {exc.message}") from None
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise fail(
            f"--timezone: unknown time zone {timezone!r} (use an IANA name such as Europe/Berlin)"
        ) from None
    if plan not in plans.PLANS:
        raise fail(f"--plan must be one of {', '.join(plans.names())}")


def create_tenant_with_keys(
    meta: MetaStore,
    name: str,
    base_currency: str = "USD",
    timezone: str = "UTC",
    plan: str = "free",
) -> tuple[Tenant, str, str]:
    tenant = meta.create_tenant(name, base_currency=base_currency, timezone=timezone, plan=plan)
    publishable = issue_key(meta, tenant.id, "publishable", "default").key
    secret = issue_key(meta, tenant.id, "secret", "default").key
    return tenant, publishable, secret


@tenants_app.command("create")
def tenants_create(
    name: str,
    base_currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "USD",
    timezone: Annotated[str, typer.Option(help="IANA time zone for reports.")] = "UTC",
    plan: Annotated[str, typer.Option(help="free, pro or enterprise (docs/plans.md).")] = "free",
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
) -> None:
    """Create a tenant with one publishable and one secret key (shown once)."""
    base_currency = base_currency.upper()
    _validate_tenant(base_currency, timezone, plan)
    with open_meta(settings_for(data_dir)) as meta:
        tenant, publishable, secret = create_tenant_with_keys(
            meta, name, base_currency, timezone, plan
        )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "tenant_id": tenant.id,
                    "name": tenant.name,
                    "publishable_key": publishable,
                    "secret_key": secret,
                }
            )
        )
        return
    out.print(
        f"tenant {tenant.id} [bold]{tenant.name}[/bold] ({tenant.plan}, "
        f"{tenant.base_currency}, {tenant.timezone})"
    )
    out.print(f"publishable key (ingest, safe in a browser): {publishable}")
    out.print(f"secret key (queries and admin; keep it secret): {secret}")
    out.print("[dim]keys are stored hashed and cannot be shown again[/dim]")


@tenants_app.command("list")
def tenants_list(as_json: JsonFlag = False, data_dir: DataDir = None) -> None:
    """List tenants."""
    with open_meta(settings_for(data_dir)) as meta:
        tenants = meta.tenants()
    if as_json:
        typer.echo(json.dumps([t.__dict__ for t in tenants]))
        return
    table = Table("id", "name", "plan", "currency", "timezone", "created")
    for t in tenants:
        table.add_row(str(t.id), t.name, t.plan, t.base_currency, t.timezone, t.created_at)
    out.print(table)


# keys ----------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    tenant: Annotated[int, typer.Argument(help="Tenant id.")],
    kind: Annotated[str, typer.Option(help="publishable or secret.")] = "secret",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
) -> None:
    """Issue a new key for a tenant (shown once)."""
    if kind not in PREFIXES:
        raise fail("--kind must be publishable or secret")
    with open_meta(settings_for(data_dir)) as meta:
        if meta.tenant(tenant) is None:
            raise fail(f"no tenant {tenant}; see `shoplens tenants list`")
        issued = issue_key(meta, tenant, kind, name)
    if as_json:
        typer.echo(
            json.dumps({"key_id": issued.id, "tenant_id": tenant, "kind": kind, "key": issued.key})
        )
    else:
        out.print(f"key {issued.id} ({kind}) for tenant {tenant}: {issued.key}")


@keys_app.command("list")
def keys_list(
    tenant: Annotated[int | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
) -> None:
    """List keys (their ids and prefixes; secrets are never stored)."""
    with open_meta(settings_for(data_dir)) as meta:
        keys = meta.keys(tenant)
    rows = [
        {
            "key_id": k.id,
            "tenant_id": k.tenant_id,
            "kind": k.kind,
            "name": k.name,
            "prefix": f"{PREFIXES[k.kind]}_{k.lookup}…",
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in keys
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(*rows[0].keys()) if rows else Table("key_id")
    for row in rows:
        table.add_row(*(str(v) if v is not None else "" for v in row.values()))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="Key id from `shoplens keys list`.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key; a running server stops accepting it within the key cache time (5 s)."""
    with open_meta(settings_for(data_dir)) as meta:
        revoked = meta.revoke_key(key_id)
    if not revoked:
        raise fail(f"no active key {key_id}; see `shoplens keys list`")
    out.print(f"revoked key {key_id}")


# demo ----------------------------------------------------------------------------------
def _load_demo(
    settings: Settings, events: int, days: int, tenant_id: int | None, seed: int
) -> tuple[Tenant, str | None, str | None]:
    """Create (or reuse) the demo tenant and send it ``events`` generated events."""
    from shoplens import demo
    from shoplens.ingest.bulk import load, running_pipeline
    from shoplens.ingest.stages import build_stages

    async def run() -> tuple[Tenant, str | None, str | None]:
        async with running_pipeline(settings) as (pipeline, meta):
            publishable = secret = None
            if tenant_id is not None:
                tenant = meta.tenant(tenant_id)
                if tenant is None:
                    raise fail(f"no tenant {tenant_id}; see `shoplens tenants list`")
            else:
                tenant, publishable, secret = create_tenant_with_keys(meta, DEMO_TENANT, plan="pro")
            with Progress(
                TextColumn("[bold]demo[/bold] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as bar:
                task = bar.add_task(f"tenant {tenant.id}", total=events)
                stats = await load(
                    pipeline,
                    tenant,
                    demo.generate(tenant, events=events, days=days, seed=seed),
                    stages=build_stages(settings, meta),
                    on_progress=lambda n: bar.advance(task, n),
                )
            console.print(
                f"demo: {stats.accepted:,} events accepted "
                f"({stats.duplicates:,} duplicate orders dropped, "
                f"{stats.rejected:,} rejected) for tenant {tenant.id}; flushing…"
            )
            for error in stats.first_errors or []:
                console.print(f"[yellow]rejected:[/yellow] {error}")
            return tenant, publishable, secret

    return asyncio.run(run())


@app.command("demo")
def demo_command(
    events: Annotated[int, typer.Option(help="How many events to generate.")] = 200_000,
    days: Annotated[int, typer.Option(help="Spread over this many days up to now.")] = 90,
    tenant: Annotated[
        int | None, typer.Option(help="Load into this tenant, not a new one.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same shop).")] = 7,
    data_dir: DataDir = None,
) -> None:
    """Generate a realistic shop and send it through the ingestion pipeline."""
    from shoplens.app import DataDirLocked

    settings = settings_for(data_dir)
    try:
        created, publishable, secret = _load_demo(settings, events, days, tenant, seed)
    except DataDirLocked as exc:
        raise fail(f"{exc} (`shoplens serve --demo` loads demo data at start)") from None
    if publishable:
        out.print(f"demo tenant {created.id}: publishable key {publishable}")
        out.print(f"demo tenant {created.id}: secret key {secret}")


# serve ---------------------------------------------------------------------------------
@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(envvar="SHOPLENS_HOST")] = None,
    port: Annotated[int | None, typer.Option(envvar="SHOPLENS_PORT")] = None,
    data_dir: DataDir = None,
    store_url: Annotated[
        str | None,
        typer.Option(envvar="SHOPLENS_STORE_URL", help="chdb://PATH or clickhouse://HOST:8123/DB"),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create a demo tenant with data first.")
    ] = False,
    demo_events: Annotated[int, typer.Option(help="Events for --demo.")] = 200_000,
    demo_days: Annotated[int, typer.Option(help="Days of history for --demo.")] = 90,
    max_header_bytes: Annotated[
        int | None,
        typer.Option(envvar="SHOPLENS_MAX_HEADER_BYTES", help="Header size limit (431 beyond)."),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option(envvar="SHOPLENS_HEADER_TIMEOUT", help="Seconds to send headers (408)."),
    ] = None,
    body_timeout: Annotated[
        float | None,
        typer.Option(envvar="SHOPLENS_BODY_TIMEOUT", help="Seconds to send a body (408)."),
    ] = None,
    keep_alive_timeout: Annotated[
        float | None,
        typer.Option(envvar="SHOPLENS_KEEP_ALIVE_TIMEOUT", help="Idle connection seconds."),
    ] = None,
) -> None:
    """Start the HTTP server on the configured store."""
    import uvicorn

    from shoplens.app import DataDirLocked, create_app, lock_data_dir
    from shoplens.http_limits import ConnectionLimits, protocol_for

    settings = settings_for(
        data_dir,
        host=host,
        port=port,
        store_url=store_url,
        max_header_bytes=max_header_bytes,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        keep_alive_timeout=keep_alive_timeout,
    )
    keys: tuple[Tenant, str | None, str | None] | None = None
    try:
        # Fail now with a clear message if another process owns the data dir (the app
        # takes the lock for real when it starts).
        os.close(lock_data_dir(settings.data_dir))
        if demo:
            keys = _load_demo(settings, demo_events, demo_days, None, seed=7)
        app_instance = create_app(settings)
    except DataDirLocked as exc:
        raise fail(str(exc)) from None
    base = f"http://{settings.host}:{settings.port}"
    out.print(
        f"shoplens {__version__} on {base}  (data: {settings.data_dir}, "
        f"store: {settings.display_store_url})"
    )
    out.print(f"API docs: {base}/docs   ReDoc: {base}/redoc")
    if keys:
        tenant, publishable, secret = keys
        out.print(f"demo tenant {tenant.id}  publishable key: {publishable}")
        out.print(f"demo tenant {tenant.id}  secret key:      {secret}")
        out.print(f'try: curl -H "Authorization: Bearer {secret}" {base}/healthz')
    uvicorn.run(
        app_instance,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        http=protocol_for(ConnectionLimits.from_settings(settings)),
    )
