"""``shoplens import``: the command around ``ingest.importer`` — its refusals in-process
(they happen before any store is opened) and a real import in a child process (its own
data dir: one chDB path per process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shoplens.cli import app
from tests.serverproc import child_env, query_data_dir


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    runner = CliRunner(env={"SHOPLENS_DATA_DIR": None, "SHOPLENS_META_FILE": None})

    def run(*args: str) -> Any:
        return runner.invoke(app, [*args, "--data-dir", str(tmp_path / "data")])

    return run


def one_line(text: str) -> str:
    return " ".join(text.split())


def tenant_id(cli: Any) -> int:
    result = cli("tenants", "create", "Old Shop", "--plan", "free", "--json")
    assert result.exit_code == 0, result.output
    created: int = json.loads(result.stdout)["tenant_id"]
    return created


def test_an_unknown_column_is_refused_before_anything_is_sent(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("event_type,colour\nsearch,red\n")
    result = cli("import", str(path), "--tenant", str(tenant_id(cli)))
    assert result.exit_code == 1
    assert "unknown column 'colour' for --type ecommerce" in one_line(result.stderr)
    assert not (tmp_path / "data" / "clickhouse").exists()  # no store was opened


def test_an_unknown_tenant_is_refused(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text('{"event_type": "search"}\n')
    result = cli("import", str(path), "--tenant", "999")
    assert result.exit_code == 1
    assert "no tenant 999; see `shoplens tenants list`" in one_line(result.stderr)
    assert not (tmp_path / "data" / "clickhouse").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--type", "segment"], "--type must be one of ecommerce, core"),
        (["--format", "xml"], "--format must be one of csv, ndjson, parquet"),
    ],
)
def test_bad_options_name_the_flag(
    cli: Any, tmp_path: Path, options: list[str], message: str
) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text('{"event_type": "search"}\n')
    result = cli("import", str(path), "--tenant", "1", *options)
    assert result.exit_code == 1
    assert message in one_line(result.stderr)


@pytest.mark.slow
def test_import_stores_old_events_and_reports_bad_rows(cli: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shop = tenant_id(cli)  # free plan: live ingestion would refuse anything > 30 days old
    rows = [
        {"event_type": "purchase", "transaction_id": "o1", "revenue": 12.5, "user_id": "u1",
         "timestamp": "2011-03-01T09:30:00Z"},
        {"event_type": "purchase", "revenue": 3, "timestamp": "2011-03-02T09:30:00Z"},
        {"event_type": "refund", "transaction_id": "o1", "revenue": 2.5,
         "timestamp": "2011-03-03T09:30:00Z"},
        {"event_type": "purchase", "transaction_id": "o1", "revenue": 12.5,
         "timestamp": "2011-03-01T09:30:00Z"},  # the same order again: a duplicate
    ]  # fmt: skip
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    done = subprocess.run(
        [sys.executable, "-m", "shoplens", "import", str(path), "--tenant", str(shop),
         "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == (
        f"import: 4 rows read, 2 events accepted, 1 duplicate orders dropped, 1 rejected "
        f"for tenant {shop}"
    )
    assert "rejected: row 2: transaction_id is required for purchase events" in one_line(
        done.stderr
    )
    stored = query_data_dir(
        data_dir,
        "SELECT event_type, toString(timestamp) AS ts, transaction_id, revenue FROM events"
        f" WHERE tenant_id = {shop} ORDER BY timestamp",
    )
    assert stored == [
        {"event_type": "purchase", "ts": "2011-03-01 09:30:00.000", "transaction_id": "o1",
         "revenue": 1250},
        {"event_type": "refund", "ts": "2011-03-03 09:30:00.000", "transaction_id": "o1",
         "revenue": 250},
    ]  # fmt: skip
