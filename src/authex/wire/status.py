"""The agent's status (``StatusResult``, spec/protocol.md §5.2.1): typed records, encoded with
the wire codec like every other message.

Everything here is what an untrusted agent can observe without a key: its platform, the module
processes it runs, its routes, what it counted per connection, its timers, its outgoing data
links, and what it dropped for having no route (node-wide, with a bounded list of sources, since
the connection ids are whatever a sender chose).  All counts run since the agent started or its
last ``Reset``.  Constructing a record
checks it (the decoder constructs them too): flags are 0 or 1 and a key appears once per list,
otherwise ``ProtocolError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from authex.errors import ProtocolError
from authex.wire.codec import U8, U16, U32, U64, Bytes, Record, Records, Str

# (authex.wire.messages imports this module for StatusResult: its enums are imported where used)


def reject_reason_name(code: int) -> str:
    """A reject reason as ``authex status`` shows it: ``replay``, ``forged``, ... or
    ``reason-N`` for a code this version does not know (a module may report any u8)."""
    from authex.wire.messages import RejectReason

    try:
        return RejectReason(code).name.lower()
    except ValueError:
        return f"reason-{code}"


def reject_reason_code(name: str) -> int:
    """The inverse of ``reject_reason_name``."""
    from authex.wire.messages import RejectReason

    number = name.removeprefix("reason-")
    if number != name and number.isdigit():
        return int(number)
    return int(RejectReason[name.upper()])


@dataclass(frozen=True)
class _Checked(Record):
    """A status record with flag fields (0 or 1, read back as bool) and lists keyed by one
    attribute of their records (each key once)."""

    FLAGS: ClassVar[tuple[str, ...]] = ()
    UNIQUE: ClassVar[tuple[tuple[str, str], ...]] = ()  # (records field, attribute keying it)

    def check(self) -> None:
        owner = type(self).__name__
        for name in self.FLAGS:
            value = getattr(self, name)
            if value not in (0, 1):
                raise ProtocolError(f"{owner}.{name}: {value!r} is not a flag (0 or 1)")
            object.__setattr__(self, name, bool(value))
        for name, key in self.UNIQUE:
            _unique(f"{owner}.{name}", (getattr(r, key) for r in getattr(self, name)))


def _unique(where: str, keys: Iterable[Hashable]) -> None:
    seen: set[Hashable] = set()
    for key in keys:
        if key in seen:
            raise ProtocolError(f"{where}: {key!r} is listed twice")
        seen.add(key)


@dataclass(frozen=True)
class ModuleStatus(_Checked):
    """One module process the agent runs (a staged ``NAME~TAG`` too, during an update)."""

    FLAGS = ("running", "persistent")

    name: Str
    tee: Str
    instance: U64  # the number the agent gave it when it was loaded
    measurement: Bytes  # as the platform measured it
    pid: U32  # 0: no process
    running: U8  # flag
    state: Str  # "running", or why it stopped ("exited", "stopped", ...)
    persistent: U8  # flag: it announced sealed state (HostResumed)
    held: U64  # deliveries a staged module holds until its promotion
    deployment: Str = ""  # the deployment it belongs to (Bind); "" for none


@dataclass(frozen=True)
class Route(Record):
    """A connection with a route on this agent."""

    conn_id: U32


@dataclass(frozen=True)
class RejectedCount(Record):
    """Messages of a connection its receiving module refused, for one reason (``RejectReason``;
    any u8 a module reported)."""

    reason: U8
    count: U64


@dataclass(frozen=True)
class ConnectionCounters(_Checked):
    """What this agent counted of one connection."""

    UNIQUE = (("rejected", "reason"),)

    conn_id: U32
    delivered: U64  # handed to a local module
    forwarded: U64  # sent on to another agent
    to_operator: U64  # handed to watchers or a waiting operator request
    dropped: U64  # no route, wrong source, module not running, outbox or watcher full
    duplicates: U64  # resends of events a module had already taken (acknowledged again)
    rejected: Records[RejectedCount]  # reported by the receiving module, by reason
    pending: U64  # still here: in the outbox, or handed to (or held for) a module, not yet taken
    # the highest counter a module on this node accepted on it (0: none); the deployer re-keys a
    # connection whose counters near the end of their space (spec/crypto.md §2)
    accepted_upto: U64 = 0

    def rejected_by_name(self) -> dict[str, int]:
        """``{reason name: count}`` by name, as ``authex status`` shows them."""
        return dict(sorted((reject_reason_name(r.reason), r.count) for r in self.rejected))


@dataclass(frozen=True)
class TimerStatus(Record):
    """A periodic call of a public entry."""

    module: Str
    entry_id: U16
    period_ms: U32
    fired: U64
    failed: U64

    @property
    def key(self) -> tuple[str, int]:
        return self.module, self.entry_id


@dataclass(frozen=True)
class PeerStatus(_Checked):
    """An outgoing data link to another agent."""

    FLAGS = ("connected",)

    address: Str  # host:port of the other agent
    connected: U8  # flag
    sent: U64  # events written
    resent: U64  # events written again after a reconnection
    reconnects: U64
    outbox: U64  # events waiting in the outbox for this peer
    refused: U64  # events refused because the outbox for this peer was full


@dataclass(frozen=True)
class DropSource(Record):
    """Where messages for connections without a route here came from: a peer agent (the name
    its data link's Hello gave, ``@`` its address) or a local module (``module NAME``)."""

    source: Str
    count: U64


@dataclass(frozen=True)
class NodeStatus(_Checked):
    """Everything one agent reports."""

    FLAGS = ("emulated",)
    UNIQUE = (
        ("modules", "name"),
        ("routes", "conn_id"),
        ("connections", "conn_id"),
        ("timers", "key"),
        ("peers", "address"),
        ("unrouted_sources", "source"),
    )

    node: Str
    tee: Str
    platform: Str  # the platform's description ("" before it answered)
    emulated: U8  # flag: the TEE platform is an emulation
    address: Str  # host:port the agent listens on
    uptime_ms: U64  # since the agent started
    modules: Records[ModuleStatus]
    routes: Records[Route]  # ascending connection ids
    connections: Records[ConnectionCounters]  # ascending connection ids
    timers: Records[TimerStatus]
    peers: Records[PeerStatus]
    unrouted: U64 = 0  # messages dropped for having no route here (from peers or modules)
    # the sources of the most of them (at most 16, by descending count); the rest of
    # ``unrouted`` came from sources no longer listed
    unrouted_sources: Records[DropSource] = ()

    def module(self, name: str) -> ModuleStatus | None:
        return next((m for m in self.modules if m.name == name), None)

    def connection(self, conn_id: int) -> ConnectionCounters | None:
        return next((c for c in self.connections if c.conn_id == conn_id), None)

    def peer(self, address: str) -> PeerStatus | None:
        return next((p for p in self.peers if p.address == address), None)

    @property
    def route_ids(self) -> frozenset[int]:
        return frozenset(r.conn_id for r in self.routes)

    def pending(self, conn_id: int) -> int:
        """What this agent still has of a connection (0 if it counted nothing of it)."""
        counters = self.connection(conn_id)
        return counters.pending if counters is not None else 0
