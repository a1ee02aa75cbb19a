"""A raw, synchronous peer for adversarial tests: speaks frames to an agent without the
deployer's logic, so tests can inject, replay and corrupt messages."""

from __future__ import annotations

import socket
import ssl

from authex import PROTOCOL_VERSION
from authex.agent.tls import data_client_context
from authex.wire.codec import CONTROL_MAX_FRAME, Frame, FrameDecoder, Message, encode
from authex.wire.messages import CONTROL_REPLIES, Bind, Hello, LinkKind, Ok


def data_tls() -> ssl.SSLContext:
    """What any agent (or anyone) may use to open a data link."""
    return data_client_context()


class RawLink:
    """A frame-level link to an agent.  Control links need ``tls`` carrying an enrolled
    operator's certificate (tests use the deployment's own, standing in for a malicious agent
    that can reach its modules anyway); data links work with ``data_tls()``."""

    def __init__(
        self,
        port: int,
        link: LinkKind,
        peer: str = "mallory",
        tls: ssl.SSLContext | None = None,
        expect_ok: bool = True,
        bind: str = "",
    ) -> None:
        plain = socket.create_connection(("127.0.0.1", port), timeout=10)
        context = tls if tls is not None else data_tls()
        self.sock = context.wrap_socket(plain, server_hostname="node")
        self.decoder = FrameDecoder(CONTROL_MAX_FRAME)
        self.frames: list[Frame] = []
        self.sock.sendall(encode(Hello(link, PROTOCOL_VERSION, peer)))
        self.hello_reply = self.read()
        if expect_ok:
            assert isinstance(self.hello_reply, Ok), self.hello_reply
        if bind:  # act for that deployment, as the deployer does (spec/protocol.md §5.2.2)
            assert isinstance(self.request(Bind(bind), 0xB1D), Ok)

    def send(self, message: Message, request_id: int = 0) -> None:
        self.sock.sendall(encode(message, request_id))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> Message:
        while not self.frames:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("agent closed the link")
            self.frames.extend(self.decoder.feed(chunk))
        return CONTROL_REPLIES.decode(self.frames.pop(0))

    def request(self, message: Message, request_id: int = 1) -> Message:
        self.send(message, request_id)
        return self.read()

    def closed_by_peer(self) -> list[Message]:
        """Read until the agent closes the link; returns what it said last (e.g. an Error).
        Raises TimeoutError if the link stays open."""
        said: list[Message] = []
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                self.frames.extend(self.decoder.feed(chunk))
        except (ConnectionResetError, ssl.SSLError):
            pass
        said.extend(CONTROL_REPLIES.decode(f) for f in self.frames)
        self.frames.clear()
        return said

    def close(self) -> None:
        self.sock.close()
