"""Pure planning: descriptor + builds + state + what the nodes report -> what must be done.

``deploy`` reconciles: it loads only modules that are missing, changed or restarted, attests
only what is not attested, re-keys a connection (both ends, fresh key) whenever an end was
reloaded or keying was interrupted, installs missing routes and timers.  Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from authex.deployer.roles import EndRole
from authex.deployer.state import ConnectionState, DeploymentState
from authex.descriptor import Connection, Descriptor, suites_for_connection
from authex.manifest import IoKind, Manifest
from authex.wire.status import NodeStatus

SUITE_PREFERENCE = ("aes-gcm-128", "ascon-aead128", "spongewrap-128")
# A connection is keyed afresh once a counter of it passed half the 64-bit space: a sender that
# used every counter up could seal nothing more until then (spec/crypto.md §3.1).
REKEY_AFTER = 1 << 63
SENDER_KINDS = (IoKind.OUTPUT, IoKind.REQUEST)
RECEIVER_KINDS = (IoKind.INPUT, IoKind.HANDLER)


@dataclass(frozen=True)
class End:
    """One module end of a connection: which module, which io id, which role."""

    role: EndRole
    module: str
    io_id: int


@dataclass(frozen=True)
class RouteSpec:
    conn_id: int
    from_node: str
    from_module: str
    to_node: str
    to_module: str

    def digest(self, addresses: Mapping[str, str]) -> str:
        text = "|".join(
            (
                str(self.conn_id),
                self.from_node,
                self.from_module,
                addresses[self.from_node],
                self.to_node,
                self.to_module,
                addresses[self.to_node],
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Plan:
    load: list[str] = field(default_factory=list)
    attest: list[str] = field(default_factory=list)
    key: list[str] = field(default_factory=list)  # connection names to (re)key
    route: list[tuple[str, str]] = field(default_factory=list)  # (connection, node)
    timers: list[str] = field(default_factory=list)  # periodic keys "module.entry"

    @property
    def empty(self) -> bool:
        return not (self.load or self.attest or self.key or self.route or self.timers)

    def summary(self) -> str:
        return (
            f"{len(self.load)} to load, {len(self.attest)} to attest, {len(self.key)} "
            f"connections to key, {len(self.route)} routes, {len(self.timers)} timers"
        )


def connection_ends(conn: Connection, manifests: Mapping[str, Manifest]) -> list[End]:
    ends: list[End] = []
    for role, endpoint, kinds in (
        (EndRole.SOURCE, conn.source, SENDER_KINDS),
        (EndRole.TARGET, conn.target, RECEIVER_KINDS),
    ):
        if endpoint.module is None or endpoint.io is None:
            continue
        manifest = manifests[endpoint.module]
        for kind in kinds:
            found = manifest.find(kind, endpoint.io)
            if found is not None:
                ends.append(End(role, endpoint.module, found.id))
                break
    return ends


def choose_suite(
    descriptor: Descriptor, conn: Connection, manifests: Mapping[str, Manifest]
) -> str:
    """The descriptor's suite, else the best one both ends' TEEs and manifests support."""
    if conn.suite is not None:
        return conn.suite
    common = set(suites_for_connection(descriptor, conn))
    for endpoint in (conn.source, conn.target):
        if endpoint.module is not None:
            common &= set(manifests[endpoint.module].suites)
    for suite in SUITE_PREFERENCE:
        if suite in common:
            return suite
    raise ValueError(f"connection {conn.name}: the two ends share no cipher suite")


def route_spec(descriptor: Descriptor, conn: Connection, conn_id: int) -> RouteSpec:
    src, dst = conn.source.module, conn.target.module
    src_node = descriptor.module(src).node if src else None
    dst_node = descriptor.module(dst).node if dst else None
    from_node = src_node or dst_node
    to_node = dst_node or src_node
    assert from_node is not None and to_node is not None
    return RouteSpec(conn_id, from_node, src or "", to_node, dst or "")


def node_modules(observed: NodeStatus | None) -> dict[str, int]:
    """Module name -> instance of the modules running on a node (none if it was not asked)."""
    if observed is None:
        return {}
    return {m.name: m.instance for m in observed.modules if m.running}


def accepted_counters(observed: Mapping[str, NodeStatus | None]) -> dict[int, int]:
    """Connection id -> the highest counter a module accepted on it, as the agents report it."""
    upto: dict[int, int] = {}
    for status in observed.values():
        for counters in status.connections if status is not None else ():
            upto[counters.conn_id] = max(upto.get(counters.conn_id, 0), counters.accepted_upto)
    return upto


def counters_used_up(cs: ConnectionState, accepted: Mapping[int, int]) -> bool:
    """Whether connection ``cs`` must be keyed afresh before its counters run out."""
    known = (cs.operator_send, cs.operator_receive, accepted.get(cs.id, 0))
    return bool(cs.key) and max(known) > REKEY_AFTER


def make_plan(
    descriptor: Descriptor,
    manifests: Mapping[str, Manifest],
    measurements: Mapping[str, bytes],
    state: DeploymentState,
    observed: Mapping[str, NodeStatus | None],
) -> Plan:
    """``observed`` maps node name to its agent's status (None: not queried / unreachable)."""
    plan = Plan()
    addresses = {n.name: n.address for n in descriptor.nodes}
    running = {node: node_modules(status) for node, status in observed.items()}
    for spec in descriptor.modules:
        ms = state.modules.get(spec.name)
        loaded = (
            ms is not None
            and ms.node == spec.node
            and ms.instance != 0
            and running.get(spec.node, {}).get(spec.name) == ms.instance
            and ms.measurement == measurements[spec.name].hex()
        )
        if not loaded:
            plan.load.append(spec.name)
            plan.attest.append(spec.name)
        elif ms is not None and not ms.module_key:
            plan.attest.append(spec.name)
    fresh = set(plan.attest)
    accepted = accepted_counters(observed)
    for conn in descriptor.connections:
        cs = state.connections.get(conn.name)
        ends = connection_ends(conn, manifests)
        needs_key = (
            cs is None
            or not cs.key
            or counters_used_up(cs, accepted)
            or any(e.module in fresh for e in ends)
            or any(cs.keyed.get(e.role) != cs.epoch for e in ends)
            or any(cs.keyed_instance.get(e.role) != state.modules[e.module].instance for e in ends)
        )
        if needs_key:
            plan.key.append(conn.name)
        conn_id = cs.id if cs is not None else 0
        spec_route = route_spec(descriptor, conn, conn_id)
        for node in sorted({spec_route.from_node, spec_route.to_node}):
            status = observed.get(node)
            have = status.route_ids if status is not None else frozenset()
            installed = cs.routes.get(node) if cs is not None else None
            if cs is None or cs.id not in have or installed != spec_route.digest(addresses):
                plan.route.append((conn.name, node))
    for periodic in descriptor.periodic:
        key = f"{periodic.module}.{periodic.entry}"
        ts = state.timers.get(key)
        node = descriptor.module(periodic.module).node
        status = observed.get(node)
        manifest = manifests[periodic.module]
        entry = manifest.find(IoKind.ENTRY, periodic.entry)
        registered = status is not None and any(
            t.module == periodic.module and entry is not None and t.entry_id == entry.id
            for t in status.timers
        )
        if (
            ts is None
            or not registered
            or periodic.module in fresh
            or ts.period_ms != periodic.interval_ms
            or ts.instance != state.modules[periodic.module].instance
        ):
            plan.timers.append(key)
    return plan
