"""Settings, read from flags and ``SHOPLENS_*`` environment variables.

Every setting is documented in docs/operations.md; a flag given to the CLI wins over the
environment, which wins over the defaults below. The one exception to the prefix is seed
000's ClickHouse setup (``CLICKHOUSE_URL``, ``CLICKHOUSE_DATABASE``, ``CLICKHOUSE_USER``,
``CLICKHOUSE_PASSWORD``), read under those names and used when ``SHOPLENS_STORE_URL`` is
not set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

KIB = 1024
MIB = 1024 * KIB


class Settings(BaseSettings):
    """Process-wide configuration."""

    model_config = SettingsConfigDict(env_prefix="SHOPLENS_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path("./shoplens-data"), description="WAL, metadata and embedded store")
    store_url: str | None = Field(
        None,
        description="chdb://<path> (default: <data-dir>/clickhouse) or clickhouse://host:8123/db",
    )
    # Seed 000's names (no SHOPLENS_ prefix); SHOPLENS_STORE_URL wins over all four.
    clickhouse_url: str | None = Field(
        None, validation_alias="CLICKHOUSE_URL", description="http(s)://host:8123 (seed 000)"
    )
    clickhouse_database: str | None = Field(None, validation_alias="CLICKHOUSE_DATABASE")
    clickhouse_user: str | None = Field(None, validation_alias="CLICKHOUSE_USER")
    clickhouse_password: SecretStr | None = Field(None, validation_alias="CLICKHOUSE_PASSWORD")
    meta_file: Path | None = Field(None, description="SQLite metadata file (default: in data dir)")
    cluster: str | None = Field(None, description="ClickHouse cluster for ON CLUSTER DDL")
    host: str = "127.0.0.1"
    port: int = 8000

    # Ingestion: the write-ahead log and the flusher that drains it into the store.
    flush_interval: float = Field(1.0, gt=0, description="seconds between flushes")
    flush_max_rows: int = Field(50_000, gt=0, description="flush early at this many events")
    wal_segment_bytes: int = Field(64 * MIB, gt=0)
    wal_max_bytes: int = Field(1024 * MIB, gt=0, description="unflushed WAL bound; 503 beyond")
    dedup_window_hours: float = Field(24.0, gt=0, description="purchase/refund de-duplication")

    # Limits on what a client may send.
    max_event_bytes: int = 32 * KIB
    max_request_bytes: int = 512 * KIB
    max_properties: int = 100
    max_string_length: int = 2048
    max_items: int = 200
    # Limits on a connection (http_limits.py): enforced at the socket, before the app.
    max_header_bytes: int = Field(
        32 * KIB, ge=1 * KIB, description="request line and headers together; 431 beyond"
    )
    header_timeout: float = Field(
        10.0, gt=0, description="seconds to receive a request's headers; 408 and close beyond"
    )
    body_timeout: float = Field(
        30.0, gt=0, description="seconds to receive a request's body; 408 and close beyond"
    )
    keep_alive_timeout: float = Field(
        5.0, gt=0, description="seconds an idle connection is kept open between requests"
    )
    key_cache_seconds: float = Field(5.0, ge=0, description="how long a verified key is cached")
    trust_proxy: bool = Field(False, description="take the client IP from X-Forwarded-For")

    # Plans (plans.py): per-key request rates, monthly event quotas, the landing route.
    rate_limits: bool = Field(True, description="per-key request rate limits of each plan")
    quotas: bool = Field(True, description="monthly event quotas of each plan")
    landing_rate_per_minute: int = Field(
        100, ge=0, description="events per minute per tenant on the public route; 0: no limit"
    )

    # Exports (api/export_stream.py): concurrency per tenant, a stalled client's timeout.
    export_concurrency: int = Field(
        2, ge=1, description="exports one tenant may run at a time; one more is a 429"
    )
    export_write_timeout: float = Field(
        60.0, gt=0, description="seconds an export waits for its client to take data"
    )

    # Event time (ingest/clock.py): skew correction, future clamp.
    clock_future_tolerance_seconds: float = Field(
        600.0, ge=0, description="timestamps further past the receive time are clamped to it"
    )
    clock_skew_tolerance_seconds: float = Field(
        30.0, ge=0, description="a sentAt this close to the receive time is latency, not skew"
    )

    # Maintenance (maintenance.py): retention enforcement.
    retention_interval: float = Field(
        3600.0, ge=0, description="seconds between retention runs; 0 disables them"
    )

    # Exchange rates (ingest/rates_refresh.py): the scheduled refresh from a provider.
    rates_provider: Literal["ecb", "openexchangerates", "none"] = Field(
        # Off unless asked: a self-hosted server makes no outbound call it was not told to.
        "none",
        description="where global exchange rates are refreshed from; none: never",
    )
    rates_url: str | None = Field(None, description="the provider's URL (default: its own)")
    rates_app_id: SecretStr | None = Field(None, description="Open Exchange Rates app id")
    rates_refresh_interval: float = Field(
        3600.0, ge=0, description="seconds between refreshes; 0: only `shoplens rates refresh`"
    )
    rates_timeout: float = Field(10.0, gt=0, description="seconds a refresh may take to fetch")

    @property
    def resolved_store_url(self) -> str:
        """The store to open: ``SHOPLENS_STORE_URL``, else seed 000's ``CLICKHOUSE_*``
        variables, else the embedded store in the data dir. May carry a password: show
        :attr:`display_store_url` instead."""
        if self.store_url:
            return self.store_url
        if self.clickhouse_url:
            password = self.clickhouse_password
            return clickhouse_store_url(
                self.clickhouse_url,
                database=self.clickhouse_database,
                user=self.clickhouse_user,
                password=password.get_secret_value() if password is not None else None,
            )
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def display_store_url(self) -> str:
        """:attr:`resolved_store_url` with any password masked, for logs and the console."""
        return redact_url(self.resolved_store_url)

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"

    @property
    def meta_path(self) -> Path:
        return self.meta_file or self.data_dir / "meta.sqlite3"


def clickhouse_store_url(
    url: str, *, database: str | None, user: str | None, password: str | None
) -> str:
    """Seed 000's ``CLICKHOUSE_URL`` (``http://localhost:8123``) and its separate database,
    user and password as one store URL (``http://user:pw@localhost:8123/db``, parts
    percent-encoded). A separate variable that is set and not empty wins over the same part
    written in the URL; the server store reads the URL back (``store.server.client_kwargs``).
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    user = user or (unquote(parts.username) if parts.username else None)
    password = password or (unquote(parts.password) if parts.password else None)
    database = database or parts.path.strip("/") or None
    host = parts.hostname or "localhost"
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    if user or password:
        secret = f":{quote(password, safe='')}" if password else ""
        netloc = f"{quote(user or 'default', safe='')}{secret}@{netloc}"
    return urlunsplit((parts.scheme, netloc, f"/{database}" if database else "", parts.query, ""))


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
