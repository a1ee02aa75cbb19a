"""Linux process facts from /proc: resident memory, CPU time, children and command lines."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROC = Path("/proc")


def rss_kib(pid: int) -> int | None:
    """VmRSS of ``pid`` in KiB, or None if the process is gone (or /proc is not there)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def pss_kib(pid: int) -> int | None:
    """Proportional set size (shared pages divided among their users), or None."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def parent_of(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces: split after the last ')'
    return int(stat.rsplit(")", 1)[1].split()[1])


def cpu_seconds(pid: int) -> tuple[float, float] | None:
    """User and system CPU time ``pid`` has used so far (s), or None if it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields 14 and 15 of proc(5), from field 3 on
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(ValueError):
                if parent_of(int(entry.name)) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def platform_pid(agent_pid: int) -> int | None:
    """The platform process an agent started (``authex platform run``)."""
    for child in children(agent_pid):
        if " platform run " in f" {cmdline(child)} ":
            return child
    return None
