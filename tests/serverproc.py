"""Real shoplens server processes for tests and benchmarks that need a process boundary.

Crash tests kill a server with SIGKILL and start another on the same data dir; benchmarks
measure a server over real sockets. Both need what the in-process ``TestClient`` cannot
give: a process of its own. Everything here runs the real CLI (``python -m shoplens``)
in a subprocess with the same interpreter as the caller.

TRICKY: chDB serves one data path per process, and the pytest process may already hold
the session store (tests/conftest.py), so reading a server's store afterwards also happens
in a subprocess: ``query_store``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

#: seconds a server may take to answer /healthz (chDB start, migrations, WAL replay)
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port that was free a moment ago (bind to port 0, let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def shoplens_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any ``SHOPLENS_*`` setting, plus ``overrides``:
    a stray variable in the developer's shell must not change what a test runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLENS_")}
    env["SHOPLENS_RATES_PROVIDER"] = "none"  # no refresh from the internet (unreachable)
    env.update(overrides or {})
    return env


def run_cli(
    *args: str, data_dir: Path, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shoplens ARGS --data-dir DATA_DIR``; raise with its output if it fails."""
    command = [sys.executable, "-m", "shoplens", *args, "--data-dir", str(data_dir)]
    done = subprocess.run(
        command, env=shoplens_env(env), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done


def create_tenant(data_dir: Path, name: str, *, plan: str = "pro") -> dict[str, Any]:
    """Create a tenant with the CLI: ``{"tenant_id", "name", "publishable_key", "secret_key"}``."""
    done = run_cli("tenants", "create", name, "--plan", plan, "--json", data_dir=data_dir)
    tenant: dict[str, Any] = json.loads(done.stdout)
    return tenant


@dataclass
class ServerProcess:
    """One ``shoplens serve`` process; its stdout and stderr go to ``log_path``."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a power cut for the process (the
        kernel still writes out what was in the page cache)."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM and wait: uvicorn shuts down, the pipeline drains the WAL into the store.
        Raises if it does not exit in time (then kills it) or exits with an error.

        TRICKY: uvicorn (>= 0.29) re-raises a captured SIGTERM once its graceful shutdown
        is done, so a clean stop exits with -SIGTERM, not 0.
        """
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(
                f"server {self.pid} did not stop within {timeout}s of SIGTERM\n{self.log()}"
            ) from None
        if code not in (0, -signal.SIGTERM):
            raise RuntimeError(f"server {self.pid} exited with {code} on SIGTERM\n{self.log()}")

    def healthz(self, timeout: float = 5.0) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/healthz", timeout=timeout)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def start_server(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
    attempts: int = 3,
    args: tuple[str, ...] = (),
) -> ServerProcess:
    """Start ``shoplens serve`` on ``data_dir`` and a free port; return once /healthz
    answers. ``env`` adds ``SHOPLENS_*`` settings (e.g. ``SHOPLENS_FLUSH_INTERVAL``),
    ``args`` more ``serve`` flags.

    A port picked free can be taken before the server binds it; a server that exits during
    start is retried on another port, up to ``attempts`` times. If it never comes up the
    error carries the server's output.
    """
    log_dir = log_dir or data_dir.parent
    log_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for _ in range(attempts):
        server = _spawn(data_dir, env, log_dir, args)
        outcome = _wait_healthy(server, startup_timeout)
        if outcome is None:
            return server
        failures.append(f"--- attempt on port {server.port}: {outcome}\n{server.log()}")
        if server.alive():  # hung, not crashed: retrying will not help
            server.kill()
            break
    raise RuntimeError("shoplens server did not come up:\n" + "\n".join(failures))


def _spawn(
    data_dir: Path, env: dict[str, str] | None, log_dir: Path, args: tuple[str, ...] = ()
) -> ServerProcess:
    port = free_port()
    log_path = log_dir / f"server-{port}-{time.monotonic_ns()}.log"
    command = [
        sys.executable,
        "-m",
        "shoplens",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        *args,
    ]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            command, env=shoplens_env(env), stdout=log_file, stderr=subprocess.STDOUT
        )
    return ServerProcess(data_dir, port, proc, log_path)


def _wait_healthy(server: ServerProcess, timeout: float) -> str | None:
    """None once /healthz answers 200; otherwise why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = server.proc.poll()
        if code is not None:
            return f"exited with code {code} during start"
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2.0).status_code == 200:
                return None
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return f"no answer from /healthz within {timeout}s"


_QUERY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from shoplens.store import open_store

    request = json.load(sys.stdin)
    store = open_store(request["url"])
    try:
        result = {
            name: store.query(sql, request["params"]).to_pylist()
            for name, sql in request["queries"].items()
        }
    finally:
        store.close()
    json.dump(result, sys.stdout, default=str)
    """
)


def query_store(
    data_dir: Path,
    queries: dict[str, str],
    params: dict[str, Any] | None = None,
    *,
    timeout: float = 120.0,
) -> dict[str, list[dict[str, Any]]]:
    """Run named SELECTs on a (stopped) server's embedded store, in a subprocess; returns
    ``{name: rows}`` with values JSON-encoded (UUIDs, decimals and times as strings)."""
    request = {
        "url": f"chdb://{(data_dir / 'clickhouse').resolve()}",
        "queries": queries,
        "params": params or {},
    }
    done = subprocess.run(
        [sys.executable, "-c", _QUERY_SCRIPT],
        input=json.dumps(request),
        env=shoplens_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"querying the store of {data_dir} failed:\n{done.stderr}")
    result: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return result


def child_env() -> dict[str, str]:
    """This process's environment without ``SHOPLENS_*`` and seed 000's ``CLICKHOUSE_*``
    (which select a server store): a child runs on defaults and flags."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SHOPLENS_", "CLICKHOUSE_"))}


def query_data_dir(data_dir: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` from a data dir's embedded store, read in a child process (chDB
    opens one data path per process, and this one holds the tests' shared store)."""
    script = (
        "import chdb, sys\n"
        "conn = chdb.connect(sys.argv[1])\n"
        "print(str(conn.query(sys.argv[2], 'JSONEachRow')).strip())\n"
        "conn.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str((data_dir / "clickhouse").resolve()), sql],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
