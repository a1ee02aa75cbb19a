"""Execute a deployment: build, check interfaces, reconcile with the nodes, then load, attest,
key, route and start timers, concurrently across modules and nodes.

State is saved after every completed step, so an interrupted deploy resumes where it stopped
and a repeated deploy does only what is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from authex.attestation.trust import NodeTrust
from authex.crypto.secret import Secret
from authex.deployer.c import cache_secret
from authex.deployer.client import AgentClient
from authex.deployer.keying import key_end
from authex.deployer.plan import (
    Plan,
    choose_suite,
    connection_ends,
    make_plan,
    route_spec,
)
from authex.deployer.roles import EndRole
from authex.deployer.routes import install_route
from authex.deployer.session import Session
from authex.deployer.state import NO_KEY, ConnectionState, ModuleState, TimerState
from authex.deployer.steps import collect_failures, raise_failures
from authex.deployer.toolchains import build_all
from authex.deployer.trust import TrustStore
from authex.descriptor import DescriptorProblems, ModuleSpec, Node, Policy, check_interfaces
from authex.errors import AttestationError, AuthexError, ProtocolError, RemoteError, StateError
from authex.manifest import IoKind, Manifest
from authex.sdk.build import BuiltModule
from authex.tee.base import AttestContext, Exchange, Packaged, get_backend
from authex.wire.messages import Attest, Attested, Load, Loaded, Timer


@dataclass
class DeployReport:
    plan: Plan
    attested: dict[str, str] = field(default_factory=dict)  # module -> evidence kind
    keyed: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """Everything a deploy (or `authex plan`) knows before it changes anything."""

    builds: dict[str, BuiltModule]
    manifests: dict[str, Manifest]
    packaged: dict[str, Packaged]
    unreachable: dict[str, AuthexError]
    plan: Plan


async def prepare(session: Session, *, assign_ids: bool) -> Prepared:
    """Build, check interfaces, package per TEE, ask every node, and plan.  Changes nothing on
    any node; with ``assign_ids`` it records new connections' ids in the state."""
    descriptor = session.descriptor
    progress = session.progress
    progress(f"building {len(descriptor.modules)} modules")
    cache = cache_secret(session.operator)
    builds = await build_all(descriptor, session.operator_public, progress, cache)
    manifests = {name: b.manifest for name, b in builds.items()}
    problems = check_interfaces(descriptor, manifests)
    if problems:
        raise DescriptorProblems(tuple(problems))
    keys = session.keys()
    packaged = {
        spec.name: get_backend(descriptor.node(spec.node).tee).package(
            spec, builds[spec.name].artifact, keys
        )
        for spec in descriptor.modules
    }
    if assign_ids:
        for conn in descriptor.connections:
            session.state.connection_id(conn.name)
        session.save()
    progress(f"contacting {len(descriptor.nodes)} nodes")
    statuses = await session.all_status()
    unreachable = {n: e for n, e in statuses.items() if isinstance(e, AuthexError)}
    observed = {n: s for n, s in statuses.items() if not isinstance(s, AuthexError)}
    measurements = {name: p.measurement for name, p in packaged.items()}
    plan = make_plan(descriptor, manifests, measurements, session.state, observed)
    return Prepared(builds, manifests, packaged, unreachable, plan)


def blockers(session: Session, prepared: Prepared) -> dict[str, str]:
    """Module -> why a deploy could not load or attest it (unreachable, not enrolled, emulated
    TEE without opt-in), for `authex plan`."""
    found: dict[str, str] = {}
    trust = session.trust()
    for spec in session.descriptor.modules:
        node = session.descriptor.node(spec.node)
        error = prepared.unreachable.get(spec.node)
        if error is None:
            try:
                enrolled(trust, session.policy, spec, node)
            except AuthexError as exc:
                error = exc
        if error is not None:
            found[spec.name] = error.message
    return found


async def deploy(session: Session) -> DeployReport:
    descriptor = session.descriptor
    progress = session.progress
    if session.state.updates:  # a deploy would load over the staged instance
        names = ", ".join(sorted(session.state.updates))
        raise StateError(
            f"an update of {names} is in progress: run `authex update {names}` to finish it "
            "before deploying"
        )
    prepared = await prepare(session, assign_ids=True)
    builds, manifests, packaged = prepared.builds, prepared.manifests, prepared.packaged
    unreachable, plan = prepared.unreachable, prepared.plan
    if len(unreachable) == len(descriptor.nodes):
        lines = "\n".join(f"  {e}" for e in unreachable.values())
        raise RemoteError(f"{len(unreachable)} node(s) unreachable, nothing changed:\n{lines}")
    for error in unreachable.values():
        progress(f"skipping the modules of an unreachable node: {error}")
    report = DeployReport(plan)
    if plan.empty:
        progress("everything is deployed already; nothing to do")
        return report
    progress(f"plan: {plan.summary()}")

    failures: list[AuthexError] = list(unreachable.values())
    failures += await collect_failures(
        load_and_attest(session, builds[name], packaged[name], name in plan.load, report)
        for name in plan.attest
        if descriptor.module(name).node not in unreachable
    )
    # Steps that depend on a module that failed are skipped; everything else proceeds.
    ready = {
        n
        for n, m in session.state.modules.items()
        if m.module_key and m.instance and m.node not in unreachable
    }

    def usable(conn_name: str) -> bool:
        conn = descriptor.connection(conn_name)
        return all(e.module in ready for e in (conn.source, conn.target) if e.module)

    failures += await collect_failures(
        [_key_connection(session, c, manifests, report) for c in plan.key if usable(c)]
        + [
            route_connection(session, c, node)
            for c, node in plan.route
            if usable(c) and node not in unreachable
        ]
    )
    failures += await collect_failures(
        start_timer(session, key, manifests) for key in plan.timers if key.split(".", 1)[0] in ready
    )
    raise_failures(failures)
    return report


def enrolled(trust_store: TrustStore, policy: Policy, spec: ModuleSpec, node: Node) -> NodeTrust:
    """The node's trust entry, refusing emulated platforms unless the policy allows them."""
    trust = trust_store.node(node.name, node.tee)
    if trust.emulated and not policy.allow_emulated:
        raise AttestationError(
            f"node {node.name} is an emulated {node.tee} platform and the descriptor's "
            "policy does not accept emulated TEEs (policy: {allow_emulated: true} for development)",
            where=f"module {spec.name}",
        )
    return trust


def agent_exchange(client: AgentClient) -> Exchange:
    """The attestation exchange through the node's agent: Attest in, Attested evidence out."""

    async def exchange(module: str, challenge: bytes) -> bytes:
        reply = await client.request(Attest(module, challenge))
        if not isinstance(reply, Attested):
            raise ProtocolError("agent answered attest without evidence", where=client.where)
        return reply.evidence

    return exchange


def attest_context(
    session: Session,
    spec: ModuleSpec,
    node: Node,
    packaged: Packaged,
    client: AgentClient,
    slot: str = "",
) -> AttestContext:
    """What a backend needs to attest ``spec`` on ``node``: the node's trust entry (refusing an
    unenrolled node, or an emulated one without the policy's opt-in) and the agent exchange."""
    keys = session.keys()
    trust = enrolled(session.trust(), session.policy, spec, node)
    return AttestContext(
        spec, node, packaged, keys, trust, session.policy, agent_exchange(client), slot
    )


async def load_and_attest(
    session: Session,
    built: BuiltModule,
    packaged: Packaged,
    load: bool,
    report: DeployReport,
    slot: str = "",
) -> None:
    """Load (when ``load``) and attest one module; ``slot`` loads it under another name
    (NAME~TAG: the staged new version of an update), which is also its deployment-state key."""
    spec = session.descriptor.module(built.name)
    node = session.descriptor.node(spec.node)
    backend = get_backend(node.tee)
    client = await session.client(spec.node)
    name = slot or spec.name
    where = f"module {name} on node {spec.node}"
    # refuses unenrolled or (without opt-in) emulated nodes before loading
    context = attest_context(session, spec, node, packaged, client, slot)
    if load:
        reply = await client.request(Load(name, node.tee, packaged.image, spec.memory))
        if not isinstance(reply, Loaded):
            raise ProtocolError("agent answered load without an instance", where=client.where)
        if reply.measurement != packaged.measurement:
            raise AttestationError(
                "the node's platform measured something other than the image we built "
                f"({reply.measurement.hex()[:16]}… instead of {packaged.measurement.hex()[:16]}…)",
                where=where,
            )
        session.state.modules[name] = ModuleState(
            node=spec.node,
            measurement=packaged.measurement.hex(),
            instance=reply.instance,
            manifest=built.manifest.to_dict(),
        )
        session.save()
        session.progress(f"[{spec.node}] loaded {name}")
    try:
        verified = await backend.attest(context)
    except AuthexError:
        # Whatever runs there did not prove itself: never trust that instance again.
        session.state.modules[name].instance = 0
        session.state.modules[name].module_key = NO_KEY
        session.save()
        raise
    ms = session.state.modules[name]
    ms.module_key = verified.key
    ms.control_counter = 0
    ms.evidence = verified.evidence_kind
    ms.emulated = verified.emulated
    ms.control_suite = verified.control_suite
    ms.manifest = built.manifest.to_dict()
    session.save()
    report.attested[name] = verified.evidence_kind
    session.progress(f"[{spec.node}] attested {name}: {verified.evidence_kind}")


async def _key_connection(
    session: Session, conn_name: str, manifests: dict[str, Manifest], report: DeployReport
) -> None:
    conn = session.descriptor.connection(conn_name)
    cs: ConnectionState = session.state.connection_id(conn_name)
    suite = choose_suite(session.descriptor, conn, manifests)
    key = Secret(os.urandom(16))
    cs.suite = suite
    cs.key = key
    cs.epoch += 1
    cs.keyed = {}
    cs.keyed_instance = {}
    cs.operator_send = 0
    cs.operator_receive = 0
    session.save()
    ends = connection_ends(conn, manifests)

    # The target first: once the source has the new key it seals with it, and the target's
    # agent must not mistake those fresh counters for resends of the old key's.
    for end in sorted(ends, key=lambda e: e.role is not EndRole.TARGET):
        await key_end(session, cs, end, end.module, key)
    report.keyed.append(conn_name)
    session.progress(f"keyed {conn_name} (connection {cs.id}, {suite})")


async def route_connection(session: Session, conn_name: str, node: str) -> None:
    """Install the route of a descriptor connection on one of its nodes, and record it."""
    cs = session.state.connection_id(conn_name)
    spec = route_spec(session.descriptor, session.descriptor.connection(conn_name), cs.id)
    await install_route(session, spec, [node], record=cs)


async def start_timer(session: Session, key: str, manifests: dict[str, Manifest]) -> None:
    periodic = next(p for p in session.descriptor.periodic if f"{p.module}.{p.entry}" == key)
    entry = manifests[periodic.module].find(IoKind.ENTRY, periodic.entry)
    assert entry is not None  # checked by check_interfaces
    ms = session.state.modules[periodic.module]
    client = await session.client(ms.node)
    await client.request(Timer(periodic.module, entry.id, periodic.interval_ms))
    session.state.timers[key] = TimerState(
        periodic.module, periodic.entry, periodic.interval_ms, ms.instance
    )
    session.save()
    session.progress(f"[{ms.node}] timer {key} every {periodic.interval_ms} ms")
