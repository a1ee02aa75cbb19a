"""Edge: the deployer's control link to one node agent.

Requests are multiplexed on one connection by request id; every wait has a deadline.  A watch
turns the link's frames for one request id into an async stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from authex import PROTOCOL_VERSION
from authex.errors import AuthexTimeoutError, ProtocolError, RemoteError
from authex.wire.codec import CONTROL_MAX_FRAME, FrameDecoder, Message, encode
from authex.wire.messages import (
    CONTROL_REPLIES,
    Bind,
    Error,
    Hello,
    LinkKind,
    Ok,
    Watch,
    WatchEvent,
)
from authex.wire.version import mismatch, refused_by

CONNECT_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 30.0


def operator_context(node_identity_pem: str, cert: Path, key: Path) -> ssl.SSLContext:
    """Mutual TLS 1.3: trust exactly the pinned node certificate, present the operator's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # pinned certificate, not a name
    context.load_verify_locations(cadata=node_identity_pem)
    context.load_cert_chain(cert, key)
    return context


class AgentClient:
    def __init__(
        self, node: str, host: str, port: int, tls: ssl.SSLContext, deployment: str = ""
    ) -> None:
        self.node = node
        self.deployment = deployment  # what the link acts for (Bind); "" binds nothing
        self.host = host
        self.port = port
        self.tls = tls
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._streams: dict[int, asyncio.Queue[Message | None]] = {}
        self._read_task: asyncio.Task[None] | None = None
        self._failure: Exception | None = None

    @property
    def where(self) -> str:
        return f"node {self.node} ({self.host}:{self.port})"

    async def connect(self) -> AgentClient:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host, self.port, ssl=self.tls, server_hostname=self.node
                ),
                CONNECT_TIMEOUT,
            )
        except TimeoutError as exc:
            raise AuthexTimeoutError("agent did not accept a connection", where=self.where) from exc
        except ssl.SSLError as exc:
            raise RemoteError(
                "TLS handshake failed: the agent does not hold the node identity pinned in the "
                f"trust file, or does not accept this operator ({exc.reason or exc})",
                where=self.where,
            ) from exc
        except OSError as exc:
            raise RemoteError(
                f"cannot reach agent: {exc.strerror or exc}", where=self.where
            ) from exc
        self._read_task = asyncio.create_task(self._read_loop(), name=f"client-{self.node}")
        future = self._expect(0)
        assert self._writer is not None
        self._writer.write(encode(Hello(LinkKind.CONTROL, PROTOCOL_VERSION, "deployer")))
        try:
            async with self._answer_within(CONNECT_TIMEOUT, "hello"):
                reply = self._checked(await future)
        except RemoteError as exc:  # an agent of another protocol version says so
            theirs = refused_by(exc.message)
            if theirs is None or theirs == PROTOCOL_VERSION:
                raise
            raise ProtocolError(mismatch(self.node, theirs, PROTOCOL_VERSION)) from exc
        if not isinstance(reply, Ok):
            raise ProtocolError("agent did not accept the control link", where=self.where)
        if self.deployment:
            try:
                await self.request(Bind(self.deployment))
            except BaseException:
                await self.close()
                raise
        return self

    async def __aenter__(self) -> AgentClient:
        return await self.connect()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _expect(self, request_id: int) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    @contextlib.asynccontextmanager
    async def _answer_within(self, seconds: float, what: str) -> AsyncIterator[None]:
        """Bound the wait for an answer: past ``seconds``, an AuthexTimeoutError."""
        try:
            async with asyncio.timeout(seconds):
                yield
        except TimeoutError as exc:
            raise AuthexTimeoutError(
                f"no answer to {what} within {seconds:.0f}s", where=self.where
            ) from exc

    def _checked(self, reply: Message) -> Message:
        if isinstance(reply, Error):
            raise RemoteError(reply.message, code=reply.code, where=self.where)
        return reply

    async def request(self, message: Message) -> Message:
        """Send ``message`` and wait (up to DEFAULT_TIMEOUT) for the agent's answer; an Error
        answer raises RemoteError."""
        if self._writer is None:
            raise RemoteError("not connected", where=self.where)
        if self._failure is not None:
            raise RemoteError(f"link failed: {self._failure}", where=self.where)
        request_id = next(self._ids)
        future = self._expect(request_id)
        try:
            self._writer.write(encode(message, request_id))
            await self._writer.drain()
            async with self._answer_within(DEFAULT_TIMEOUT, type(message).__name__):
                reply = await future
            return self._checked(reply)
        finally:
            self._pending.pop(request_id, None)

    async def watch(self, conn_id: int) -> AsyncIterator[WatchEvent]:
        """Yield every event the agent has retained and then new ones, until the link closes."""
        if self._writer is None:
            raise RemoteError("not connected", where=self.where)
        request_id = next(self._ids)
        queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._streams[request_id] = queue
        try:
            self._writer.write(encode(Watch(conn_id), request_id))
            await self._writer.drain()
            while True:
                message = await queue.get()
                if message is None:
                    return
                if isinstance(message, Error):
                    raise RemoteError(message.message, code=message.code, where=self.where)
                if isinstance(message, WatchEvent):
                    yield message
        finally:
            self._streams.pop(request_id, None)

    async def _read_loop(self) -> None:
        assert self._reader is not None
        decoder = FrameDecoder(CONTROL_MAX_FRAME)
        try:
            while True:
                chunk = await self._reader.read(1 << 16)
                if not chunk:
                    raise ConnectionError("agent closed the link")
                for frame in decoder.feed(chunk):
                    message = CONTROL_REPLIES.decode(frame)
                    stream = self._streams.get(frame.request_id)
                    if stream is not None:
                        stream.put_nowait(message)
                        continue
                    future = self._pending.get(frame.request_id)
                    if future is not None and not future.done():
                        future.set_result(message)
        except (ConnectionError, ProtocolError) as exc:
            self._failure = exc
            error = RemoteError(f"link failed: {exc}", where=self.where)
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            for stream in self._streams.values():
                stream.put_nowait(None)

    async def close(self) -> None:
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
        if self._writer is not None:
            self._writer.close()
            # the link may be broken already: reset, broken pipe, TLS (ssl.SSLError is an OSError)
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None
