"""The server under test: ``shoplens serve`` on default settings, started by
tests/serverproc.py like the crash tests' servers, plus what a benchmark adds: a tenant key,
the server's CPU time by thread, and a profiler (py-spy attached, or cProfile inside)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from tests.serverproc import ServerProcess, create_tenant, start_server

#: a directory holding a ``sitecustomize`` that runs the server under cProfile
CPROFILE_HOOK_DIR = Path(__file__).resolve().with_name("cprofile_hook")
#: names the output file for that hook (read in cprofile_hook/sitecustomize.py)
CPROFILE_OUT_VAR = "SHOPLENS_BENCH_CPROFILE_OUT"


class Server:
    """One benchmarked server on ``data_dir``; ``profiler`` is None, "py-spy" or "cprofile".

    The profile goes beside the data dir (``<data dir>-server.prof``), so it outlives it.
    """

    def __init__(self, data_dir: Path, profiler: str | None) -> None:
        self.data_dir = data_dir
        self.profiler = profiler
        self.profile_path = data_dir.parent / f"{data_dir.name}-server.prof"
        self.key = ""  # the bench tenant's publishable key
        self.spy: subprocess.Popen[bytes] | None = None
        self.spy_error = ""
        self._process: ServerProcess | None = None

    @property
    def process(self) -> ServerProcess:
        if self._process is None:
            raise RuntimeError("the server has not been started")
        return self._process

    @property
    def started(self) -> bool:
        return self._process is not None

    @property
    def port(self) -> int:
        return self.process.port

    def start(self) -> None:
        """Create a ``pro`` tenant, start the server and wait for /healthz; attach py-spy.

        TRICKY: the cProfile'd server starts exactly like any other (``python -m shoplens
        serve``): the hook directory on its PYTHONPATH makes Python import our
        ``sitecustomize`` at start-up, and that turns the profiler on.
        """
        self.key = create_tenant(self.data_dir, "bench", plan="pro")["publishable_key"]
        # Measure ingestion, not the plan's limits: one key sends thousands of requests a
        # second, past any per-key rate, and long runs send more than a monthly quota.
        env = {"SHOPLENS_RATE_LIMITS": "false", "SHOPLENS_QUOTAS": "false"}
        if self.profiler == "cprofile":
            path = [str(CPROFILE_HOOK_DIR), os.environ.get("PYTHONPATH", "")]
            env |= {
                CPROFILE_OUT_VAR: str(self.profile_path),
                "PYTHONPATH": os.pathsep.join(p for p in path if p),
            }
        self._process = start_server(self.data_dir, env=env, startup_timeout=120.0)
        if self.profiler == "py-spy":
            self.spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(self.process.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--threads",
                    "--output",
                    str(self.profile_path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU the server has used, by thread kind: ``event loop`` (the main
        thread); ``python threads`` (threads Python started keep the name "python": the WAL
        writer and flusher via asyncio.to_thread, and the thread pool FastAPI runs sync
        dependencies in); ``chdb`` (threads that name themselves: ClickHouse's, a little of
        libuv's); ``total`` (the process, exited threads included)."""
        pid = self.process.pid
        tick = os.sysconf("SC_CLK_TCK")

        def cpu(stat: Path) -> tuple[str, float]:
            name, _, rest = stat.read_text().partition(" (")[2].rpartition(")")
            fields = rest.split()
            return name, (int(fields[11]) + int(fields[12])) / tick

        split = {"total": cpu(Path(f"/proc/{pid}/stat"))[1], "event loop": 0.0}
        split |= {"python threads": 0.0, "chdb": 0.0}
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):  # a thread that just exited
                name, seconds = cpu(task / "stat")
                kind = "event loop" if task.name == str(pid) else "python threads"
                split["chdb" if name != "python" else kind] += seconds
        return split

    def stop(self, timeout: float = 120.0) -> str:
        """Stop py-spy (it writes its profile on SIGINT), then the server gracefully
        (SIGTERM: uvicorn shuts down, the pipeline flushes); "" or why that was not clean
        (a hung server is killed)."""
        if self.spy is not None:
            self.spy.send_signal(signal.SIGINT)
            try:
                _, err = self.spy.communicate(timeout=30)
                if self.spy.returncode:
                    self.spy_error = err.decode(errors="replace")[-2000:]
            except subprocess.TimeoutExpired:
                self.spy.kill()
                self.spy_error = "py-spy did not stop within 30 s"
            self.spy = None
        if self._process is None:
            return ""
        try:
            self._process.stop(timeout)
        except RuntimeError as exc:  # its message ends with the whole server log
            return str(exc).splitlines()[0]
        return ""
