"""The owner of every background task of an agent.

A task started here is never lost: when it ends with an exception it was not meant to end with,
the traceback is logged with the task's name, and then

- a **kept** task (a peer link's sender, say) is started again after a backoff that doubles up
  to a limit, so one SQLite or TLS surprise does not leave a link silently dead;
- a **critical** task (the listener's accept loop) stops the agent: ``failed`` holds the error
  and ``stopping`` is set, so ``authex node run`` exits non-zero with the reason;
- any other task (one link, one command, one timer) is logged and forgotten.

``close`` cancels what is still running and waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("authex.agent.tasks")
RESTART_START = 0.05  # seconds before a kept task is started again, doubled per failure
RESTART_MAX = 5.0
CLOSE_TIMEOUT = 5.0  # seconds close() waits for cancelled tasks to end
CANCEL_AGAIN = 0.5  # seconds between cancellations of a task that has not ended

Work = Callable[[], Coroutine[Any, Any, None]]


class TaskSupervisor:
    def __init__(self, close_timeout: float = CLOSE_TIMEOUT) -> None:
        self.close_timeout = close_timeout  # seconds close() waits for cancelled tasks to end
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()
        self.failed: BaseException | None = None
        self.restarts = 0  # kept tasks started again after an unexpected end
        self._closed = False

    def spawn(self, name: str, work: Work, *, critical: bool = False) -> asyncio.Task[None]:
        """Run ``work()`` in a task owned here."""
        task = asyncio.get_running_loop().create_task(work(), name=name)
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._ended(t, critical))
        return task

    def keep(self, name: str, work: Work) -> asyncio.Task[None]:
        """Run ``work()`` and start it again (with backoff) whenever it fails unexpectedly;
        it ends for good when it returns or is cancelled."""

        async def kept() -> None:
            delay = RESTART_START
            while True:
                try:
                    await work()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:  # reported here, then the task starts again
                    log.exception("task %s failed; starting it again in %.2fs", name, delay)
                    self.restarts += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_MAX)

        return self.spawn(name, kept)

    def _ended(self, task: asyncio.Task[None], critical: bool) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        log.error(
            "task %s failed: %s",
            task.get_name(),
            error,
            exc_info=(type(error), error, error.__traceback__),
        )
        if critical and not self._closed:
            self.failed = self.failed or error
            self.stopping.set()

    async def close(self) -> None:
        """Cancel every task still running and wait until they have ended, cancelling again
        what is still there (a cancellation can be lost in a race with the awaited result);
        after ``close_timeout`` seconds, log the tasks that would not end and leave them."""
        self._closed = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.close_timeout
        while self.tasks:
            pending = list(self.tasks)
            remaining = deadline - loop.time()
            if remaining <= 0:
                names = ", ".join(sorted(t.get_name() for t in pending))
                log.error(
                    "tasks did not end within %.1fs of being cancelled: %s",
                    self.close_timeout,
                    names,
                )
                return
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=min(remaining, CANCEL_AGAIN))
