"""The delivery ledger with plain calls: no event loop, no sockets, no fakes of the agent.

Covers routing decisions and the exactly-once cases that the fault tests (tests/faults) check
end to end: resends while a copy is with the module and after it was taken, a forged copy
before the genuine one, a module that goes away before answering, re-keying, staged modules
that hold their deliveries until promoted, retired connections and a reset; and that what
comes for connection ids without a route costs no state per id (a bounded node-wide count).
"""

from __future__ import annotations

import pytest

from authex.agent.ledger import (
    NO_ROUTE,
    NOT_HERE,
    UNROUTED_SOURCES,
    Acknowledge,
    Action,
    Deliver,
    DeliveryLedger,
    Forward,
    ToOperator,
    Warn,
)
from authex.wire.messages import (
    AddRoute,
    Direction,
    Event,
    HostAccepted,
    HostDeliver,
    HostEmit,
    HostRejected,
    RejectReason,
)

FWD, RSP = Direction.FORWARD, Direction.RESPONSE
N1, N2 = "127.0.0.1:7001", "127.0.0.1:7002"
LOCAL, OUT, IN, OP_IN, OP_OUT = 1, 2, 3, 4, 5


class Sink:
    """An acknowledgement sink (a data link); the ledger only hands it back in actions."""

    def __init__(self, name: str) -> None:
        self.name = name

    def acknowledge(self, conn_id: int, direction: int, counter: int) -> None:
        raise AssertionError("the ledger never calls a sink itself")


def route(conn_id: int, src: tuple[str, str], dst: tuple[str, str]) -> AddRoute:
    addresses = {"n1": N1, "n2": N2}
    return AddRoute(conn_id, src[0], src[1], addresses[src[0]], dst[0], dst[1], addresses[dst[0]])


@pytest.fixture
def running() -> set[str]:
    return {"a", "b"}


@pytest.fixture
def ledger(running: set[str]) -> DeliveryLedger:
    led = DeliveryLedger("n1", running=lambda name: name in running)
    led.add_route(route(LOCAL, ("n1", "a"), ("n1", "b")))
    led.add_route(route(OUT, ("n1", "a"), ("n2", "c")))
    led.add_route(route(IN, ("n2", "c"), ("n1", "a")))
    led.add_route(route(OP_IN, ("n1", ""), ("n1", "a")))
    led.add_route(route(OP_OUT, ("n1", "b"), ("n1", "")))
    for name in running:
        led.stage(name)
    return led


def delivered(actions: list[Action]) -> list[tuple[str, HostDeliver]]:
    return [(a.module, a.message) for a in actions if isinstance(a, Deliver)]


def acked(actions: list[Action]) -> list[tuple[str, int, int, int]]:
    return [
        (a.sink.name, a.conn_id, a.direction, a.counter)  # type: ignore[attr-defined]
        for a in actions
        if isinstance(a, Acknowledge)
    ]


def warned(actions: list[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Warn)]


# --- where messages go -------------------------------------------------------------------------


def test_routing_decisions(ledger: DeliveryLedger) -> None:
    assert ledger.route(Event(LOCAL, FWD, 1, b"x")) == [
        Deliver("b", HostDeliver(LOCAL, FWD, 1, b"x"))
    ]
    assert ledger.route(Event(LOCAL, RSP, 2, b"r")) == [
        Deliver("a", HostDeliver(LOCAL, RSP, 2, b"r"))
    ]
    assert ledger.route(Event(OUT, FWD, 3, b"y")) == [Forward(N2, Event(OUT, FWD, 3, b"y"))]
    assert ledger.route(Event(OP_OUT, FWD, 4, b"z")) == [ToOperator(Event(OP_OUT, FWD, 4, b"z"))]
    assert warned(ledger.route(Event(99, FWD, 1, b""))) == [
        "no route for connection 99 (from this node); dropped"
    ]
    assert ledger.unrouted.total == 1 and 99 not in ledger.stats
    assert ledger.stats[LOCAL].delivered == 2


def test_only_the_source_module_may_emit(ledger: DeliveryLedger) -> None:
    assert ledger.from_module("a", HostEmit(OUT, FWD, 1, b"e")) == [
        Forward(N2, Event(OUT, FWD, 1, b"e"))
    ]
    actions = ledger.from_module("b", HostEmit(OUT, FWD, 2, b"forged"))
    assert warned(actions) == ["module b emitted on connection 2 it is not the source of"]
    assert ledger.stats[OUT].dropped == 1


def test_a_module_not_running_gets_nothing(ledger: DeliveryLedger, running: set[str]) -> None:
    running.discard("b")
    actions = ledger.route(Event(LOCAL, FWD, 1, b"x"))
    assert delivered(actions) == [] and ledger.stats[LOCAL].dropped == 1
    assert ledger.pending() == {}


def test_events_from_peers_for_other_nodes_are_never_bounced_on(ledger: DeliveryLedger) -> None:
    for conn_id, direction in ((OUT, FWD), (IN, RSP), (42, FWD)):
        actions = ledger.from_peer(Event(conn_id, direction, 1, b"x"), "n2", Sink("s"))
        assert [type(a) for a in actions] == [Warn]
    assert ledger.awaiting == {} and ledger.pending() == {}
    assert ledger.stats[OUT].dropped == 1 and ledger.stats[IN].dropped == 1  # routed: counted
    assert 42 not in ledger.stats and ledger.unrouted.total == 1  # no route: node-wide only


# --- what comes for connections without a route --------------------------------------------------


def test_events_without_a_route_keep_no_state_per_connection_id(ledger: DeliveryLedger) -> None:
    sink = Sink("s")
    for conn_id in range(1000, 21_000):
        actions = ledger.from_peer(Event(conn_id, FWD, 1, b"x"), "mallory@10.0.0.9", sink)
        assert actions == [
            Warn(
                conn_id,
                f"no route for connection {conn_id} (from mallory@10.0.0.9); dropped",
                NO_ROUTE,
                "mallory@10.0.0.9",
            )
        ]
    assert sorted(ledger.stats) == []  # nothing per id, nothing owed, nothing in flight
    assert ledger.awaiting == {} and ledger.inflight == {} and ledger.delivered_upto == {}
    assert ledger.unrouted.total == 20_000
    assert ledger.unrouted.top() == [("mallory@10.0.0.9", 20_000)]


def test_the_sources_of_unrouted_events_are_bounded_and_the_total_exact(
    ledger: DeliveryLedger,
) -> None:
    heavy = "flood@10.0.0.1"
    for n in range(5 * UNROUTED_SOURCES):  # many small sources, one big one among them
        ledger.from_peer(Event(5000 + n, FWD, 1, b"x"), f"p{n}@10.0.1.{n}", Sink("s"))
        for _ in range(3):
            ledger.from_peer(Event(9000 + n, FWD, 1, b"x"), heavy, Sink("s"))
    top = ledger.unrouted.top()
    assert len(top) == UNROUTED_SOURCES
    assert top[0] == (heavy, 15 * UNROUTED_SOURCES)  # the biggest stays, its count exact
    assert ledger.unrouted.total == 20 * UNROUTED_SOURCES
    assert sum(n for _, n in top) + ledger.unrouted.others == ledger.unrouted.total


def test_a_module_emitting_on_an_unknown_connection_is_counted_node_wide(
    ledger: DeliveryLedger,
) -> None:
    actions = ledger.from_module("a", HostEmit(777, FWD, 1, b"e"))
    assert [(a.kind, a.source) for a in actions if isinstance(a, Warn)] == [(NO_ROUTE, "module a")]
    rejected = ledger.from_module("a", HostRejected(778, FWD, 1, RejectReason.FORGED))
    assert len(warned(rejected)) == 1
    assert 777 not in ledger.stats and 778 not in ledger.stats
    assert ledger.unrouted.top() == [("module a", 1)]


def test_warnings_peers_cause_in_bulk_say_their_kind_and_source(ledger: DeliveryLedger) -> None:
    actions = ledger.from_peer(Event(OUT, FWD, 1, b"x"), "n2@10.0.0.2", Sink("s"))
    assert [(a.kind, a.source) for a in actions if isinstance(a, Warn)] == [
        (NOT_HERE, "n2@10.0.0.2")
    ]


def test_a_retired_connection_counts_as_unrouted_and_reset_clears_the_summary(
    ledger: DeliveryLedger,
) -> None:
    ledger.from_peer(Event(OUT, FWD, 1, b"x"), "n2", Sink("s"))
    ledger.remove_route(OUT)
    ledger.from_peer(Event(OUT, FWD, 2, b"x"), "n2", Sink("s"))
    assert ledger.stats[OUT].dropped == 1  # its counts stay (spec/protocol.md, RemoveRoute)
    assert ledger.unrouted.total == 1
    ledger.reset()
    assert ledger.unrouted.total == 0 and ledger.unrouted.top() == []


def test_an_event_for_the_operator_from_a_peer_is_acknowledged_at_once(
    ledger: DeliveryLedger,
) -> None:
    actions = ledger.from_peer(Event(OP_OUT, FWD, 1, b"x"), "n2", Sink("s"))
    assert actions[0] == ToOperator(Event(OP_OUT, FWD, 1, b"x"))
    assert acked(actions) == [("s", OP_OUT, FWD, 1)]


# --- exactly once ------------------------------------------------------------------------------


def test_acknowledged_only_when_the_module_took_it(ledger: DeliveryLedger) -> None:
    actions = ledger.from_peer(Event(IN, FWD, 1, b"one"), "n2", Sink("s"))
    assert delivered(actions) == [("a", HostDeliver(IN, FWD, 1, b"one"))] and not acked(actions)
    assert ledger.pending()[IN] == 1
    assert acked(ledger.from_module("a", HostAccepted(IN, FWD, 1))) == [("s", IN, FWD, 1)]
    assert ledger.pending() == {} and ledger.delivered_upto[(IN, FWD)] == 1


def test_a_resend_while_in_flight_is_acknowledged_with_the_first(ledger: DeliveryLedger) -> None:
    ledger.from_peer(Event(IN, FWD, 1, b"one"), "n2", Sink("first"))
    again = ledger.from_peer(Event(IN, FWD, 1, b"one"), "n2", Sink("again"))
    assert again == [] and ledger.stats[IN].duplicates == 1  # not delivered twice
    taken = ledger.from_module("a", HostAccepted(IN, FWD, 1))
    assert acked(taken) == [("first", IN, FWD, 1), ("again", IN, FWD, 1)]


def test_a_resend_after_it_was_taken_is_acknowledged_without_delivery(
    ledger: DeliveryLedger,
) -> None:
    ledger.from_peer(Event(IN, FWD, 1, b"one"), "n2", Sink("s"))
    ledger.from_module("a", HostAccepted(IN, FWD, 1))
    late = ledger.from_peer(Event(IN, FWD, 1, b"one"), "n2", Sink("late"))
    assert delivered(late) == [] and acked(late) == [("late", IN, FWD, 1)]
    older = ledger.from_peer(Event(IN, FWD, 0, b"zero"), "n2", Sink("older"))
    assert acked(older) == [("older", IN, FWD, 0)]  # at or below what was taken
    assert ledger.stats[IN].duplicates == 2 and ledger.stats[IN].delivered == 1


def test_a_forged_copy_and_the_genuine_one_both_reach_the_module(ledger: DeliveryLedger) -> None:
    forged = ledger.from_peer(Event(IN, FWD, 1, b"forged"), "n2", Sink("forger"))
    genuine = ledger.from_peer(Event(IN, FWD, 1, b"genuine"), "n2", Sink("sender"))
    assert delivered(forged) == [("a", HostDeliver(IN, FWD, 1, b"forged"))]
    assert delivered(genuine) == [("a", HostDeliver(IN, FWD, 1, b"genuine"))]
    # modules answer in delivery order: the forgery is refused, the genuine one taken
    refused = ledger.from_module("a", HostRejected(IN, FWD, 1, RejectReason.FORGED))
    assert acked(refused) == [("forger", IN, FWD, 1)]
    assert warned(refused) == ["module a rejected a message on connection 3 (counter 1): forged"]
    assert acked(ledger.from_module("a", HostAccepted(IN, FWD, 1))) == [("sender", IN, FWD, 1)]
    assert ledger.stats[IN].rejected == {"forged": 1} and ledger.awaiting == {}


def test_a_module_that_goes_away_owes_nothing_and_gets_the_resend(
    ledger: DeliveryLedger, running: set[str]
) -> None:
    ledger.from_peer(Event(IN, FWD, 1, b"one"), "n2", Sink("s"))
    running.discard("a")
    ledger.module_gone("a")  # it crashed before answering: never acknowledged
    assert ledger.awaiting == {} and ledger.pending() == {}
    assert delivered(ledger.from_peer(Event(IN, FWD, 1, b"one"), "n2", Sink("r"))) == []
    running.add("a")  # restarted: the sender's resend is delivered again
    resend = ledger.from_peer(Event(IN, FWD, 1, b"one"), "n2", Sink("r"))
    assert delivered(resend) == [("a", HostDeliver(IN, FWD, 1, b"one"))]
    assert acked(ledger.from_module("a", HostAccepted(IN, FWD, 1))) == [("r", IN, FWD, 1)]


def test_rekeying_forgets_the_old_counters(ledger: DeliveryLedger) -> None:
    ledger.from_peer(Event(IN, FWD, 5, b"old key"), "n2", Sink("s"))
    ledger.from_module("a", HostAccepted(IN, FWD, 5))
    ledger.rekeyed(IN)  # counters start again at 1 under the new key
    fresh = ledger.from_peer(Event(IN, FWD, 1, b"new key"), "n2", Sink("t"))
    assert delivered(fresh) == [("a", HostDeliver(IN, FWD, 1, b"new key"))]


def test_pending_adds_the_outbox(ledger: DeliveryLedger) -> None:
    ledger.route(Event(LOCAL, FWD, 1, b"x"))
    assert ledger.pending({OUT: 3}) == {LOCAL: 1, OUT: 3}


# --- staged modules, retired connections, reset ------------------------------------------------

NEW_IN, TRANSFER = 10, 11


@pytest.fixture
def staged(ledger: DeliveryLedger, running: set[str]) -> DeliveryLedger:
    running.add("b~u1")
    ledger.stage("b~u1")
    ledger.add_route(route(NEW_IN, ("n1", "a"), ("n1", "b~u1")))
    ledger.add_route(route(TRANSFER, ("n1", "b"), ("n1", "b~u1")))
    ledger.add_route(route(13, ("n2", "c"), ("n1", "b~u1")))
    return ledger


def test_a_staged_module_holds_all_but_the_state_transfer(staged: DeliveryLedger) -> None:
    assert staged.route(Event(NEW_IN, FWD, 1, b"n1")) == []
    assert staged.held_count("b~u1") == 1 and staged.pending()[NEW_IN] == 1
    held_remote = staged.from_peer(Event(13, FWD, 1, b"r"), "n2", Sink("s"))
    assert held_remote == [] and (13, FWD, 1) in staged.awaiting  # owed, not acknowledged
    transfer = staged.from_module("b", HostEmit(TRANSFER, FWD, 1, b"state"))
    assert delivered(transfer) == [("b~u1", HostDeliver(TRANSFER, FWD, 1, b"state"))]


def test_promotion_renames_routes_and_releases_in_order(staged: DeliveryLedger) -> None:
    staged.route(Event(NEW_IN, FWD, 1, b"n1"))
    staged.route(Event(NEW_IN, FWD, 2, b"n2"))
    renamed, released = staged.promote("b~u1")
    assert sorted(r.conn_id for r in renamed) == [NEW_IN, TRANSFER, 13]
    assert all(r.to_module == "b" for r in renamed)
    assert delivered(released) == [
        ("b", HostDeliver(NEW_IN, FWD, 1, b"n1")),
        ("b", HostDeliver(NEW_IN, FWD, 2, b"n2")),
    ]
    assert staged.held == {}
    assert delivered(staged.route(Event(NEW_IN, FWD, 3, b"n3"))) == [
        ("b", HostDeliver(NEW_IN, FWD, 3, b"n3"))
    ]


def test_a_staged_module_refuses_beyond_its_hold(
    staged: DeliveryLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("authex.agent.staging.HELD_LIMIT", 10)
    staged.from_peer(Event(13, FWD, 1, b"12345678"), "n2", Sink("s"))
    refused = staged.from_peer(Event(13, FWD, 2, b"12345678"), "n2", Sink("t"))
    assert warned(refused) == ["staged module b~u1 holds too much; refused a delivery"]
    assert (13, FWD, 2) not in staged.awaiting and staged.pending()[13] == 1


def test_a_retired_connection_is_forgotten(ledger: DeliveryLedger) -> None:
    ledger.from_peer(Event(IN, FWD, 1, b"x"), "n2", Sink("s"))
    ledger.remove_route(IN)
    assert ledger.pending() == {} and ledger.awaiting == {}
    assert ledger.target(IN, FWD) is None
    ledger.remove_route(999)  # unknown: nothing to do


def test_reset_forgets_everything(staged: DeliveryLedger) -> None:
    staged.route(Event(NEW_IN, FWD, 1, b"x"))
    staged.route(Event(99, FWD, 1, b"x"))
    staged.reset()
    assert staged.routes.routes == {} and staged.stats == {} and staged.held == {}
    assert staged.pending() == {} and staged.awaiting == {} and staged.delivered_upto == {}
