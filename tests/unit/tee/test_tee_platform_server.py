"""The platform process (trusted) takes module names from the agent (untrusted): a name that is
not a module name — one that would reach outside the node folder, say — is refused with a
message, and nothing is written or started."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from authex.tee.native.platform import NativePlatform
from authex.tee.platform_server import PlatformServer
from authex.wire.codec import FrameDecoder
from authex.wire.messages import Error, ErrorCode
from authex.wire.platform import PLATFORM_TO_AGENT, PlatformLoad


@pytest.fixture
def link() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


@pytest.mark.parametrize(
    "name", ["../../escape", "a/b/c", "A/b", "", "a b", "evil\nINFO forged", "x~"]
)
def test_a_load_under_a_name_that_is_no_module_name_is_refused(
    tmp_path: Path, link: tuple[socket.socket, socket.socket], name: str
) -> None:
    agent, platform_end = link
    server = PlatformServer(tmp_path, NativePlatform({}), platform_end)
    server.handle(PlatformLoad(name, b"artifact"), 7)
    agent.settimeout(10)
    frames = FrameDecoder().feed(agent.recv(1 << 16))
    assert len(frames) == 1 and frames[0].request_id == 7
    reply = PLATFORM_TO_AGENT.decode(frames[0])
    assert isinstance(reply, Error) and reply.code == ErrorCode.BACKEND
    assert reply.message.startswith(f"invalid module name {name!r}")
    assert server.modules == {}
    assert not (tmp_path / "modules").exists() and not (tmp_path.parent / "escape").exists()
