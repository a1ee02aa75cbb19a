"""The pure deploy planner: descriptor + builds + state + what the nodes report -> the steps.

A small fake cluster applies a plan the way ``deploy`` does (state updates and what each agent
then reports), so every case starts from a genuinely "fully deployed" situation and changes one
thing: a restarted agent, a rebuilt module, an interrupted attestation or keying, a lost route, a
moved module.  The plan must then name exactly what is missing and nothing else.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from authex.crypto.secret import Secret
from authex.deployer.plan import (
    REKEY_AFTER,
    SUITE_PREFERENCE,
    End,
    Plan,
    RouteSpec,
    choose_suite,
    connection_ends,
    make_plan,
    node_modules,
    route_spec,
)
from authex.deployer.roles import EndRole
from authex.deployer.state import NO_KEY, DeploymentState, ModuleState, TimerState
from authex.descriptor import Descriptor, parse_descriptor
from authex.manifest import IoKind, Manifest, assign_ids
from authex.wire.status import NodeStatus, Route
from support import status as fake_status

ALL_SUITES = ("aes-gcm-128", "ascon-aead128", "spongewrap-128")

DESCRIPTOR = """\
name: plan-test
nodes:
  - {name: n1, tee: native, host: 127.0.0.1, port: 7001}
  - {name: n2, tee: sgx, host: 127.0.0.1, port: 7002}
  - {name: n3, tee: sancus, host: 127.0.0.1, port: 7003}
  - {name: n4, tee: native, host: 127.0.0.2, port: 7004}
modules:
  - {name: a, node: n1, language: python, source: modules/a}
  - {name: b, node: n2, language: python, source: modules/b}
  - {name: c, node: n3, language: python, source: modules/c}
connections:
  - {name: ab, from: a.out, to: b.inp}
  - {name: query, from: a.ask, to: b.answer}
  - {name: op-in, from: operator, to: a.cmd}
  - {name: alerts, from: b.alert, to: operator, suite: ascon-aead128}
  - {name: ac, from: a.out, to: c.inp}
periodic:
  - {module: b, entry: tick, every: 50ms}
"""

INTERFACES: dict[str, dict[IoKind, dict[str, bool]]] = {
    "a": {
        IoKind.OUTPUT: {"out": False},
        IoKind.REQUEST: {"ask": False},
        IoKind.INPUT: {"cmd": False},
    },
    "b": {
        IoKind.INPUT: {"inp": False},
        IoKind.HANDLER: {"answer": False},
        IoKind.OUTPUT: {"alert": False},
        IoKind.ENTRY: {"tick": True},
    },
    "c": {IoKind.INPUT: {"inp": False}},
}


def manifest(name: str, suites: tuple[str, ...] = ALL_SUITES) -> Manifest:
    return Manifest(name, "python", suites, assign_ids(INTERFACES[name]), "00" * 32)


def make_descriptor(tmp_path: Path, text: str = DESCRIPTOR) -> Descriptor:
    for name in ("a", "b", "c"):
        (tmp_path / "modules" / name).mkdir(parents=True, exist_ok=True)
    return parse_descriptor(text, tmp_path / "descriptor.yaml")


@dataclass
class World:
    """A descriptor, its builds, the deployer's state and what the (fake) agents report."""

    descriptor: Descriptor
    manifests: dict[str, Manifest]
    measurements: dict[str, bytes]
    state: DeploymentState = field(default_factory=DeploymentState)
    observed: dict[str, NodeStatus] = field(default_factory=dict)
    instances: itertools.count[int] = field(default_factory=lambda: itertools.count(101))

    def __post_init__(self) -> None:
        for node in self.descriptor.nodes:
            self.observed.setdefault(node.name, fake_status.node(node.name))

    def change(self, node: str, **fields: Any) -> None:
        """What the agent of ``node`` reports from now on: these fields changed."""
        self.observed[node] = replace(self.observed[node], **fields)

    def plan(self) -> Plan:
        return make_plan(
            self.descriptor, self.manifests, self.measurements, self.state, self.observed
        )

    def apply(self, plan: Plan) -> None:
        """What ``deploy`` does with a plan, with the agents' side simulated."""
        d = self.descriptor
        addresses = {n.name: n.address for n in d.nodes}
        for name in plan.attest:
            spec = d.module(name)
            if name in plan.load:
                instance = next(self.instances)
                mods = [m for m in self.observed[spec.node].modules if m.name != name]
                self.change(spec.node, modules=(*mods, fake_status.module(name, instance)))
                self.state.modules[name] = ModuleState(
                    node=spec.node,
                    measurement=self.measurements[name].hex(),
                    instance=instance,
                    manifest=self.manifests[name].to_dict(),
                )
            self.state.modules[name].module_key = Secret(
                hashlib.sha256(name.encode()).digest()[:16]
            )
        for conn_name in plan.key:
            conn = d.connection(conn_name)
            cs = self.state.connection_id(conn_name)
            cs.suite = choose_suite(d, conn, self.manifests)
            cs.key = Secret(b"\x11" * 16)
            cs.epoch += 1
            cs.keyed, cs.keyed_instance = {}, {}
            for end in connection_ends(conn, self.manifests):
                cs.keyed[end.role] = cs.epoch
                cs.keyed_instance[end.role] = self.state.modules[end.module].instance
        for conn_name, node in plan.route:
            cs = self.state.connection_id(conn_name)
            spec_route = route_spec(d, d.connection(conn_name), cs.id)
            if cs.id not in self.observed[node].route_ids:
                routes = sorted([*self.observed[node].route_ids, cs.id])
                self.change(node, routes=tuple(Route(c) for c in routes))
            cs.routes[node] = spec_route.digest(addresses)
        for key in plan.timers:
            periodic = next(p for p in d.periodic if f"{p.module}.{p.entry}" == key)
            entry = self.manifests[periodic.module].find(IoKind.ENTRY, periodic.entry)
            assert entry is not None
            ms = self.state.modules[periodic.module]
            timers = [
                t for t in self.observed[ms.node].timers if t.key != (periodic.module, entry.id)
            ]
            timer = fake_status.timer(periodic.module, entry.id, periodic.interval_ms)
            self.change(ms.node, timers=(*timers, timer))
            self.state.timers[key] = TimerState(
                periodic.module, periodic.entry, periodic.interval_ms, ms.instance
            )

    def restart_agent(self, node: str) -> None:
        self.observed[node] = fake_status.node(node)

    def conn_id(self, name: str) -> int:
        return self.state.connections[name].id


@pytest.fixture
def world(tmp_path: Path) -> World:
    descriptor = make_descriptor(tmp_path)
    manifests = {
        "a": manifest("a"),
        "b": manifest("b"),
        "c": manifest("c", ("spongewrap-128",)),
    }
    measurements = {name: hashlib.sha256(name.encode()).digest() for name in manifests}
    return World(descriptor, manifests, measurements)


@pytest.fixture
def deployed(world: World) -> World:
    world.apply(world.plan())
    assert world.plan().empty, world.plan()
    return world


ALL_ROUTES = [
    ("ab", "n1"),
    ("ab", "n2"),
    ("query", "n1"),
    ("query", "n2"),
    ("op-in", "n1"),
    ("alerts", "n2"),
    ("ac", "n1"),
    ("ac", "n3"),
]


# --- fresh and complete deployments -------------------------------------------------------------


def test_fresh_deploy_plans_everything(world: World) -> None:
    plan = world.plan()
    assert plan.load == ["a", "b", "c"]
    assert plan.attest == ["a", "b", "c"]
    assert plan.key == ["ab", "query", "op-in", "alerts", "ac"]
    assert sorted(plan.route) == sorted(ALL_ROUTES)
    assert plan.timers == ["b.tick"]
    assert not plan.empty
    assert plan.summary() == "3 to load, 3 to attest, 5 connections to key, 8 routes, 1 timers"


def test_fresh_deploy_with_connection_ids_already_assigned(world: World) -> None:
    # deploy() assigns every connection its id (and saves) before it plans
    for conn in world.descriptor.connections:
        world.state.connection_id(conn.name)
    plan = world.plan()
    assert plan.load == ["a", "b", "c"]
    assert plan.key == ["ab", "query", "op-in", "alerts", "ac"]
    assert sorted(plan.route) == sorted(ALL_ROUTES)
    assert plan.timers == ["b.tick"]


def test_fully_deployed_plans_nothing(deployed: World) -> None:
    plan = deployed.plan()
    assert plan.empty
    assert plan == Plan()
    assert plan.summary() == "0 to load, 0 to attest, 0 connections to key, 0 routes, 0 timers"


def test_planning_is_pure(deployed: World) -> None:
    deployed.restart_agent("n2")
    before = deployed.state.to_json()
    observed = repr(deployed.observed)
    first = deployed.plan()
    assert deployed.plan() == first
    assert deployed.state.to_json() == before
    assert repr(deployed.observed) == observed


def test_unreachable_node_status_plans_its_modules_again(deployed: World) -> None:
    observed: dict[str, NodeStatus | None] = dict(deployed.observed)
    observed["n3"] = None
    plan = make_plan(
        deployed.descriptor, deployed.manifests, deployed.measurements, deployed.state, observed
    )
    assert plan.load == ["c"]
    assert plan.key == ["ac"]
    assert plan.route == [("ac", "n3")]


# --- reconciliation: one thing missing -----------------------------------------------------------


def test_agent_restart_reloads_rekeys_and_reinstalls_what_it_lost(deployed: World) -> None:
    deployed.restart_agent("n2")
    plan = deployed.plan()
    assert plan.load == ["b"]
    assert plan.attest == ["b"]
    assert plan.key == ["ab", "query", "alerts"]  # every connection touching b, nothing else
    assert sorted(plan.route) == [("ab", "n2"), ("alerts", "n2"), ("query", "n2")]
    assert plan.timers == ["b.tick"]
    deployed.apply(plan)
    assert deployed.plan().empty


def test_module_stopped_on_its_node_is_reloaded_but_routes_stay(deployed: World) -> None:
    stopped = [replace(m, running=False) for m in deployed.observed["n1"].modules]
    deployed.change("n1", modules=tuple(stopped))
    plan = deployed.plan()
    assert plan.load == ["a"]
    assert plan.attest == ["a"]
    assert plan.key == ["ab", "query", "op-in", "ac"]
    assert plan.route == []
    assert plan.timers == []


def test_module_with_other_instance_on_node_is_reloaded(deployed: World) -> None:
    first, *others = deployed.observed["n3"].modules
    deployed.change("n3", modules=(replace(first, instance=999), *others))  # someone else loaded it
    plan = deployed.plan()
    assert plan.load == ["c"]
    assert plan.key == ["ac"]


def test_changed_measurement_reloads_that_module(deployed: World) -> None:
    deployed.measurements["b"] = hashlib.sha256(b"b, rebuilt").digest()
    plan = deployed.plan()
    assert plan.load == ["b"]
    assert plan.attest == ["b"]
    assert plan.key == ["ab", "query", "alerts"]
    assert plan.route == []  # same places, same digests, the routes are still installed
    assert plan.timers == ["b.tick"]  # the timer lived on the old instance
    deployed.apply(plan)
    assert deployed.plan().empty


def test_missing_module_key_attests_without_reloading(deployed: World) -> None:
    deployed.state.modules["c"].module_key = NO_KEY  # the attestation was interrupted
    plan = deployed.plan()
    assert plan.load == []
    assert plan.attest == ["c"]
    assert plan.key == ["ac"]  # keys are wrapped under the (new) module key
    assert plan.route == []
    assert plan.timers == []


def test_stale_epoch_on_one_end_rekeys_that_connection_only(deployed: World) -> None:
    cs = deployed.state.connections["query"]
    cs.keyed[EndRole.TARGET] = cs.epoch - 1  # keying was interrupted after the source end
    plan = deployed.plan()
    assert plan.key == ["query"]
    assert plan.load == plan.attest == plan.timers == []
    assert plan.route == []


def test_end_never_keyed_rekeys_that_connection_only(deployed: World) -> None:
    del deployed.state.connections["ab"].keyed[EndRole.SOURCE]
    assert deployed.plan().key == ["ab"]


def test_end_keyed_on_another_instance_rekeys(deployed: World) -> None:
    deployed.state.connections["alerts"].keyed_instance[EndRole.SOURCE] += 1
    plan = deployed.plan()
    assert plan.key == ["alerts"]
    assert plan.load == []


def test_connection_without_key_is_keyed(deployed: World) -> None:
    deployed.state.connections["op-in"].key = NO_KEY
    assert deployed.plan().key == ["op-in"]


@pytest.mark.parametrize("counter", ["operator_send", "operator_receive"])
def test_an_operator_counter_past_half_its_space_rekeys(deployed: World, counter: str) -> None:
    cs = deployed.state.connections["op-in"]
    setattr(cs, counter, REKEY_AFTER)
    assert deployed.plan().empty  # at 2^63 there is still room
    setattr(cs, counter, REKEY_AFTER + 1)
    plan = deployed.plan()
    assert plan.key == ["op-in"]
    assert plan.load == plan.attest == plan.timers == []
    assert plan.route == []


def test_a_module_counter_past_half_its_space_rekeys(deployed: World) -> None:
    ab = deployed.conn_id("ab")
    deployed.change("n2", connections=(fake_status.counters(ab, accepted_upto=REKEY_AFTER),))
    assert deployed.plan().empty
    deployed.change("n2", connections=(fake_status.counters(ab, accepted_upto=REKEY_AFTER + 1),))
    assert deployed.plan().key == ["ab"]


def test_route_missing_on_one_node_installs_only_that_route(deployed: World) -> None:
    routes = [r for r in deployed.observed["n2"].routes if r.conn_id != deployed.conn_id("ab")]
    deployed.change("n2", routes=tuple(routes))
    plan = deployed.plan()
    assert plan.route == [("ab", "n2")]
    assert plan.load == plan.attest == plan.key == plan.timers == []


def test_route_recorded_with_other_digest_is_reinstalled(deployed: World) -> None:
    deployed.state.connections["ac"].routes["n3"] = "0" * 16
    assert deployed.plan().route == [("ac", "n3")]


def test_timer_missing_on_node_is_registered_again(deployed: World) -> None:
    deployed.change("n2", timers=())
    plan = deployed.plan()
    assert plan.timers == ["b.tick"]
    assert plan.load == plan.key == []
    assert plan.route == []


def test_timer_period_change_reregisters_it(tmp_path: Path, deployed: World) -> None:
    changed = make_descriptor(tmp_path, DESCRIPTOR.replace("every: 50ms", "every: 2s"))
    deployed.descriptor = changed
    plan = deployed.plan()
    assert plan.timers == ["b.tick"]
    assert plan.load == plan.key == []
    assert plan.route == []


def test_module_moved_to_another_node(tmp_path: Path, deployed: World) -> None:
    moved = DESCRIPTOR.replace(
        "{name: a, node: n1, language: python, source: modules/a}",
        "{name: a, node: n4, language: python, source: modules/a}",
    )
    deployed.descriptor = make_descriptor(tmp_path, moved)
    plan = deployed.plan()
    assert plan.load == ["a"]
    assert plan.attest == ["a"]
    assert plan.key == ["ab", "query", "op-in", "ac"]
    # n4 never had these routes; the far ends' digests change because a's address changed
    assert sorted(plan.route) == sorted(
        [
            ("ab", "n2"),
            ("ab", "n4"),
            ("query", "n2"),
            ("query", "n4"),
            ("op-in", "n4"),
            ("ac", "n3"),
            ("ac", "n4"),
        ]
    )
    assert plan.timers == []
    deployed.apply(plan)
    assert deployed.plan().empty


def test_module_whose_state_names_another_node_is_reloaded(deployed: World) -> None:
    # the agent on the right node reports the right instance, but the state says elsewhere
    deployed.state.modules["a"].node = "n4"
    assert deployed.plan().load == ["a"]


# --- connection ends, suites and routes ----------------------------------------------------------


def test_connection_ends_roles_and_io_ids(world: World) -> None:
    d, m = world.descriptor, world.manifests
    out = m["a"].find(IoKind.OUTPUT, "out")
    ask = m["a"].find(IoKind.REQUEST, "ask")
    cmd = m["a"].find(IoKind.INPUT, "cmd")
    inp = m["b"].find(IoKind.INPUT, "inp")
    answer = m["b"].find(IoKind.HANDLER, "answer")
    alert = m["b"].find(IoKind.OUTPUT, "alert")
    assert None not in (out, ask, cmd, inp, answer, alert)
    assert out and ask and cmd and inp and answer and alert
    assert connection_ends(d.connection("ab"), m) == [
        End(EndRole.SOURCE, "a", out.id),
        End(EndRole.TARGET, "b", inp.id),
    ]
    assert connection_ends(d.connection("query"), m) == [
        End(EndRole.SOURCE, "a", ask.id),
        End(EndRole.TARGET, "b", answer.id),
    ]
    assert connection_ends(d.connection("op-in"), m) == [End(EndRole.TARGET, "a", cmd.id)]
    assert connection_ends(d.connection("alerts"), m) == [End(EndRole.SOURCE, "b", alert.id)]
    assert out.id >> 12 == 2 and ask.id >> 12 == 4 and answer.id >> 12 == 5


def test_connection_ends_prefer_sender_kinds_for_source(tmp_path: Path) -> None:
    # a module may have an input and an output of the same name: the source end is the output
    text = DESCRIPTOR.replace(
        "{name: ab, from: a.out, to: b.inp}", "{name: ab, from: a.x, to: b.x}"
    )
    descriptor = make_descriptor(tmp_path, text)
    both = {IoKind.INPUT: {"x": False}, IoKind.OUTPUT: {"x": False}}
    m = {
        "a": Manifest("a", "python", ALL_SUITES, assign_ids(both), ""),
        "b": Manifest("b", "python", ALL_SUITES, assign_ids(both), ""),
    }
    ends = connection_ends(descriptor.connection("ab"), m)
    assert [(e.role, e.io_id >> 12) for e in ends] == [(EndRole.SOURCE, 2), (EndRole.TARGET, 1)]


def test_choose_suite_explicit(world: World) -> None:
    conn = world.descriptor.connection("alerts")
    assert choose_suite(world.descriptor, conn, world.manifests) == "ascon-aead128"


def test_choose_suite_default_preference(world: World) -> None:
    d = world.descriptor
    assert SUITE_PREFERENCE[0] == "aes-gcm-128"
    assert choose_suite(d, d.connection("ab"), world.manifests) == "aes-gcm-128"
    assert choose_suite(d, d.connection("op-in"), world.manifests) == "aes-gcm-128"


def test_choose_suite_respects_manifests(world: World) -> None:
    d = world.descriptor
    manifests = dict(world.manifests)
    manifests["b"] = manifest("b", ("spongewrap-128", "ascon-aead128"))
    assert choose_suite(d, d.connection("ab"), manifests) == "ascon-aead128"


def test_choose_suite_sancus_end_gets_spongewrap(world: World) -> None:
    d = world.descriptor
    # even with a manifest claiming everything, the Sancus TEE only runs SpongeWrap
    manifests = dict(world.manifests, c=manifest("c"))
    assert choose_suite(d, d.connection("ac"), manifests) == "spongewrap-128"


def test_choose_suite_without_common_suite_names_the_connection(world: World) -> None:
    d = world.descriptor
    manifests = dict(world.manifests, a=manifest("a", ("aes-gcm-128",)))
    with pytest.raises(ValueError, match="connection ac: the two ends share no cipher suite"):
        choose_suite(d, d.connection("ac"), manifests)


def test_route_spec_between_modules(world: World) -> None:
    d = world.descriptor
    assert route_spec(d, d.connection("ab"), 7) == RouteSpec(7, "n1", "a", "n2", "b")


def test_route_spec_operator_side_takes_the_other_ends_node(world: World) -> None:
    d = world.descriptor
    assert route_spec(d, d.connection("op-in"), 3) == RouteSpec(3, "n1", "", "n1", "a")
    assert route_spec(d, d.connection("alerts"), 4) == RouteSpec(4, "n2", "b", "n2", "")


def test_route_digest_depends_on_places_and_addresses() -> None:
    addresses = {"n1": "h:1", "n2": "h:2", "n3": "h:3"}
    spec = RouteSpec(1, "n1", "a", "n2", "b")
    digest = spec.digest(addresses)
    assert len(digest) == 16
    assert digest == RouteSpec(1, "n1", "a", "n2", "b").digest(dict(addresses))
    assert digest != RouteSpec(2, "n1", "a", "n2", "b").digest(addresses)
    assert digest != RouteSpec(1, "n3", "a", "n2", "b").digest(addresses)
    assert digest != RouteSpec(1, "n1", "a", "n2", "c").digest(addresses)
    assert digest != spec.digest(dict(addresses, n2="h:22"))


def test_node_modules_keeps_only_running_ones() -> None:
    status = fake_status.node(
        modules=[fake_status.module("a", 1), fake_status.module("b", 2, running=False)]
    )
    assert node_modules(status) == {"a": 1}
    assert node_modules(None) == {}
    assert node_modules(fake_status.node()) == {}
