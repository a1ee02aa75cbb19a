"""Helpers for integration tests: run deployer commands in-process against real agents."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from authex.deployer import operations
from authex.deployer.client import operator_context
from authex.deployer.cluster import LocalCluster
from authex.deployer.deploy import DeployReport, deploy
from authex.deployer.session import Session
from authex.deployer.state import StateStore
from authex.descriptor import Descriptor, load_descriptor

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


class App:
    """A deployed application in a test: the descriptor plus in-process operator commands."""

    def __init__(self, descriptor: Descriptor) -> None:
        self.descriptor = descriptor
        self.progress: list[str] = []

    def session(self, *, exclusive: bool = True) -> Session:
        return Session(
            self.descriptor,
            StateStore.of(self.descriptor),
            self.progress.append,
            allow_emulated=True,  # as `authex up` does for local development
            exclusive=exclusive,
        )

    def with_session(self, body: Callable[[Session], Awaitable[T]], *, exclusive: bool = True) -> T:
        async def go() -> T:
            async with self.session(exclusive=exclusive) as session:
                return await body(session)

        return asyncio.run(go())

    def deploy(self) -> DeployReport:
        return self.with_session(deploy)

    def status(self) -> operations.StatusReport:
        async def body(session: Session) -> operations.StatusReport:
            return operations.status_report(session, await session.all_status())

        return self.with_session(body, exclusive=False)

    def operator_tls(self, node: str) -> ssl.SSLContext:
        """The operator's mutual-TLS context for ``node`` (for raw control links in tests)."""
        session = self.session()
        store = session.store
        identity = session.trust().node(node, self.descriptor.node(node).tee).identity
        cert, key = store.operator_tls()
        return operator_context(identity, cert, key)

    def connection(self, name: str) -> operations.ConnectionRow:
        return next(c for c in self.status()["connections"] if c["name"] == name)

    def call(self, module: str, entry: str, arg: bytes = b"") -> operations.CallOutcome:
        return self.with_session(lambda s: operations.call(s, module, entry, arg))

    def send(self, connection: str, data: bytes) -> int:
        return self.with_session(lambda s: operations.send(s, connection, data))

    def request(self, connection: str, data: bytes) -> bytes:
        return self.with_session(lambda s: operations.request(s, connection, data))

    def watch(self, connection: str, count: int, timeout: float = 20.0) -> list[bytes]:
        async def body(session: Session) -> list[bytes]:
            seen: list[bytes] = []

            async def collect() -> None:
                async for _, plaintext in operations.watch(session, connection):
                    seen.append(plaintext)
                    if len(seen) >= count:
                        return

            await asyncio.wait_for(collect(), timeout)
            return seen

        return self.with_session(body)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
        """Poll until ``check`` holds; a bounded wait, not a timing assertion."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


@contextmanager
def running_app(folder: Path) -> Iterator[App]:
    descriptor = load_descriptor(folder / "descriptor.yaml")
    cluster = LocalCluster(descriptor)
    cluster.start(lambda _: None)
    try:
        yield App(descriptor)
    finally:
        cluster.stop()


@contextmanager
def deployed_cluster(descriptor: Descriptor) -> Iterator[tuple[LocalCluster, App]]:
    """Local agents for ``descriptor``, started and deployed; every agent stopped afterwards
    (also when starting or deploying fails)."""
    cluster = LocalCluster(descriptor)
    try:
        cluster.start(lambda _: None)
        app = App(descriptor)
        app.deploy()
        yield cluster, app
    finally:
        cluster.stop()
