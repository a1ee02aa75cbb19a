"""The agent's side of an update (spec/protocol.md §7.6), without sockets: a staged module
(NAME~TAG) has what is delivered to it held — counted as pending, not acknowledged — except the
state transfer from the instance it replaces; Promote stops the old instance, renames the staged
one everywhere and releases what was held in order; SwapKey reaches the module as HostSwapKey and
leaves the old connection's queued events to drain; RemoveRoute forgets a retired connection."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from authex.agent.errors import CommandError
from authex.agent.modules import LoadedModule
from authex.agent.node import NodeAgent
from authex.agent.process import ModuleProcess
from authex.agent.staging import HELD_LIMIT
from authex.wire.messages import (
    ErrorCode,
    Event,
    HostAccepted,
    HostDeliver,
    HostEmit,
    HostSwapKey,
    Ok,
    Promote,
    RemoveRoute,
    SwapKey,
)
from authex.wire.names import base_name, is_staged, staged_name, staged_tag, valid_name
from support.agent_rig import (
    FWD,
    LOCAL,
    OUT,
    Acks,
    FakeProcess,
    add_route,
    agent,
    command,
    connect_calls,
    emit,
    fake,
    route,
)

__all__ = ["agent", "connect_calls"]  # fixtures

NEW_IN = 10  # a -> b~u1 (the new connection replacing LOCAL)
TRANSFER = 11  # b -> b~u1 (the state transfer)
NEW_OUT = 12  # b~u1 -> c on n2


@pytest.fixture
def staged(agent: NodeAgent) -> FakeProcess:
    process = FakeProcess("b~u1")
    module = LoadedModule("b~u1", "native", 9, cast(ModuleProcess, process), 0.0)
    agent.modules.modules["b~u1"] = module
    agent.ledger.stage("b~u1")
    add_route(agent, NEW_IN, ("n1", "a"), ("n1", "b~u1"))
    add_route(agent, TRANSFER, ("n1", "b"), ("n1", "b~u1"))
    add_route(agent, NEW_OUT, ("n1", "b~u1"), ("n2", "c"))
    return process


def pending(agent: NodeAgent, conn_id: int) -> int:
    return agent.status().pending(conn_id)


def test_staged_names() -> None:
    assert valid_name("sensor") and valid_name("sensor-1_b") and valid_name("sensor~u1f2e")
    assert valid_name("app/sensor") and valid_name("app-2/sensor~u1")
    for bad in ("", "a b", "a~", "~u1", "a~u-1", "a~u~1", "A/b", "a/b/c", "/b", "../b", "a/"):
        assert not valid_name(bad), bad
    assert base_name("sensor~u1") == "sensor" and base_name("sensor") == "sensor"
    assert is_staged("sensor~u1") and not is_staged("sensor")
    assert staged_name("sensor", "u1") == "sensor~u1" and staged_tag("sensor~u1") == "u1"
    assert staged_tag("sensor") == ""


def test_deliveries_to_a_staged_module_are_held_and_pending(
    agent: NodeAgent, staged: FakeProcess
) -> None:
    for counter in (1, 2, 3):
        route(agent, Event(NEW_IN, FWD, counter, b"e%d" % counter))
    assert staged.sent == []  # held, not delivered
    assert pending(agent, NEW_IN) == 3
    module = agent.status().module("b~u1")
    assert module is not None and module.held == 3


def test_held_remote_events_are_not_acknowledged_until_taken(
    agent: NodeAgent, staged: FakeProcess
) -> None:
    acks = Acks()
    add_route(agent, 13, ("n2", "c"), ("n1", "b~u1"))
    agent.on_data_event(Event(13, FWD, 1, b"x"), "n2", acks.to(1))
    assert acks.got == [] and staged.sent == []
    asyncio.run(command(agent, Promote("b~u1")))
    assert staged.sent == [HostDeliver(13, FWD, 1, b"x")] and acks.got == []
    emit(agent, "b", HostAccepted(13, FWD, 1))
    assert acks.got == [1] and pending(agent, 13) == 0


def test_the_state_transfer_reaches_a_staged_module_at_once(
    agent: NodeAgent, staged: FakeProcess
) -> None:
    emit(agent, "b", HostEmit(TRANSFER, FWD, 1, b"state"))
    assert staged.sent == [HostDeliver(TRANSFER, FWD, 1, b"state")]
    assert pending(agent, TRANSFER) == 1
    emit(agent, "b~u1", HostAccepted(TRANSFER, FWD, 1))
    assert pending(agent, TRANSFER) == 0


def test_promote_replaces_the_old_instance_and_releases_in_order(
    agent: NodeAgent, staged: FakeProcess
) -> None:
    old = fake(agent, "b")
    route(agent, Event(LOCAL, FWD, 7, b"old"))  # still to the old instance
    for counter in (1, 2):
        route(agent, Event(NEW_IN, FWD, counter, b"n%d" % counter))
    assert asyncio.run(command(agent, Promote("b~u1"))) == Ok()
    assert not old.running and "b~u1" not in agent.modules.modules
    assert agent.modules.modules["b"].process is cast(ModuleProcess, staged)
    assert staged.name == "b" and agent.ledger.held == {}
    assert staged.sent == [HostDeliver(NEW_IN, FWD, 1, b"n1"), HostDeliver(NEW_IN, FWD, 2, b"n2")]
    assert agent.ledger.routes.routes[NEW_IN].to_module == "b"
    assert agent.ledger.routes.routes[NEW_OUT].from_module == "b"
    emit(agent, "b", HostEmit(NEW_OUT, FWD, 1, b"out"))  # the promoted module may send on it
    assert agent.ledger.stats[NEW_OUT].forwarded == 1 and agent.ledger.stats[NEW_OUT].dropped == 0
    route(agent, Event(NEW_IN, FWD, 3, b"n3"))  # no longer held
    assert staged.sent[-1] == HostDeliver(NEW_IN, FWD, 3, b"n3")


def test_promote_of_an_unknown_or_unstaged_module_is_refused(agent: NodeAgent) -> None:
    for name in ("b~u9", "b"):
        with pytest.raises(CommandError) as caught:
            asyncio.run(command(agent, Promote(name)))
        assert caught.value.code == ErrorCode.UNKNOWN_MODULE
    assert fake(agent, "b").running  # nothing was stopped


def test_a_staged_module_refuses_what_exceeds_its_hold(
    agent: NodeAgent, staged: FakeProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("authex.agent.staging.HELD_LIMIT", 10)
    assert HELD_LIMIT > 10
    acks = Acks()
    add_route(agent, 13, ("n2", "c"), ("n1", "b~u1"))
    agent.on_data_event(Event(13, FWD, 1, b"12345678"), "n2", acks.to(1))
    agent.on_data_event(Event(13, FWD, 2, b"12345678"), "n2", acks.to(2))
    assert acks.got == []
    assert (
        agent.ledger.stats[13].dropped == 1
    )  # refused: not acknowledged, the sender offers it again
    assert pending(agent, 13) == 1


def test_swap_key_reaches_the_module_and_the_old_connection_drains(agent: NodeAgent) -> None:
    route(agent, Event(OUT, FWD, 1, b"queued"))  # still in the outbox for n2
    reply = asyncio.run(command(agent, SwapKey("a", 20, OUT, 0x2001, 0, 1, 5, b"w" * 32)))
    assert reply == Ok()
    assert fake(agent, "a").requests[-1] == HostSwapKey(20, OUT, 0x2001, 0, 1, 5, b"w" * 32)
    assert pending(agent, OUT) == 1  # the old connection's event still goes out


def test_remove_route_forgets_a_retired_connection(agent: NodeAgent) -> None:
    route(agent, Event(OUT, FWD, 1, b"queued"))
    assert asyncio.run(command(agent, RemoveRoute(OUT))) == Ok()
    assert OUT not in agent.ledger.routes.routes and pending(agent, OUT) == 0
    assert asyncio.run(command(agent, RemoveRoute(999))) == Ok()  # unknown: not an error
