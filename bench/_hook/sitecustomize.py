"""Profiling hook for ``python -m bench.profile``: never on the path otherwise.

Python imports ``sitecustomize`` at start-up from the path, so every process started with this
folder on PYTHONPATH and ``AUTHEX_BENCH_PROFILE_DIR`` set (agents, platform processes, module
processes, build inspectors) runs under cProfile and writes ``<kind>-<pid>.prof`` into that
folder when it exits normally.
"""

from __future__ import annotations

import atexit
import cProfile
import os
import signal
import sys

_DIR = os.environ.get("AUTHEX_BENCH_PROFILE_DIR", "")


def _kind() -> str:
    argv = " ".join(sys.argv)
    if "node run" in argv:
        return "agent"
    if "platform run" in argv:
        return "platform"
    if "runner" in argv:
        return "module"
    return "other"


if _DIR:
    _profiler = cProfile.Profile()

    def _dump() -> None:
        _profiler.disable()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stop must not cut the file short
        _profiler.dump_stats(os.path.join(_DIR, f"{_kind()}-{os.getpid()}.prof"))

    atexit.register(_dump)
    _profiler.enable()
