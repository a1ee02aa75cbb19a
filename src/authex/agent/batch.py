"""Deferred work flushed once per batch of input: the agent's write coalescing.

Everything the agent does for one chunk read from a link (a module's host link, a data link, a
peer's acknowledgements) runs synchronously; writes it causes — frames to a module, EventAcks
to a peer, events to a peer, the outbox commit — are deferred here and flushed when the chunk
is done, so many frames leave in one write (one TLS record, one syscall) and the outbox commits
once.  Outside a batch (control commands, timers) deferred work is flushed at the next
iteration of the event loop.  The agent owns one Batcher and hands it to its links.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("authex.agent.batch")


class Batcher:
    def __init__(self) -> None:
        self._first: list[Callable[[], None]] = []  # commits: before anything is sent
        self._then: list[Callable[[], None]] = []
        self._depth = 0
        self._scheduled: asyncio.AbstractEventLoop | None = None  # a flush is due on this loop

    def defer(self, work: Callable[[], None], *, first: bool = False) -> None:
        """Run ``work`` once the current batch is done (callers defer each thing once)."""
        (self._first if first else self._then).append(work)
        if self._depth:
            return
        loop = asyncio.get_running_loop()  # outside a loop there is no batch to join: an error
        if self._scheduled is not loop:
            self._scheduled = loop
            loop.call_soon(self._scheduled_flush)

    def begin(self) -> None:
        self._depth += 1

    def end(self) -> None:
        self._depth -= 1
        if not self._depth and (self._first or self._then):
            self.flush()

    def _scheduled_flush(self) -> None:
        self._scheduled = None
        if not self._depth:
            self.flush()

    def flush(self) -> None:
        self._depth += 1  # what the work defers joins this flush
        try:
            while self._first or self._then:
                work = self._first or self._then
                if work is self._first:
                    self._first = []
                else:
                    self._then = []
                for item in work:
                    try:
                        item()
                    except Exception:  # one failed write must not keep the others back
                        log.exception("deferred write failed")
        finally:
            self._depth -= 1
