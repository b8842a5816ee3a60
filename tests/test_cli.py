"""The ``shoplens`` command line: tenants, keys, --version in-process; demo and serve in
subprocesses.

TRICKY: chDB serves one data path per process and this test process already has the
session store open, so commands that open a store (``demo``, ``serve``) run in a child
process, and the child's store is read back from yet another child.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shoplens import __version__
from shoplens.app import lock_data_dir
from shoplens.auth import KeyVerifier, hash_key
from shoplens.cli import app
from shoplens.errors import Unauthorized
from shoplens.meta import MetaStore
from shoplens.store import Store
from tests.conftest import rows, wait_stored
from tests.serverproc import child_env, query_data_dir

KEY = {"pk": re.compile(r"^pk_[A-Za-z0-9]{44}$"), "sk": re.compile(r"^sk_[A-Za-z0-9]{44}$")}


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    """Run ``shoplens ARGS --data-dir tmp_path`` in-process; returns the click Result."""
    runner = CliRunner(env={"SHOPLENS_DATA_DIR": None, "SHOPLENS_META_FILE": None})

    def run(*args: str, data_dir: Path = tmp_path) -> Any:
        return runner.invoke(app, [*args, "--data-dir", str(data_dir)])

    return run


def one_line(text: str) -> str:
    """Rich wraps long lines at the console width; compare messages with spaces collapsed."""
    return " ".join(text.split())


def create(cli: Any, name: str, *options: str, data_dir: Path | None = None) -> dict[str, Any]:
    extra = {"data_dir": data_dir} if data_dir else {}
    result = cli("tenants", "create", name, *options, "--json", **extra)
    assert result.exit_code == 0, result.output
    created: dict[str, Any] = json.loads(result.stdout)
    return created


def json_out(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- tenants -------------------------------------------------------------------------------
def test_tenants_create_json_prints_one_object_with_the_keys(cli: Any, tmp_path: Path) -> None:
    result = cli("tenants", "create", "Acme Shop", "--json")

    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    created = json.loads(result.stdout)
    assert set(created) == {"tenant_id", "name", "publishable_key", "secret_key"}
    assert isinstance(created["tenant_id"], int)
    assert created["name"] == "Acme Shop"
    assert KEY["pk"].match(created["publishable_key"])
    assert KEY["sk"].match(created["secret_key"])

    # The keys work, and are stored only as hashes.
    meta = MetaStore(tmp_path / "meta.sqlite3")
    try:
        verifier = KeyVerifier(meta)
        for key, kind in (
            (created["publishable_key"], "publishable"),
            (created["secret_key"], "secret"),
        ):
            principal = verifier.verify(key)
            assert (principal.tenant_id, principal.kind) == (created["tenant_id"], kind)
            record = meta.key_by_lookup(key[3:15])
            assert record is not None
            assert record.hash == hash_key(key)
    finally:
        meta.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("meta.sqlite3*"))
    assert created["publishable_key"].encode() not in on_disk
    assert created["secret_key"].encode() not in on_disk


def test_tenants_create_without_json_shows_the_keys_once(cli: Any) -> None:
    result = cli("tenants", "create", "Plain Shop")

    assert result.exit_code == 0, result.output
    text = one_line(result.stdout)
    assert "Plain Shop" in text
    assert re.search(r"publishable key \(ingest, safe in a browser\): pk_\w{44}", text)
    assert re.search(r"secret key \(queries and admin; keep it secret\): sk_\w{44}", text)


def test_tenants_create_takes_currency_timezone_and_plan(cli: Any) -> None:
    created = create(
        cli, "Berlin", "--base-currency", "eur", "--timezone", "Europe/Berlin", "--plan", "pro"
    )

    [tenant] = json_out(cli("tenants", "list", "--json"))
    assert tenant["id"] == created["tenant_id"]
    assert (tenant["base_currency"], tenant["timezone"], tenant["plan"]) == (
        "EUR",
        "Europe/Berlin",
        "pro",
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--plan", "bogus", "--plan must be one of free, pro, enterprise"),
        ("--timezone", "Mars/Base", "--timezone: unknown time zone 'Mars/Base'"),
        ("--base-currency", "XYZ", "--base-currency: Unknown currency 'XYZ'"),
    ],
)
def test_tenants_create_rejects_a_bad_option_naming_the_flag(
    cli: Any, option: str, value: str, message: str
) -> None:
    result = cli("tenants", "create", "Bad", option, value, "--json")

    assert result.exit_code == 1
    assert message in one_line(result.stderr)
    assert result.stdout == ""  # no half-printed JSON
    assert json_out(cli("tenants", "list", "--json")) == []  # nothing created


def test_tenants_list_json(cli: Any) -> None:
    assert json_out(cli("tenants", "list", "--json")) == []
    first = create(cli, "First")
    second = create(cli, "Second", "--plan", "pro")

    listed = json_out(cli("tenants", "list", "--json"))

    assert [(t["id"], t["name"], t["plan"]) for t in listed] == [
        (first["tenant_id"], "First", "free"),
        (second["tenant_id"], "Second", "pro"),
    ]
    assert all(t["base_currency"] == "USD" and t["timezone"] == "UTC" for t in listed)
    assert all(t["created_at"] for t in listed)


def test_tenants_list_table(cli: Any) -> None:
    create(cli, "Tabled Shop")
    result = cli("tenants", "list")
    assert result.exit_code == 0, result.output
    assert "Tabled Shop" in result.stdout


# -- keys ----------------------------------------------------------------------------------
def test_keys_create_issues_a_key_of_the_asked_kind(cli: Any, tmp_path: Path) -> None:
    tenant = create(cli, "Keyed")["tenant_id"]

    publishable = json_out(cli("keys", "create", str(tenant), "--kind", "publishable", "--json"))
    secret = json_out(cli("keys", "create", str(tenant), "--name", "ci", "--json"))

    assert set(publishable) == {"key_id", "tenant_id", "kind", "key"}
    assert (publishable["tenant_id"], publishable["kind"]) == (tenant, "publishable")
    assert KEY["pk"].match(publishable["key"])
    assert secret["kind"] == "secret"  # the default
    assert KEY["sk"].match(secret["key"])
    assert publishable["key_id"] != secret["key_id"]
    meta = MetaStore(tmp_path / "meta.sqlite3")
    try:
        assert KeyVerifier(meta).verify(publishable["key"]).tenant_id == tenant
        assert KeyVerifier(meta).verify(secret["key"]).kind == "secret"
    finally:
        meta.close()


def test_keys_create_refuses_an_unknown_kind(cli: Any) -> None:
    tenant = create(cli, "Keyed")["tenant_id"]
    result = cli("keys", "create", str(tenant), "--kind", "bogus", "--json")

    assert result.exit_code == 1
    assert "--kind must be publishable or secret" in one_line(result.stderr)
    assert result.stdout == ""


def test_keys_create_refuses_an_unknown_tenant(cli: Any) -> None:
    missing = create(cli, "Keyed")["tenant_id"] + 1000
    result = cli("keys", "create", str(missing), "--json")

    assert result.exit_code == 1
    assert f"no tenant {missing}" in one_line(result.stderr)
    assert result.stdout == ""


def test_keys_list_never_shows_a_full_key(cli: Any) -> None:
    shop = create(cli, "Listed")
    other = create(cli, "Other")
    extra = json_out(cli("keys", "create", str(shop["tenant_id"]), "--json"))
    full_keys = [shop["publishable_key"], shop["secret_key"], other["secret_key"], extra["key"]]

    listed = cli("keys", "list", "--json")
    table = cli("keys", "list")
    mine = json_out(cli("keys", "list", "--tenant", str(shop["tenant_id"]), "--json"))

    for output in (listed.stdout, table.stdout):
        for key in full_keys:
            assert key not in output
            assert key[15:] not in output  # not even the secret part
    keys = json.loads(listed.stdout)
    assert len(keys) == 5
    assert {k["tenant_id"] for k in mine} == {shop["tenant_id"]}
    assert len(mine) == 3
    prefixes = {k["prefix"] for k in keys}
    for key in full_keys:
        assert f"{key[:15]}…" in prefixes  # kind + lookup id: enough to tell keys apart
    assert all(k["revoked_at"] is None for k in keys)


def test_keys_revoke(cli: Any, tmp_path: Path) -> None:
    shop = create(cli, "Revoking")
    keys = json_out(cli("keys", "list", "--json"))
    [publishable] = [k for k in keys if k["kind"] == "publishable"]

    result = cli("keys", "revoke", str(publishable["key_id"]))

    assert result.exit_code == 0, result.output
    assert f"revoked key {publishable['key_id']}" in result.stdout
    after = {k["key_id"]: k for k in json_out(cli("keys", "list", "--json"))}
    assert after[publishable["key_id"]]["revoked_at"] is not None
    assert all(k["revoked_at"] is None for i, k in after.items() if i != publishable["key_id"])
    meta = MetaStore(tmp_path / "meta.sqlite3")
    try:
        with pytest.raises(Unauthorized):
            KeyVerifier(meta).verify(shop["publishable_key"])
        assert KeyVerifier(meta).verify(shop["secret_key"]).tenant_id == shop["tenant_id"]
    finally:
        meta.close()

    again = cli("keys", "revoke", str(publishable["key_id"]))
    assert again.exit_code == 1
    assert f"no active key {publishable['key_id']}" in one_line(again.stderr)
    missing = cli("keys", "revoke", "999999")
    assert missing.exit_code == 1


def test_keys_made_by_the_cli_work_over_http_until_revoked(
    cli: Any, session_dir: Path, client: TestClient, store: Store
) -> None:
    """The CLI and a running server share the metadata file (the session's, here)."""
    shop = create(cli, "CLI-made shop", data_dir=session_dir)
    headers = {"Authorization": f"Bearer {shop['publishable_key']}"}

    accepted = client.post("/analytics/event", headers=headers, json={"event": "from_cli_key"})
    assert accepted.status_code == 201
    wait_stored(client)
    assert rows(
        store, "SELECT event_name FROM events WHERE tenant_id = {t:UInt32}", t=shop["tenant_id"]
    ) == [{"event_name": "from_cli_key"}]

    keys = json_out(
        cli("keys", "list", "--tenant", str(shop["tenant_id"]), "--json", data_dir=session_dir)
    )
    [publishable] = [k for k in keys if k["kind"] == "publishable"]
    assert cli("keys", "revoke", str(publishable["key_id"]), data_dir=session_dir).exit_code == 0
    cast(FastAPI, client.app).state.shoplens.keys.forget()  # drop the 5 s key cache

    refused = client.post("/analytics/event", headers=headers, json={"event": "after_revoke"})
    assert refused.status_code == 401


# -- version -------------------------------------------------------------------------------
def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"shoplens {__version__}\n"


# -- demo and serve (child processes) ------------------------------------------------------
def _events_where(data_dir: Path, where: str) -> int:
    """How many events of the data dir's embedded store match ``where`` (a child process)."""
    return int(query_data_dir(data_dir, f"SELECT count() AS n FROM events WHERE {where}")[0]["n"])


@pytest.mark.slow
def test_demo_loads_a_shop_through_the_pipeline(tmp_path: Path, cli: Any) -> None:
    data_dir = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shoplens",
            "demo",
            "--events",
            "3000",
            "--days",
            "10",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,  # 3000 events take seconds; a hang must not stall the suite
        env=child_env(),
    )

    assert done.returncode == 0, done.stderr[-3000:]
    stderr = one_line(done.stderr)
    assert "events accepted" in stderr
    summary = re.search(r"demo: ([\d,]+) events accepted", stderr)
    assert summary, stderr
    accepted = int(summary[1].replace(",", ""))
    assert accepted > 0
    publishable = re.search(r"demo tenant (\d+): publishable key (pk_\w+)", done.stdout)
    secret = re.search(r"demo tenant (\d+): secret key (sk_\w+)", done.stdout)
    assert publishable and secret
    tenant_id = int(publishable[1])
    assert KEY["pk"].match(publishable[2])
    assert KEY["sk"].match(secret[2])

    [tenant] = json_out(cli("tenants", "list", "--json", data_dir=data_dir))
    assert (tenant["id"], tenant["name"], tenant["plan"]) == (tenant_id, "Demo Shop", "pro")
    meta = MetaStore(data_dir / "meta.sqlite3")
    try:
        assert KeyVerifier(meta).verify(secret[2]).tenant_id == tenant_id
    finally:
        meta.close()

    # Everything accepted reached the store (the demo drains the WAL before it exits),
    # under the demo tenant, with purchases among it.
    assert _events_where(data_dir, f"tenant_id = {tenant_id}") == accepted
    assert _events_where(data_dir, f"tenant_id != {tenant_id}") == 0
    assert _events_where(data_dir, "event_type = 'purchase'") > 0


@pytest.mark.slow
def test_demo_refuses_a_data_dir_in_use(tmp_path: Path) -> None:
    fd = lock_data_dir(tmp_path)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "shoplens",
                "demo",
                "--events",
                "10",
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=child_env(),
        )
    finally:
        os.close(fd)

    assert done.returncode == 1, done.stderr[-3000:]
    assert "in use by another shoplens process" in one_line(done.stderr)
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_serve_refuses_a_data_dir_in_use(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fd = lock_data_dir(tmp_path)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "shoplens",
                "serve",
                "--data-dir",
                str(tmp_path),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,  # if it started serving anyway, this fails the test
            env=child_env(),
        )
    finally:
        os.close(fd)

    assert "in use by another shoplens process" in one_line(done.stderr)
    assert "Traceback" not in done.stderr
    assert "on http://" not in done.stdout  # no banner for a server that is not running
    assert done.returncode == 1


@pytest.mark.slow
def test_serve_uses_seed_000s_clickhouse_variables_and_never_prints_the_password(
    tmp_path: Path,
) -> None:
    """Seed 000's CLICKHOUSE_* select the server store; the banner masks the password. No
    ClickHouse server runs here: the URL points at a closed port, so the server store's
    first connection fails at startup, after the banner (what is checked is what it
    printed, and that the password is nowhere in the output, error included)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    password = "hunter2-s3cret"
    env = child_env() | {
        "CLICKHOUSE_URL": f"http://127.0.0.1:{closed}",
        "CLICKHOUSE_DATABASE": "commerce",
        "CLICKHOUSE_USER": "analyst",
        "CLICKHOUSE_PASSWORD": password,
    }
    done = subprocess.run(
        [sys.executable, "-m", "shoplens", "serve", "--data-dir", str(tmp_path), "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert f"store: http://analyst:***@127.0.0.1:{closed}/commerce" in one_line(done.stdout)
    assert password not in done.stdout and password not in done.stderr
    assert done.returncode != 0  # nothing listens there
