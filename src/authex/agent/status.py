"""The agent's status report (``StatusResult``), built from what the agent holds: a pure function
of plain inputs, so it is tested without a running agent (the node calls it from ``status()``).
The records are in authex.wire.status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sized
from typing import Protocol

from authex.agent.config import NodeConfig
from authex.agent.ledger import pending_counts
from authex.agent.stats import ConnectionStats
from authex.wire.platform import PlatformInfo
from authex.wire.status import (
    ConnectionCounters,
    DropSource,
    ModuleStatus,
    NodeStatus,
    PeerStatus,
    Route,
    TimerStatus,
)


class ProcessView(Protocol):
    @property
    def measurement(self) -> bytes: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def running(self) -> bool: ...
    @property
    def exit_reason(self) -> str: ...
    @property
    def persistent(self) -> bool: ...


class ModuleView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def tee(self) -> str: ...
    @property
    def instance(self) -> int: ...
    @property
    def process(self) -> ProcessView: ...


class HeldView(Protocol):
    @property
    def messages(self) -> Sized: ...


class TimerView(Protocol):
    @property
    def module(self) -> str: ...
    @property
    def entry_id(self) -> int: ...
    @property
    def period_ms(self) -> int: ...
    @property
    def fired(self) -> int: ...
    @property
    def failed(self) -> int: ...


class PeerView(Protocol):
    @property
    def connected(self) -> bool: ...
    @property
    def sent(self) -> int: ...
    @property
    def resent(self) -> int: ...
    @property
    def reconnects(self) -> int: ...


class OutboxView(Protocol):
    @property
    def refused(self) -> Mapping[str, int]: ...
    def size(self, peer: str) -> int: ...


def connection_counters(
    stats: Mapping[int, ConnectionStats],
    stored: Mapping[int, int],
    inflight: Mapping[int, int],
    accepted: Mapping[tuple[int, int], int] | None = None,
) -> tuple[ConnectionCounters, ...]:
    """Counts per connection, by ascending id, with ``pending``: events of it still in the
    outbox (``stored``) or handed to (or held for) a local module and not yet taken
    (``inflight``).  Connections with neither counts nor pending events are left out."""
    pending = pending_counts(stored, inflight)
    upto: dict[int, int] = {}
    for (conn_id, _), counter in (accepted or {}).items():  # (connection, direction) -> counter
        upto[conn_id] = max(upto.get(conn_id, 0), counter)
    ids = sorted(set(stats) | set(pending))
    empty = ConnectionStats()
    return tuple(stats.get(c, empty).counters(c, pending[c], upto.get(c, 0)) for c in ids)


def node_status(
    *,
    config: NodeConfig,
    platform: PlatformInfo | None,
    modules: Iterable[ModuleView],
    held: Mapping[str, HeldView],
    routes: Iterable[int],
    connections: Iterable[ConnectionCounters],
    timers: Iterable[TimerView],
    peers: Mapping[str, PeerView],
    outbox: OutboxView,
    uptime_s: float,
    unrouted: int = 0,
    unrouted_sources: Iterable[tuple[str, int]] = (),
) -> NodeStatus:
    """The agent's status: ``held`` maps a staged module to what it holds, ``routes`` are the
    connection ids with a route here, ``connections`` come from ``connection_counters``,
    ``peers`` map an agent address to the data link towards it, ``outbox`` says how many
    events wait for (and were refused for) each peer; ``unrouted`` counts what was dropped for
    having no route, ``unrouted_sources`` its biggest sources (already bounded by the ledger).

    Nothing here grows with what peers send: connections are counted only while routed, and
    the sources of unrouted messages are a bounded list."""
    return NodeStatus(
        node=config.name,
        tee=config.tee,
        platform=platform.description if platform else "",
        emulated=bool(platform and platform.emulated),
        address=config.address,
        uptime_ms=max(0, round(uptime_s * 1000)),
        modules=tuple(
            ModuleStatus(
                name=m.name,
                tee=m.tee,
                instance=m.instance,
                measurement=m.process.measurement,
                pid=m.process.pid or 0,
                running=m.process.running,
                state=m.process.exit_reason or "running",
                persistent=m.process.persistent,
                held=len(held[m.name].messages) if m.name in held else 0,
            )
            for m in modules
        ),
        routes=tuple(Route(c) for c in sorted(routes)),
        connections=tuple(connections),
        timers=tuple(
            TimerStatus(t.module, t.entry_id, t.period_ms, t.fired, t.failed) for t in timers
        ),
        peers=tuple(
            PeerStatus(
                address=address,
                connected=p.connected,
                sent=p.sent,
                resent=p.resent,
                reconnects=p.reconnects,
                outbox=outbox.size(address),
                refused=outbox.refused.get(address, 0),
            )
            for address, p in peers.items()
        ),
        unrouted=unrouted,
        unrouted_sources=tuple(DropSource(source, n) for source, n in unrouted_sources),
    )
