"""The agent's task supervisor: no background task fails silently.  Waits are bounded on
conditions; nothing here depends on timing."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

import authex.agent.tasks as tasks_mod
from authex.agent.tasks import TaskSupervisor

DEADLINE_S = 10.0


def test_a_kept_task_that_fails_is_logged_and_started_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks_mod, "RESTART_START", 0.001)
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("database is locked")

    async def go() -> TaskSupervisor:
        tasks = TaskSupervisor()
        task = tasks.keep("peer-x", flaky)
        async with asyncio.timeout(DEADLINE_S):
            await task
        return tasks

    with caplog.at_level(logging.ERROR, logger="authex.agent.tasks"):
        tasks = asyncio.run(go())
    assert len(runs) == 3 and tasks.restarts == 2
    failures = [r for r in caplog.records if "task peer-x failed" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info for r in failures)  # with the traceback
    assert tasks.tasks == set() and not tasks.stopping.is_set()


def test_a_critical_task_that_fails_stops_its_owner(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise OSError("listener gone")

    async def go() -> TaskSupervisor:
        tasks = TaskSupervisor()
        tasks.spawn("accept", broken, critical=True)
        async with asyncio.timeout(DEADLINE_S):
            await tasks.stopping.wait()
        return tasks

    with caplog.at_level(logging.ERROR, logger="authex.agent.tasks"):
        tasks = asyncio.run(go())
    assert isinstance(tasks.failed, OSError)
    assert any("task accept failed: listener gone" in r.getMessage() for r in caplog.records)


def test_an_ordinary_task_that_fails_is_logged_and_forgotten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise ValueError("bad frame")

    async def go() -> TaskSupervisor:
        tasks = TaskSupervisor()
        task = tasks.spawn("link-1", broken)
        async with asyncio.timeout(DEADLINE_S):
            await asyncio.wait({task})
        return tasks

    with caplog.at_level(logging.ERROR, logger="authex.agent.tasks"):
        tasks = asyncio.run(go())
    assert tasks.failed is None and not tasks.stopping.is_set() and tasks.tasks == set()
    assert any("task link-1 failed: bad frame" in r.getMessage() for r in caplog.records)


def test_close_cancels_and_waits_for_every_task() -> None:
    ended: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(name)

    async def go() -> TaskSupervisor:
        tasks = TaskSupervisor()
        tasks.spawn("a", lambda: forever("a"))
        tasks.keep("b", lambda: forever("b"))
        await asyncio.sleep(0)
        await tasks.close()
        return tasks

    tasks = asyncio.run(go())
    assert sorted(ended) == ["a", "b"] and tasks.tasks == set() and tasks.failed is None


def test_close_cancels_again_a_task_that_lost_its_cancellation() -> None:
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # lost, as one racing a result can be
            await asyncio.Event().wait()
        await asyncio.Event().wait()  # the second cancellation ends it

    async def go() -> TaskSupervisor:
        tasks = TaskSupervisor()
        tasks.spawn("stubborn", stubborn)
        await asyncio.sleep(0)
        async with asyncio.timeout(DEADLINE_S):
            await tasks.close()
        return tasks

    assert asyncio.run(go()).tasks == set()


def test_close_gives_up_on_a_task_that_never_ends(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks_mod, "CANCEL_AGAIN", 0.01)
    release = asyncio.Event()

    async def deaf() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    async def go() -> list[str]:
        tasks = TaskSupervisor(close_timeout=0.05)
        task = tasks.spawn("deaf", deaf)
        await asyncio.sleep(0)
        async with asyncio.timeout(DEADLINE_S):
            await tasks.close()
        names = [t.get_name() for t in tasks.tasks]
        release.set()
        await task
        return names

    with caplog.at_level(logging.ERROR, logger="authex.agent.tasks"):
        assert asyncio.run(go()) == ["deaf"]
    assert any("did not end" in r.getMessage() and "deaf" in r.getMessage() for r in caplog.records)
