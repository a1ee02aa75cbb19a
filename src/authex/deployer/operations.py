"""Operator commands on a deployed application: status, call, send, request, watch, remove, reset.

The operator is an end of its direct connections: it seals events and requests with the
connection key from the deployment state and checks counters like any module would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TypedDict

from authex.crypto.channel import ChannelEnd, ReceiveWindow, SendCounter
from authex.crypto.control import open_result, seal_call
from authex.crypto.suites import get_suite
from authex.deployer.session import Session
from authex.deployer.state import NO_KEY, ConnectionState, ModuleState
from authex.descriptor import Connection
from authex.errors import AuthexError, CryptoError, RemoteError, StateError
from authex.manifest import IoKind, Manifest
from authex.tee.base import get_backend
from authex.wire.messages import (
    AddOperator,
    Call,
    CallResult,
    CallStatus,
    Direction,
    Ok,
    Remove,
    RemoveOperator,
    Request,
    Reset,
    Response,
    Send,
)
from authex.wire.names import base_name
from authex.wire.status import NodeStatus


@dataclass(frozen=True)
class CallOutcome:
    status: CallStatus
    payload: bytes


def _module_state(session: Session, name: str) -> ModuleState:
    ms = session.state.modules.get(name)
    if ms is None or not ms.module_key:
        raise StateError(f"module {name!r} is not deployed and attested (run `authex deploy`)")
    return ms


def _connection(session: Session, name: str) -> tuple[Connection, ConnectionState]:
    try:
        conn = session.descriptor.connection(name)
    except KeyError:
        names = ", ".join(c.name for c in session.descriptor.connections)
        raise StateError(f"no connection named {name!r}; connections: {names}") from None
    cs = session.state.connections.get(name)
    if cs is None or not cs.key:
        raise StateError(f"connection {name!r} is not keyed yet (run `authex deploy`)")
    return conn, cs


def _operator_end(cs: ConnectionState) -> ChannelEnd:
    return ChannelEnd(
        cs.id,
        get_suite(cs.suite),
        cs.key,
        SendCounter(cs.operator_send),
        ReceiveWindow(cs.operator_receive),
    )


async def call(session: Session, module: str, entry: str, arg: bytes) -> CallOutcome:
    """Call an entry, authenticated with the module key (works for public entries too)."""
    ms = _module_state(session, module)
    manifest = Manifest.from_dict(ms.manifest)
    endpoint = manifest.find(IoKind.ENTRY, entry)
    if endpoint is None:
        names = ", ".join(e.name for e in manifest.of_kind(IoKind.ENTRY))
        raise StateError(f"module {module!r} has no entry {entry!r}; entries: {names}")
    ms.control_counter += 1
    counter = ms.control_counter
    session.save()
    aead = get_suite(ms.control_suite)
    key = ms.module_key
    sealed = seal_call(aead, key, endpoint.id, counter, arg)
    reply = await (await session.client(ms.node)).request(
        Call(module, endpoint.id, 1, counter, sealed)
    )
    if not isinstance(reply, CallResult):
        raise RemoteError("agent answered call without a result", where=f"node {ms.node}")
    status = CallStatus(reply.status)
    if status in (CallStatus.OK, CallStatus.ENTRY_FAILED):
        try:
            payload = open_result(aead, key, endpoint.id, counter, reply.status, reply.payload)
        except CryptoError as exc:
            raise CryptoError(
                "call result is not authentic (wrong module or tampered reply)",
                where=f"module {module}",
            ) from exc
        return CallOutcome(status, payload)
    return CallOutcome(status, reply.payload)


@dataclass(frozen=True)
class _Outgoing:
    """A message the operator sealed on one of its direct connections, counter saved."""

    state: ConnectionState
    end: ChannelEnd
    node: str
    counter: int
    sealed: bytes


def _seal_from_operator(session: Session, connection: str, data: bytes) -> _Outgoing:
    conn, cs = _connection(session, connection)
    if conn.source.module is not None or conn.target.module is None:
        raise StateError(f"connection {connection!r} does not start at the operator")
    end = _operator_end(cs)
    try:
        counter, sealed = end.seal(Direction.FORWARD, data)
    except CryptoError as exc:  # every counter of the key used up
        raise StateError(
            f"connection {connection!r}: {exc.message}; run `authex deploy` to re-key it"
        ) from exc
    cs.operator_send = counter
    session.save()  # before sending: a counter is never used twice, even after a crash
    node = session.descriptor.module(conn.target.module).node
    return _Outgoing(cs, end, node, counter, sealed)


async def send(session: Session, connection: str, data: bytes) -> int:
    """Operator -> module event on a direct connection; returns the counter used."""
    out = _seal_from_operator(session, connection, data)
    await (await session.client(out.node)).request(Send(out.state.id, out.counter, out.sealed))
    return out.counter


async def request(session: Session, connection: str, data: bytes) -> bytes:
    """Operator -> handler request on a direct connection; returns the verified response."""
    out = _seal_from_operator(session, connection, data)
    cs, end, counter = out.state, out.end, out.counter
    reply = await (await session.client(out.node)).request(Request(cs.id, counter, out.sealed))
    if not isinstance(reply, Response) or reply.counter != counter:
        raise RemoteError("agent answered the request with a mismatched response")
    plaintext = end.open(Direction.RESPONSE, reply.counter, reply.ciphertext)
    cs.operator_receive = end.receive.last
    session.save()
    return plaintext


async def watch(session: Session, connection: str) -> AsyncIterator[tuple[int, bytes]]:
    """Verified (counter, plaintext) of events a module sends to the operator."""
    conn, cs = _connection(session, connection)
    if conn.target.module is not None or conn.source.module is None:
        raise StateError(f"connection {connection!r} does not end at the operator")
    end = _operator_end(cs)
    end.receive = ReceiveWindow()  # each watch verifies its own stream from the start
    node = session.descriptor.module(conn.source.module).node
    client = await session.client(node)
    async for event in client.watch(cs.id):
        try:
            plaintext = end.open(Direction.FORWARD, event.counter, event.ciphertext)
        except CryptoError as exc:
            session.progress(f"rejected event {event.counter} on {connection}: {exc}")
            continue
        yield event.counter, plaintext


async def remove(session: Session, module: str) -> None:
    ms = session.state.modules.get(module)
    if ms is None:
        raise StateError(f"module {module!r} is not deployed")
    await (await session.client(ms.node)).request(Remove(module))
    del session.state.modules[module]
    for key in [k for k, t in session.state.timers.items() if t.module == module]:
        del session.state.timers[key]
    session.save()


async def reset(session: Session) -> dict[str, str]:
    """Stop every module on every node and forget the deployment (the operator key stays).

    Returns the nodes that could not be reset, each with why.  What runs on those nodes is
    kept in the state — their modules with their control keys, the connections and timers that
    touch them — so a later ``reset`` (or ``deploy``) can still reach and stop it; only what the
    reached nodes confirmed stopped is forgotten."""
    unreached: dict[str, str] = {}

    async def one(node: str) -> None:
        try:
            await (await session.client(node)).request(Reset())
        except AuthexError as exc:
            unreached[node] = str(exc)

    await asyncio.gather(*(one(n.name) for n in session.descriptor.nodes))
    forget_reset_nodes(session, set(unreached))
    session.save()
    return dict(sorted(unreached.items()))


def forget_reset_nodes(session: Session, unreached: set[str]) -> None:
    """Drop from the state what the nodes not in ``unreached`` no longer run."""
    state = session.state
    kept = {name for name, ms in state.modules.items() if ms.node in unreached}
    for name in list(state.modules):
        if name not in kept:
            del state.modules[name]
    for key, timer in list(state.timers.items()):
        if timer.module not in kept:
            del state.timers[key]
    ends = {c.name: {c.source.module, c.target.module} for c in session.descriptor.connections}
    for name, cs in list(state.connections.items()):
        if not ends.get(base_name(name), set()) & kept:
            del state.connections[name]
            continue
        for node in list(cs.routes):  # the reset nodes dropped their routes
            if node not in unreached:
                del cs.routes[node]
        # one end was reset: the next deploy keys both ends afresh (a new key, new counters)
        cs.key, cs.keyed, cs.keyed_instance = NO_KEY, {}, {}
    for name in list(state.updates):
        if state.updates[name].module not in kept:
            del state.updates[name]


async def administer_operators(
    session: Session, message: AddOperator | RemoveOperator, nodes: list[str]
) -> dict[str, str]:
    """Enrol (``AddOperator``) or withdraw (``RemoveOperator``) an operator on ``nodes`` (all of
    the descriptor's when empty); this operator must be their administrator.  Node -> the
    operator's key id, or why that node refused."""
    names = nodes or [n.name for n in session.descriptor.nodes]
    for name in names:
        session.descriptor.node(name)  # KeyError for a node the descriptor does not have
    outcome: dict[str, str] = {}

    async def one(node: str) -> None:
        try:
            reply = await (await session.client(node)).request(message)
            outcome[node] = reply.body.decode() if isinstance(reply, Ok) else ""
        except AuthexError as exc:
            outcome[node] = f"error: {exc}"

    await asyncio.gather(*(one(n) for n in names))
    return dict(sorted(outcome.items()))


class NodeRow(TypedDict):
    name: str
    tee: str
    address: str
    reachable: bool
    error: str  # why its agent could not be asked ("" when reachable)
    unrouted: int  # events its agent dropped for connections with no route there
    unrouted_sources: dict[str, int]  # where most of them came from (at most 16 sources)


class ModuleRow(TypedDict):
    name: str
    node: str
    tee: str
    label: str  # the TEE backend as `authex status` shows it
    emulated: bool
    measurement: str  # hex, as attested ("" before)
    attested: bool
    evidence: str  # what the attestation rested on
    running: bool  # the agent runs the attested instance
    pid: int | None
    public_entries: list[str]


class ConnectionRow(TypedDict):
    name: str
    id: int | None
    suite: str
    keyed: bool
    delivered: int  # the counts are summed over every agent that reported the connection
    forwarded: int
    to_operator: int
    dropped: int
    duplicates: int
    rejected: dict[str, int]  # reason name -> count


class StatusReport(TypedDict):
    """What `authex status` shows (and prints as JSON with --json)."""

    nodes: list[NodeRow]
    modules: list[ModuleRow]
    connections: list[ConnectionRow]


def status_report(
    session: Session, statuses: Mapping[str, NodeStatus | AuthexError]
) -> StatusReport:
    """Merge what the deployer knows (attestation) with what each agent reports (counts)."""
    nodes: list[NodeRow] = []
    for node in session.descriptor.nodes:
        status = statuses.get(node.name)
        nodes.append(
            {
                "name": node.name,
                "tee": node.tee,
                "address": node.address,
                "reachable": isinstance(status, NodeStatus),
                "error": str(status) if isinstance(status, AuthexError) else "",
                "unrouted": status.unrouted if isinstance(status, NodeStatus) else 0,
                "unrouted_sources": (
                    {s.source: s.count for s in status.unrouted_sources}
                    if isinstance(status, NodeStatus)
                    else {}
                ),
            }
        )
    modules: list[ModuleRow] = []
    for spec in session.descriptor.modules:
        ms = session.state.modules.get(spec.name)
        status = statuses.get(spec.node)
        running = status.module(spec.name) if isinstance(status, NodeStatus) else None
        tee = session.descriptor.node(spec.node).tee
        modules.append(
            {
                "name": spec.name,
                "node": spec.node,
                "tee": tee,
                "label": get_backend(tee).label,
                "emulated": bool(ms and ms.emulated),
                "measurement": ms.measurement if ms else "",
                "attested": bool(ms and ms.module_key),
                "evidence": ms.evidence if ms else "",
                "running": bool(
                    running is not None
                    and ms
                    and running.instance == ms.instance
                    and running.running
                ),
                "pid": (running.pid or None) if running is not None else None,
                "public_entries": [
                    e["name"]
                    for e in (ms.manifest.get("endpoints", []) if ms else [])
                    if e["kind"] == "entry" and e["public"]
                ],
            }
        )
    connections: list[ConnectionRow] = []
    for conn in session.descriptor.connections:
        cs = session.state.connections.get(conn.name)
        row: ConnectionRow = {
            "name": conn.name,
            "id": cs.id if cs else None,
            "suite": cs.suite if cs else "",
            "keyed": bool(cs and cs.key),
            "delivered": 0,
            "forwarded": 0,
            "to_operator": 0,
            "dropped": 0,
            "duplicates": 0,
            "rejected": {},
        }
        if cs is not None:
            for status in statuses.values():
                c = status.connection(cs.id) if isinstance(status, NodeStatus) else None
                if c is None:
                    continue
                row["delivered"] += c.delivered
                row["forwarded"] += c.forwarded
                row["to_operator"] += c.to_operator
                row["dropped"] += c.dropped
                row["duplicates"] += c.duplicates
                for reason, n in c.rejected_by_name().items():
                    row["rejected"][reason] = row["rejected"].get(reason, 0) + n
        connections.append(row)
    return {"nodes": nodes, "modules": modules, "connections": connections}
