"""The Store protocol and the URL that picks its implementation."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, Protocol
from urllib.parse import urlparse

import pyarrow as pa

Params = Mapping[str, Any]

# Settings every flush insert carries. TRICKY: without the MV setting a retried insert is
# dropped from `events` but still counted again in every rollup fed by a materialized view.
INSERT_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


class Store(Protocol):
    """A ClickHouse database: embedded (chDB) or a server."""

    #: "embedded" or "server"; shown by the CLI and in /analytics/settings.
    kind: str
    #: the cluster name when DDL must run ON CLUSTER, else None.
    cluster: str | None

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        """Run a SELECT with bound ``{name:Type}`` parameters and return its rows as Arrow."""
        ...

    def stream(
        self, sql: str, params: Params | None = None, *, batch_rows: int = 65_536
    ) -> Generator[pa.RecordBatch, None, None]:
        """Run a SELECT and yield its rows as Arrow record batches while it runs, so a result
        larger than memory can be written out (exports). About ``batch_rows`` rows a batch
        (the engine's blocks may make them somewhat larger or smaller). Close the iterator
        (or exhaust it) to end the query; an abandoned one ends when garbage-collected."""
        ...

    def command(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns no rows (DDL, DELETE, OPTIMIZE...)."""
        ...

    def insert(self, table: str, batch: pa.Table, dedup_token: str) -> None:
        """Insert one Arrow batch exactly once: a retry with the same token is a no-op."""
        ...

    def release_memory(self) -> None:
        """Hand memory the engine freed back to the operating system (after a large query
        such as an export ends); a no-op where the engine is not in this process."""
        ...

    def close(self) -> None: ...


def open_store(url: str, *, cluster: str | None = None) -> Store:
    """Open the store a URL names: ``chdb://<path>`` or ``clickhouse://[user:pw@]host:port/db``."""
    parsed = urlparse(url)
    if parsed.scheme == "chdb":
        from shoplens.store.embedded import EmbeddedStore

        path = parsed.netloc + parsed.path
        if not path:
            raise ValueError("chdb:// store URL needs a path, e.g. chdb:///var/lib/shoplens/ch")
        return EmbeddedStore(path)
    if parsed.scheme in ("clickhouse", "clickhouses", "http", "https"):
        from shoplens.store.server import ServerStore

        return ServerStore(url, cluster=cluster)
    raise ValueError(f"unknown store URL scheme {parsed.scheme!r}: use chdb:// or clickhouse://")
