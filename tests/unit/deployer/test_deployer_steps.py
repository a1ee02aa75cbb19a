"""run_steps: every independent step runs to its end, and every failure is reported."""

from __future__ import annotations

import asyncio

import pytest

from authex.deployer.steps import StepsFailed, run_steps
from authex.errors import AttestationError, AuthexError, RemoteError


class Recorder:
    def __init__(self) -> None:
        self.finished: list[str] = []

    async def ok(self, name: str, delay: float = 0.0) -> str:
        await asyncio.sleep(delay)
        self.finished.append(name)
        return name

    async def fail(self, error: BaseException, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        raise error


def test_all_succeed() -> None:
    rec = Recorder()
    asyncio.run(run_steps([rec.ok("a"), rec.ok("b", 0.001), rec.ok("c")]))
    assert sorted(rec.finished) == ["a", "b", "c"]


def test_no_steps() -> None:
    asyncio.run(run_steps([]))


def test_one_failure_is_reraised_as_is_after_the_others_finish() -> None:
    rec = Recorder()
    error = AttestationError("bad evidence", where="module a on node n1")
    with pytest.raises(AttestationError) as caught:
        asyncio.run(run_steps([rec.fail(error), rec.ok("slow", 0.01), rec.ok("b")]))
    assert caught.value is error
    assert sorted(rec.finished) == ["b", "slow"]  # the failure cancelled nothing


def test_several_failures_are_listed_each_with_its_place() -> None:
    rec = Recorder()
    first = AttestationError("bad evidence", where="module a")
    second = RemoteError("no such module", where="node n2")
    with pytest.raises(StepsFailed) as caught:
        asyncio.run(run_steps([rec.fail(first), rec.ok("x", 0.005), rec.fail(second, 0.001)]))
    assert caught.value.failures == [first, second]
    text = str(caught.value)
    assert text.startswith("2 step(s) failed:")
    assert "  - module a: bad evidence" in text
    assert "  - node n2: no such module" in text
    assert isinstance(caught.value, AuthexError)
    assert rec.finished == ["x"]


def test_a_non_authex_exception_propagates() -> None:
    rec = Recorder()
    with pytest.raises(ZeroDivisionError):
        asyncio.run(
            run_steps([rec.fail(AttestationError("x")), rec.fail(ZeroDivisionError()), rec.ok("y")])
        )
    assert rec.finished == ["y"]
