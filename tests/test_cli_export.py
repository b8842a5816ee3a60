"""``shoplens export``: the same files as the route, from the data dir, with a progress bar.

The commands that open the store run as child processes (chDB serves one data path per
process, and the test process has its own); tenants are made in-process (SQLite only).
Events go in through ``shoplens import`` (the ingestion handlers and pipeline).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shoplens.cli import app
from shoplens.export.rowsets import ROW_SETS
from tests.export import shop
from tests.export.readback import read_back
from tests.serverproc import child_env
from tests.test_cli import create, one_line


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    """Run ``shoplens ARGS --data-dir tmp_path`` in-process (as tests/test_cli.py does)."""
    runner = CliRunner(env={"SHOPLENS_DATA_DIR": None, "SHOPLENS_META_FILE": None})

    def run(*args: str, data_dir: Path = tmp_path) -> Any:
        return runner.invoke(app, [*args, "--data-dir", str(data_dir)])

    return run


def shoplens(
    *args: str, data_dir: Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoplens", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,  # seconds here; a hang must not stall the suite
        env=child_env(),
        cwd=cwd,
    )


def import_shop(tmp_path: Path, data_dir: Path, tenant_id: int) -> list[shop.Sent]:
    events = shop.shop_events()
    lines = []
    for e in events:
        row: dict[str, Any] = {
            "event_type": e.kind,
            "user_id": e.user,
            "session_id": e.session,
            "timestamp": shop.iso(e.at),
        }
        if e.items:
            row["items"] = [
                {"item_id": i, "item_name": n, "price": cents / 100, "quantity": q}
                for i, n, cents, q in e.items
            ]
        if e.kind == "purchase":
            row |= {"transaction_id": e.order, "revenue": e.revenue / 100}
        lines.append(json.dumps(row))
    source = tmp_path / "shop.ndjson"
    source.write_text("\n".join(lines) + "\n")
    done = shoplens("import", str(source), "--tenant", str(tenant_id), data_dir=data_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    return events


def test_export_writes_each_file_equal_to_the_imported_events(cli: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    tenant_id = create(cli, "Exporter", "--plan", "pro", data_dir=data_dir)["tenant_id"]
    events = import_shop(tmp_path, data_dir, tenant_id)

    target = tmp_path / "orders.xlsx"  # the format follows the suffix
    done = shoplens(
        "export", "--tenant", str(tenant_id), "--type", "orders", "--period", "7d",
        "-o", str(target), data_dir=data_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"export: 3 rows written to {target}"
    assert "export" in done.stderr and "rows" in done.stderr  # the progress bar
    rows = read_back("xlsx", target.read_bytes(), ROW_SETS["orders"].schema)
    expected = shop.orders(events)
    assert shop.project(rows, expected) == expected
    assert not list(tmp_path.glob("*.part"))

    # No -o: the route's file name, in the working directory; --format wins.
    done = shoplens(
        "export", "--tenant", str(tenant_id), "--type", "customers", "--format", "parquet",
        data_dir=data_dir, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (written,) = tmp_path.glob("shoplens-customers-*.parquet")
    rows = read_back("parquet", written.read_bytes(), ROW_SETS["customers"].schema)
    assert shop.project(rows, shop.customers(events)) == shop.customers(events)


def test_export_refuses_a_bad_type_or_format_naming_the_option(cli: Any) -> None:
    result = cli("export", "--tenant", "1", "--type", "refunds")
    assert result.exit_code == 1
    assert "--type: type must be one of orders, events, products, customers" in one_line(
        result.output
    )
    result = cli("export", "--tenant", "1", "--type", "orders", "--format", "pdf")
    assert result.exit_code == 1
    assert "--format: format must be one of csv, json, xlsx, ndjson, parquet" in one_line(
        result.output
    )


def test_export_refuses_an_unknown_tenant(tmp_path: Path) -> None:
    done = shoplens("export", "--tenant", "999", "--type", "orders", data_dir=tmp_path / "d")
    assert done.returncode == 1
    assert "no tenant 999" in one_line(done.stderr)
