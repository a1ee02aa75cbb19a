"""Edge: long-lived outgoing data links to other agents, driven by the durable outbox.

One link per peer address.  A sender task writes every stored event for the peer in order
(the transport coalesces them into few syscalls and ``drain`` applies TCP back-pressure), and
reads the peer's EventAcks, which delete events from the outbox.  After a reconnection
(exponential backoff with jitter) everything not yet acknowledged is sent again; so is it when
the oldest event written stays unacknowledged for RESEND_AFTER — the destination module was not
running, or was busy and the receiver refused it (agent/ledger.py) while it took events for
other modules — and the receiver drops what it already delivered.  Each resend that finds the
same oldest event still there waits twice as long before the next (at most RESEND_MAX), so a
module that stays stuck costs its senders a resend now and then, not a loop.

The receiving agent closes a data link that stays idle (agent/server.py, ``DATA_IDLE_TIMEOUT``);
a link that ends with nothing left to send is opened again only when there is something to
send, and one that ends with events still unacknowledged is opened again at once, so no event
is lost to an idle close (the new link sends everything in the outbox again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable

from authex import PROTOCOL_VERSION
from authex.agent.batch import Batcher
from authex.agent.outbox import Outbox
from authex.agent.tasks import TaskSupervisor
from authex.agent.tls import data_client_context
from authex.errors import ProtocolError
from authex.wire.codec import FrameDecoder, encode
from authex.wire.messages import DATA, Error, EventAck, Hello, LinkKind, Ok

log = logging.getLogger("authex.agent.peers")
CONNECT_TIMEOUT = 5.0
BACKOFF_START = 0.05
BACKOFF_MAX = 2.0
RESEND_AFTER = 2.0  # seconds the oldest written event may wait for its acknowledgement
RESEND_MAX = 8.0  # the longest wait between resends while that event stays unacknowledged
PENDING_BATCH = 1000  # outbox rows written per read
WRITE_HIGH_WATER = 1 << 20  # unsent bytes on a link above which only the sender task writes


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class PeerLink:
    def __init__(
        self,
        local_node: str,
        address: str,
        outbox: Outbox,
        on_ack: Callable[[str, EventAck], None],
        tasks: TaskSupervisor,
        batch: Batcher,
    ) -> None:
        self.local_node = local_node
        self.tasks = tasks
        self.batch = batch
        self.address = address
        self.outbox = outbox
        self.on_ack = on_ack
        self.sent = 0
        self.resent = 0
        self.reconnects = 0
        self.connected = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._head: int | None = None  # the oldest written, unacknowledged row (outbox id)
        self._head_since = 0.0  # when it was first seen the oldest
        self._resend_wait = RESEND_AFTER
        self._next_check = 0.0
        self._cursor = 0  # the last outbox row written to the current link
        self._idle: asyncio.StreamWriter | None = None  # the link, while the sender task waits
        self._flush_deferred = False

    def notify(self) -> None:
        """New events are in the outbox for this peer."""
        if self._idle is not None:  # the link is open and caught up: send them in this batch
            if not self._flush_deferred:
                self._flush_deferred = True
                self.batch.defer(self._flush)
            return
        self._wake.set()
        if self._task is None and not self._closed:
            # kept: a surprise (an SQLite error, say) is logged and the link starts again
            self._task = self.tasks.keep(f"peer-{self.address}", self._run)

    def _flush(self) -> None:
        """End of a batch: write what was stored for this peer without waking the sender task,
        unless the link is busy (then the task sends, and waits for TCP back-pressure)."""
        self._flush_deferred = False
        writer = self._idle
        if writer is None or writer.is_closing():
            self._wake.set()
            return
        if writer.transport.get_write_buffer_size() >= WRITE_HIGH_WATER:
            self._wake.set()
            return
        if self._send_pending(writer) >= PENDING_BATCH:
            self._wake.set()  # more than one batch: the sender task goes on with the rest

    def _send_pending(self, writer: asyncio.StreamWriter) -> int:
        """Write every stored event after the cursor (one batch); how many."""
        self.outbox.commit_stored()  # stored durably before they leave
        rows = list(self.outbox.pending(self.address, self._cursor, PENDING_BATCH))
        if not rows:
            return 0
        writer.write(b"".join([encode(event) for _, event in rows]))
        self._cursor = rows[-1][0]
        self.sent += len(rows)
        return len(rows)

    def acknowledged(self) -> None:
        """An acknowledgement came: look at the oldest event again at the next check."""
        self._next_check = 0.0

    def resend_due(self, now: float) -> bool:
        """Is it time to write every unacknowledged event again: has the oldest one written
        waited ``_resend_wait`` for its acknowledgement?  (Asked at most every quarter of
        RESEND_AFTER: finding the oldest event costs a pass over this peer's outbox keys.)"""
        if now < self._next_check:
            return False
        self._next_check = now + RESEND_AFTER / 4
        oldest = self.outbox.oldest(self.address)
        if oldest is None or oldest > self._cursor:  # nothing written waits for an answer
            self._head = None
            return False
        if oldest != self._head:  # acknowledged up to a newer one: progress
            self._head, self._head_since, self._resend_wait = oldest, now, RESEND_AFTER
            return False
        if now - self._head_since < self._resend_wait:
            return False
        self._head_since = now
        self._resend_wait = min(self._resend_wait * 2, RESEND_MAX)
        return True

    async def _run(self) -> None:
        delay = BACKOFF_START
        opened = False
        while not self._closed:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation that
                # races with the connection's result, and the link would go on after close()
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    reader, writer = await self._open()
            except (OSError, TimeoutError, ProtocolError, ssl.SSLError) as exc:
                pause = delay * random.uniform(0.5, 1.5)
                log.info("peer %s: connect failed (%s); retry in %.2fs", self.address, exc, pause)
                await asyncio.sleep(pause)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            delay = BACKOFF_START
            if opened:
                self.reconnects += 1
            opened = True
            self.connected = True
            try:
                await self._pump(reader, writer)
            except (ConnectionError, ssl.SSLError, ProtocolError) as exc:
                log.info("peer %s: link lost (%s)", self.address, exc)
            finally:
                self.connected = False
                writer.close()
            await self._until_needed()

    async def _until_needed(self) -> None:
        """The link ended (the peer closes idle links): with events still unacknowledged it is
        opened again at once; with nothing to send, once there is something."""
        self._wake.clear()  # set again by notify(), which comes after the outbox has the event
        if self._closed or self.outbox.size(self.address):
            return
        log.info(
            "peer %s: link closed with nothing to send; opened again when needed", self.address
        )
        await self._wake.wait()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        acks = asyncio.create_task(self._read_acks(reader))
        self._cursor = 0  # a new link sends everything not yet acknowledged
        self._head = None
        try:
            while not self._closed:
                self._wake.clear()
                if self._send_pending(writer):
                    await writer.drain()
                    continue
                if acks.done():
                    return
                if self.resend_due(time.monotonic()):
                    self.resent += self.outbox.size(self.address)
                    self._cursor = 0  # the oldest waits too long: send the unacknowledged again
                    continue
                wake = asyncio.create_task(self._wake.wait())
                self._idle = writer  # meanwhile, new events are written by _flush
                try:
                    await asyncio.wait(
                        {wake, acks}, timeout=RESEND_AFTER, return_when="FIRST_COMPLETED"
                    )
                finally:
                    self._idle = None
                    wake.cancel()
        finally:
            acks.cancel()
            # the link's end is handled by the caller; anything else is a fault of this agent
            with contextlib.suppress(
                asyncio.CancelledError, ConnectionError, OSError, ssl.SSLError, ProtocolError
            ):
                await acks

    async def _read_acks(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder()
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                return
            self.batch.begin()
            try:
                for frame in decoder.feed(chunk):
                    message = DATA.decode(frame)
                    if isinstance(message, EventAck):
                        self.on_ack(self.address, message)
            finally:
                self.batch.end()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
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
                if len(frames) > 1:
                    raise ProtocolError("peer sent frames before the link was open")
                return reader, writer

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
