"""The platform limits the module processes it starts (tee/hardening.py) and reports a stop that
had to kill one (spec/protocol.md §7.1, §7.2)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import authex.tee.platform_server as server_mod
from authex.tee.hardening import limit_module
from authex.tee.native.platform import NativePlatform
from authex.tee.platform_base import Admission
from authex.tee.platform_server import PlatformServer, RunningModule
from authex.wire.codec import FrameDecoder
from authex.wire.messages import Ok
from authex.wire.platform import KILLED, PLATFORM_TO_AGENT, PlatformStop

# a process that ignores SIGTERM and says so once it does
STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def stubborn() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        yield process
    finally:
        process.kill()
        process.wait()


def limits(pid: int, name: str) -> list[str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith(name):
            return line[len(name) :].split()[:2]
    raise AssertionError(f"no {name} for pid {pid}")


def test_a_module_process_is_limited_in_data_and_core(
    stubborn: subprocess.Popen[bytes],
) -> None:
    limit_module(stubborn.pid, 64 << 20)
    assert limits(stubborn.pid, "Max data size") == [str(64 << 20)] * 2
    assert limits(stubborn.pid, "Max core file size") == ["0", "0"]


def test_a_stop_that_had_to_kill_says_so(
    tmp_path: Path, stubborn: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_mod, "STOP_TIMEOUT", 0.1)
    agent, platform_end = socket.socketpair()
    link, _ = socket.socketpair()
    try:
        server = PlatformServer(tmp_path, NativePlatform({}), platform_end)
        server.modules["m"] = RunningModule("m", stubborn, link, Admission(b"", b""))
        server.handle(PlatformStop("m"), 3)
        agent.settimeout(10)
        [frame] = FrameDecoder().feed(agent.recv(1 << 16))
        assert PLATFORM_TO_AGENT.decode(frame) == Ok(KILLED)
        assert stubborn.poll() is not None  # gone
        server.handle(PlatformStop("m"), 4)  # no such module (any more): stopped, not killed
        [frame] = FrameDecoder().feed(agent.recv(1 << 16))
        assert PLATFORM_TO_AGENT.decode(frame) == Ok()
    finally:
        agent.close()
        platform_end.close()
        link.close()
