"""The event channel: per-direction 64-bit counters, AD binding, replay/reorder rejection.

AD = version (u8) || connection id (u32) || direction (u8) || counter (u64), all big-endian.
A sender's counter starts at 1 and never wraps; a receiver accepts a counter only if it is
greater than the last accepted one and counts the gap it skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from authex import EVENT_AD_VERSION
from authex.crypto.secret import Secret
from authex.crypto.suites import Aead
from authex.errors import CryptoError, ReplayError

MAX_COUNTER = (1 << 64) - 1
_AD = struct.Struct(">BIBQ")


def event_ad(conn_id: int, direction: int, counter: int) -> bytes:
    return _AD.pack(EVENT_AD_VERSION, conn_id, direction, counter)


def seal_event(
    suite: Aead, key: Secret, conn_id: int, direction: int, counter: int, plaintext: bytes
) -> bytes:
    if not 1 <= counter < MAX_COUNTER:
        raise CryptoError(f"counter {counter} out of range: connection {conn_id} must be re-keyed")
    ad = event_ad(conn_id, direction, counter)
    return suite.seal(key.reveal(), direction, counter, ad, plaintext)


def open_event(
    suite: Aead, key: Secret, conn_id: int, direction: int, counter: int, sealed: bytes
) -> bytes:
    ad = event_ad(conn_id, direction, counter)
    return suite.open(key.reveal(), direction, counter, ad, sealed)


@dataclass
class SendCounter:
    """Next counter to use in one direction of one connection."""

    last: int = 0

    def next(self) -> int:
        if self.last + 1 >= MAX_COUNTER:
            raise CryptoError("counter exhausted: the connection must be re-keyed")
        self.last += 1
        return self.last


@dataclass
class ReceiveWindow:
    """Freshness check for one direction: strictly increasing counters, gaps counted."""

    last: int = 0
    gaps: int = 0
    rejected: int = 0

    def check(self, counter: int) -> None:
        """Raise ReplayError for a stale counter; call accept() after the tag verified."""
        if counter <= self.last:
            self.rejected += 1
            raise ReplayError(f"counter {counter} is not greater than {self.last}")

    def accept(self, counter: int) -> None:
        self.gaps += counter - self.last - 1
        self.last = counter


@dataclass
class ChannelEnd:
    """One module's (or the operator's) view of one connection: key, suite, both counters."""

    conn_id: int
    suite: Aead
    key: Secret
    send: SendCounter = field(default_factory=SendCounter)
    receive: ReceiveWindow = field(default_factory=ReceiveWindow)

    def seal(
        self, direction: int, plaintext: bytes, counter: int | None = None
    ) -> tuple[int, bytes]:
        """Seal the next message; a response passes the request's counter explicitly."""
        ctr = self.send.next() if counter is None else counter
        return ctr, seal_event(self.suite, self.key, self.conn_id, direction, ctr, plaintext)

    def open(self, direction: int, counter: int, sealed: bytes) -> bytes:
        """Verify freshness and authenticity, then advance the window; raises CryptoError."""
        self.receive.check(counter)
        try:
            plaintext = open_event(self.suite, self.key, self.conn_id, direction, counter, sealed)
        except CryptoError:
            self.receive.rejected += 1
            raise
        self.receive.accept(counter)
        return plaintext
