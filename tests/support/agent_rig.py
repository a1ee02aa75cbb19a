"""A node agent without sockets for unit tests: a stub platform, fake module processes and
helpers to route, emit and count (tests/unit/agent).  The delivery ledger alone is tested with
plain calls in tests/unit/agent/test_agent_ledger.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from authex.agent.config import NodeConfig
from authex.agent.modules import LoadedModule
from authex.agent.node import NodeAgent
from authex.agent.peers import PeerLink
from authex.agent.platform_client import PlatformClient
from authex.agent.process import ModuleProcess
from authex.agent.tenancy import Scope
from authex.wire.codec import Message
from authex.wire.messages import AddRoute, Direction, Event, HostCallResult, Status

FWD, RSP = Direction.FORWARD, Direction.RESPONSE
N2_ADDRESS = "127.0.0.1:7002"

# connection ids of the routes installed on n1
LOCAL = 1  # a -> b, both on n1
OUT = 2  # a (n1) -> c (n2)
IN = 3  # c (n2) -> a (n1)
OP_IN = 4  # operator -> a (n1), also requests to a's handler
OP_OUT = 5  # b (n1) -> operator


class FakeProcess:
    """What NodeAgent uses of a ModuleProcess."""

    def __init__(self, name: str, running: bool = True) -> None:
        self.name = name
        self.running = running
        self.sent: list[Message] = []
        self.requests: list[Message] = []
        self.measurement = bytes(range(32))
        self.pid: int | None = 4000
        self.exit_reason = ""
        self.on_send: Callable[[Message], None] | None = None
        self.persistent = False
        self.over_high_water = False  # the agent gives it nothing more while True

    def send(self, message: Message, request_id: int = 0) -> None:
        self.sent.append(message)
        if self.on_send is not None:
            self.on_send(message)

    async def request(self, message: Message) -> Message:
        self.requests.append(message)
        return HostCallResult(0, b"")

    async def stop(self) -> bool:
        self.running = False
        self.exit_reason = "stopped"
        return False


class StubPlatform:
    info = None

    def __init__(self) -> None:
        self.stopped: list[str] = []
        self.closed = False

    async def stop(self, name: str) -> bool:
        self.stopped.append(name)
        return False

    async def close(self) -> None:
        self.closed = True


RIG = "app"  # the deployment the rig's routes belong to


class RigScope(Scope):
    """The rig's modules are named without their deployment ("a", "b"): commands act on those
    names as they are (a real control link names them DEPLOYMENT/NAME on the node)."""

    def module(self, name: str) -> str:
        return name


async def command(agent: NodeAgent, message: Message) -> Message:
    """A control command of the node's administrator, bound to the rig's deployment (a Status
    unbound: it shows every module)."""
    bound = "" if isinstance(message, Status) else RIG
    return await agent.command(message, RigScope("operator", admin=True, deployment=bound))


def add_route(agent: NodeAgent, conn_id: int, src: tuple[str, str], dst: tuple[str, str]) -> None:
    addresses = {"n1": "127.0.0.1:7001", "n2": N2_ADDRESS}
    agent.ledger.add_route(
        AddRoute(conn_id, src[0], src[1], addresses[src[0]], dst[0], dst[1], addresses[dst[0]])
    )
    agent.tenancy.claim(RIG, conn_id, agent.config.name)


@pytest.fixture
def connect_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """PeerLink never opens a socket here: being told of new outbox events is recorded."""
    calls: list[str] = []

    def fake(self: PeerLink) -> None:
        calls.append(self.address)

    monkeypatch.setattr(PeerLink, "notify", fake)
    yield calls


@pytest.fixture
def agent(tmp_path: Path, connect_calls: list[str]) -> NodeAgent:
    config = NodeConfig("n1", "native", "127.0.0.1", 7001)
    a = NodeAgent(config, tmp_path, cast(PlatformClient, StubPlatform()))
    add_route(a, LOCAL, ("n1", "a"), ("n1", "b"))
    add_route(a, OUT, ("n1", "a"), ("n2", "c"))
    add_route(a, IN, ("n2", "c"), ("n1", "a"))
    add_route(a, OP_IN, ("n1", ""), ("n1", "a"))
    add_route(a, OP_OUT, ("n1", "b"), ("n1", ""))
    for name, instance in (("a", 1), ("b", 2)):
        load(a, FakeProcess(name), instance)
    return a


def load(agent: NodeAgent, process: FakeProcess, instance: int = 7) -> FakeProcess:
    module = LoadedModule(process.name, "native", instance, cast(ModuleProcess, process), 0.0)
    agent.modules.modules[process.name] = module
    agent.ledger.stage(process.name)
    return process


def fake(agent: NodeAgent, name: str) -> FakeProcess:
    return cast(FakeProcess, agent.modules.modules[name].process)


def in_loop(work: Callable[[], None]) -> None:
    """Run ``work`` in an event loop, as the agent does (forwarding defers the outbox commit
    to the end of the batch), and let what it deferred run."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:

        async def go() -> None:
            work()
            await asyncio.sleep(0)

        asyncio.run(go())
    else:
        work()


def emit(agent: NodeAgent, name: str, message: Message) -> None:
    """A frame from a module's host link."""
    in_loop(lambda: agent._from_module(agent.modules.modules[name].process, message))


def route(agent: NodeAgent, event: Event) -> None:
    in_loop(lambda: agent.apply(agent.ledger.route(event)))


class Acks:
    """An acknowledgement sink that records what it was told, labelled."""

    def __init__(self) -> None:
        self.got: list[object] = []

    def to(self, label: object) -> Label:
        return Label(self, label)


class Label:
    def __init__(self, acks: Acks, label: object) -> None:
        self.acks = acks
        self.label = label

    def acknowledge(self, conn_id: int, direction: int, counter: int) -> None:
        self.acks.got.append(self.label)


def counts(agent: NodeAgent, conn_id: int) -> tuple[int, int, int, int]:
    s = agent.ledger.stats[conn_id]
    return s.delivered, s.forwarded, s.to_operator, s.dropped
