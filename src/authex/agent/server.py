"""Edge: the agent's TCP server.  Each accepted link starts with Hello and is then a control
link (deployer commands, replies by request id, watch streams) or a data link (events from
another agent).  A malformed frame closes only that link, with a logged reason.

Connections are accepted here and put through the TLS handshake (``connect_accepted_socket``),
so a failed handshake is logged with the peer's address; this works the same on asyncio's loop
and on uvloop (whose ``start_tls`` cannot upgrade a server stream).

Who may hold a link open, so that no amount of unauthenticated links can lock the operator out:

- **handshaking**: every new connection first joins a pool of at most ``MAX_HANDSHAKING`` links
  in their TLS handshake (``HANDSHAKE_TIMEOUT`` each); when it is full, the oldest handshake is
  closed to make room, so connections that never finish cannot keep new ones out;
- after the handshake the link is counted against one of two budgets (``LinkBudgets``): a link
  whose client presented an enrolled operator's certificate against the **control** budget
  (``MAX_CONTROL_LINKS``), any other against the **data** budgets (``MAX_DATA_LINKS`` in all,
  ``MAX_DATA_LINKS_PER_HOST`` from one address).  Data links cannot fill the control budget;
- a data link that sends no complete frame for ``data_idle_timeout`` seconds (default
  ``DATA_IDLE_TIMEOUT``, ``AUTHEX_DATA_IDLE_TIMEOUT`` when the agent starts) is closed; the
  sending agent opens it again when it has something to send (agent/peers.py).

Lines that any peer can cause per connection (refusals, failed handshakes, protocol errors, idle
closes) go through the agent's rate limiter (agent/lograte.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import ssl
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from authex import PROTOCOL_VERSION
from authex.agent.batch import Batcher
from authex.agent.config import NodeConfig, load_node_dir
from authex.agent.errors import CommandError
from authex.agent.lograte import ThrottledLog
from authex.agent.node import NodeAgent
from authex.agent.operators import Roster
from authex.agent.platform_client import PlatformClient
from authex.agent.tenancy import Scope
from authex.agent.tls import operators_enrolled, server_context
from authex.crypto.identity import certificate_key_id
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
    AddOperator,
    Error,
    ErrorCode,
    Event,
    EventAck,
    Hello,
    LinkKind,
    Ok,
    RemoveOperator,
    Shutdown,
    Watch,
)
from authex.wire.names import valid_peer
from authex.wire.version import refusal

log = logging.getLogger("authex.agent.server")
HANDSHAKE_TIMEOUT = 10.0  # seconds for the TLS handshake
HELLO_TIMEOUT = 10.0  # seconds for Hello, after the handshake
MAX_HANDSHAKING = 64  # connections in their TLS handshake; the oldest makes room for a new one
MAX_DATA_LINKS = 512  # open links without an operator certificate, in all
MAX_DATA_LINKS_PER_HOST = 64  # open links without an operator certificate, from one address
MAX_CONTROL_LINKS = 64  # open links of enrolled operators (their own budget)
DATA_IDLE_TIMEOUT = 120.0  # seconds without a complete frame after which a data link is closed
IDLE_TIMEOUT_ENV = "AUTHEX_DATA_IDLE_TIMEOUT"
_READ_CHUNK = 1 << 16


def operator_of(writer: asyncio.StreamWriter) -> str:
    """The key id of the enrolled operator a control link's TLS client certificate names."""
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return certificate_key_id(der, where="control link") if der else ""


def data_idle_timeout(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """The data links' idle timeout: ``AUTHEX_DATA_IDLE_TIMEOUT`` (seconds) or the default."""
    raw = environ.get(IDLE_TIMEOUT_ENV, "").strip()
    if not raw:
        return DATA_IDLE_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise AuthexError(
            f"{IDLE_TIMEOUT_ENV}={raw!r} is not a number of seconds above 0: set it to one "
            f"(the default is {DATA_IDLE_TIMEOUT:g}) or unset it",
            where="agent start",
        )
    return value


class LinkBudgets:
    """Open links after their handshake: the control budget (enrolled operators) and the data
    budgets (everyone else: in all, and per address).  Sans-I/O."""

    def __init__(self) -> None:
        self.control = 0
        self.data = 0
        self.data_per_host: Counter[str] = Counter()

    def admit(self, host: str, control: bool) -> str | None:
        """Count a link in, or say why not (its budget is full)."""
        if control:
            if self.control >= MAX_CONTROL_LINKS:
                return f"too many open operator links ({MAX_CONTROL_LINKS})"
            self.control += 1
            return None
        if self.data >= MAX_DATA_LINKS:
            return f"too many open data links ({MAX_DATA_LINKS})"
        if self.data_per_host[host] >= MAX_DATA_LINKS_PER_HOST:
            return f"too many open data links from {host} ({MAX_DATA_LINKS_PER_HOST})"
        self.data += 1
        self.data_per_host[host] += 1
        return None

    def release(self, host: str, control: bool) -> None:
        if control:
            self.control -= 1
            return
        self.data -= 1
        self.data_per_host[host] -= 1
        if self.data_per_host[host] <= 0:
            del self.data_per_host[host]


class AgentServer:
    def __init__(
        self, agent: NodeAgent, tls: ssl.SSLContext, data_idle_timeout: float = DATA_IDLE_TIMEOUT
    ) -> None:
        self.agent = agent
        self.tls = tls
        self.data_idle_timeout = data_idle_timeout
        self.budgets = LinkBudgets()
        self._listener: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._links: set[asyncio.Task[None]] = set()
        # tasks in their TLS handshake, oldest first; those closed to make room
        self._handshaking: dict[asyncio.Task[None], None] = {}
        self._evicted: set[asyncio.Task[None]] = set()
        self._writers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        # open control links: the operator (key id) each belongs to
        self._operators: dict[asyncio.Task[Any] | None, tuple[str, asyncio.StreamWriter]] = {}

    @property
    def throttled(self) -> ThrottledLog:
        return self.agent.throttled

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
            listener.listen(MAX_DATA_LINKS)
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
                self.throttled.warning(log, "accept failed", f"accept failed: {exc}")
                await asyncio.sleep(0.1)
                continue
            task = self.agent.tasks.spawn(f"link-{address}", partial(self._accept, conn, address))
            self._links.add(task)

    async def _accept(self, conn: socket.socket, address: object) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        host = address[0] if isinstance(address, tuple) else peer
        try:
            opened = await self._handshake(task, conn, peer, host)
            if opened is None:
                return
            reader, writer = opened
            control = bool(writer.get_extra_info("peercert"))  # verified: an enrolled operator
            refused = self.budgets.admit(host, control)
            if refused is not None:
                self.throttled.warning(
                    log, "link refused", f"link from {peer} refused: {refused}", host
                )
                writer.transport.abort()
                return
            try:
                await self._run_link(task, reader, writer, peer, host)
            finally:
                self.budgets.release(host, control)
        finally:
            self._links.discard(task)

    async def _handshake(
        self, task: asyncio.Task[None], conn: socket.socket, peer: str, host: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The TLS handshake, in the bounded pool of handshaking links; None if it failed or
        this link was closed to make room for a newer one."""
        if len(self._handshaking) >= MAX_HANDSHAKING:  # the oldest makes room
            oldest = next(iter(self._handshaking))
            del self._handshaking[oldest]
            self._evicted.add(oldest)
            oldest.cancel()
        self._handshaking[task] = None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol, conn, ssl=self.tls, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
                )
        except asyncio.CancelledError:
            if task not in self._evicted:
                raise  # the agent is shutting down
            self._evicted.discard(task)
            task.uncancel()
            conn.close()
            self.throttled.warning(
                log,
                "handshake evicted",
                f"link from {peer} closed: still in its TLS handshake when "
                f"{MAX_HANDSHAKING} newer connections came",
                host,
            )
            return None
        except (ssl.SSLError, TimeoutError, ConnectionError, OSError) as exc:
            self.throttled.warning(
                log,
                "handshake failed",
                f"link from {peer} refused: TLS handshake failed ({exc})",
                host,
            )
            conn.close()
            return None
        finally:
            self._handshaking.pop(task, None)
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def _run_link(
        self,
        task: asyncio.Task[None],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        host: str,
    ) -> None:
        self._writers[task] = writer
        try:
            await self._serve_link(reader, writer, peer, host)
        except ProtocolError as exc:
            self.throttled.warning(
                log, "link protocol error", f"link from {peer} closed: {exc}", host
            )
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.write(encode(Error(ErrorCode.BAD_REQUEST, str(exc))))
        except (ConnectionError, asyncio.IncompleteReadError):
            self.throttled.info(log, "link dropped", f"link from {peer} dropped", host)
        except asyncio.CancelledError:  # the agent is shutting down: the link just closes
            pass
        finally:
            self._writers.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _serve_link(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, host: str
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
            await self._data_link(reader, writer, decoder, leftover, f"{hello.peer}@{host}", peer)
        elif hello.link == LinkKind.CONTROL:
            if not writer.get_extra_info("peercert"):
                self.throttled.warning(
                    log,
                    "control link refused",
                    f"control link from {peer} refused: no enrolled operator certificate",
                    host,
                )
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
            operator = operator_of(writer)
            admin = await asyncio.to_thread(Roster(self.agent.directory).admin)
            scope = Scope(operator, admin=operator == admin)
            self._operators[asyncio.current_task()] = (operator, writer)
            try:
                await self._control_link(reader, writer, decoder, leftover, peer, scope)
            finally:
                self._operators.pop(asyncio.current_task(), None)
        else:
            raise ProtocolError(f"unknown link kind {hello.link}")

    async def _data_link(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: FrameDecoder,
        frames: list[Frame],
        sender: str,
        peer: str,
    ) -> None:
        """Events from ``sender`` (its Hello name @ its address) until it closes the link or
        sends no complete frame for ``data_idle_timeout`` seconds."""
        decoder.max_payload = DEFAULT_MAX_FRAME
        batch = self.agent.batch
        acks = _AckWriter(writer, batch)
        loop = asyncio.get_running_loop()
        idle = self.data_idle_timeout
        last_frame = loop.time()
        while True:
            batch.begin()
            try:
                for frame in frames:
                    message = DATA.decode(frame)
                    if not isinstance(message, Event):
                        raise ProtocolError(f"unexpected {type(message).__name__} on a data link")
                    self.agent.on_data_event(message, sender, acks)
            finally:
                batch.end()
            if frames:
                last_frame = loop.time()
            # back-pressure is per module (events for a busy module were refused, their senders
            # offer them again), never by pausing a link; reading buffered data does not wait:
            # let control links and other data links in after every chunk, so a flood on one
            # link cannot starve them
            await asyncio.sleep(0)
            try:
                async with asyncio.timeout_at(last_frame + idle):
                    chunk = await reader.read(_READ_CHUNK)
            except TimeoutError:
                self.throttled.info(
                    log,
                    "idle data link",
                    f"data link from {sender} ({peer}) closed: no frame for {idle:g}s",
                    sender,
                )
                with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                    writer.write(encode(Error(ErrorCode.TIMEOUT, f"data link idle for {idle:g}s")))
                return
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
        scope: Scope,
    ) -> None:
        decoder.max_payload = CONTROL_MAX_FRAME
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                for frame in frames:
                    message = CONTROL_REQUESTS.decode(frame)
                    task = self.agent.tasks.spawn(
                        f"command-{type(message).__name__}",
                        partial(self._command, message, frame.request_id, writer, scope),
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
        self, message: Message, request_id: int, writer: asyncio.StreamWriter, scope: Scope
    ) -> None:
        if isinstance(message, AddOperator | RemoveOperator):
            writer.write(encode(await self._administer(message, scope.operator), request_id))
            return
        if isinstance(message, Watch):
            try:
                self.agent.commands.own(scope, message.conn_id)
            except CommandError as exc:
                writer.write(encode(Error(exc.code, exc.message), request_id))
                return
            await self._watch(message, request_id, writer)
            return
        if isinstance(message, Shutdown):
            if not scope.admin:  # it stops every deployment's modules
                refusal = f"only the administrator of node {self.agent.config.name} shuts it down"
                writer.write(encode(Error(ErrorCode.REJECTED, refusal), request_id))
                return
            writer.write(encode(Ok(), request_id))
            self.agent.stopping.set()
            return
        try:
            reply = await self.agent.command(message, scope)
        except CommandError as exc:
            reply = Error(exc.code, exc.message)
        except Exception as exc:  # a bug must not take the agent down: reported
            log.exception("command %s failed", type(message).__name__)
            reply = Error(ErrorCode.INTERNAL, f"internal error: {exc}")
        writer.write(encode(reply, request_id))

    async def _administer(self, message: AddOperator | RemoveOperator, operator: str) -> Message:
        """Enrol or withdraw an operator: the administrator only.  New TLS handshakes use the
        new list at once; a withdrawn operator's open control links are closed."""
        roster = Roster(self.agent.directory)
        name = self.agent.config.name
        admin = await asyncio.to_thread(roster.admin)
        if operator != admin:
            return Error(
                ErrorCode.REJECTED,
                f"only the administrator of node {name} (operator {admin}) enrols or removes "
                f"operators; this link is operator {operator}",
            )
        try:
            if isinstance(message, AddOperator):
                ident = await asyncio.to_thread(
                    roster.add, message.certificate, admin=bool(message.admin)
                )
            else:
                ident = message.key_id
                await asyncio.to_thread(roster.remove, ident)
            self.tls = await asyncio.to_thread(server_context, self.agent.directory)
        except AuthexError as exc:
            return Error(ErrorCode.BAD_REQUEST, exc.message)
        if isinstance(message, RemoveOperator):
            for task, (who, writer) in list(self._operators.items()):
                if who == ident and task is not asyncio.current_task():
                    writer.transport.abort()
            log.info("node %s: operator %s withdrawn by %s", name, ident, operator)
        else:
            role = " as administrator" if message.admin else ""
            log.info("node %s: operator %s enrolled%s by %s", name, ident, role, operator)
        return Ok(ident.encode())

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
        for task in list(self._handshaking):  # not yet links: nothing to close cleanly
            task.cancel()
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
    idle_timeout = data_idle_timeout()  # a bad setting stops the agent before anything starts
    platform = PlatformClient(directory)
    info = await platform.start()
    log.info("platform: %s", info.description)
    agent = NodeAgent(config, directory, platform)
    await agent.restore()
    agent.start()
    server = AgentServer(agent, server_context(directory), idle_timeout)
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
