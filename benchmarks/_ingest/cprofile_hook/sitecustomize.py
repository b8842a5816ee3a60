"""cProfile in every thread of a ``shoplens serve`` process (``--profile`` without py-spy).

benchmarks/_ingest/server.py puts this directory on the server's PYTHONPATH, so ``site``
imports this module when the interpreter starts, before ``python -m shoplens serve`` runs.
It acts only if SHOPLENS_BENCH_CPROFILE_OUT names an output file (and removes it from the
environment): at exit it writes the main (event-loop) thread's stats there and the other
threads' merged stats (WAL writer, flusher, FastAPI's thread pool) to ``<file>.threads``.
"""

from __future__ import annotations

import os


def _profile_every_thread(out: str) -> None:
    import atexit
    import cProfile
    import pstats
    import signal
    import sys
    import threading
    from types import FrameType

    main = cProfile.Profile()
    thread_profiles: list[cProfile.Profile] = []

    def profile_this_thread(*_: object) -> None:
        profile = cProfile.Profile()
        thread_profiles.append(profile)
        profile.enable()  # replaces this bootstrap hook for the rest of the thread

    def write() -> None:
        main.disable()
        threading.setprofile(None)
        pstats.Stats(main).dump_stats(out)
        if thread_profiles:
            pstats.Stats(*thread_profiles).dump_stats(out + ".threads")

    def start_at_app_call(frame: FrameType, event: str, _: object) -> None:
        # shoplens/__main__.py is ``from shoplens.cli import app; app()``: profile from that
        # call, leaving out the interpreter's start-up and the CLI's imports.
        caller = frame.f_back
        if (
            event == "call"
            and frame.f_code.co_name == "__call__"
            and caller is not None
            and caller.f_code.co_filename.endswith(os.path.join("shoplens", "__main__.py"))
        ):
            main.enable()  # replaces this hook

    threading.setprofile(profile_this_thread)
    # uvicorn re-raises the SIGTERM it handled once it has shut down (with the handler it
    # found restored); make that a no-op so the process exits normally and writes the
    # profile.
    signal.signal(signal.SIGTERM, lambda *_: None)
    atexit.register(write)
    sys.setprofile(start_at_app_call)


_out = os.environ.pop("SHOPLENS_BENCH_CPROFILE_OUT", "")
if _out:
    _profile_every_thread(_out)
