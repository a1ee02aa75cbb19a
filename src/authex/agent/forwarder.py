"""Events bound for other agents: the durable outbox, one data link per peer, and the timing of
the outbox's commits and deletes.

An event is stored in the outbox and committed once per batch of input, before anything of that
batch is sent (agent/batch.py); acknowledged events are deleted from the database a little
later, many at once: they already left the outbox in memory (never sent again), and after a
``kill -9`` before the delete they are sent again once and dropped by the receiver as resends.
"""

from __future__ import annotations

import asyncio
import logging

from authex.agent.batch import Batcher
from authex.agent.outbox import Outbox
from authex.agent.peers import PeerLink
from authex.agent.tasks import TaskSupervisor
from authex.wire.messages import Event, EventAck

log = logging.getLogger("authex.agent")
DELETE_DELAY = 0.05  # seconds: acknowledged events are deleted from the database in batches


class Forwarder:
    def __init__(self, node: str, outbox: Outbox, tasks: TaskSupervisor, batch: Batcher) -> None:
        self.node = node
        self.outbox = outbox
        self.tasks = tasks
        self.batch = batch
        self.peers: dict[str, PeerLink] = {}
        self._commit_scheduled = False
        self._delete_timer: asyncio.TimerHandle | None = None

    def forward(self, address: str, event: Event) -> bool:
        """Store an event for a peer and have its link send it; False when refused (the
        peer's outbox is full — logged there — or the event is already queued)."""
        if self.outbox.add(address, event) is None:
            return False
        if not self._commit_scheduled:
            self._commit_scheduled = True
            self.batch.defer(self._commit, first=True)
        self.peer(address).notify()
        return True

    def acknowledged(self, address: str, ack: EventAck) -> None:
        if self.outbox.acknowledge(address, ack.conn_id, ack.direction, ack.counter):
            if self._delete_timer is None:
                loop = asyncio.get_running_loop()
                self._delete_timer = loop.call_later(DELETE_DELAY, self._commit_deletes)
            self.peer(address).acknowledged()

    def peer(self, address: str) -> PeerLink:
        link = self.peers.get(address)
        if link is None:
            link = self.peers[address] = PeerLink(
                self.node, address, self.outbox, self.acknowledged, self.tasks, self.batch
            )
        return link

    def start(self) -> None:
        """Resume sending whatever the outbox kept from before a restart."""
        for address in self.outbox.peers():
            self.peer(address).notify()

    def _commit(self) -> None:
        self._commit_scheduled = False
        self.outbox.commit_stored()

    def _commit_deletes(self) -> None:
        self._delete_timer = None
        self.outbox.commit()

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()
        if self._delete_timer is not None:
            self._delete_timer.cancel()
            self._delete_timer = None
        self.outbox.close()
