"""`authex update MODULE`: replace a running module by its new version without losing or
duplicating an event (spec/protocol.md §7.6).

The new version is loaded beside the old one as ``NAME~TAG`` and attested; every connection of
the module gets a new id and key; the agents hold what reaches the new instance; each source
switches to the new connection in one step (swap-key); once the old instance has taken and
passed on everything sent to it, its sealed data moves to the new one over a temporary attested
connection, the new instance is promoted and gets what was held, and the old connections are
retired.  Every step is recorded in the deployment state, so a rerun resumes an interrupted
update.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from authex.crypto.secret import Secret
from authex.deployer.deploy import (
    DeployReport,
    Prepared,
    load_and_attest,
    prepare,
    start_timer,
)
from authex.deployer.keying import key_end, send_key
from authex.deployer.plan import (
    SUITE_PREFERENCE,
    End,
    RouteSpec,
    choose_suite,
    connection_ends,
    route_spec,
)
from authex.deployer.roles import EndRole
from authex.deployer.routes import install_route
from authex.deployer.session import Session
from authex.deployer.state import ConnectionState, Phase, UpdateState
from authex.descriptor import Connection
from authex.errors import RemoteError, StateError
from authex.manifest import STATE_IN_ID, STATE_OUT_ID, IoKind, Manifest
from authex.wire.messages import Promote, Remove, RemoveRoute, Timer
from authex.wire.names import staged_name, staged_tag
from authex.wire.status import NodeStatus

POLL_INTERVAL = 0.05  # seconds between status polls while draining
DRAIN_TIMEOUT = 120.0  # seconds the old instance gets to take what was sent to it
PROGRESS_EVERY = 2.0


@dataclass
class UpdateReport:
    module: str
    unchanged: bool = False
    staged: str = ""
    connections: int = 0
    transfer: str = ""
    held: int = 0  # deliveries the new instance held until its promotion
    downtime_s: float = 0.0  # first source switched -> held deliveries released
    total_s: float = 0.0


@dataclass(frozen=True)
class Link:
    """One connection of the module being updated, before the promotion."""

    conn: Connection
    old: ConnectionState
    mine: tuple[End, ...]  # the module's own ends (two for a connection to itself)
    other: End | None  # the other module's end; None for the operator or a loop

    @property
    def incoming(self) -> bool:
        return any(e.role is EndRole.TARGET for e in self.mine)

    @property
    def outgoing(self) -> bool:
        return any(e.role is EndRole.SOURCE for e in self.mine)


class TransitionError(RuntimeError):
    """An update tried a phase change that :data:`TRANSITIONS` does not allow: a bug."""


@dataclass
class _Update:
    """One run of an update: what its steps share.  Each step does its work (idempotently: a
    run killed in the middle of a step does it again) and returns what to tell the operator
    once the phase it reached is saved ("" for nothing)."""

    session: Session
    record: UpdateState
    prepared: Prepared
    fresh: bool
    report: UpdateReport
    staged_running: bool = False
    _links: list[Link] | None = field(default=None, repr=False)

    @property
    def links(self) -> list[Link]:
        if self._links is None:
            self._links = _links(self.session, self.record.module, self.prepared.manifests)
            self.report.connections = len(self._links)
        return self._links

    async def check_staged(self) -> None:
        """Is the staged instance still running?  Gone before any source switched to it, it is
        staged again; gone after, only a deploy can load and key the module again."""
        session, record = self.session, self.record
        self.staged_running = await _staged_running(session, record)
        if self.staged_running:
            return
        if record.phase.committed:
            raise StateError(
                f"the new instance {record.staged} is no longer running (its node restarted?) "
                f"after sources switched to it: run `authex deploy` to load and key "
                f"{record.module} again"
            )
        if record.phase is not Phase.STAGING:
            session.progress(f"the staged {record.staged} is gone: staging it again")
            _enter(record, Phase.STAGING)

    async def stage(self) -> str:
        """Load and attest the new version as NAME~TAG (unless a killed run got that far)."""
        if not self.staged_running:
            name, prepared = self.record.module, self.prepared
            await load_and_attest(
                self.session,
                prepared.builds[name],
                prepared.packaged[name],
                True,
                DeployReport(prepared.plan),
                self.record.staged,
            )
        return ""

    async def key(self) -> str:
        return await _key_new_connections(
            self.session, self.record, self.links, self.prepared.manifests
        )

    async def switch(self) -> str:
        await _switch(self.session, self.record, self.links, self.prepared.manifests)
        return ""

    async def drain(self) -> str:
        await _drain_old(self.session, self.record, self.links)
        self.record.transfer = await _transfer(
            self.session, self.record, self.fresh, self.prepared.manifests
        )
        return ""

    async def promote(self) -> str:
        return await _promote(self.session, self.record, self.links)


@dataclass(frozen=True)
class Transition:
    source: Phase
    target: Phase
    step: Callable[[_Update], Awaitable[str]] | None = None  # None: no work, a phase change


# Every phase change an update may make.  The steps lead from STAGING to PROMOTED, one after
# the other; the driver runs them in order from wherever the state says it stopped and records
# each phase it reaches.  Until the sources switch, a staged instance that is gone (its node
# restarted) is staged again (_Update.check_staged); from SWITCHED on there is no way back.
TRANSITIONS: tuple[Transition, ...] = (
    Transition(Phase.STAGING, Phase.STAGED, _Update.stage),
    Transition(Phase.STAGED, Phase.KEYED, _Update.key),
    Transition(Phase.KEYED, Phase.SWITCHED, _Update.switch),
    Transition(Phase.SWITCHED, Phase.DRAINED, _Update.drain),
    Transition(Phase.DRAINED, Phase.PROMOTED, _Update.promote),
    Transition(Phase.STAGED, Phase.STAGING),
    Transition(Phase.KEYED, Phase.STAGING),
)
_STEPS = {t.source: t for t in TRANSITIONS if t.step is not None}


def _enter(record: UpdateState, phase: Phase) -> None:
    if not any(t.source is record.phase and t.target is phase for t in TRANSITIONS):
        raise TransitionError(
            f"update of {record.module}: no transition from {record.phase.value} to {phase.value}"
        )
    record.phase = phase


def _new_connection(record: UpdateState, conn_name: str) -> str:
    """Where the state keeps a connection's new id and key until the promotion."""
    return staged_name(conn_name, staged_tag(record.staged))


def _links(session: Session, name: str, manifests: dict[str, Manifest]) -> list[Link]:
    links: list[Link] = []
    for conn in session.descriptor.connections:
        if name not in (conn.source.module, conn.target.module):
            continue
        old = session.state.connections.get(conn.name)
        if old is None or not old.key:
            raise StateError(
                f"connection {conn.name!r} of {name} is not deployed yet: run `authex deploy` "
                "first (an update replaces a running module; it does not add connections)"
            )
        ends = connection_ends(conn, manifests)
        mine = tuple(e for e in ends if e.module == name)
        others = [e for e in ends if e.module != name]
        links.append(Link(conn, old, mine, others[0] if others else None))
    return links


async def update(session: Session, name: str, *, fresh: bool = False) -> UpdateReport:
    """Update module ``name`` to what its source builds now; ``fresh``: do not transfer the
    old instance's sealed data."""
    started = time.monotonic()
    descriptor, state, progress = session.descriptor, session.state, session.progress
    try:
        spec = descriptor.module(name)
    except KeyError:
        names = ", ".join(m.name for m in descriptor.modules)
        raise StateError(f"no module named {name!r}; modules: {names}") from None
    current = state.modules.get(name)
    if current is None or not current.module_key or not current.instance:
        raise StateError(f"module {name!r} is not deployed: run `authex deploy` first")
    if current.node != spec.node:
        raise StateError(
            f"module {name!r} runs on node {current.node}, the descriptor puts it on {spec.node}: "
            "an update replaces a module where it runs; move it with `authex deploy`"
        )
    prepared = await prepare(session, assign_ids=False)
    if spec.node in prepared.unreachable:
        raise prepared.unreachable[spec.node]
    measurement = prepared.packaged[name].measurement.hex()
    record = state.updates.get(name)
    if record is not None and record.measurement != measurement and not record.phase.committed:
        progress(f"the source of {name} changed since the interrupted update: staging it again")
        await _abandon(session, record)
        record = None
    if record is None:
        if measurement == current.measurement:
            progress(f"{name} is unchanged (measurement {measurement[:16]}…): nothing to update")
            return UpdateReport(name, unchanged=True)
        _links(session, name, prepared.manifests)  # refuse early what cannot be updated
        record = UpdateState(name, staged_name(name, f"u{secrets.token_hex(4)}"), measurement)
        state.updates[name] = record
        session.save()
    elif record.measurement != measurement:
        progress(
            f"continuing the interrupted update of {name} with the version it staged; run "
            "`authex update` again afterwards for the newest source"
        )
    else:
        progress(f"resuming the update of {name} (it stopped after: {record.phase.value})")
    report = UpdateReport(name, staged=record.staged)
    await _run(session, record, prepared, fresh, report)
    report.total_s = time.monotonic() - started
    return report


async def _run(
    session: Session, record: UpdateState, prepared: Prepared, fresh: bool, report: UpdateReport
) -> None:
    name, state = record.module, session.state
    run = _Update(session, record, prepared, fresh, report)
    if record.phase is not Phase.PROMOTED:
        await run.check_staged()
    while record.phase is not Phase.PROMOTED:
        transition = _STEPS.get(record.phase)
        if transition is None or transition.step is None:
            raise TransitionError(f"update of {name}: no step leads on from {record.phase.value}")
        said = await transition.step(run)
        _enter(record, transition.target)
        session.save()
        if said:
            session.progress(said)
    await _finish(session, record, prepared.manifests)
    report.transfer = record.transfer
    report.held = record.held
    report.downtime_s = max(0.0, record.released_at - record.switched_at)
    del state.updates[name]
    session.save()


async def _staged_running(session: Session, record: UpdateState) -> bool:
    ms = session.state.modules.get(record.staged)
    if ms is None or not ms.module_key:
        return False
    status = await session.node_status(ms.node)
    return any(
        m.name == record.staged and m.instance == ms.instance and m.running for m in status.modules
    )


async def _abandon(session: Session, record: UpdateState) -> None:
    """Drop a staged instance that never received anything (its sources did not switch)."""
    ms = session.state.modules.pop(record.staged, None)
    if ms is not None:
        with contextlib.suppress(RemoteError):  # not loaded any more
            await (await session.client(ms.node)).request(Remove(record.staged))
    tag = staged_tag(record.staged)
    for key in [k for k in session.state.connections if staged_tag(k) == tag]:
        del session.state.connections[key]
    del session.state.updates[record.module]
    session.save()


def _staged_name(record: UpdateState, module: str) -> str:
    return record.staged if module == record.module else module


async def _add_route(session: Session, record: UpdateState, conn: Connection, conn_id: int) -> None:
    """Route a new connection with the staged name for the module being updated."""
    spec = route_spec(session.descriptor, conn, conn_id)
    staged = replace(
        spec,
        from_module=_staged_name(record, spec.from_module),
        to_module=_staged_name(record, spec.to_module),
    )
    await install_route(session, staged)


async def _key_new_connections(
    session: Session, record: UpdateState, links: list[Link], manifests: dict[str, Manifest]
) -> str:
    """New id and key for every connection of the module: the staged instance's ends, and the
    receiving ends of its outgoing connections (which then accept the old and the new id).
    Sources switch later.  Idempotent: nothing flows on the new connections yet."""
    state = session.state
    for link in links:
        new = state.connection_id(_new_connection(record, link.conn.name))
        new.suite = choose_suite(session.descriptor, link.conn, manifests)
        key = Secret(os.urandom(16))
        new.key, new.epoch, new.keyed, new.keyed_instance = key, 1, {}, {}
        new.operator_send = new.operator_receive = 0
        session.save()
        await _add_route(session, record, link.conn, new.id)
        other = link.other
        if other is not None and other.role is EndRole.TARGET:
            await key_end(session, new, other, other.module, key)
        for end in link.mine:
            await key_end(session, new, end, record.staged, key)
    return f"keyed {len(links)} new connections of {record.staged}"


async def _switch(
    session: Session, record: UpdateState, links: list[Link], manifests: dict[str, Manifest]
) -> None:
    """Stop the old instance's timers, then move every source to the new connection: from its
    answer on, it sends to the new instance only."""
    state, name = session.state, record.module
    old_manifest = Manifest.from_dict(state.modules[name].manifest)
    client = await session.client(state.modules[name].node)
    for periodic in session.descriptor.periodic:
        entry = old_manifest.find(IoKind.ENTRY, periodic.entry)
        if periodic.module == name and entry is not None:
            await client.request(Timer(name, entry.id, 0))
    if not record.switched_at:
        record.switched_at = time.time()
        session.save()
    for link in links:
        other = link.other
        if other is None or other.role is not EndRole.SOURCE or link.conn.name in record.swapped:
            continue
        new = state.connections[_new_connection(record, link.conn.name)]
        await key_end(session, new, other, other.module, new.key, replaces=link.old.id)
        record.swapped.append(link.conn.name)
        session.save()
        session.progress(f"{other.module} now sends {link.conn.name} to the new {name}")


def _nodes(session: Session, links: list[Link]) -> list[str]:
    nodes: set[str] = set()
    for link in links:
        spec = route_spec(session.descriptor, link.conn, link.old.id)
        nodes |= {spec.from_node, spec.to_node}
    return sorted(nodes)


async def _pending(session: Session, conn_ids: list[int], nodes: list[str]) -> int:
    """Events of these connections that some agent still has: in an outbox, in flight to a
    module or held (an unreachable node counts as unknown: -1)."""
    statuses = await session.all_status(nodes)
    total = 0
    for node in nodes:
        status = statuses.get(node)
        if not isinstance(status, NodeStatus):
            return -1
        total += sum(status.pending(c) for c in conn_ids)
    return total


async def _wait_drained(
    session: Session, conn_ids: list[int], nodes: list[str], what: str, name: str
) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    told = time.monotonic()
    while True:
        pending = await _pending(session, conn_ids, nodes)
        if pending == 0:
            return
        now = time.monotonic()
        if now >= deadline:
            shown = "an unknown number of" if pending < 0 else str(pending)
            raise RemoteError(
                f"{shown} {what} still pending after {DRAIN_TIMEOUT:.0f}s; run `authex update "
                f"{name}` again to keep waiting (nothing is lost meanwhile)"
            )
        if now - told >= PROGRESS_EVERY:
            told = now
            session.progress(f"waiting for {'?' if pending < 0 else pending} {what}")
        await asyncio.sleep(POLL_INTERVAL)


async def _drain_old(session: Session, record: UpdateState, links: list[Link]) -> None:
    """Wait until the old instance took every event sent to it, then until everything it sent
    was taken (it sends nothing more: its inputs are drained and its timers stopped)."""
    nodes = _nodes(session, links)
    name = record.module
    incoming = [link.old.id for link in links if link.incoming]
    outgoing = [link.old.id for link in links if link.outgoing]
    await _wait_drained(session, incoming, nodes, f"events for the old {name}", name)
    await _wait_drained(session, outgoing, nodes, f"events from the old {name}", name)
    session.progress(f"the old {name} took and passed on everything sent to it")


async def _transfer(
    session: Session, record: UpdateState, fresh: bool, manifests: dict[str, Manifest]
) -> str:
    """Move the old instance's sealed data to the new one over a temporary attested connection
    (spec/protocol.md §7.6 step 3); what happened, for the report."""
    name, state = record.module, session.state
    if fresh:
        return "skipped (--fresh)"
    node = state.modules[name].node
    status = await session.node_status(node)
    persistent = {m.name for m in status.modules if m.persistent}
    if name not in persistent:
        return "none (the module keeps no sealed state)"
    if record.staged not in persistent:
        raise StateError(
            f"the running {name} keeps sealed state but its new version is not persistent: "
            f"run `authex update {name} --fresh` to start it without that state"
        )
    old_suites = Manifest.from_dict(state.modules[name].manifest).suites
    common = [s for s in SUITE_PREFERENCE if s in old_suites and s in manifests[name].suites]
    if not common:
        raise StateError(f"the old and new {name} share no cipher suite for the state transfer")
    conn_id = state.fresh_connection_id()
    session.save()
    client = await session.client(node)
    await install_route(session, RouteSpec(conn_id, node, name, node, record.staged))
    transfer = ConnectionState(conn_id, suite=common[0])
    key = Secret(os.urandom(16))
    state_in = End(EndRole.TARGET, record.staged, STATE_IN_ID)
    state_out = End(EndRole.SOURCE, name, STATE_OUT_ID)
    await key_end(session, transfer, state_in, record.staged, key)
    await key_end(session, transfer, state_out, name, key)  # the old instance sends at once
    await _wait_drained(session, [conn_id], [node], "bytes of sealed data in transfer", name)
    status = await session.node_status(node)
    refused = counters.rejected_by_name() if (counters := status.connection(conn_id)) else {}
    await client.request(RemoveRoute(conn_id))
    if refused:
        raise StateError(f"the new {name} refused the state transfer ({refused})")
    session.progress(f"moved the sealed data of the old {name} to the new one")
    return "done"


async def _promote(session: Session, record: UpdateState, links: list[Link]) -> str:
    """The new instance becomes the module: the old one stops, the held deliveries go in."""
    state, name = session.state, record.module
    ms = state.modules[record.staged]
    status = await session.node_status(ms.node)
    record.held = next((m.held for m in status.modules if m.name == record.staged), 0)
    await (await session.client(ms.node)).request(Promote(record.staged))
    record.released_at = time.time()
    state.modules[name] = state.modules.pop(record.staged)
    for link in links:
        record.retired[link.conn.name] = link.old.id
        new = state.connections.pop(_new_connection(record, link.conn.name))
        new.routes = {}
        state.connections[link.conn.name] = new
    return f"[{ms.node}] {record.staged} is now {name}; released {record.held} held deliveries"


async def _finish(session: Session, record: UpdateState, manifests: dict[str, Manifest]) -> None:
    """Routes under the module's own name, old connections retired, timers started again."""
    descriptor, name = session.descriptor, record.module
    for conn in descriptor.connections:
        if name in (conn.source.module, conn.target.module):
            cs = session.state.connections[conn.name]
            await install_route(session, route_spec(descriptor, conn, cs.id), record=cs)
    for conn_name, old_id in record.retired.items():
        conn = descriptor.connection(conn_name)
        ends = connection_ends(conn, manifests)
        for end in ends:  # receivers of the old instance's outgoing connections forget it
            if end.module != name and end.role is EndRole.TARGET:
                await send_key(
                    session,
                    end.module,
                    conn_id=0,
                    io_id=0,
                    role=0,
                    suite="",
                    key=Secret(b""),
                    replaces=old_id,
                )
        spec = route_spec(descriptor, conn, old_id)
        for node in sorted({spec.from_node, spec.to_node}):
            await (await session.client(node)).request(RemoveRoute(old_id))
    for periodic in descriptor.periodic:
        if periodic.module == name:
            await start_timer(session, f"{periodic.module}.{periodic.entry}", manifests)
