"""Edge: the agent's host link to one module process.

The platform process starts the module and hands the agent the module's host link (a socket).
The agent writes host frames into it and reads the module's frames back: replies are matched by
request id; unsolicited frames (emitted events, rejections) go to a callback.

Bounds, per module (never node-wide):

- ``backlog`` is what the agent holds for the module and has not written yet; above
  ``HIGH_WATER`` the module is ``over_high_water`` and the agent stops giving it more
  (agent/node.py: peers' events are refused and offered again later, modules that emit towards it
  are not read until it drains);
- after each chunk read from the module, ``hold`` is awaited before the next read: the agent
  pauses this module's reader there while a module it delivered to is over its high water;
- stopping asks the module to stop (``HostStop``) and waits at most ``STOP_DEADLINE`` for the
  agent's frames to reach it, then has the platform end the process: SIGTERM, and SIGKILL if it
  is still there after the platform's 5 s (tee/platform_server.py ``STOP_TIMEOUT``), which the
  platform reports.  A module that does not read is gone within these two bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable

from authex.agent.batch import Batcher
from authex.agent.tasks import TaskSupervisor
from authex.errors import AuthexTimeoutError, ProtocolError, RemoteError
from authex.wire.codec import FrameDecoder, Message, encode
from authex.wire.messages import MODULE_TO_HOST, Error, HostReady, HostResumed, HostStop

log = logging.getLogger("authex.agent.process")
READY_TIMEOUT = 20.0
REPLY_TIMEOUT = 30.0
HIGH_WATER = 1 << 20  # unsent bytes towards one module above which it gets nothing more
STOP_DEADLINE = 5.0  # seconds a stopping module has to take what it was sent, then it is killed
_READ_CHUNK = 1 << 16


async def _no_hold(process: ModuleProcess) -> None:
    return None


class ModuleProcess:
    def __init__(
        self,
        name: str,
        on_message: Callable[[ModuleProcess, Message], None],
        stop_hook: Callable[[], Awaitable[bool]],
        tasks: TaskSupervisor,
        batch: Batcher,
        on_exit: Callable[[ModuleProcess], None] | None = None,
        hold: Callable[[ModuleProcess], Awaitable[None]] = _no_hold,
    ) -> None:
        self.name = name
        self.tasks = tasks
        self.batch = batch
        self.on_message = on_message
        # has the platform stop the process (SIGTERM, SIGKILL after 5 s); whether it was killed
        self.stop_hook = stop_hook
        self.on_exit = on_exit  # called when the module goes away without being stopped
        self.hold = hold  # awaited after each chunk read from the module, before the next read
        self._stopping = False
        # HostResumed: the sealed-state version a persistent module resumed from (0: fresh)
        self.resumed: asyncio.Future[int] | None = None
        self.measurement = b""
        self.pid: int | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._out: list[bytes] = []  # frames sent in this batch, not yet written
        self._out_bytes = 0
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[HostReady] | None = None
        self._open = False
        self.exit_reason = ""

    @property
    def running(self) -> bool:
        return self._open

    async def attach(self, link: socket.socket, pid: int) -> HostReady:
        """Take over the module's host link and wait for its HostReady."""
        self.pid = pid
        reader, self._writer = await asyncio.open_connection(sock=link)
        self._open = True
        self._ready = asyncio.get_running_loop().create_future()
        self.resumed = asyncio.get_running_loop().create_future()
        self._reader = self.tasks.spawn(f"module-{self.name}", lambda: self._read_loop(reader))
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
        if self._writer is None or not self._open:
            raise RemoteError(
                f"module is not running ({self.exit_reason or 'stopped'})",
                where=f"module {self.name}",
            )
        frame = encode(message, request_id)
        self._out_bytes += len(frame)
        if self._out:
            self._out.append(frame)
        else:
            self._out = [frame]
            self.batch.defer(self._flush)

    def _flush(self) -> None:
        """Write what was sent during this batch, in one write."""
        out, self._out = self._out, []
        self._out_bytes = 0
        if out and self._writer is not None and not self._writer.transport.is_closing():
            self._writer.write(out[0] if len(out) == 1 else b"".join(out))

    async def request(
        self,
        message: Message,
        timeout: float = REPLY_TIMEOUT,  # noqa: ASYNC109 - its error names module and request
    ) -> Message:
        request_id = next(self._ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self.send(message, request_id)
            self._flush()
            async with asyncio.timeout(timeout):  # a module that does not read: the same bound
                await self.drain()
                reply = await future
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

    @property
    def buffered(self) -> int:
        """Bytes written to the module but not yet sent."""
        if self._writer is None or self._writer.transport.is_closing():
            return 0
        return self._writer.transport.get_write_buffer_size()

    @property
    def backlog(self) -> int:
        """What the agent holds for the module: frames of this batch and unsent bytes."""
        return self._out_bytes + self.buffered

    @property
    def over_high_water(self) -> bool:
        return self._open and self.backlog > HIGH_WATER

    async def drain(self) -> None:
        if self._writer is not None and self._open:
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder()
        try:
            while True:
                chunk = await reader.read(_READ_CHUNK)
                if not chunk:
                    self.exit_reason = "exited"
                    break
                self.batch.begin()
                try:
                    for frame in decoder.feed(chunk):
                        self._dispatch(frame.request_id, MODULE_TO_HOST.decode(frame))
                finally:
                    self.batch.end()
                await self.hold(self)  # while a module it fed does not read, neither do we
        except ProtocolError as exc:
            self.exit_reason = f"protocol error: {exc}"
            log.warning("module %s: %s; stopping it", self.name, exc)
        except ConnectionError as exc:
            self.exit_reason = f"link lost: {exc}"
        finally:
            self._open = False
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        RemoteError(f"module {self.exit_reason}", where=f"module {self.name}")
                    )
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(
                    RemoteError(
                        f"module {self.exit_reason} before it was ready; see its module.log",
                        where=f"module {self.name}",
                    )
                )
            if self.resumed is not None and not self.resumed.done():
                self.resumed.cancel()
            if not self._stopping and self.on_exit is not None:
                self.on_exit(self)

    def _dispatch(self, request_id: int, message: Message) -> None:
        if isinstance(message, HostReady):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
            return
        if isinstance(message, HostResumed):
            if self.resumed is not None and not self.resumed.done():
                self.resumed.set_result(message.version)
            return
        if request_id:
            future = self._pending.get(request_id)
            if future is not None and not future.done():
                future.set_result(message)
            else:
                log.warning("module %s: reply to unknown request %d", self.name, request_id)
            return
        self.on_message(self, message)

    @property
    def persistent(self) -> bool:
        """The module announced that it keeps sealed state (it sent HostResumed)."""
        return self.resumed is not None and self.resumed.done() and not self.resumed.cancelled()

    async def stop(self) -> bool:
        """Ask the module to stop, wait at most STOP_DEADLINE for it to take what it was sent
        (HostStop last), then have the platform end it; True if it had to be killed."""
        self._stopping = True
        drained = True
        if self._open:
            with contextlib.suppress(RemoteError, ConnectionError, OSError, RuntimeError):
                self.send(HostStop())
                self._flush()
                try:
                    async with asyncio.timeout(STOP_DEADLINE):
                        await self.drain()
                except TimeoutError:
                    drained = False
        if not drained:
            log.warning(
                "module %s did not take what it was sent within %.0fs; ending it",
                self.name,
                STOP_DEADLINE,
            )
        killed = await self.stop_hook()
        if self._writer is not None:
            self._writer.transport.abort()  # what it did not take is dropped, not kept
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._open = False
        if killed:
            self.exit_reason = "killed (SIGKILL): it did not end on SIGTERM"
        self.exit_reason = self.exit_reason or "stopped"
        return killed
