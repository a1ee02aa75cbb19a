"""Edge: the agent's TCP server.  Each accepted link starts with Hello and is then a control
link (deployer commands, replies by request id, watch streams) or a data link (events from
another agent).  A malformed frame closes only that link, with a logged reason.

Connections are accepted here, counted against the link limits and only then put through the
TLS handshake (``connect_accepted_socket``), so a refused or failed handshake is logged with the
peer's address; this works the same on asyncio's loop and on uvloop (whose ``start_tls`` cannot
upgrade a server stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections import Counter
from functools import partial
from pathlib import Path

from authex import PROTOCOL_VERSION
from authex.agent.batch import Batcher
from authex.agent.config import NodeConfig, load_node_dir
from authex.agent.errors import CommandError
from authex.agent.node import NodeAgent
from authex.agent.platform_client import PlatformClient
from authex.agent.tls import operators_enrolled, server_context
from authex.errors import AuthexError, ProtocolError
from authex.wire.codec import (
    CONTROL_MAX_FRAME,
    DEFAULT_MAX_FRAME,
    Frame,
    FrameDecoder,
    Message,
    encode,
)
from authex.wire.messages import (
    CONTROL_REQUESTS,
    DATA,
    Error,
    ErrorCode,
    Event,
    EventAck,
    Hello,
    LinkKind,
    Ok,
    Shutdown,
    Watch,
)
from authex.wire.names import valid_peer
from authex.wire.version import refusal

log = logging.getLogger("authex.agent.server")
HELLO_TIMEOUT = 10.0
MAX_LINKS = 512  # open links in all
MAX_LINKS_PER_HOST = 64  # open links from one peer address
_READ_CHUNK = 1 << 16


class AgentServer:
    def __init__(self, agent: NodeAgent, tls: ssl.SSLContext) -> None:
        self.agent = agent
        self.tls = tls
        self._listener: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._per_host: Counter[str] = Counter()
        self._writers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        cfg = self.agent.config
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            cfg.host, cfg.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, _, _, _, address = infos[0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(MAX_LINKS)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        self._listener = listener
        # critical: if accepting ever fails unexpectedly, the agent stops and says why
        self._acceptor = self.agent.tasks.spawn(
            "accept", lambda: self._accept_loop(listener), critical=True
        )
        log.info("node %s (%s) listening on %s", cfg.name, cfg.tee, cfg.address)

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, address = await loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors, say: wait, do not spin
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = self.agent.tasks.spawn(f"link-{address}", partial(self._accept, conn, address))
            self._links.add(task)

    async def _accept(self, conn: socket.socket, address: object) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        host = address[0] if isinstance(address, tuple) else peer
        if len(self._links) > MAX_LINKS or self._per_host[host] >= MAX_LINKS_PER_HOST:
            log.warning("link from %s refused: too many open links", peer)
            self._links.discard(task)
            conn.close()
            return
        self._per_host[host] += 1
        task.add_done_callback(lambda _: self._release(host))
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol, conn, ssl=self.tls, ssl_handshake_timeout=HELLO_TIMEOUT
                )
        except (ssl.SSLError, TimeoutError, ConnectionError, OSError) as exc:
            log.warning("link from %s refused: TLS handshake failed (%s)", peer, exc)
            self._links.discard(task)
            conn.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._writers[task] = writer
        task.add_done_callback(lambda t: self._writers.pop(t, None))
        try:
            await self._serve_link(reader, writer, peer)
        except ProtocolError as exc:
            log.warning("link from %s closed: %s", peer, exc)
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.write(encode(Error(ErrorCode.BAD_REQUEST, str(exc))))
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("link from %s dropped", peer)
        except asyncio.CancelledError:  # the agent is shutting down: the link just closes
            pass
        finally:
            self._links.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
                await writer.wait_closed()

    def _release(self, host: str) -> None:
        self._per_host[host] -= 1
        if self._per_host[host] <= 0:
            del self._per_host[host]

    async def _serve_link(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        decoder = FrameDecoder(max_payload=256)
        hello_frames: list[Frame] = []
        async with asyncio.timeout(HELLO_TIMEOUT):
            while not hello_frames:
                chunk = await reader.read(_READ_CHUNK)
                if not chunk:
                    return
                hello_frames = decoder.feed(chunk)
        hello = DATA.decode(hello_frames[0])
        if not isinstance(hello, Hello):
            raise ProtocolError("link must start with Hello")
        if not valid_peer(hello.peer):  # it goes into log lines and refusals: never raw
            raise ProtocolError(f"Hello names an invalid peer {hello.peer[:80]!r}")
        if hello.version != PROTOCOL_VERSION:  # answered with Error (BAD_REQUEST) naming both
            name = self.agent.config.name
            raise ProtocolError(refusal(name, PROTOCOL_VERSION, hello.peer, hello.version))
        leftover = hello_frames[1:]
        if hello.link == LinkKind.DATA:
            writer.write(encode(Ok()))
            await self._data_link(reader, writer, decoder, leftover, f"{hello.peer}@{peer}")
        elif hello.link == LinkKind.CONTROL:
            if not writer.get_extra_info("peercert"):
                log.warning("control link from %s refused: no enrolled operator certificate", peer)
                writer.write(
                    encode(
                        Error(
                            ErrorCode.REJECTED,
                            f"node {self.agent.config.name} accepts control commands only from "
                            "enrolled operators (mutual TLS)",
                        )
                    )
                )
                return
            writer.write(encode(Ok()))
            await self._control_link(reader, writer, decoder, leftover, peer)
        else:
            raise ProtocolError(f"unknown link kind {hello.link}")

    async def _data_link(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: FrameDecoder,
        frames: list[Frame],
        peer: str,
    ) -> None:
        decoder.max_payload = DEFAULT_MAX_FRAME
        batch = self.agent.batch
        acks = _AckWriter(writer, batch)
        while True:
            batch.begin()
            try:
                for frame in frames:
                    message = DATA.decode(frame)
                    if not isinstance(message, Event):
                        raise ProtocolError(f"unexpected {type(message).__name__} on a data link")
                    self.agent.on_data_event(message, peer, acks)
            finally:
                batch.end()
            await self.agent.backpressure()  # a slow module slows its senders, not our memory
            chunk = await reader.read(_READ_CHUNK)
            if not chunk:
                return
            frames = decoder.feed(chunk)

    async def _control_link(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: FrameDecoder,
        frames: list[Frame],
        peer: str,
    ) -> None:
        decoder.max_payload = CONTROL_MAX_FRAME
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                for frame in frames:
                    message = CONTROL_REQUESTS.decode(frame)
                    task = self.agent.tasks.spawn(
                        f"command-{type(message).__name__}",
                        partial(self._command, message, frame.request_id, writer),
                    )
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                chunk = await reader.read(_READ_CHUNK)
                if not chunk:
                    return
                frames = decoder.feed(chunk)
        finally:
            for task in tasks:
                task.cancel()

    async def _command(
        self, message: Message, request_id: int, writer: asyncio.StreamWriter
    ) -> None:
        if isinstance(message, Watch):
            await self._watch(message, request_id, writer)
            return
        if isinstance(message, Shutdown):
            writer.write(encode(Ok(), request_id))
            self.agent.stopping.set()
            return
        try:
            reply = await self.agent.command(message)
        except CommandError as exc:
            reply = Error(exc.code, exc.message)
        except Exception as exc:  # a bug must not take the agent down: reported
            log.exception("command %s failed", type(message).__name__)
            reply = Error(ErrorCode.INTERNAL, f"internal error: {exc}")
        writer.write(encode(reply, request_id))

    async def _watch(self, message: Watch, request_id: int, writer: asyncio.StreamWriter) -> None:
        retained, queue = self.agent.operator.subscribe(message.conn_id)
        try:
            writer.write(encode(Ok(), request_id))
            for event in retained:
                writer.write(encode(event, request_id))
            while True:
                writer.write(encode(await queue.get(), request_id))
                await writer.drain()
        finally:
            self.agent.operator.unsubscribe(message.conn_id, queue)

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acceptor
        if self._listener is not None:
            self._listener.close()
        # Close the links rather than cancel their tasks (asyncio's stream callbacks treat a
        # cancelled connection task as an error): each handler then ends on its own.
        for writer in list(self._writers.values()):
            writer.transport.abort()
        if self._links:
            _, stuck = await asyncio.wait(set(self._links), timeout=5)
            for task in stuck:
                task.cancel()
        await self.agent.close()


async def run_node(directory: Path) -> None:
    """``authex node run DIR``: serve until SIGINT/SIGTERM or a Shutdown command."""
    config: NodeConfig = load_node_dir(directory)
    platform = PlatformClient(directory)
    info = await platform.start()
    log.info("platform: %s", info.description)
    agent = NodeAgent(config, directory, platform)
    await agent.restore()
    agent.start()
    server = AgentServer(agent, server_context(directory))
    if not operators_enrolled(directory):
        log.warning(
            "no operator enrolled on node %s: every control command will be refused "
            "(enrol one with `authex node enrol-operator`)",
            config.name,
        )
    try:
        await server.start()
    except BaseException:
        await agent.close()
        raise
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, agent.stopping.set)
    try:
        await agent.stopping.wait()
    finally:
        log.info("node %s shutting down", config.name)
        await server.close()
    if agent.tasks.failed is not None:
        raise AgentFailed(f"node {config.name} stopped: {agent.tasks.failed}")


class AgentFailed(AuthexError):
    """A task the agent cannot run without (its listener) failed: see the log above."""


class _AckWriter:
    """The acknowledgements owed on one data link: EventAcks of a batch, written together."""

    def __init__(self, writer: asyncio.StreamWriter, batch: Batcher) -> None:
        self.writer = writer
        self.batch = batch
        self.frames: list[bytes] = []

    def acknowledge(self, conn_id: int, direction: int, counter: int) -> None:
        if not self.frames:
            self.batch.defer(self._write)
        self.frames.append(encode(EventAck(conn_id, direction, counter)))

    def _write(self) -> None:
        out = b"".join(self.frames)
        self.frames.clear()
        if not self.writer.is_closing():
            self.writer.write(out)
