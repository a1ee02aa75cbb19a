"""A raw, synchronous peer for adversarial tests: speaks frames to an agent without the
deployer's logic, so tests can inject, replay and corrupt messages."""

from __future__ import annotations

import socket

from authex import PROTOCOL_VERSION
from authex.wire.codec import CONTROL_MAX_FRAME, Frame, FrameDecoder, Message, encode
from authex.wire.messages import CONTROL_REPLIES, Hello, LinkKind, Ok


class RawLink:
    def __init__(self, port: int, link: LinkKind, peer: str = "mallory") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.decoder = FrameDecoder(CONTROL_MAX_FRAME)
        self.frames: list[Frame] = []
        self.sock.sendall(encode(Hello(link, PROTOCOL_VERSION, peer)))
        reply = self.read()
        assert isinstance(reply, Ok), reply

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
        except ConnectionResetError:
            pass
        said.extend(CONTROL_REPLIES.decode(f) for f in self.frames)
        self.frames.clear()
        return said

    def close(self) -> None:
        self.sock.close()
