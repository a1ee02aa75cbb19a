"""Limits the trusted processes of a node put on themselves and on the module processes they start.

- **No core dumps.**  A platform holds the node's root secrets and a module process its control
  and connection keys: a core file would hold them, readable by whoever reads the folder it lands
  in.  ``no_core_dumps`` sets ``RLIMIT_CORE`` to 0 (soft and hard; inherited across ``fork`` and
  ``exec``, so every module a platform starts has it too) and, on Linux, clears the process's
  *dumpable* flag (``prctl(PR_SET_DUMPABLE, 0)``): no core even where ``core_pattern`` pipes cores
  to a helper (which ignores ``RLIMIT_CORE``), and no ``ptrace`` or ``/proc/PID/mem`` by other
  processes of the same user.  ``/proc/PID/status``, ``limits``, ``stat`` and ``cmdline`` stay
  readable; ``smaps_rollup``, ``environ`` and ``mem`` need root then.  ``exec`` sets the flag
  again, so each program clears it itself: the platform and the Python module runner do; the
  Rust and C module runners do not (yet), and have ``RLIMIT_CORE`` 0 only.
- **A memory limit per module process.**  ``limit_module`` sets ``RLIMIT_DATA`` (the process's
  heap and private writable mappings: what it allocates, not the code it maps) of a started
  module process, before the platform sends it anything secret.  A module that allocates beyond
  it gets ``ENOMEM``: Python raises ``MemoryError`` (the runner then exits, reported like any
  crash), C's ``malloc`` returns NULL, Rust aborts.
"""

from __future__ import annotations

import ctypes
import logging
import resource
import sys

log = logging.getLogger("authex.platform")
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def _prctl(option: int, value: int = 0) -> int | None:
    """``prctl(option, value)``: its result, or None where there is no prctl (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0))
    except (OSError, AttributeError):
        return None


def no_core_dumps() -> None:
    """This process (and what it starts) never writes a core file; see the module docstring."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if _prctl(PR_SET_DUMPABLE, 0) not in (0, None):
        log.warning("could not clear the dumpable flag (prctl failed): RLIMIT_CORE 0 only")


def dumpable() -> bool | None:
    """Whether this process may dump core (None where prctl does not exist)."""
    result = _prctl(PR_GET_DUMPABLE)
    return None if result is None or result < 0 else bool(result)


def limit_module(pid: int, memory: int) -> None:
    """Limit a started module process to ``memory`` bytes of data and no core file (it inherits
    RLIMIT_CORE 0 from a platform that called ``no_core_dumps``; set again all the same)."""
    if not hasattr(resource, "prlimit"):  # not Linux: no way to limit another process
        log.warning("no prlimit on this system: module process %d runs without a memory limit", pid)
        return
    resource.prlimit(pid, resource.RLIMIT_DATA, (memory, memory))
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
