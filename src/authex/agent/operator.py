"""Events for the operator: ``authex watch`` subscribers, the retained recent events, and the
responses that ``authex request`` waits for.  The operator is reached over control links; the
agent never holds a key, so all of this is ciphertext."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque

from authex.agent.stats import ConnectionStats
from authex.wire.messages import Direction, Event, HostEmit, WatchEvent

RETAINED_PER_CONNECTION = 1000
WATCH_QUEUE = 10_000  # events buffered for one watcher


class OperatorChannel:
    def __init__(self, retained: int = RETAINED_PER_CONNECTION) -> None:
        self.watchers: defaultdict[int, set[asyncio.Queue[WatchEvent]]] = defaultdict(set)
        self.retained: defaultdict[int, deque[WatchEvent]] = defaultdict(
            lambda: deque(maxlen=retained)
        )
        self.requests: dict[tuple[int, int], asyncio.Future[HostEmit]] = {}

    def hand_over(self, event: Event, stats: ConnectionStats) -> None:
        """An event (or a response) whose destination is the operator."""
        if event.direction == Direction.RESPONSE:
            future = self.requests.get((event.conn_id, event.counter))
            if future is None or future.done():
                stats.dropped += 1  # late or unsolicited response: nobody is waiting
                return
            stats.to_operator += 1
            future.set_result(
                HostEmit(event.conn_id, event.direction, event.counter, event.ciphertext)
            )
            return
        stats.to_operator += 1
        watch_event = WatchEvent(event.conn_id, event.counter, event.ciphertext)
        self.retained[event.conn_id].append(watch_event)
        for queue in self.watchers[event.conn_id]:
            try:
                queue.put_nowait(watch_event)
            except asyncio.QueueFull:  # a watcher that does not read loses events, not memory
                stats.dropped += 1

    def subscribe(self, conn_id: int) -> tuple[list[WatchEvent], asyncio.Queue[WatchEvent]]:
        queue: asyncio.Queue[WatchEvent] = asyncio.Queue(WATCH_QUEUE)
        self.watchers[conn_id].add(queue)
        return list(self.retained[conn_id]), queue

    def unsubscribe(self, conn_id: int, queue: asyncio.Queue[WatchEvent]) -> None:
        self.watchers[conn_id].discard(queue)

    def expect(self, conn_id: int, counter: int) -> asyncio.Future[HostEmit]:
        """The response to an operator request, once it comes (``forget`` it afterwards)."""
        future: asyncio.Future[HostEmit] = asyncio.get_running_loop().create_future()
        self.requests[(conn_id, counter)] = future
        return future

    def forget(self, conn_id: int, counter: int) -> None:
        self.requests.pop((conn_id, counter), None)

    def forget_connections(self, conn_ids: list[int]) -> None:
        """Retained events of connections that are gone (their deployment was reset)."""
        for conn_id in conn_ids:
            self.retained.pop(conn_id, None)
