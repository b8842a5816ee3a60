"""The embedded store: ClickHouse in-process through chDB.

TRICKY: chDB allows one data path per process, and one cursor per connection; several
connections to the same path run queries in parallel (and release the GIL). So we keep one
connection per thread, all on the same path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from pathlib import Path

import chdb
import pyarrow as pa
from clickhouse_connect.driver.binding import format_bind_value

from shoplens.store.base import INSERT_SETTINGS, Params

_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def _bind(params: Params | None) -> dict[str, str]:
    """Python values → the escaped text ClickHouse parses a ``{name:Type}`` value from.

    TRICKY: chDB passes values through as text, so a backslash, tab or newline in a string
    would be read as an escape (``C:\\new`` → ``C:<LF>ew``) and lists/aware datetimes would
    not parse. clickhouse-connect formats them for the server store; use the same rules.
    """
    return {name: format_bind_value(value) for name, value in (params or {}).items()}


class EmbeddedStore:
    kind = "embedded"
    cluster: str | None = None

    def __init__(self, path: str | Path) -> None:
        self.path = str(Path(path).resolve())
        Path(self.path).mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[chdb.state.sqlitelike.Connection] = []
        self._conn()  # fail now, not on the first query, if the path is unusable

    def _conn(self) -> chdb.state.sqlitelike.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with _LOCK:
                conn = chdb.connect(self.path)
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        result: pa.Table = self._conn().query(sql, "ArrowTable", params=_bind(params))
        return result

    def stream(
        self, sql: str, params: Params | None = None, *, batch_rows: int = 65_536
    ) -> Generator[pa.RecordBatch, None, None]:
        # TRICKY: a streaming query holds its connection's one cursor until it ends, and a
        # response streamed by the server pulls each batch on whichever worker thread is
        # free; so the stream gets a connection of its own rather than the thread's.
        with _LOCK:
            conn = chdb.connect(self.path)
        try:
            result = conn.send_query(sql, "Arrow", params=_bind(params))
            try:
                yield from result.record_batch(rows_per_batch=batch_rows)
            finally:
                result.cancel()  # a no-op once exhausted; ends the query when abandoned
        finally:
            conn.close()

    def command(self, sql: str, params: Params | None = None) -> None:
        self._conn().query(sql, "Null", params=_bind(params))

    def insert(self, table: str, batch: pa.Table, dedup_token: str) -> None:
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": dedup_token}
        setting_sql = ", ".join(f"{name} = {{s_{name}:String}}" for name in settings)
        columns = ", ".join(f"`{name}`" for name in batch.column_names)
        # TRICKY: chDB's Python() table function finds the Arrow table by its variable name
        # in the calling frame, so the batch must be bound to a local named `batch`.
        sql = f"INSERT INTO {table} ({columns}) SETTINGS {setting_sql} SELECT * FROM Python(batch)"
        self._conn().query(sql, "Null", params={f"s_{k}": str(v) for k, v in settings.items()})

    def release_memory(self) -> None:
        # TRICKY: ClickHouse's allocator (jemalloc) keeps the pages a finished query freed
        # (measured: about 150 MB an abandoned export stream, still held minutes later);
        # a purge returns them. Best effort: a build without jemalloc refuses the command.
        try:
            self._conn().query("SYSTEM JEMALLOC PURGE", "Null")
        except Exception:  # best effort: the memory is only kept longer
            log.debug("SYSTEM JEMALLOC PURGE failed", exc_info=True)

    def close(self) -> None:
        with _LOCK:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
