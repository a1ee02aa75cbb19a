"""Edge: one module process per loaded module, spoken to with the host protocol over pipes.

The agent writes host frames to the module's stdin and reads its stdout; stderr goes to the
module's log file in the node directory.  Replies are matched by request id; unsolicited frames
(emitted events, rejections) go to a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from authex.errors import AuthexTimeoutError, ProtocolError, RemoteError
from authex.wire.codec import FrameDecoder, Message, encode
from authex.wire.messages import MODULE_TO_HOST, Error, HostReady, HostStop

log = logging.getLogger("authex.agent.process")
READY_TIMEOUT = 20.0
REPLY_TIMEOUT = 30.0
_READ_CHUNK = 1 << 16


class ModuleProcess:
    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        on_message: Callable[[ModuleProcess, Message], None],
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.on_message = on_message
        self.measurement = b""
        self.proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[HostReady] | None = None
        self.exit_reason = ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> HostReady:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        with open(self.log_path, "ab") as log_file:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file,
            )
        self._reader = asyncio.create_task(self._read_loop(), name=f"module-{self.name}")
        try:
            ready = await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT)
        except TimeoutError as exc:
            await self.stop()
            raise AuthexTimeoutError(
                f"module did not start within {READY_TIMEOUT:.0f}s", where=f"module {self.name}"
            ) from exc
        self.measurement = ready.measurement
        return ready

    def send(self, message: Message, request_id: int = 0) -> None:
        if self.proc is None or self.proc.stdin is None or not self.running:
            raise RemoteError(
                f"module is not running ({self.exit_reason or 'stopped'})",
                where=f"module {self.name}",
            )
        self.proc.stdin.write(encode(message, request_id))

    async def request(self, message: Message, timeout: float = REPLY_TIMEOUT) -> Message:
        request_id = next(self._ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self.send(message, request_id)
            assert self.proc is not None and self.proc.stdin is not None
            await self.proc.stdin.drain()
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise AuthexTimeoutError(
                f"no reply to {type(message).__name__} within {timeout:.0f}s",
                where=f"module {self.name}",
            ) from exc
        finally:
            self._pending.pop(request_id, None)
        if isinstance(reply, Error):
            raise RemoteError(reply.message, code=reply.code, where=f"module {self.name}")
        return reply

    async def drain(self) -> None:
        if self.proc is not None and self.proc.stdin is not None and self.running:
            with contextlib.suppress(ConnectionError):
                await self.proc.stdin.drain()

    async def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        decoder = FrameDecoder()
        try:
            while True:
                chunk = await self.proc.stdout.read(_READ_CHUNK)
                if not chunk:
                    self.exit_reason = "exited"
                    break
                for frame in decoder.feed(chunk):
                    self._dispatch(frame.request_id, MODULE_TO_HOST.decode(frame))
        except ProtocolError as exc:
            self.exit_reason = f"protocol error: {exc}"
            log.warning("module %s: %s; stopping it", self.name, exc)
            if self.proc.returncode is None:
                self.proc.kill()
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        RemoteError(f"module {self.exit_reason}", where=f"module {self.name}")
                    )
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(
                    RemoteError(
                        f"module {self.exit_reason} before it was ready; see {self.log_path}",
                        where=f"module {self.name}",
                    )
                )

    def _dispatch(self, request_id: int, message: Message) -> None:
        if isinstance(message, HostReady):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
            return
        if request_id:
            future = self._pending.get(request_id)
            if future is not None and not future.done():
                future.set_result(message)
            else:
                log.warning("module %s: reply to unknown request %d", self.name, request_id)
            return
        self.on_message(self, message)

    async def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.running:
            with contextlib.suppress(Exception):
                self.send(HostStop())
                await self.drain()
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.exit_reason = self.exit_reason or "stopped"


def runner_argv(artifact: Path, name: str) -> list[str]:
    """The native backend's launcher: the Python runtime from this installation."""
    return [sys.executable, "-m", "authex.sdk.runner", str(artifact), "--name", name]
