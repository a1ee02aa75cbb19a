"""Run deployment steps concurrently and report every failure, not just the first.

Steps on different modules and nodes are independent: one failing must not cancel the others
(their progress is saved), and the user must see every failure with its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

from authex.errors import AuthexError


class StepsFailed(AuthexError):
    """Several independent steps failed; ``failures`` holds each one's error."""

    def __init__(self, failures: list[AuthexError]) -> None:
        lines = "\n".join(f"  - {failure}" for failure in failures)
        super().__init__(f"{len(failures)} step(s) failed:\n{lines}")
        self.failures = failures


async def collect_failures(steps: Iterable[Awaitable[Any]]) -> list[AuthexError]:
    """Await all steps concurrently; return their AuthexErrors (other exceptions propagate)."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    failures: list[AuthexError] = []
    for result in results:
        if isinstance(result, AuthexError):
            failures.append(result)
        elif isinstance(result, BaseException):
            raise result
    return failures


def raise_failures(failures: list[AuthexError]) -> None:
    """Raise the one failure as is, several as StepsFailed, none: return."""
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise StepsFailed(failures)


async def run_steps(steps: Iterable[Awaitable[Any]]) -> None:
    """Await all steps; raise the AuthexError (or StepsFailed) after all have finished."""
    raise_failures(await collect_failures(steps))
