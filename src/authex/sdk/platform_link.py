"""Edge: the module's side of the platform link (``--platform-fd``): read the identity the
platform assigned, ask for SGX quotes, seal and unseal the module's state.  Blocking, as the
rest of the module runner."""

from __future__ import annotations

import itertools
import os

from authex.errors import BackendError, ProtocolError
from authex.wire.codec import FrameDecoder, Message, encode
from authex.wire.messages import Error
from authex.wire.platform import (
    PLATFORM_TO_MODULE,
    ModuleIdentity,
    QuoteReply,
    QuoteRequest,
    SealReply,
    SealRequest,
    UnsealReply,
    UnsealRequest,
)

QUOTE_TIMEOUT = 30.0


class PlatformLink:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._decoder = FrameDecoder(64 << 20)
        self._ids = itertools.count(1)

    def _read(self) -> Message:
        while True:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise ProtocolError("the platform closed its link")
            frames = self._decoder.feed(chunk)
            if frames:
                return PLATFORM_TO_MODULE.decode(frames[0])

    def _write(self, frame: bytes) -> None:
        view = memoryview(frame)
        while view:
            view = view[os.write(self.fd, view) :]

    def identity(self) -> ModuleIdentity:
        message = self._read()
        if not isinstance(message, ModuleIdentity):
            raise ProtocolError("the platform did not send the module identity first")
        return message

    def quote(self, report_data: bytes) -> bytes:
        reply = self._ask(QuoteRequest(report_data), "quote")
        if not isinstance(reply, QuoteReply):
            raise ProtocolError("platform answered a quote request with something else")
        return reply.quote

    def _ask(self, request: Message, what: str) -> Message:
        self._write(encode(request, next(self._ids)))
        reply = self._read()
        if isinstance(reply, Error):
            raise BackendError(f"platform refused to {what}: {reply.message}")
        return reply

    def seal(self, state: bytes) -> int:
        """Seal the module's state with the platform; the version it got."""
        reply = self._ask(SealRequest(state), "seal")
        if not isinstance(reply, SealReply):
            raise ProtocolError("platform answered a seal request with something else")
        return reply.version

    def unseal(self) -> tuple[int, bytes]:
        """(version, state) last sealed for this module; (0, b"") if none."""
        reply = self._ask(UnsealRequest(), "unseal")
        if not isinstance(reply, UnsealReply):
            raise ProtocolError("platform answered an unseal request with something else")
        return reply.version, reply.data
