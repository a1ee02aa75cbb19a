"""Processes seen through /proc, for tests that check what a cluster started and left behind."""

from __future__ import annotations

from pathlib import Path


def session_members(session: int) -> list[int]:
    """Live (not zombie) processes whose process group is ``session`` (an agent's pid)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == session and state != "Z":
            members.append(int(entry.name))
    return members
