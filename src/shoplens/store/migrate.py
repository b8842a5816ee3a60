"""Numbered schema migrations, applied in order when the store opens.

Files are ``migrations/NNNN_name.sql``; statements are separated by ``;`` at line end. Two
placeholders make one text serve a single node and a cluster:

- ``{on_cluster}`` becomes ``ON CLUSTER <name>`` or nothing;
- ``{replicated}`` prefixes an engine (``{replicated}MergeTree``) with ``Replicated`` on a
  cluster, relying on the server's default replica path macros.

Applied versions are recorded in ``schema_migrations``; a migration runs once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from shoplens.store.base import Store

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self, cluster: str | None) -> list[str]:
        text = self.sql.replace("{on_cluster}", f"ON CLUSTER {cluster}" if cluster else "")
        text = text.replace("{replicated}", "Replicated" if cluster else "")
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*\n", body + "\n") if s.strip()]


def available() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    found = []
    for entry in resources.files("shoplens.store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


def migrate(store: Store) -> list[Migration]:
    """Apply the migrations not yet applied; return the ones this call applied."""
    on_cluster = f"ON CLUSTER {store.cluster}" if store.cluster else ""
    engine = "ReplicatedMergeTree" if store.cluster else "MergeTree"
    store.command(
        f"CREATE TABLE IF NOT EXISTS schema_migrations {on_cluster} "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        f"ENGINE = {engine} ORDER BY version"
    )
    done = set(store.query("SELECT version FROM schema_migrations").column("version").to_pylist())
    applied = []
    for migration in available():
        if migration.version in done:
            continue
        for statement in migration.statements(store.cluster):
            store.command(statement)
        store.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            {"v": migration.version, "n": migration.name},
        )
        applied.append(migration)
    return applied
