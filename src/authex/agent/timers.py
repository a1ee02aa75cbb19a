"""Periodic calls of public entries, run by the (untrusted) agent on a fixed schedule."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from authex.agent.tasks import TaskSupervisor

log = logging.getLogger("authex.agent.timers")


@dataclass
class PeriodicTimer:
    module: str
    entry_id: int
    period_ms: int
    fire: Callable[[], Awaitable[None]]
    fired: int = 0
    failed: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self, tasks: TaskSupervisor) -> None:
        self.task = tasks.spawn(f"timer-{self.module}-{self.entry_id}", self._run)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.period_ms / 1000
        next_at = loop.time() + period
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += period
            if next_at < loop.time():  # fell behind (slow module): skip missed ticks
                next_at = loop.time() + period
            try:
                await self.fire()
                self.fired += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed call is counted; the timer goes on
                self.failed += 1
                log.warning("timer %s/%d failed: %s", self.module, self.entry_id, exc)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
