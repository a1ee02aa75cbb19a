"""PeriodicTimer: fires repeatedly, counts failures without stopping, and stops when asked.

No assertion about timing beyond "fired at least N times within a generous bounded wait"."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from authex.agent.tasks import TaskSupervisor
from authex.agent.timers import PeriodicTimer

PERIOD_MS = 10
DEADLINE_S = 5.0


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while not condition():  # noqa: ASYNC110 (the timer's counters notify no one: poll)
            await asyncio.sleep(0.005)


def test_timer_fires_repeatedly() -> None:
    calls: list[int] = []

    async def fire() -> None:
        calls.append(1)

    async def go() -> PeriodicTimer:
        timer = PeriodicTimer("m", 0x3001, PERIOD_MS, fire)
        assert timer.task is None
        timer.start(TaskSupervisor())
        assert timer.task is not None and timer.task.get_name() == "timer-m-12289"
        await wait_until(lambda: timer.fired >= 3)
        await timer.stop()
        return timer

    timer = asyncio.run(go())
    assert timer.fired >= 3 and timer.failed == 0
    assert len(calls) == timer.fired


def test_failures_are_counted_and_the_timer_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    attempts = 0

    async def fire() -> None:
        nonlocal attempts
        attempts += 1
        if attempts % 2:
            raise RuntimeError("entry failed")

    async def go() -> PeriodicTimer:
        timer = PeriodicTimer("m", 7, PERIOD_MS, fire)
        timer.start(TaskSupervisor())
        await wait_until(lambda: timer.failed >= 2 and timer.fired >= 2)
        await timer.stop()
        return timer

    timer = asyncio.run(go())
    assert timer.failed >= 2 and timer.fired >= 2
    assert timer.failed + timer.fired == attempts
    assert "timer m/7 failed: entry failed" in caplog.text


def test_stop_cancels_the_task() -> None:
    async def fire() -> None:
        pass

    async def go() -> None:
        timer = PeriodicTimer("m", 1, PERIOD_MS, fire)
        timer.start(TaskSupervisor())
        task = timer.task
        assert task is not None
        await wait_until(lambda: timer.fired >= 1)
        await timer.stop()
        assert timer.task is None
        assert task.cancelled()
        fired = timer.fired
        await asyncio.sleep(5 * PERIOD_MS / 1000)
        assert timer.fired == fired  # nothing runs after stop
        await timer.stop()  # stopping twice is harmless

    asyncio.run(go())


def test_stop_cancels_a_fire_in_progress() -> None:
    entered: list[bool] = []

    async def go() -> None:
        gate = asyncio.Event()

        async def fire() -> None:
            entered.append(True)
            gate.set()
            await asyncio.sleep(60)  # a module that never answers

        timer = PeriodicTimer("m", 1, PERIOD_MS, fire)
        timer.start(TaskSupervisor())
        async with asyncio.timeout(DEADLINE_S):
            await gate.wait()
        async with asyncio.timeout(DEADLINE_S):
            await timer.stop()
        assert timer.task is None and timer.fired == 0 and timer.failed == 0

    asyncio.run(go())
    assert entered == [True]


def test_stop_before_start_is_a_no_op() -> None:
    async def fire() -> None:
        pass

    asyncio.run(PeriodicTimer("m", 1, PERIOD_MS, fire).stop())
