"""A malicious agent between real agents (``support.evil_agent``): the gateway node of the
irrigation example runs an ``EvilAgent`` that tampers with the readings it hands to the relay
module (receiver side) and with the relay's uplink to the controller in the cloud (sender
side): it drops, replays, reorders, truncates, flips bits, alters counters, moves events to
another connection and fabricates them.  Agents on other nodes may substitute module artifacts.

Each case checks the exact outcome: the receiving module took exactly the genuine events, once
and in order; every tampered copy was rejected and counted with its reason; dropped events are
just missing; the agent never saw a payload or a key; and the application carries on.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from authex.crypto.channel import open_event
from authex.crypto.suites import get_suite
from authex.deployer import operations
from authex.deployer.client import AgentClient
from authex.deployer.session import Session
from authex.deployer.state import ConnectionState, StateStore
from authex.deployer.steps import StepsFailed
from authex.errors import AttestationError, AuthexError, RemoteError
from authex.wire.codec import Message
from authex.wire.messages import ErrorCode, Event, LinkKind, SetKey
from support.evil_agent import (
    COUNTER_BIT,
    EvilNode,
    Forward,
    Mode,
    Policy,
    Settle,
    Tamper,
    Tamperer,
    evil_node,
)
from support.harness import App, running_app
from support.net import free_ports
from support.raw import RawLink

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "smart-irrigation"
N = 10  # readings per receiver-side stream
TAMPERED = (3, 7)  # which of them the agent tampers with
UPLINK_N = 4  # readings per sender-side stream; the agent tampers with the first


# --- fixtures -----------------------------------------------------------------------------------


def irrigation_copy(folder: Path) -> Path:
    """As the ``irrigation_dir`` fixture: the example with free ports and no timers."""
    target = folder / "irrigation"
    shutil.copytree(EXAMPLE / "modules", target / "modules")
    text = (EXAMPLE / "descriptor.yaml").read_text()
    for old, new in zip((7101, 7102, 7103, 7104), free_ports(4), strict=True):
        text = text.replace(f"port: {old}", f"port: {new}")
    (target / "descriptor.yaml").write_text(text.split("periodic:")[0])
    return target


@dataclass
class Scene:
    app: App
    evil: EvilNode  # the gateway's agent


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """One deployment shared by the stream tests (each looks only at what it caused)."""
    folder = irrigation_copy(tmp_path_factory.mktemp("malicious-agent"))
    with running_app(folder) as app, evil_node(app, "gateway") as evil:
        app.deploy()
        yield Scene(app, evil)


@pytest.fixture
def scene(deployed: Scene) -> Iterator[Scene]:
    problems = len(deployed.evil.record.problems)
    yield deployed
    deployed.evil.set_policy(None)
    assert deployed.evil.record.problems[problems:] == []


# --- helpers ------------------------------------------------------------------------------------


def connection(app: App, name: str) -> ConnectionState:
    return StateStore.of(app.descriptor).load().connections[name]


def plaintexts(app: App, name: str, events: list[Event]) -> list[bytes]:
    """What the events say, opened with the connection key (the operator holds it)."""
    cs = connection(app, name)
    suite, key = get_suite(cs.suite), cs.key
    return [open_event(suite, key, cs.id, e.direction, e.counter, e.ciphertext) for e in events]


def sample(app: App, count: int) -> None:
    """Make sensor1 take ``count`` readings (its public entry, as the node's timer would)."""

    async def body(session: Session) -> None:
        for _ in range(count):
            await operations.call(session, "sensor1", "sample", b"")

    app.with_session(body)


def relayed(app: App) -> int:
    return int(app.call("relay", "relayed").payload)


def counts(app: App) -> dict[str, Counter[str]]:
    """Per connection: the agents' counters and the modules' rejections (``rejected:REASON``)."""
    result: dict[str, Counter[str]] = {}
    for conn in app.status()["connections"]:
        counter: Counter[str] = Counter(
            delivered=conn["delivered"], duplicates=conn["duplicates"], dropped=conn["dropped"]
        )
        counter.update({f"rejected:{r}": n for r, n in conn["rejected"].items()})
        result[conn["name"]] = counter
    return result


def changes(
    before: dict[str, Counter[str]], after: dict[str, Counter[str]], names: tuple[str, ...]
) -> dict[str, Any]:
    """What changed on these connections: {name: {counter: increase}}."""
    result = {}
    for name in names:
        now = after[name]
        delta = {k: v - before[name][k] for k, v in now.items() if v != before[name][k]}
        if delta:
            result[name] = delta
    return result


def alerts(app: App) -> list[bytes]:
    count = app.connection("alerts")["to_operator"]
    return app.watch("alerts", count) if count else []


def assert_agent_read_nothing(app: App, evil: EvilNode, texts: list[bytes]) -> None:
    """No payload, and no key of the connections it carried, in anything the agent saw (the
    module code it loaded does mention "moisture"; no event it carried does)."""
    assert texts
    for text in texts:
        assert not evil.record.saw(text), text
    record = evil.record
    events = record.incoming + record.emitted + record.forwarded
    assert not any(b"moisture" in event.ciphertext for event in events)
    for name in ("readings-1", "readings-2", "uplink"):
        assert not evil.record.saw(connection(app, name).key.reveal()), name


# --- the harness itself ---------------------------------------------------------------------------


def test_tamperer_plans_what_the_evil_agent_forwards() -> None:
    e = [Event(9, 0, c, bytes([c]) * 8) for c in range(1, 6)]
    replay, reorder = Tamper(Mode.REPLAY), Tamper(Mode.REORDER)
    flip = Tamper(Mode.FLIP_COUNTER, then_genuine=True)
    tamperer = Tamperer(Policy(9, {2: reorder, 3: replay, 4: Tamper(Mode.DROP), 5: flip}))
    assert [tamperer.steps(event) for event in e] == [
        [Forward(e[0])],
        [],  # held back ...
        [Forward(e[2]), Settle(e[2]), Forward(e[2]), Settle(e[2]), Forward(e[1])],  # ... to here
        [],
        [Forward(Event(9, 0, 5 | COUNTER_BIT, e[4].ciphertext)), Forward(e[4])],
    ]
    assert tamperer.genuine == e
    with pytest.raises(ValueError, match="not two in a row"):
        Policy(9, {1: reorder, 2: reorder})


# --- receiver side: readings from field1 into the relay on the evil gateway -----------------------


@dataclass(frozen=True)
class Inbound:
    tamper: Mode
    accepted: tuple[int, ...]  # ordinals of the readings the relay must take, in this order
    changes: dict[str, dict[str, int]]  # connection -> counter -> increase
    then_genuine: bool = False
    redirect: str = ""  # connection name for REDIRECT


def but(*ordinals: int) -> tuple[int, ...]:
    return tuple(o for o in range(1, N + 1) if o not in ordinals)


def taken(accepted: int, forged: int = 0, replay: int = 0) -> dict[str, int]:
    """Expected changes on readings-1: one delivery per copy handed to the relay, and the
    relay's rejections."""
    result = {"delivered": accepted + forged + replay}
    if forged:
        result["rejected:forged"] = forged
    if replay:
        result["rejected:replay"] = replay
    return result


READINGS = ("readings-1", "readings-2")
ALL = but()
SOME = but(*TAMPERED)
INBOUND = {
    "drop": Inbound(Mode.DROP, SOME, {"readings-1": taken(len(SOME))}),
    "replay": Inbound(Mode.REPLAY, ALL, {"readings-1": taken(N, replay=2)}),
    "reorder": Inbound(Mode.REORDER, SOME, {"readings-1": taken(len(SOME), replay=2)}),
    "truncate": Inbound(Mode.TRUNCATE, SOME, {"readings-1": taken(len(SOME), forged=2)}),
    "flip-ciphertext": Inbound(
        Mode.FLIP_CIPHERTEXT, ALL, {"readings-1": taken(N, forged=2)}, then_genuine=True
    ),
    "flip-counter": Inbound(
        Mode.FLIP_COUNTER, ALL, {"readings-1": taken(N, forged=2)}, then_genuine=True
    ),
    "inject": Inbound(Mode.INJECT, ALL, {"readings-1": taken(N, forged=2)}, then_genuine=True),
    "redirect": Inbound(
        Mode.REDIRECT,
        SOME,
        {
            "readings-1": taken(len(SOME)),
            "readings-2": {"delivered": 2, "rejected:forged": 2},
        },
        redirect="readings-2",
    ),
}


@pytest.mark.parametrize("case", INBOUND.values(), ids=INBOUND.keys())
def test_tampered_readings_reach_the_relay_only_as_sent(scene: Scene, case: Inbound) -> None:
    app, evil = scene.app, scene.evil
    readings = connection(app, "readings-1")
    redirect_to = connection(app, case.redirect).id if case.redirect else 0
    tamper = Tamper(case.tamper, case.then_genuine, redirect_to)
    before, relayed_before = counts(app), relayed(app)
    verdicts, emitted = len(evil.record.verdicts), len(evil.record.emitted)
    evil.set_policy(Policy(readings.id, {n: tamper for n in TAMPERED}))

    sample(app, N)
    app.wait_for("the stream", lambda: len(evil.seen()) == N and evil.quiet())

    genuine = evil.seen()
    took = [key for key, verdict in evil.record.verdicts[verdicts:] if verdict == "accepted"]
    assert took == [(readings.id, 0, genuine[n - 1].counter) for n in case.accepted]
    assert changes(before, counts(app), READINGS) == case.changes
    assert relayed(app) == relayed_before + len(case.accepted)
    readings_text = plaintexts(app, "readings-1", genuine)
    uplink = connection(app, "uplink")
    out = [e for e in evil.record.emitted[emitted:] if e.conn_id == uplink.id]
    uplink_text = plaintexts(app, "uplink", out)
    assert [json.loads(t) for t in uplink_text] == [
        {
            "sensor": "sensor1",
            "moisture": json.loads(readings_text[n - 1])["moisture"],
            "via": "relay",
            "relayed": relayed_before + i,
        }
        for i, n in enumerate(case.accepted, start=1)
    ]
    assert_agent_read_nothing(app, evil, readings_text + uplink_text)

    # later, the whole stream again: every copy is a replay
    before = counts(app)
    evil.replay(genuine)
    app.wait_for("the replays", evil.quiet)
    assert changes(before, counts(app), READINGS) == {
        "readings-1": {"delivered": N, "rejected:replay": N}
    }
    # and the application carries on: a fresh reading gets through
    evil.set_policy(None)
    sample(app, 1)
    app.wait_for("a fresh reading", lambda: relayed(app) == relayed_before + len(case.accepted) + 1)


# --- sender side: the relay's uplink from the evil gateway to the controller --------------------


def fresh_controller(app: App) -> int:
    """Valve closed and threshold 100 %, so the first reading the controller takes opens the
    valve and says which reading it was; returns how many alerts there were before."""
    start = len(alerts(app))
    delivered = app.connection("uplink")["delivered"]
    app.send("threshold", b"-20")  # every reading counts as wet: an open valve closes
    sample(app, 1)
    app.wait_for("the reading", lambda: app.connection("uplink")["delivered"] > delivered)
    app.send("threshold", b"100")  # the module takes events in the order they were delivered
    app.wait_for("the threshold", lambda: b"threshold set to 100.0%" in alerts(app)[start:])
    return len(alerts(app))


def opening(app: App, event: Event) -> bytes:
    [text] = plaintexts(app, "uplink", [event])
    moisture = json.loads(text)["moisture"]
    return f"opening valve: sensor1 at {moisture:.1f}% < 100.0%, rain 10%".encode()


@dataclass(frozen=True)
class Outbound:
    tamper: Tamper
    first: int  # ordinal of the first reading the controller takes (it opens the valve)
    changes: dict[str, dict[str, int]]


def delivered(n: int, **extra: int) -> dict[str, int]:
    return {"delivered": n} | {k.replace("_", ":"): v for k, v in extra.items()}


OUTBOUND = {
    "drop": Outbound(Tamper(Mode.DROP), 2, {"uplink": delivered(UPLINK_N - 1)}),
    # the receiving agent already handed these counters to the module: acknowledged, not
    # delivered again
    "replay": Outbound(Tamper(Mode.REPLAY), 1, {"uplink": delivered(UPLINK_N, duplicates=1)}),
    "reorder": Outbound(Tamper(Mode.REORDER), 2, {"uplink": delivered(UPLINK_N - 1, duplicates=1)}),
    "truncate": Outbound(
        Tamper(Mode.TRUNCATE), 2, {"uplink": delivered(UPLINK_N, rejected_forged=1)}
    ),
    "flip-ciphertext": Outbound(
        Tamper(Mode.FLIP_CIPHERTEXT), 2, {"uplink": delivered(UPLINK_N, rejected_forged=1)}
    ),
    "flip-counter": Outbound(
        Tamper(Mode.FLIP_COUNTER, then_genuine=True),
        1,
        {"uplink": delivered(UPLINK_N + 1, rejected_forged=1)},
    ),
}


def run_outbound(scene: Scene, tamper: Tamper) -> tuple[int, list[Event], dict[str, Any]]:
    app, evil = scene.app, scene.evil
    mark = fresh_controller(app)
    before = counts(app)
    evil.set_policy(Policy(connection(app, "uplink").id, {1: tamper}))
    sample(app, UPLINK_N)
    app.wait_for("the stream", lambda: len(evil.seen()) == UPLINK_N and evil.quiet())
    return mark, evil.seen(), changes(before, counts(app), ("uplink", "threshold"))


def assert_controller_carries_on(scene: Scene, mark: int, genuine: list[Event]) -> None:
    scene.evil.set_policy(None)
    texts = plaintexts(scene.app, "uplink", genuine)
    assert_agent_read_nothing(scene.app, scene.evil, texts)
    fresh_controller(scene.app)  # a fresh reading closes the valve
    assert b"closing valve: soil is wet again" in alerts(scene.app)[mark:]


@pytest.mark.parametrize("case", OUTBOUND.values(), ids=OUTBOUND.keys())
def test_tampered_uplink_reaches_the_controller_only_as_sent(scene: Scene, case: Outbound) -> None:
    mark, genuine, changed = run_outbound(scene, case.tamper)
    assert changed == case.changes
    assert alerts(scene.app)[mark:] == [opening(scene.app, genuine[case.first - 1])]
    assert_controller_carries_on(scene, mark, genuine)


def test_uplink_redirected_to_the_threshold_connection_is_rejected(scene: Scene) -> None:
    """The controller has an input for the operator's threshold too: a reading moved there is
    forged under that connection's key, and the threshold stays as the operator set it."""
    threshold = connection(scene.app, "threshold")
    tamper = Tamper(Mode.REDIRECT, redirect_to=threshold.id)
    mark, genuine, changed = run_outbound(scene, tamper)
    assert changed == {
        "uplink": delivered(UPLINK_N - 1),
        "threshold": delivered(1, rejected_forged=1),
    }
    assert alerts(scene.app)[mark:] == [opening(scene.app, genuine[1])]  # "< 100.0%"
    assert scene.app.call("controller", "get_threshold").payload == b"100.0"
    assert_controller_carries_on(scene, mark, genuine)


def test_forged_copy_in_flight_does_not_swallow_the_genuine_event(scene: Scene) -> None:
    """Data links are unauthenticated, so anyone who reaches an agent can race a forgery with
    the counter of the next genuine event; here the gateway sends both back to back."""
    tamper = Tamper(Mode.INJECT, then_genuine=True)
    mark, genuine, changed = run_outbound(scene, tamper)
    assert alerts(scene.app)[mark:] == [opening(scene.app, genuine[0])]
    assert changed == {"uplink": delivered(UPLINK_N + 1, rejected_forged=1)}


# --- artifacts substituted by the agents ---------------------------------------------------------


def failures(exc: BaseException) -> list[AuthexError]:
    if isinstance(exc, StepsFailed):
        return [leaf for failure in exc.failures for leaf in failures(failure)]
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in failures(inner)]
    if isinstance(exc, AuthexError):
        return [exc]
    raise exc


@pytest.fixture
def set_keys(monkeypatch: pytest.MonkeyPatch) -> list[SetKey]:
    """Every set-key the deployer sends (to any node)."""
    sent: list[SetKey] = []
    original = AgentClient.request

    async def spy(self: AgentClient, message: Message) -> Message:
        if isinstance(message, SetKey):
            sent.append(message)
        return await original(self, message)

    monkeypatch.setattr(AgentClient, "request", spy)
    return sent


SUBSTITUTED = {"field1": "sensor1", "cloud": "controller", "gateway": "relay"}


def test_artifacts_substituted_by_agents_get_no_keys(
    irrigation_dir: Path, set_keys: list[SetKey]
) -> None:
    """Three agents load altered images (Sancus, SGX, TrustZone) and report the measurement of
    the genuine ones: the deployer attests nothing it did not build and keys none of them."""
    with (
        running_app(irrigation_dir) as app,
        evil_node(app, "field1") as field1,
        evil_node(app, "cloud") as cloud,
        evil_node(app, "gateway") as gateway,
    ):
        evil = {"field1": field1, "cloud": cloud, "gateway": gateway}
        for node, module in SUBSTITUTED.items():
            evil[node].set_substitute({module})
        with pytest.raises((AuthexError, ExceptionGroup)) as raised:
            app.deploy()
        errors = {e.where: e for e in failures(raised.value)}
        assert len(errors) == 3, errors

        sensor = errors["module sensor1 on node field1"]
        assert isinstance(sensor, AttestationError)
        assert "Sancus attestation MAC does not verify" in sensor.message
        controller = errors["module controller on node cloud"]
        assert isinstance(controller, AttestationError)
        assert "MRENCLAVE" in controller.message
        [relay] = [e for where, e in errors.items() if where and where.startswith("node gateway")]
        assert isinstance(relay, RemoteError) and relay.code == ErrorCode.BACKEND
        assert "TA signature does not verify" in relay.message  # the TEE refused to run it
        for node in ("field1", "cloud"):  # the altered code ran; its agent claimed otherwise
            [(module, ran, claimed)] = evil[node].record.substituted
            assert module == SUBSTITUTED[node] and ran != claimed
        assert gateway.record.substituted == []

        state = StateStore.of(app.descriptor).load()
        for module in SUBSTITUTED.values():
            attested = state.modules.get(module)
            assert attested is None or not attested.module_key
            assert [k for k in set_keys if k.module == module] == []
        for node, module in SUBSTITUTED.items():  # nor did its agent get one from elsewhere
            got = evil[node].record.commands
            assert [m for m in got if isinstance(m, SetKey) and m.module == module] == []
        touching = {
            c.name
            for c in app.descriptor.connections
            if {c.source.module, c.target.module} & set(SUBSTITUTED.values())
        }
        ids = {state.connections[n].id for n in touching if n in state.connections}
        assert [k for k in set_keys if k.conn_id in ids] == []

        # the attack stops: deploying again brings the whole application up
        for node in SUBSTITUTED:
            evil[node].set_substitute(set())
        app.deploy()
        app.send("threshold", b"60")
        assert app.watch("alerts", count=1) == [b"threshold set to 60.0%"]
        sample(app, 1)  # 52 % < 60 %: the controller opens the valve
        assert app.watch("valve-state", count=1) == [b"open"]


# --- found on the way --------------------------------------------------------------------------


def test_agent_shutdown_with_a_data_link_open_logs_no_error(irrigation_dir: Path) -> None:
    with running_app(irrigation_dir) as app:
        link = RawLink(app.descriptor.node("cloud").port, LinkKind.DATA)  # anyone may hold one
    link.close()
    folder = StateStore.of(app.descriptor).folder
    log = (folder / "nodes" / "cloud" / "agent.log").read_text()
    assert "node cloud shutting down" in log
    assert "Exception in callback" not in log
