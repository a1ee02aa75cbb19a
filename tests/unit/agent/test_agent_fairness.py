"""Back-pressure per module, never node-wide (agent/node.py, agent/ledger.py, agent/process.py).

- the ledger refuses a peer's event for a busy module (not handed, not acknowledged: its sender
  offers it again) and hands over events for every other module; what nobody would offer again
  (a module's emission, the operator's send) is not refused for that;
- a data link never waits for a busy module;
- a module that emits towards a busy module is not read until that module drains — unless the
  busy module waits for it (a cycle), which would be a deadlock;
- the operator's send and request to a busy module are refused with an error saying why;
- stopping a module that does not read has a deadline, and so has a request to it;
- a peer link resends the oldest unacknowledged event even while later ones are acknowledged,
  with a growing wait.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import cast

import pytest

import authex.agent.process as process_mod
from authex.agent.batch import Batcher
from authex.agent.errors import CommandError
from authex.agent.ledger import DeliveryLedger
from authex.agent.node import NodeAgent
from authex.agent.outbox import Outbox
from authex.agent.peers import RESEND_AFTER, RESEND_MAX, PeerLink
from authex.agent.process import HIGH_WATER, ModuleProcess
from authex.agent.registry import ModuleRecord, Registry, RegistryStore
from authex.agent.tasks import TaskSupervisor
from authex.errors import AuthexTimeoutError
from authex.wire.codec import Message
from authex.wire.messages import (
    AddRoute,
    ErrorCode,
    Event,
    HostAccepted,
    HostCall,
    HostDeliver,
    HostEmit,
    Request,
    Send,
)
from support.agent_rig import (
    FWD,
    IN,
    LOCAL,
    OP_IN,
    FakeProcess,
    add_route,
    agent,
    command,
    connect_calls,
    emit,
    fake,
    in_loop,
)

__all__ = ["agent", "connect_calls"]  # fixtures
IN_B = 6  # c (n2) -> b (n1)


class Sink:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def acknowledge(self, conn_id: int, direction: int, counter: int) -> None:
        self.acked.append(counter)


# --- the ledger ------------------------------------------------------------------------------


def ledger_with(busy: set[str]) -> DeliveryLedger:
    ledger = DeliveryLedger("n1", running=lambda name: True, busy=lambda name: name in busy)
    n1, n2 = "127.0.0.1:7001", "127.0.0.1:7002"
    ledger.add_route(AddRoute(IN, "n2", "c", n2, "n1", "a", n1))
    ledger.add_route(AddRoute(IN_B, "n2", "c", n2, "n1", "b", n1))
    ledger.add_route(AddRoute(LOCAL, "n1", "a", n1, "n1", "b", n1))
    return ledger


def test_a_peers_event_for_a_busy_module_is_offered_again_later() -> None:
    busy = {"a"}
    ledger = ledger_with(busy)
    sink = Sink()
    refused = ledger.from_peer(Event(IN, FWD, 1, b"for a"), "n2", sink)
    assert refused == []  # not handed, not acknowledged, not logged: back-pressure
    assert ledger.inflight[IN] == 0 and ledger.stats[IN].delivered == 0
    assert ledger.stats[IN].dropped == 0  # nothing is lost: the sender keeps it
    handed = ledger.from_peer(Event(IN_B, FWD, 1, b"for b"), "n2", sink)
    assert [type(a).__name__ for a in handed] == ["Deliver"]  # the other module goes on
    busy.clear()  # a drained: the sender's resend is delivered
    again = ledger.from_peer(Event(IN, FWD, 1, b"for a"), "n2", sink)
    assert [type(a).__name__ for a in again] == ["Deliver"]
    assert [type(a).__name__ for a in ledger.taken(IN, FWD, 1, True)] == ["Acknowledge"]


def test_what_nobody_would_offer_again_is_not_refused_for_being_busy() -> None:
    ledger = ledger_with({"b"})
    emitted = ledger.from_module("a", HostEmit(LOCAL, FWD, 1, b"from a"))  # gone from a
    assert [type(a).__name__ for a in emitted] == ["Deliver"]
    sent = ledger.deliver("b", HostDeliver(IN_B, FWD, 1, b"x"))  # the operator's send
    assert [type(a).__name__ for a in sent] == ["Deliver"]


# --- the node --------------------------------------------------------------------------------


class Slow(FakeProcess):
    """A module process over its high water until ``drained`` is set."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.over_high_water = True
        self.drained = asyncio.Event()
        self.waiting = asyncio.Event()  # a reader waits for it to drain
        self.waited = 0

    async def drain(self) -> None:
        self.waited += 1
        self.waiting.set()
        await self.drained.wait()
        self.over_high_water = False


def slow(agent: NodeAgent, name: str) -> Slow:
    process = Slow(name)
    agent.modules.modules[name].process = cast(ModuleProcess, process)
    return process


def test_a_data_link_never_waits_for_a_busy_module(agent: NodeAgent) -> None:
    add_route(agent, IN_B, ("n2", "c"), ("n1", "b"))
    slow(agent, "a")
    sink = Sink()

    def go() -> None:  # no await anywhere: nothing node-wide is waited for
        agent.on_data_event(Event(IN, FWD, 1, b"for a"), "n2", sink)
        agent.on_data_event(Event(IN_B, FWD, 1, b"for b"), "n2", sink)

    in_loop(go)
    assert fake(agent, "a").sent == []
    assert fake(agent, "b").sent == [HostDeliver(IN_B, FWD, 1, b"for b")]


def test_a_module_feeding_a_busy_one_is_not_read_until_it_drains(agent: NodeAgent) -> None:
    b = slow(agent, "b")
    source = agent.modules.modules["a"].process

    async def go() -> None:
        emit(agent, "a", HostEmit(LOCAL, FWD, 1, b"to b"))  # delivered: it is gone from a
        assert b.sent == [HostDeliver(LOCAL, FWD, 1, b"to b")]
        held = asyncio.create_task(agent._hold(source))
        await asyncio.wait_for(b.waiting.wait(), 10)
        assert not held.done()  # a's reader waits
        b.drained.set()
        await asyncio.wait_for(held, 10)
        emit(agent, "a", HostAccepted(IN, FWD, 1))  # fed nobody: its next hold is immediate
        await asyncio.wait_for(agent._hold(source), 10)

    asyncio.run(go())


def test_a_wait_that_would_close_a_cycle_is_not_started(agent: NodeAgent) -> None:
    b = slow(agent, "b")
    source = agent.modules.modules["a"].process

    async def go() -> None:
        agent._waiting_for["b"] = "a"  # b's reader waits for a (b fed a, which is busy)
        emit(agent, "a", HostEmit(LOCAL, FWD, 1, b"to b"))
        await asyncio.wait_for(agent._hold(source), 10)  # a goes on being read: no deadlock

    asyncio.run(go())
    assert b.waited == 0


@pytest.mark.parametrize("message", [Send(OP_IN, 1, b"x"), Request(OP_IN, 1, b"x")])
def test_the_operators_events_for_a_busy_module_are_refused(
    agent: NodeAgent, message: Message
) -> None:
    slow(agent, "a")
    with pytest.raises(CommandError) as caught:
        asyncio.run(command(agent, message))
    assert caught.value.code == ErrorCode.REJECTED
    assert "module 'a' on node n1 is not reading what it is sent (more than 1 MiB" in str(
        caught.value.message
    )
    assert fake(agent, "a").sent == []


# --- a module process that does not read -----------------------------------------------------


async def unread_module(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[ModuleProcess, socket.socket, list[str]]:
    """A ModuleProcess whose module end never reads, holding more than its high water."""
    monkeypatch.setattr(process_mod, "STOP_DEADLINE", 0.05)
    ours, theirs = socket.socketpair()
    stops: list[str] = []

    async def stop_hook() -> bool:
        stops.append("stop")
        theirs.close()
        return True  # the platform had to kill it

    process = ModuleProcess("m", lambda p, m: None, stop_hook, TaskSupervisor(), Batcher())
    _, process._writer = await asyncio.open_connection(sock=ours)
    process._open = True
    for counter in range(4):
        process.send(HostDeliver(1, FWD, counter + 1, bytes(HIGH_WATER // 2)))
    process._flush()
    return process, theirs, stops


def test_stopping_a_module_that_does_not_read_has_a_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def go() -> None:
        process, _, stops = await unread_module(monkeypatch)
        assert process.over_high_water
        assert await asyncio.wait_for(process.stop(), 10) is True
        assert stops == ["stop"]
        assert process.exit_reason.startswith("killed (SIGKILL)")
        assert not process.over_high_water

    asyncio.run(go())


def test_a_request_to_a_module_that_does_not_read_times_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def go() -> None:
        process, theirs, _ = await unread_module(monkeypatch)
        with pytest.raises(AuthexTimeoutError, match="no reply to HostCall"):
            await asyncio.wait_for(process.request(HostCall(1, 0, 0, b""), timeout=0.05), 10)
        theirs.close()
        process._writer.transport.abort()  # type: ignore[union-attr]

    asyncio.run(go())


# --- peer links ------------------------------------------------------------------------------


class OldestOnly:
    """The part of the outbox that PeerLink.resend_due reads."""

    def __init__(self) -> None:
        self.row: int | None = None

    def oldest(self, peer: str) -> int | None:
        return self.row


def test_the_oldest_unacknowledged_event_is_resent_with_a_growing_wait() -> None:
    outbox = OldestOnly()
    link = PeerLink(
        "n1", "n2:1", cast(Outbox, outbox), lambda a, e: None, TaskSupervisor(), Batcher()
    )
    link._cursor = 100  # rows up to 100 were written on this link
    outbox.row = 5
    t = 1000.0
    assert not link.resend_due(t)  # first seen the oldest
    link.acknowledged()  # later events are acknowledged: they do not hide the oldest one
    assert not link.resend_due(t + RESEND_AFTER / 2)
    assert link.resend_due(t + RESEND_AFTER + 0.1)
    assert not link.resend_due(t + RESEND_AFTER + 0.1 + RESEND_AFTER + 0.1)  # now waits twice
    assert link.resend_due(t + RESEND_AFTER + 0.1 + 2 * RESEND_AFTER + 0.2)
    waits = []
    now = t + 100
    for _ in range(6):
        link._next_check = 0.0
        start = now
        while not link.resend_due(now):
            now += 0.5
        waits.append(now - start)
    assert max(waits) <= RESEND_MAX + 0.5  # the wait grows, up to RESEND_MAX
    outbox.row = 6  # the oldest was acknowledged: progress, the wait starts again
    link._next_check = 0.0
    assert not link.resend_due(now)
    assert link._resend_wait == RESEND_AFTER
    outbox.row = 101  # nothing written waits for an answer
    link._next_check = 0.0
    assert not link.resend_due(now + 100)


def test_the_registry_keeps_a_modules_memory_limit(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path)
    record = ModuleRecord("m", "native", 1, "aa", "bb", False, 64 << 20)
    store.save(Registry({"m": record}))
    assert store.load().modules["m"].memory == 64 << 20
    text = store.path.read_text().replace(', "memory": 67108864', "")  # an older registry
    store.path.write_text(text)
    assert store.load().modules["m"].memory == 0  # the platform's default
