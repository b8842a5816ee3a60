"""The server store: a ClickHouse server or cluster over HTTP (clickhouse-connect).

Same SQL as the embedded store. Inserts use ``async_insert=1, wait_for_async_insert=1`` so
many small flushes from several shoplens processes are merged server-side and a flush
returns only once its rows are written.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import clickhouse_connect
import pyarrow as pa

from shoplens.store.base import INSERT_SETTINGS, Params


def client_kwargs(url: str) -> dict[str, Any]:
    """Translate ``clickhouse://user:pw@host:8123/db?secure=1`` into client arguments."""
    parsed = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    secure = parsed.scheme in ("clickhouses", "https") or query.get("secure") in ("1", "true")
    return {
        "host": parsed.hostname or "localhost",
        "port": parsed.port or (8443 if secure else 8123),
        "username": unquote(parsed.username) if parsed.username else "default",
        "password": unquote(parsed.password) if parsed.password else "",
        "database": parsed.path.lstrip("/") or "default",
        "secure": secure,
    }


class ServerStore:
    kind = "server"

    def __init__(self, url: str, *, cluster: str | None = None) -> None:
        self.cluster = cluster
        self._kwargs = client_kwargs(url)
        self._local = threading.local()
        self._client()  # connect now so a wrong URL fails at start

    def _client(self) -> Any:
        # clickhouse-connect clients are not safe to share between threads mid-query.
        client = getattr(self._local, "client", None)
        if client is None:
            client = clickhouse_connect.get_client(**self._kwargs)
            self._local.client = client
        return client

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        result: pa.Table = self._client().query_arrow(sql, parameters=dict(params or {}))
        return result

    def stream(
        self, sql: str, params: Params | None = None, *, batch_rows: int = 65_536
    ) -> Generator[pa.RecordBatch, None, None]:
        # A client of its own (like the embedded store's connection): the response may pull
        # batches on several threads while this thread's client serves other queries.
        # Batches are the server's blocks; ``max_block_size`` asks for about batch_rows.
        client = clickhouse_connect.get_client(**self._kwargs)
        try:
            settings = {"max_block_size": batch_rows}
            params = dict(params or {})
            with client.query_arrow_stream(sql, parameters=params, settings=settings) as batches:
                yield from batches
        finally:
            client.close()

    def command(self, sql: str, params: Params | None = None) -> None:
        self._client().command(sql, parameters=dict(params or {}))

    def insert(self, table: str, batch: pa.Table, dedup_token: str) -> None:
        settings = {
            **INSERT_SETTINGS,
            "insert_deduplication_token": dedup_token,
            "async_insert": 1,
            "wait_for_async_insert": 1,
            # TRICKY: async inserts skip token de-duplication unless asked for it.
            "async_insert_deduplicate": 1,
        }
        self._client().insert_arrow(table, batch, settings=settings)

    def release_memory(self) -> None:
        """The server's memory is the server's own: nothing to do here."""

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
