"""Edge: the agent's link to its node's platform process.

The agent starts ``authex platform run DIR --fd N`` with one end of a socket pair and asks it to
load and stop modules.  A load's reply carries the module's host link as a passed file
descriptor (SCM_RIGHTS).  The link is used with blocking calls in a worker thread, one request
at a time; loads are rare.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
from pathlib import Path

from authex.errors import AuthexError, ProtocolError, RemoteError
from authex.scrub import node_env
from authex.wire.codec import FrameDecoder, Message, encode
from authex.wire.messages import Error, Ok
from authex.wire.platform import (
    KILLED,
    PLATFORM_TO_AGENT,
    PlatformInfo,
    PlatformLoad,
    PlatformLoaded,
    PlatformStop,
)

START_TIMEOUT = 30.0


class PlatformClient:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.info: PlatformInfo | None = None
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._decoder = FrameDecoder(1 << 20)
        self._fds: list[int] = []
        self._lock = threading.Lock()
        self._next_id = 1

    async def start(self) -> PlatformInfo:
        ours, theirs = socket.socketpair()
        try:
            self._process = await asyncio.to_thread(self._spawn, theirs)
        finally:
            theirs.close()
        self._sock = ours
        ours.settimeout(START_TIMEOUT)
        message, _ = await asyncio.to_thread(self._read)
        if not isinstance(message, PlatformInfo):
            raise ProtocolError("platform did not introduce itself", where=str(self.directory))
        ours.settimeout(None)
        self.info = message
        return message

    def _spawn(self, theirs: socket.socket) -> subprocess.Popen[bytes]:
        """Start the platform process with ``theirs`` as its link (blocking: run in a thread)."""
        with open(self.directory / "platform.log", "ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "authex",
                    "platform",
                    "run",
                    str(self.directory),
                    "--fd",
                    str(theirs.fileno()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(theirs.fileno(),),
                env=node_env(),  # however the agent was started: no deployer-only variable
            )

    def _read(self) -> tuple[Message, list[int]]:
        assert self._sock is not None
        while True:
            data, fds, _, _ = socket.recv_fds(self._sock, 1 << 16, 4)
            self._fds.extend(fds)
            if not data:
                raise RemoteError(
                    "platform process ended; see platform.log", where=str(self.directory)
                )
            frames = self._decoder.feed(data)
            if frames:
                if len(frames) > 1:
                    raise ProtocolError("platform sent more than one reply")
                fds_now, self._fds = self._fds, []
                return PLATFORM_TO_AGENT.decode(frames[0]), fds_now

    def _call(self, message: Message) -> tuple[Message, list[int]]:
        with self._lock:
            assert self._sock is not None
            request_id = self._next_id
            self._next_id += 1
            self._sock.sendall(encode(message, request_id))
            reply, fds = self._read()
        if isinstance(reply, Error):
            for fd in fds:
                with contextlib.suppress(OSError):
                    socket.socket(fileno=fd).close()
            raise RemoteError(reply.message, code=reply.code, where="platform")
        return reply, fds

    async def load(
        self, name: str, artifact: bytes, memory: int = 0
    ) -> tuple[PlatformLoaded, socket.socket]:
        """Start module ``name``, its process limited to ``memory`` bytes (0: the default)."""
        reply, fds = await asyncio.to_thread(self._call, PlatformLoad(name, artifact, memory))
        if not isinstance(reply, PlatformLoaded) or len(fds) != 1:
            raise ProtocolError("platform answered load without a module link")
        return reply, socket.socket(fileno=fds[0])

    async def stop(self, name: str) -> bool:
        """Have the platform stop a module (SIGTERM, SIGKILL after 5 s); whether it was killed."""
        with contextlib.suppress(AuthexError):
            reply, _ = await asyncio.to_thread(self._call, PlatformStop(name))
            return isinstance(reply, Ok) and reply.body == KILLED
        return False

    async def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._process is not None:
            try:
                await asyncio.to_thread(self._process.wait, 10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                await asyncio.to_thread(self._process.wait)
