"""``shoplens rates load`` / ``rates show``.

TRICKY: these open a store, and this test process already holds the session chDB store
(one data path per process), so they run in child processes on their own data dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from shoplens.cli import app
from tests.rates_provider import ECB_PATH, provider_stand_in

# Real ECB rows (eurofxref-hist.csv, units per 1 EUR; trailing comma as the ECB writes it).
ECB_CSV = """Date,USD,JPY,CYP,
2026-10-30,1.1172,175.68,N/A,
2026-10-29,1.113,175.92,N/A,
"""


def shoplens(
    *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoplens", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_rates_load_stores_a_file_that_show_reads_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv_file = tmp_path / "ecb.csv"
    csv_file.write_text(ECB_CSV)
    loaded = shoplens("rates", "load", str(csv_file), data_dir=data)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 4 global rates for 2 dates (2026-10-29 … 2026-10-30)" in loaded.stdout

    # A later JSON load replaces Friday's USD rate and adds a three-decimal currency.
    json_file = tmp_path / "fix.json"
    json_file.write_text(json.dumps({"date": "2026-10-30", "rates": {"USD": 1.2, "BHD": 0.4212}}))
    again = shoplens("rates", "load", str(json_file), data_dir=data)
    assert again.returncode == 0, again.stderr

    shown = shoplens("rates", "show", "--date", "2026-11-01", "--json", data_dir=data)
    assert shown.returncode == 0, shown.stderr
    got: dict[str, Any] = json.loads(shown.stdout)
    assert got["date"] == "2026-11-01"
    assert got["rates"]["USD"] == {"rate": "1.2", "date": "2026-10-30", "override": False}
    assert got["rates"]["JPY"]["rate"] == "175.68"
    assert got["rates"]["BHD"]["rate"] == "0.4212"
    # The shipped snapshot was loaded too at first open (the store had no rates).
    assert got["rates"]["CHF"]["date"] == "2026-10-30"

    thursday = shoplens("rates", "show", "--date", "2026-10-29", "--json", data_dir=data)
    assert json.loads(thursday.stdout)["rates"]["USD"]["rate"] == "1.113"


def test_rates_load_refuses_a_bad_file_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,USD\n2026-10-30,-2\n")
    result = CliRunner().invoke(app, ["rates", "load", str(bad), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "line 2 USD must be a positive number" in " ".join(result.output.split())
    assert not (tmp_path / "clickhouse").exists()  # nothing opened, nothing stored


def test_rates_refresh_stores_the_providers_rates_or_says_why_not(tmp_path: Path) -> None:
    """Against a stand-in for the ECB (tests/rates_provider.py: a real local HTTP server)."""
    data, today = tmp_path / "data", datetime.now(UTC).date().isoformat()
    with provider_stand_in() as ecb:
        env = {"SHOPLENS_RATES_PROVIDER": "ecb", "SHOPLENS_RATES_URL": ecb.url(ECB_PATH)}
        ecb.ecb(today, {"USD": "1.0823", "AED": "3.9747", "CYP": "0.5853"})
        done = shoplens("rates", "refresh", data_dir=data, env=env)
        assert done.returncode == 0, done.stderr
        said = " ".join(done.stdout.split())
        assert f"refreshed 2 global rates ({today}) from ecb ({ecb.url(ECB_PATH)})" in said
        assert "skipped codes ISO 4217 does not list: CYP" in said

        ecb.answer(ECB_PATH, "<html>maintenance</html>", status=503)
        failed = shoplens("rates", "refresh", data_dir=data, env=env)
        assert failed.returncode == 1
        assert (
            "rates refresh failed, the stored rates are unchanged: HTTP 503 from "
            f"{ecb.url(ECB_PATH)}" in " ".join(failed.stderr.split())
        )
        assert len(ecb.requests_to(ECB_PATH)) == 2

    shown = shoplens("rates", "show", "--json", data_dir=data)
    got: dict[str, Any] = json.loads(shown.stdout)["rates"]
    assert got["USD"] == {"rate": "1.0823", "date": today, "override": False}
    assert got["AED"] == {"rate": "3.9747", "date": today, "override": False}
    assert "CYP" not in got


def test_rates_refresh_needs_a_provider(tmp_path: Path) -> None:
    off = shoplens("rates", "refresh", data_dir=tmp_path, env={"SHOPLENS_RATES_PROVIDER": "none"})
    assert off.returncode == 1
    assert "no provider configured: set SHOPLENS_RATES_PROVIDER" in " ".join(off.stderr.split())
    wrong = shoplens("rates", "refresh", "--provider", "fixer", data_dir=tmp_path)
    assert wrong.returncode == 1
    assert "--provider must be ecb or openexchangerates, not 'fixer'" in wrong.stderr
