"""Staged modules: a new version loaded beside the running one for an update (spec/protocol.md
§7.6).  A staged module is named ``NAME~TAG``; its platform runs it as ``NAME``.  Until the
deployer promotes it, its agent holds what is delivered to it (in memory, in arrival order, not
acknowledged, so its senders keep it in their outboxes), except the state transfer from the
instance it replaces.  The naming rules are in wire/names.py.  Pure: no I/O."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from authex.wire.messages import HostDeliver

HELD_LIMIT = 64 << 20  # bytes held for one staged module; beyond, deliveries are refused


@dataclass
class Held:
    """Deliveries waiting for one staged module's promotion."""

    messages: deque[HostDeliver] = field(default_factory=deque)
    bytes: int = 0

    def add(self, message: HostDeliver) -> bool:
        """Keep a delivery; False (refused) when the module already holds HELD_LIMIT bytes."""
        if self.bytes + len(message.ciphertext) > HELD_LIMIT:
            return False
        self.messages.append(message)
        self.bytes += len(message.ciphertext)
        return True

    def release(self) -> list[HostDeliver]:
        released = list(self.messages)
        self.messages.clear()
        self.bytes = 0
        return released
