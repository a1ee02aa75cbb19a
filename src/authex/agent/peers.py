"""Edge: long-lived outgoing data links to other agents, with write coalescing.

One link per peer address.  Frames are written straight into the transport while connected
(the event loop coalesces them into few syscalls); while connecting, they wait in a bounded
queue.  When the queue is full the oldest frame is dropped and counted (durable outboxes that
lose nothing are the reliability work of a later change; see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from authex import PROTOCOL_VERSION
from authex.agent.tls import data_client_context
from authex.errors import ProtocolError
from authex.wire.codec import FrameDecoder, encode
from authex.wire.messages import DATA, Error, Hello, LinkKind, Ok

log = logging.getLogger("authex.agent.peers")
MAX_QUEUED = 100_000
HIGH_WATER = 1 << 20
CONNECT_TIMEOUT = 5.0


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class PeerLink:
    def __init__(self, local_node: str, address: str) -> None:
        self.local_node = local_node
        self.address = address
        self.queue: deque[bytes] = deque()
        self.dropped = 0
        self.sent = 0
        self._writer: asyncio.StreamWriter | None = None
        self._connector: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    def send(self, frame: bytes) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(frame)
            self.sent += 1
            if writer.transport.get_write_buffer_size() > HIGH_WATER and self._drainer is None:
                self._drainer = asyncio.create_task(self._drain(writer))
            return
        if len(self.queue) >= MAX_QUEUED:
            self.queue.popleft()
            self.dropped += 1
            log.warning("peer %s unreachable: queue full, dropped oldest frame", self.address)
        self.queue.append(frame)
        self._ensure_connecting()

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._drainer = None

    def _ensure_connecting(self) -> None:
        if self._closed or (self._connector is not None and not self._connector.done()):
            return
        self._connector = asyncio.create_task(self._connect(), name=f"peer-{self.address}")

    async def _connect(self) -> None:
        delay = 0.05
        while not self._closed:
            try:
                writer = await asyncio.wait_for(self._open(), CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ProtocolError) as exc:
                log.info("peer %s: connect failed (%s); retry in %.2fs", self.address, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            while self.queue:
                writer.write(self.queue.popleft())
                self.sent += 1
            self._writer = writer
            return

    async def _open(self) -> asyncio.StreamWriter:
        host, port = split_address(self.address)
        reader, writer = await asyncio.open_connection(
            host, port, ssl=data_client_context(), server_hostname=host
        )
        writer.write(encode(Hello(LinkKind.DATA, PROTOCOL_VERSION, self.local_node)))
        decoder = FrameDecoder()
        while True:
            chunk = await reader.read(4096)
            if not chunk:
                raise ProtocolError("peer closed the link during hello")
            frames = decoder.feed(chunk)
            if frames:
                reply = DATA.decode(frames[0])
                if isinstance(reply, Error):
                    raise ProtocolError(f"peer refused data link: {reply.message}")
                if not isinstance(reply, Ok):
                    raise ProtocolError("unexpected reply to hello")
                break
        self._watcher = asyncio.create_task(self._watch_close(reader, writer))
        return writer

    async def _watch_close(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Data links are one-way; reading only tells us when the peer goes away."""
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass
        if self._writer is writer:
            self._writer = None
            log.info("peer %s: link closed", self.address)
            if self.queue:
                self._ensure_connecting()

    async def close(self) -> None:
        self._closed = True
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._writer is not None:
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()
            self._writer.close()
            self._writer = None
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
