"""The node agent's routing logic without sockets: a stub platform and fake module processes.

Checks where sealed messages go (local module, remote agent, operator), what is dropped and how
everything is counted, that watchers and the retained buffer behave, that a module can only
emit on connections it is the source of, and the operator's send/request/timer commands.
"""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

import authex.agent.commands as commands_mod
import authex.agent.modules as modules_mod
from authex.agent.errors import CommandError
from authex.agent.node import NodeAgent
from authex.agent.operator import RETAINED_PER_CONNECTION, OperatorChannel
from authex.wire.codec import Message, decode_payload, encode_payload
from authex.wire.messages import (
    ErrorCode,
    Event,
    HostAccepted,
    HostCall,
    HostDeliver,
    HostEmit,
    HostRejected,
    Ok,
    RejectReason,
    Request,
    Response,
    Send,
    Status,
    StatusResult,
    Timer,
    WatchEvent,
)
from authex.wire.status import DropSource, PeerStatus, RejectedCount
from support.agent_rig import (
    FWD,
    IN,
    LOCAL,
    N2_ADDRESS,
    OP_IN,
    OP_OUT,
    OUT,
    RSP,
    Acks,
    StubPlatform,
    add_route,
    agent,
    command,
    connect_calls,
    counts,
    emit,
    fake,
    route,
)

__all__ = ["agent", "connect_calls"]  # fixtures


# --- route ---------------------------------------------------------------------------------


def test_event_to_local_module_is_delivered(agent: NodeAgent) -> None:
    route(agent, Event(LOCAL, FWD, 1, b"sealed"))
    assert fake(agent, "b").sent == [HostDeliver(LOCAL, FWD, 1, b"sealed")]
    assert fake(agent, "a").sent == []
    assert counts(agent, LOCAL) == (1, 0, 0, 0)


def test_response_goes_back_to_the_source_module(agent: NodeAgent) -> None:
    route(agent, Event(LOCAL, RSP, 9, b"answer"))
    assert fake(agent, "a").sent == [HostDeliver(LOCAL, RSP, 9, b"answer")]
    assert counts(agent, LOCAL) == (1, 0, 0, 0)


def test_event_for_module_not_running_is_dropped(agent: NodeAgent) -> None:
    fake(agent, "b").running = False
    route(agent, Event(LOCAL, FWD, 1, b"x"))
    assert fake(agent, "b").sent == []
    assert counts(agent, LOCAL) == (0, 0, 0, 1)


def test_event_for_module_not_loaded_is_dropped(agent: NodeAgent) -> None:
    del agent.modules.modules["b"]
    route(agent, Event(LOCAL, FWD, 1, b"x"))
    assert counts(agent, LOCAL) == (0, 0, 0, 1)


def test_event_without_route_is_dropped(agent: NodeAgent) -> None:
    route(agent, Event(77, FWD, 1, b"x"))
    assert 77 not in agent.ledger.stats  # counted node-wide, not per connection id
    status = agent.status()
    assert (status.unrouted, status.unrouted_sources) == (1, (DropSource("this node", 1),))
    assert all(not fake(agent, m).sent for m in ("a", "b"))


def test_event_to_remote_node_is_forwarded(agent: NodeAgent, connect_calls: list[str]) -> None:
    event = Event(OUT, FWD, 3, b"to c")
    route(agent, event)
    route(agent, Event(OUT, FWD, 4, b"again"))
    assert counts(agent, OUT) == (0, 2, 0, 0)
    stored = [e for _, e in agent.outbox.pending(N2_ADDRESS)]
    assert stored == [event, Event(OUT, FWD, 4, b"again")]  # durable before it is sent
    assert connect_calls == [N2_ADDRESS, N2_ADDRESS]
    assert list(agent.forwarder.peers) == [N2_ADDRESS]  # one link per peer


def test_event_to_operator_is_retained_and_counted(agent: NodeAgent) -> None:
    route(agent, Event(OP_OUT, FWD, 1, b"alert"))
    assert counts(agent, OP_OUT) == (0, 0, 1, 0)
    retained, _queue = agent.operator.subscribe(OP_OUT)
    assert retained == [WatchEvent(OP_OUT, 1, b"alert")]


# --- module emissions ----------------------------------------------------------------------


def test_module_emission_on_its_connection_is_routed(agent: NodeAgent) -> None:
    emit(agent, "a", HostEmit(LOCAL, FWD, 5, b"e"))
    emit(agent, "a", HostEmit(OUT, FWD, 6, b"f"))
    emit(agent, "b", HostEmit(OP_OUT, FWD, 7, b"g"))
    assert fake(agent, "b").sent == [HostDeliver(LOCAL, FWD, 5, b"e")]
    assert counts(agent, LOCAL) == (1, 0, 0, 0)
    assert counts(agent, OUT) == (0, 1, 0, 0)
    assert counts(agent, OP_OUT) == (0, 0, 1, 0)


def test_handler_response_is_routed_back(agent: NodeAgent) -> None:
    emit(agent, "b", HostEmit(LOCAL, RSP, 5, b"r"))  # b answers a's request
    emit(agent, "a", HostEmit(IN, RSP, 6, b"r2"))  # a answers c's request on n2
    assert fake(agent, "a").sent == [HostDeliver(LOCAL, RSP, 5, b"r")]
    assert counts(agent, IN) == (0, 1, 0, 0)


@pytest.mark.parametrize(
    ("module", "conn_id", "direction"),
    [
        ("b", LOCAL, FWD),  # b is the target of LOCAL, not its source
        ("a", LOCAL, RSP),  # only the target answers
        ("a", IN, FWD),  # c (on n2) is the source of IN
        ("b", OUT, FWD),  # a is the source of OUT
        ("a", OP_IN, FWD),  # the operator is the source of OP_IN
        ("a", 99, FWD),  # no route at all
    ],
)
def test_module_emitting_on_a_connection_it_does_not_source_is_dropped(
    agent: NodeAgent, module: str, conn_id: int, direction: int
) -> None:
    emit(agent, module, HostEmit(conn_id, direction, 1, b"forged"))
    unrouted = conn_id not in agent.ledger.routes.routes  # counted node-wide, not per id
    assert counts(agent, conn_id) == (0, 0, 0, 0 if unrouted else 1)
    assert agent.ledger.unrouted.total == (1 if unrouted else 0)
    assert all(not fake(agent, m).sent for m in ("a", "b"))
    assert agent.forwarder.peers == {}
    assert agent.operator.retained[conn_id] == type(agent.operator.retained[conn_id])()


def test_rejections_are_counted_by_reason(agent: NodeAgent) -> None:
    emit(agent, "b", HostRejected(LOCAL, FWD, 3, RejectReason.REPLAY))
    emit(agent, "b", HostRejected(LOCAL, FWD, 4, RejectReason.REPLAY))
    emit(agent, "b", HostRejected(LOCAL, FWD, 5, RejectReason.FORGED))
    emit(agent, "b", HostRejected(LOCAL, FWD, 6, 99))
    assert dict(agent.ledger.stats[LOCAL].rejected) == {"replay": 2, "forged": 1, "reason-99": 1}
    counters = agent.ledger.stats[LOCAL].counters(LOCAL, pending=0)
    assert counters.rejected == (
        RejectedCount(RejectReason.REPLAY, 2),
        RejectedCount(RejectReason.FORGED, 1),
        RejectedCount(99, 1),
    )
    assert counters.rejected_by_name() == {"replay": 2, "forged": 1, "reason-99": 1}
    status = agent.status().connection(LOCAL)
    assert status is not None and status.rejected == counters.rejected


def test_unexpected_module_message_is_ignored(agent: NodeAgent) -> None:
    emit(agent, "a", Ok())
    assert agent.ledger.stats == {}


# --- events from other agents ----------------------------------------------------------------


def test_data_event_for_a_local_module_is_delivered(agent: NodeAgent) -> None:
    acks = Acks()
    agent.on_data_event(Event(IN, FWD, 1, b"from c"), "n2", acks.to("in"))
    agent.on_data_event(Event(OUT, RSP, 2, b"c answers"), "n2", acks.to("rsp"))
    assert fake(agent, "a").sent == [
        HostDeliver(IN, FWD, 1, b"from c"),
        HostDeliver(OUT, RSP, 2, b"c answers"),
    ]
    assert counts(agent, IN) == (1, 0, 0, 0)
    assert acks.got == []  # acknowledged only once the module took it
    emit(agent, "a", HostAccepted(IN, FWD, 1))
    emit(agent, "a", HostRejected(OUT, RSP, 2, 2))  # refused for good: acknowledged too
    assert acks.got == ["in", "rsp"]


def test_resent_events_are_acknowledged_without_a_second_delivery(agent: NodeAgent) -> None:
    acks = Acks()
    agent.on_data_event(Event(IN, FWD, 1, b"one"), "n2", acks.to(1))
    agent.on_data_event(Event(IN, FWD, 1, b"one"), "n2", acks.to(2))  # in flight
    emit(agent, "a", HostAccepted(IN, FWD, 1))
    agent.on_data_event(Event(IN, FWD, 1, b"one"), "n2", acks.to(3))  # late resend
    assert fake(agent, "a").sent == [HostDeliver(IN, FWD, 1, b"one")]
    assert acks.got == [1, 2, 3]
    assert agent.ledger.stats[IN].duplicates == 2


def test_undeliverable_data_event_is_not_acknowledged(agent: NodeAgent) -> None:
    acks = Acks()
    fake(agent, "a").running = False
    agent.on_data_event(Event(IN, FWD, 1, b"x"), "n2", acks.to(1))
    assert acks.got == []  # the sender keeps it and offers it again
    fake(agent, "a").running = True
    agent.on_data_event(Event(IN, FWD, 1, b"x"), "n2", acks.to(2))
    assert fake(agent, "a").sent == [HostDeliver(IN, FWD, 1, b"x")]


def test_data_event_for_the_operator_is_handed_over(agent: NodeAgent) -> None:
    acks = Acks()
    agent.on_data_event(Event(OP_OUT, FWD, 1, b"x"), "n2", acks.to(1))
    assert counts(agent, OP_OUT) == (0, 0, 1, 0)
    assert acks.got == [1]


@pytest.mark.parametrize(("conn_id", "direction"), [(OUT, FWD), (IN, RSP), (42, FWD)])
def test_data_event_not_for_this_node_is_dropped(
    agent: NodeAgent, conn_id: int, direction: int
) -> None:
    # never bounced on to another agent (no forwarding loops through this node)
    agent.on_data_event(Event(conn_id, direction, 1, b"x"), "n2", Acks().to(0))
    unrouted = conn_id not in agent.ledger.routes.routes  # counted node-wide, not per id
    assert counts(agent, conn_id) == (0, 0, 0, 0 if unrouted else 1)
    assert agent.ledger.unrouted.total == (1 if unrouted else 0)
    assert agent.forwarder.peers == {}


# --- the operator: watchers, retained events, responses ----------------------------------------


def test_watchers_get_events_and_retained_is_bounded(agent: NodeAgent) -> None:
    agent.operator = agent.commands.operator = OperatorChannel(retained=3)
    early, first = agent.operator.subscribe(OP_OUT)
    assert early == []
    for counter in range(1, 6):
        route(agent, Event(OP_OUT, FWD, counter, b"e%d" % counter))
    got = [first.get_nowait() for _ in range(first.qsize())]
    assert [e.counter for e in got] == [1, 2, 3, 4, 5]
    retained, second = agent.operator.subscribe(OP_OUT)
    assert [e.counter for e in retained] == [3, 4, 5]  # the newest three
    agent.operator.unsubscribe(OP_OUT, first)
    route(agent, Event(OP_OUT, FWD, 6, b"e6"))
    assert first.empty()
    assert second.get_nowait() == WatchEvent(OP_OUT, 6, b"e6")
    assert counts(agent, OP_OUT) == (0, 0, 6, 0)


def test_default_retained_bound(agent: NodeAgent) -> None:
    for counter in range(RETAINED_PER_CONNECTION + 5):
        route(agent, Event(OP_OUT, FWD, counter, b""))
    retained, _ = agent.operator.subscribe(OP_OUT)
    assert len(retained) == RETAINED_PER_CONNECTION
    assert retained[0].counter == 5


def test_watchers_are_per_connection(agent: NodeAgent) -> None:
    add_route(agent, 6, ("n1", "a"), ("n1", ""))
    _, q5 = agent.operator.subscribe(OP_OUT)
    _, q6 = agent.operator.subscribe(6)
    route(agent, Event(6, FWD, 1, b"six"))
    assert q5.empty()
    assert q6.get_nowait().ciphertext == b"six"


def test_response_to_operator_request_resolves_it(agent: NodeAgent) -> None:
    async def go() -> None:
        future: asyncio.Future[HostEmit] = asyncio.get_running_loop().create_future()
        agent.operator.requests[(OP_IN, 8)] = future
        emit(agent, "a", HostEmit(OP_IN, RSP, 8, b"answer"))
        assert future.done() and future.result() == HostEmit(OP_IN, RSP, 8, b"answer")
        emit(agent, "a", HostEmit(OP_IN, RSP, 8, b"duplicate"))  # no second result
        assert future.result().ciphertext == b"answer"

    asyncio.run(go())
    retained, _ = agent.operator.subscribe(OP_IN)
    assert retained == []  # responses are not broadcast to watchers
    assert agent.ledger.stats[OP_IN].to_operator == 1
    assert agent.ledger.stats[OP_IN].dropped == 1  # the duplicate found nobody waiting


def test_response_nobody_waits_for_is_counted_as_dropped(agent: NodeAgent) -> None:
    emit(agent, "a", HostEmit(OP_IN, RSP, 8, b"late"))
    assert counts(agent, OP_IN) == (0, 0, 0, 1)


def test_operator_send_enters_at_the_target(agent: NodeAgent) -> None:
    reply = asyncio.run(command(agent, Send(OP_IN, 4, b"sealed")))
    assert reply == Ok()
    assert fake(agent, "a").sent == [HostDeliver(OP_IN, FWD, 4, b"sealed")]
    assert counts(agent, OP_IN) == (1, 0, 0, 0)


@pytest.mark.parametrize(
    ("conn_id", "message"),
    [(OUT, "operator events enter at the target"), (42, "no route for connection 42")],
)
def test_operator_send_elsewhere_is_refused(agent: NodeAgent, conn_id: int, message: str) -> None:
    with pytest.raises(CommandError, match=message) as caught:
        asyncio.run(command(agent, Send(conn_id, 1, b"x")))
    assert caught.value.code == ErrorCode.UNKNOWN_CONNECTION


def test_operator_request_gets_the_handlers_response(agent: NodeAgent) -> None:
    handler = fake(agent, "a")

    def answer(message: Message) -> None:
        assert isinstance(message, HostDeliver)
        response = HostEmit(message.conn_id, RSP, message.counter, b"re:" + message.ciphertext)
        asyncio.get_running_loop().call_soon(emit, agent, "a", response)

    handler.on_send = answer
    reply = asyncio.run(command(agent, Request(OP_IN, 12, b"q")))
    assert reply == Response(OP_IN, 12, b"re:q")
    assert agent.operator.requests == {}
    assert counts(agent, OP_IN) == (1, 0, 1, 0)


def test_operator_request_times_out(agent: NodeAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands_mod, "OPERATOR_REQUEST_TIMEOUT", 0.01)
    with pytest.raises(CommandError, match="did not respond in time") as caught:
        asyncio.run(command(agent, Request(OP_IN, 1, b"q")))
    assert caught.value.code == ErrorCode.TIMEOUT
    assert agent.operator.requests == {}


# --- timers and status -----------------------------------------------------------------------


def test_timer_command_fires_the_entry(agent: NodeAgent) -> None:
    async def go() -> None:
        assert await command(agent, Timer("b", 0x3001, modules_mod.MIN_TIMER_MS)) == Ok()
        for _ in range(500):
            if len(fake(agent, "b").requests) >= 2:
                break
            await asyncio.sleep(0.01)
        assert fake(agent, "b").requests[:2] == [HostCall(0x3001, 0, 0, b"")] * 2
        (timer,) = agent.status().timers
        assert timer.module == "b" and timer.entry_id == 0x3001 and timer.fired >= 2
        assert timer.period_ms == modules_mod.MIN_TIMER_MS
        assert await command(agent, Timer("b", 0x3001, 0)) == Ok()  # period 0 cancels
        assert agent.modules.timers == {}

    asyncio.run(go())


def test_timer_period_below_minimum_is_refused(agent: NodeAgent) -> None:
    with pytest.raises(CommandError, match="below") as caught:
        asyncio.run(command(agent, Timer("b", 0x3001, modules_mod.MIN_TIMER_MS - 1)))
    assert caught.value.code == ErrorCode.BAD_REQUEST
    assert agent.modules.timers == {}


def test_timer_for_stopped_module_is_refused(agent: NodeAgent) -> None:
    fake(agent, "b").running = False
    with pytest.raises(CommandError) as caught:
        asyncio.run(command(agent, Timer("b", 0x3001, 100)))
    assert caught.value.code == ErrorCode.MODULE_FAILED


def test_status_reports_modules_routes_counts_and_peers(agent: NodeAgent) -> None:
    route(agent, Event(LOCAL, FWD, 1, b"x"))
    route(agent, Event(OUT, FWD, 1, b"x"))
    route(agent, Event(99, FWD, 1, b"x"))
    reply = asyncio.run(command(agent, Status()))
    assert isinstance(reply, StatusResult)
    status = reply.status
    assert decode_payload(StatusResult, encode_payload(reply)) == reply  # it goes on the wire
    assert status.node == "n1" and status.platform == "" and status.emulated is False
    assert status.address == "127.0.0.1:7001" and status.tee == "native"
    assert {(m.name, m.instance, m.running) for m in status.modules} == {
        ("a", 1, True),
        ("b", 2, True),
    }
    assert [r.conn_id for r in status.routes] == [LOCAL, OUT, IN, OP_IN, OP_OUT]
    local, out = status.connection(LOCAL), status.connection(OUT)
    assert local is not None and local.delivered == 1 and local.pending == 1  # not taken yet
    assert out is not None and out.forwarded == 1 and out.pending == 1  # in the outbox
    assert status.connection(99) is None  # no route: counted node-wide, not per id
    assert status.unrouted == 1 and status.unrouted_sources == (DropSource("this node", 1),)
    assert [c.conn_id for c in status.connections] == [LOCAL, OUT]
    assert status.peers == (
        PeerStatus(
            address=N2_ADDRESS,
            connected=False,
            sent=0,
            resent=0,
            reconnects=0,
            outbox=1,
            refused=0,
        ),
    )


def test_close_stops_modules_timers_and_platform(agent: NodeAgent) -> None:
    platform = cast(StubPlatform, agent.platform)

    async def go() -> None:
        await command(agent, Timer("a", 0x3001, 1000))
        await agent.close()

    asyncio.run(go())
    assert agent.modules.modules == {} and agent.modules.timers == {}
    assert platform.closed
