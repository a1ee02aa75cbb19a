"""The agent's delivery ledger: where each sealed message goes, and the exactly-once bookkeeping.

Sans-I/O, like agent/router.py and sdk/runtime.py: plain calls in, a list of actions out, no
sockets, tasks, clocks or database.  The agent (agent/node.py) carries the actions out:

- ``Deliver``      hand a ``HostDeliver`` to a local module's host link;
- ``Forward``      store an event in the outbox for another agent (which sends it);
- ``ToOperator``   hand an event to the operator's watchers or waiting request;
- ``Acknowledge``  send an ``EventAck`` back on the data link an event came in on;
- ``Warn``         one log line about a message that was dropped or refused (its ``kind`` and
                   ``source`` let the agent rate-limit lines that peers can cause in bulk).

What the ledger remembers, per connection and direction:

- ``awaiting``: copies of events handed to a local module and not yet taken, in delivery order,
  each with the links it owes an acknowledgement to.  An event is acknowledged upstream only
  when its module took it (``HostAccepted``) or refused it for good (``HostRejected``), so a
  sender keeps it in its outbox until then and offers it again after any failure;
- ``delivered_upto``: the highest counter a module took; a resend at or below it is
  acknowledged again without being delivered twice;
- ``inflight``: deliveries handed to (or held for) a module and not yet taken — the
  ``pending`` an update's drain waits on;
- ``held``: what staged modules (``NAME~TAG``, spec/protocol.md §7.6) are kept until promoted.

Per-connection counts (``stats``) are kept only for connections with a route here: anyone who
reaches the data port can send events for any connection id, so what comes for an id without a
route is counted node-wide in ``unrouted`` (a total, and at most ``UNROUTED_SOURCES`` sources),
never per id.

Back-pressure is per module: an event from a peer for a module that is ``busy`` (more than the
high water of what it was sent is still unread, agent/process.py) is not handed to it — so not
acknowledged, and its sender offers it again later — while events for every other module go
on.  Deliveries nobody would offer again (a module's own emissions, the operator's) are never
refused for that: the agent bounds them at their source instead (agent/node.py).

A copy of an event whose bytes differ from one already with the module (a forgery, or the
genuine one after a forgery) is delivered too: only the module can tell which is authentic.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from authex.agent.lograte import BoundedCounts
from authex.agent.router import LocalModule, Operator, RemoteNode, RouteTable, Target, UnknownRoute
from authex.agent.staging import Held
from authex.agent.stats import ConnectionStats, reason_name
from authex.wire.messages import (
    AddRoute,
    Direction,
    Event,
    HostAccepted,
    HostDeliver,
    HostEmit,
    HostRejected,
)
from authex.wire.names import base_name, is_staged

UNROUTED_SOURCES = 16  # sources of events without a route kept by name (the biggest)

# kinds of Warn, for rate-limiting their log lines (every kind at most two lines per interval)
NO_ROUTE = "no route"
NOT_HERE = "not for this node"
WRONG_SOURCE = "wrong source"
REJECTED = "rejected by module"


def pending_counts(stored: Mapping[int, int], inflight: Mapping[int, int]) -> Counter[int]:
    """What an agent still has of each connection: events in its outbox (``stored``) plus
    deliveries handed to (or held for) a local module and not yet taken (``inflight``)."""
    pending: Counter[int] = Counter(stored)
    pending.update(+Counter(inflight))
    return pending


class AckSink(Protocol):
    """Where an acknowledgement goes: the data link an event arrived on (opaque here)."""

    def acknowledge(self, conn_id: int, direction: int, counter: int) -> None: ...


@dataclass(frozen=True)
class Deliver:
    module: str
    message: HostDeliver


@dataclass(frozen=True)
class Forward:
    address: str
    event: Event


@dataclass(frozen=True)
class ToOperator:
    event: Event


@dataclass(frozen=True)
class Acknowledge:
    sink: AckSink
    conn_id: int
    direction: int
    counter: int


@dataclass(frozen=True)
class Warn:
    conn_id: int
    text: str
    kind: str = "dropped"  # what kind of line: rate-limited per kind (agent/lograte.py)
    source: str = ""  # who caused it: a peer (its Hello name @ address) or a module


Action = Deliver | Forward | ToOperator | Acknowledge | Warn


@dataclass
class _Copy:
    """One copy of an event handed to a local module, and the acknowledgements it owes."""

    ciphertext: bytes
    sinks: list[AckSink]


@dataclass
class DeliveryLedger:
    """Routing and exactly-once bookkeeping of one node.  ``running`` tells whether a local
    module can take deliveries now, ``busy`` whether it is over its high water (both asked,
    never remembered: the module supervisor knows)."""

    node: str
    running: Callable[[str], bool]
    busy: Callable[[str], bool] = lambda name: False
    routes: RouteTable = field(init=False)
    stats: defaultdict[int, ConnectionStats] = field(
        init=False, default_factory=lambda: defaultdict(ConnectionStats)
    )
    awaiting: dict[tuple[int, int, int], deque[_Copy]] = field(init=False, default_factory=dict)
    delivered_upto: dict[tuple[int, int], int] = field(init=False, default_factory=dict)
    inflight: Counter[int] = field(init=False, default_factory=Counter)
    held: dict[str, Held] = field(init=False, default_factory=dict)
    unrouted: BoundedCounts = field(
        init=False, default_factory=lambda: BoundedCounts(UNROUTED_SOURCES)
    )

    def __post_init__(self) -> None:
        self.routes = RouteTable(self.node)

    # --- routes ---------------------------------------------------------------------------

    def add_route(self, route: AddRoute) -> None:
        self.routes.add(route)

    def remove_route(self, conn_id: int) -> None:
        """Forget a retired connection: its route and whatever is still kept for it."""
        self.routes.routes.pop(conn_id, None)
        self.rekeyed(conn_id)
        self.inflight.pop(conn_id, None)

    def target(self, conn_id: int, direction: int) -> Target | None:
        try:
            return self.routes.target(conn_id, direction)
        except UnknownRoute:
            return None

    # --- messages in ----------------------------------------------------------------------

    def from_module(
        self, module: str, message: HostEmit | HostAccepted | HostRejected
    ) -> list[Action]:
        """A frame a local module sent on its own: an event it emitted, or its answer to a
        delivery."""
        if isinstance(message, HostEmit):
            if self.routes.source_module(message.conn_id, message.direction) != module:
                source = f"module {module}"
                if message.conn_id not in self.routes.routes:
                    return self._unrouted(message.conn_id, source)
                self.stats[message.conn_id].dropped += 1
                return [
                    Warn(
                        message.conn_id,
                        f"module {module} emitted on connection {message.conn_id} "
                        "it is not the source of",
                        WRONG_SOURCE,
                        source,
                    )
                ]
            event = Event(message.conn_id, message.direction, message.counter, message.ciphertext)
            return self.route(event)
        accepted = isinstance(message, HostAccepted)
        actions = self.taken(message.conn_id, message.direction, message.counter, accepted)
        if isinstance(message, HostRejected):
            reason = reason_name(message.reason)
            if message.conn_id in self.routes.routes:  # counted per connection only if routed
                self.stats[message.conn_id].rejected[reason] += 1
            actions.append(
                Warn(
                    message.conn_id,
                    f"module {module} rejected a message on connection {message.conn_id} "
                    f"(counter {message.counter}): {reason}",
                    REJECTED,
                    f"module {module}",
                )
            )
        return actions

    def route(self, event: Event, source: str = "this node") -> list[Action]:
        """Send one sealed message on towards its destination."""
        target = self.target(event.conn_id, event.direction)
        if target is None:
            return self._unrouted(event.conn_id, source)
        if isinstance(target, LocalModule):
            message = HostDeliver(event.conn_id, event.direction, event.counter, event.ciphertext)
            return self.deliver(target.module, message)
        if isinstance(target, RemoteNode):
            return [Forward(target.address, event)]
        return [ToOperator(event)]

    def from_peer(self, event: Event, peer: str, sink: AckSink) -> list[Action]:
        """An event arrived from another agent: it must be for a module (or the operator) on
        this node; ``sink`` is acknowledged once the destination took it."""
        target = self.target(event.conn_id, event.direction)
        if target is None:
            return self._unrouted(event.conn_id, peer)
        if isinstance(target, Operator):
            return [ToOperator(event), self._ack(sink, event)]
        if not isinstance(target, LocalModule):  # never bounced on: no loops through a node
            self.stats[event.conn_id].dropped += 1
            return [
                Warn(
                    event.conn_id,
                    f"event for connection {event.conn_id} from {peer} not for this node",
                    NOT_HERE,
                    peer,
                )
            ]
        if event.counter <= self.delivered_upto.get((event.conn_id, event.direction), 0):
            self.stats[event.conn_id].duplicates += 1  # a resend of what the module took
            return [self._ack(sink, event)]
        key = (event.conn_id, event.direction, event.counter)
        copies = self.awaiting.setdefault(key, deque())
        for copy in copies:
            if copy.ciphertext == event.ciphertext:  # the same bytes are already with the module
                self.stats[event.conn_id].duplicates += 1
                copy.sinks.append(sink)
                return []
        message = HostDeliver(event.conn_id, event.direction, event.counter, event.ciphertext)
        handed, actions = self.try_deliver(target.module, message, offered_again=True)
        if handed:
            copies.append(_Copy(event.ciphertext, [sink]))
        elif not copies:
            del self.awaiting[key]
        return actions  # not delivered: not acknowledged, so the sender offers it again

    def taken(self, conn_id: int, direction: int, counter: int, accepted: bool) -> list[Action]:
        """A local module took (or refused for good) a message: acknowledge it upstream."""
        if self.inflight[conn_id] > 1:
            self.inflight[conn_id] -= 1
        else:
            self.inflight.pop(conn_id, None)
        if accepted:
            key = (conn_id, direction)
            self.delivered_upto[key] = max(self.delivered_upto.get(key, 0), counter)
        copies = self.awaiting.get((conn_id, direction, counter))
        if not copies:
            return []
        copy = copies.popleft()  # modules answer in delivery order
        if not copies:
            del self.awaiting[(conn_id, direction, counter)]
        return [Acknowledge(s, conn_id, direction, counter) for s in copy.sinks]

    def deliver(self, module: str, message: HostDeliver) -> list[Action]:
        """Hand a delivery to a local module (or hold it for a staged one)."""
        return self.try_deliver(module, message)[1]

    def try_deliver(
        self, module: str, message: HostDeliver, *, offered_again: bool = False
    ) -> tuple[bool, list[Action]]:
        """Deliver or hold: whether the module has it now (it owes an answer), and the actions.

        ``offered_again``: the sender keeps the message until it is acknowledged (a peer's
        event), so it is refused while the module is busy — not counted, not logged: that is
        back-pressure, and it costs the sender a resend, not the event."""
        stats = self.stats[message.conn_id]
        if not self.running(module):
            stats.dropped += 1
            text = f"module {module} not running; dropped connection {message.conn_id}"
            return False, [Warn(message.conn_id, text)]
        if offered_again and self.busy(module):
            return False, []
        held = self.held.get(module)
        if held is not None and not self._state_transfer(module, message.conn_id):
            if not held.add(message):
                stats.dropped += 1
                text = f"staged module {module} holds too much; refused a delivery"
                return False, [Warn(message.conn_id, text)]
            actions: list[Action] = []
        else:
            actions = [Deliver(module, message)]
        self.inflight[message.conn_id] += 1
        stats.delivered += 1
        return True, actions

    # --- connections and modules change ---------------------------------------------------

    def rekeyed(self, conn_id: int) -> None:
        """A connection got a new key here: its counters start again at 1, so what is
        remembered of the old key's counters would drop the new messages as resends."""
        for direction in (Direction.FORWARD, Direction.RESPONSE):
            self.delivered_upto.pop((conn_id, direction), None)
        for key in [k for k in self.awaiting if k[0] == conn_id]:
            del self.awaiting[key]

    def module_gone(self, name: str) -> None:
        """Copies a module never answered stay unacknowledged: their senders offer them again."""
        gone = LocalModule(name)
        for key in [k for k in self.awaiting if self.target(k[0], k[1]) == gone]:
            del self.awaiting[key]
        for conn_id in list(self.inflight):
            ends = (self.target(conn_id, d) for d in (Direction.FORWARD, Direction.RESPONSE))
            if gone in ends:
                del self.inflight[conn_id]

    def stage(self, name: str) -> None:
        """A module was loaded; a staged one holds its deliveries until promoted."""
        if is_staged(name):
            self.held[name] = Held()
        else:
            self.held.pop(name, None)

    def held_count(self, name: str) -> int:
        held = self.held.get(name)
        return len(held.messages) if held is not None else 0

    def promote(self, staged: str) -> tuple[list[AddRoute], list[Action]]:
        """A staged module becomes the module it replaces: its routes are renamed (returned,
        for the registry) and what was held for it is delivered, in arrival order."""
        name = base_name(staged)
        renamed: list[AddRoute] = []
        for route in list(self.routes.routes.values()):
            new = route
            if route.from_module == staged:
                new = replace(new, from_module=name)
            if route.to_module == staged:
                new = replace(new, to_module=name)
            if new is not route:
                self.routes.add(new)
                renamed.append(new)
        released = self.held.pop(staged, Held()).release()
        return renamed, [Deliver(name, message) for message in released]

    def reset_deployment(self, deployment: str, conn_ids: list[int]) -> None:
        """A deployment was reset: its connections and what its staged modules held are gone;
        the node-wide counts stay."""
        for conn_id in conn_ids:
            self.remove_route(conn_id)
            self.stats.pop(conn_id, None)
        prefix = f"{deployment}/"
        for name in [n for n in self.held if n.startswith(prefix)]:
            del self.held[name]

    def reset(self) -> None:
        """Every connection is gone."""
        self.routes.clear()
        self.stats.clear()
        self.awaiting.clear()
        self.delivered_upto.clear()
        self.inflight.clear()
        self.held.clear()
        self.unrouted.clear()

    # --- reports --------------------------------------------------------------------------

    def pending(self, outbox: Mapping[int, int] | None = None) -> Counter[int]:
        """Per connection: deliveries not yet taken, plus ``outbox`` (conn_id -> count)."""
        return pending_counts(outbox or {}, self.inflight)

    # --- helpers --------------------------------------------------------------------------

    def _unrouted(self, conn_id: int, source: str) -> list[Action]:
        """A message for a connection without a route here: dropped, and counted node-wide
        (never per connection id: the ids are whatever a sender chose)."""
        self.unrouted.add(source)
        text = f"no route for connection {conn_id} (from {source}); dropped"
        return [Warn(conn_id, text, NO_ROUTE, source)]

    def _ack(self, sink: AckSink, event: Event) -> Acknowledge:
        return Acknowledge(sink, event.conn_id, event.direction, event.counter)

    def _state_transfer(self, staged: str, conn_id: int) -> bool:
        """Is this connection the state transfer into a staged module, from the instance it
        replaces?  (Delivered at once; everything else waits for the promotion.)"""
        route = self.routes.routes.get(conn_id)
        return route is not None and route.from_module == base_name(staged)
