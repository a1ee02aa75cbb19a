"""Adversarial attestation against real agents on every TEE kind of the irrigation example.

A malicious agent or network sits between the deployer and the nodes (``support.mitm``): it
substitutes module images and lies about their measurement, runs modules on other nodes, flips
bits in or replays evidence.  The operator's own files can be wrong too (trust file, TA signing
key, policy).  Every case checks that the deployer says clearly which module or node failed and
why, that no key left the deployer for that module (no set-key to it or to any connection that
touches it, nothing in the saved state), and, where the attack can be removed, that deploying
again brings the whole application up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from authex.attestation.sgx.quote import HEADER_SIZE
from authex.attestation.trustzone import generate_vendor_key, vendor_key_pem
from authex.crypto.native_exchange import EVIDENCE_SIZE
from authex.deployer.client import AgentClient
from authex.deployer.deploy import deploy
from authex.deployer.roles import EndRole
from authex.deployer.session import Session
from authex.deployer.state import NO_KEY, StateStore
from authex.deployer.steps import StepsFailed
from authex.deployer.trust import load_trust, write_trust
from authex.descriptor import load_descriptor
from authex.errors import AttestationError, AuthexError, RemoteError
from authex.wire.codec import Message
from authex.wire.messages import Attested, Error, ErrorCode, LinkKind, Load, Loaded, SetKey
from support.harness import App, run, running_app
from support.mitm import TAMPER, Mitm, measure
from support.net import free_ports
from support.raw import RawLink

MRENCLAVE_IN_QUOTE = HEADER_SIZE + 64  # cpu_svn 16, misc_select 4, reserved 28, attributes 16
VENDOR_ID = "4660"  # the descriptor's default vendor id (0x1234)


@pytest.fixture
def mitm(monkeypatch: pytest.MonkeyPatch) -> Mitm:
    return Mitm().install(monkeypatch)


@pytest.fixture
def app(irrigation_dir: Path, mitm: Mitm) -> Iterator[App]:
    """The irrigation example's agents running, nothing deployed yet."""
    with running_app(irrigation_dir) as app:
        yield app


# --- helpers ----------------------------------------------------------------------------------


def _leaves(exc: BaseException) -> list[AuthexError]:
    if isinstance(exc, StepsFailed):
        return [leaf for failure in exc.failures for leaf in _leaves(failure)]
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    if isinstance(exc, AuthexError):
        return [exc]
    raise exc


def failed_deploy(app: App) -> list[AuthexError]:
    """Deploy, which must fail; every failure it reports (a StepsFailed is flattened)."""
    try:
        app.deploy()
    except (AuthexError, ExceptionGroup) as exc:
        return _leaves(exc)
    raise AssertionError("deploy succeeded despite the attack")


def state(app: App) -> dict[str, str]:
    """Module -> hex module key in the saved deployment state ("" = not attested)."""
    modules = StateStore.of(app.descriptor).load().modules
    return {name: ms.module_key.reveal().hex() for name, ms in modules.items()}


def assert_no_key_left(app: App, mitm: Mitm, module: str, since: int) -> None:
    """Nothing keyed the module after ``since``: no set-key to it, no set-key (to anyone) for a
    connection that has it as an end, and no module key in the saved state."""
    assert mitm.set_keys_for(module, since) == []
    touching = {
        c.name for c in app.descriptor.connections if module in (c.source.module, c.target.module)
    }
    connections = StateStore.of(app.descriptor).load().connections
    ids = {connections[name].id for name in touching if name in connections}
    leaked = [m for _, m in mitm.sent(SetKey, since) if isinstance(m, SetKey) and m.conn_id in ids]
    assert leaked == []
    assert state(app).get(module, "") == ""


def assert_irrigation_works(app: App) -> None:
    """Every module attested and the event path operator -> controller, sensor1 -> relay ->
    controller (-> weather) -> valve -> operator works."""
    assert all(state(app)[m.name] for m in app.descriptor.modules)
    app.send("threshold", b"60")
    assert app.watch("alerts", count=1) == [b"threshold set to 60.0%"]
    app.call("sensor1", "sample")  # 50.5 % < 60 %: the controller opens the valve
    assert app.watch("valve-state", count=1) == [b"open"]


def lying_loader(mitm: Mitm, module: str) -> None:
    """The agent loads an altered image of ``module`` and reports the measurement the deployer
    expects for the genuine one."""

    def outgoing(node: str, message: Message) -> Message:
        if isinstance(message, Load) and message.module == module:
            return Load(message.module, message.tee, TAMPER[message.tee](message.artifact))
        return message

    def incoming(node: str, sent: Message, reply: Message) -> Message:
        if isinstance(sent, Load) and sent.module == module and isinstance(reply, Loaded):
            assert reply.measurement != measure(sent.tee, sent.artifact)  # it was altered
            return Loaded(reply.instance, measure(sent.tee, sent.artifact))
        return reply

    mitm.outgoing, mitm.incoming = outgoing, incoming


def add_line(path: Path, after: str, line: str) -> None:
    text = path.read_text()
    assert after in text
    path.write_text(text.replace(after, after + line, 1))


# --- 1. altered artifacts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "node", "reason"),
    [
        ("sensor1", "field1", "Sancus attestation MAC does not verify"),
        (
            "controller",
            "cloud",
            "SGX quote rejected at step 'policy': MRENCLAVE [0-9a-f]{64} is not",
        ),
    ],
    ids=["sancus", "sgx"],
)
def test_altered_artifact_behind_a_lying_load_reply_fails_attestation(
    app: App, mitm: Mitm, module: str, node: str, reason: str
) -> None:
    lying_loader(mitm, module)
    [error] = failed_deploy(app)
    assert isinstance(error, AttestationError)
    assert error.where == f"module {module} on node {node}"
    assert re.search(reason, error.message), error.message
    assert_no_key_left(app, mitm, module, since=0)


def test_altered_ta_is_refused_by_the_trustzone_platform(app: App, mitm: Mitm) -> None:
    lying_loader(mitm, "relay")  # the header hash is fixed up; the signature cannot be
    [error] = failed_deploy(app)
    assert isinstance(error, RemoteError) and error.code == ErrorCode.BACKEND
    assert error.where is not None and error.where.startswith("node gateway ")
    assert "platform refused the module" in error.message
    assert "TA signature does not verify" in error.message
    assert_no_key_left(app, mitm, "relay", since=0)
    mitm.stop()
    app.deploy()
    assert_irrigation_works(app)


# --- 2. module loaded on another node ---------------------------------------------------------


def redirect(monkeypatch: pytest.MonkeyPatch, victim: str, impostor: str) -> None:
    """Every control message meant for ``victim`` reaches ``impostor``'s agent instead: the
    victim's agent runs its modules on another platform of the same kind."""
    original = Session.client

    async def client(self: Session, node: str) -> AgentClient:
        return await original(self, impostor if node == victim else node)

    monkeypatch.setattr(Session, "client", client)


def test_sancus_module_run_on_another_node_fails_attestation(
    app: App, mitm: Mitm, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        redirect(patch, "field1", "field2")
        [error] = failed_deploy(app)
    assert isinstance(error, AttestationError)
    assert error.where == "module sensor1 on node field1"
    assert "Sancus attestation MAC does not verify" in error.message
    assert "another node" in error.message
    assert any(n == "field2" and isinstance(m, Load) and m.module == "sensor1" for n, m in mitm.log)
    assert_no_key_left(app, mitm, "sensor1", since=0)
    app.deploy()
    assert_irrigation_works(app)


def test_sgx_module_run_on_another_sgx_node_fails_at_the_chain_step(
    irrigation_dir: Path, mitm: Mitm, monkeypatch: pytest.MonkeyPatch
) -> None:
    descriptor = irrigation_dir / "descriptor.yaml"
    [port] = free_ports(1)
    cloud = load_descriptor(descriptor).node("cloud").port
    add_line(
        descriptor,
        f"port: {cloud}}}\n",
        f"  - {{name: cloud2, tee: sgx, host: 127.0.0.1, port: {port}}}\n",
    )
    with running_app(irrigation_dir) as app:
        assert app.descriptor.node("cloud2").tee == "sgx"
        with monkeypatch.context() as patch:
            redirect(patch, "cloud", "cloud2")
            errors = failed_deploy(app)
        assert errors
        for error in errors:
            assert isinstance(error, AttestationError)
            assert error.where in (
                "module controller on node cloud",
                "module weather on node cloud",
            )
            assert "SGX quote rejected at step 'chain'" in error.message
            assert "does not end at a pinned root" in error.message
            assert "cloud2" in error.message  # it chains to cloud2's simulation CA
        for module in ("controller", "weather"):
            assert_no_key_left(app, mitm, module, since=0)
        app.deploy()
        assert_irrigation_works(app)


# --- 3. wrong vendor key in the operator's trust file -----------------------------------------


def corrupt_vendor_key(app: App, node: str) -> tuple[Path, dict[str, object]]:
    """Overwrite ``node``'s enrolled vendor key; return the trust file and the genuine entry."""
    path = StateStore.of(app.descriptor).folder / "trust.yaml"
    genuine = yaml.safe_load(path.read_text())["nodes"][node]
    assert load_trust(path).nodes[node].vendor_keys[int(VENDOR_ID)]
    wrong = dict(genuine, vendor_keys={VENDOR_ID: "00" * 16})
    write_trust(path, {node: wrong})
    return path, genuine


def test_sancus_attestation_under_a_wrong_vendor_key_fails(app: App, mitm: Mitm) -> None:
    path, genuine = corrupt_vendor_key(app, "field1")
    [error] = failed_deploy(app)
    assert isinstance(error, AttestationError)
    assert error.where == "module sensor1 on node field1"
    assert "Sancus attestation MAC does not verify" in error.message
    assert "another vendor key" in error.message
    assert_no_key_left(app, mitm, "sensor1", since=0)
    write_trust(path, {"field1": genuine})
    app.deploy()
    assert_irrigation_works(app)


# --- 4. TA signed with a key the platform did not enrol -------------------------------------


def test_ta_signed_with_another_vendor_key_is_refused(app: App, mitm: Mitm) -> None:
    pem = StateStore.of(app.descriptor).root / "ta-vendor.pem"
    genuine = pem.read_bytes()  # enrolled on the gateway when the node was initialised
    pem.write_bytes(vendor_key_pem(generate_vendor_key()))
    [error] = failed_deploy(app)
    assert isinstance(error, RemoteError) and error.code == ErrorCode.BACKEND
    assert error.where is not None and error.where.startswith("node gateway ")
    assert "TA signature does not verify" in error.message
    assert_no_key_left(app, mitm, "relay", since=0)
    pem.write_bytes(genuine)
    app.deploy()
    assert_irrigation_works(app)


# --- 5.-8. SGX evidence and policy ------------------------------------------------------------


def test_sgx_quote_with_a_flipped_bit_fails_the_signature_step(app: App, mitm: Mitm) -> None:
    def incoming(node: str, sent: Message, reply: Message) -> Message:
        if isinstance(reply, Attested) and getattr(sent, "module", "") == "controller":
            evidence = bytearray(reply.evidence)
            evidence[EVIDENCE_SIZE + MRENCLAVE_IN_QUOTE] ^= 0x01  # claim another enclave
            return Attested(bytes(evidence))
        return reply

    mitm.incoming = incoming
    [error] = failed_deploy(app)
    assert isinstance(error, AttestationError)
    assert error.where == "module controller on node cloud"
    assert "SGX quote rejected at step 'quote'" in error.message
    assert "signature over header and ISV report body" in error.message
    assert "does not verify" in error.message
    assert_no_key_left(app, mitm, "controller", since=0)
    mitm.stop()
    app.deploy()
    assert_irrigation_works(app)


def test_sgx_rollback_to_an_older_enclave_fails_on_mrenclave(
    app: App, mitm: Mitm, irrigation_dir: Path
) -> None:
    app.deploy()
    [old] = [m for _, m in mitm.sent(Load) if isinstance(m, Load) and m.module == "controller"]
    source = irrigation_dir / "modules" / "controller" / "main.py"
    source.write_text(source.read_text() + "\n# v2: the operator's update\n")

    def outgoing(node: str, message: Message) -> Message:
        if isinstance(message, Load) and message.module == "controller":
            assert message.artifact != old.artifact
            return old  # the node keeps (or reinstalls) the older, genuine-but-stale enclave
        return message

    def incoming(node: str, sent: Message, reply: Message) -> Message:
        if isinstance(sent, Load) and isinstance(reply, Loaded) and sent.module == "controller":
            return Loaded(reply.instance, measure("sgx", sent.artifact))
        return reply

    mitm.outgoing, mitm.incoming = outgoing, incoming
    mark = mitm.mark()
    [error] = failed_deploy(app)
    assert isinstance(error, AttestationError)
    assert error.where == "module controller on node cloud"
    assert "SGX quote rejected at step 'policy': MRENCLAVE" in error.message
    assert f"MRENCLAVE {measure('sgx', old.artifact).hex()} is not the expected" in error.message
    assert_no_key_left(app, mitm, "controller", since=mark)


def test_debug_enclave_is_refused_unless_the_policy_allows_it(
    irrigation_dir: Path, mitm: Mitm
) -> None:
    descriptor = irrigation_dir / "descriptor.yaml"
    add_line(descriptor, "source: modules/controller", ", debug: true")
    with running_app(irrigation_dir) as app:
        assert app.descriptor.module("controller").debug
        assert not app.descriptor.policy.allow_debug
        [error] = failed_deploy(app)
        assert isinstance(error, AttestationError)
        assert error.where == "module controller on node cloud"
        assert "SGX quote rejected at step 'policy'" in error.message
        assert "DEBUG mode" in error.message
        assert_no_key_left(app, mitm, "controller", since=0)
        descriptor.write_text(descriptor.read_text() + "policy: {allow_debug: true}\n")
        permissive = App(load_descriptor(descriptor))
        permissive.deploy()
        assert_irrigation_works(permissive)


def test_replayed_sgx_quote_is_not_bound_to_the_nonce(app: App, mitm: Mitm) -> None:
    app.deploy()
    [genuine] = [
        r
        for _, sent, r in mitm.replies
        if isinstance(r, Attested) and getattr(sent, "module", "") == "controller"
    ]
    store = StateStore.of(app.descriptor)
    saved = store.load()
    saved.modules["controller"].module_key = NO_KEY  # forces a re-attestation with a fresh nonce
    store.save(saved)

    def incoming(node: str, sent: Message, reply: Message) -> Message:
        if isinstance(reply, Attested) and getattr(sent, "module", "") == "controller":
            assert reply != genuine
            return genuine
        return reply

    mitm.incoming = incoming
    mark = mitm.mark()
    [error] = failed_deploy(app)
    assert isinstance(error, AttestationError)
    assert error.where == "module controller on node cloud"
    assert "SGX quote rejected at step 'report data'" in error.message
    assert "report_data is not bound to this verifier's nonce" in error.message
    assert_no_key_left(app, mitm, "controller", since=mark)
    mitm.stop()
    assert app.deploy().plan.attest == ["controller"]
    assert_irrigation_works(app)


# --- 9. emulated platforms need an opt-in -----------------------------------------------------


def strict_deploy(app: App) -> None:
    """Deploy as `authex deploy` does: emulated TEEs only if the descriptor opts in."""

    async def go() -> None:
        store = StateStore.of(app.descriptor)
        async with Session(app.descriptor, store, app.progress.append) as session:
            assert not session.allow_emulated
            await deploy(session)

    run(go())


def test_emulated_platforms_are_refused_without_an_opt_in(app: App, mitm: Mitm) -> None:
    assert not app.descriptor.policy.allow_emulated
    with pytest.raises((AuthexError, ExceptionGroup)) as info:
        strict_deploy(app)
    errors = _leaves(info.value)
    assert errors
    for error in errors:
        assert isinstance(error, AttestationError)
        assert error.where is not None and error.where.startswith("module ")
        module = error.where.removeprefix("module ")
        node = app.descriptor.module(module).node
        assert f"node {node} is an emulated" in error.message
        assert "does not accept emulated TEEs" in error.message
    assert mitm.sent(SetKey) == []
    assert len(errors) == len(app.descriptor.modules)  # every module reported, none skipped
    assert mitm.sent(Load) == []  # refused before any artifact went to an emulated platform
    app.deploy()  # `authex up` opts in for local development
    assert_irrigation_works(app)


# --- 10. a set-key replayed across a re-attestation -------------------------------------------


def test_set_key_replayed_after_sancus_reattestation_is_refused(app: App, mitm: Mitm) -> None:
    app.deploy()
    store = StateStore.of(app.descriptor)
    saved = store.load()
    del saved.connections["valve-state"].keyed[EndRole.SOURCE]  # valve-state is re-keyed: counter 3
    store.save(saved)
    mark = mitm.mark()
    app.deploy()
    [old] = mitm.set_keys_for("valve", since=mark)
    saved = store.load()
    saved.modules["valve"].module_key = NO_KEY  # re-attest: a fresh challenge, a fresh session key
    store.save(saved)
    mark = mitm.mark()
    assert app.deploy().plan.attest == ["valve"]
    fresh = mitm.set_keys_for("valve", since=mark)
    assert len(fresh) == 2 and max(m.counter for m in fresh) < old.counter  # counters alone
    # would let the old set-key in: only the session key from the fresh challenge refuses it
    field2 = app.descriptor.node("field2").port  # the agent (holding a control link) replays
    link = RawLink(
        field2, LinkKind.CONTROL, tls=app.operator_tls("field2"), bind=app.descriptor.name
    )
    reply = link.request(old)
    link.close()
    assert isinstance(reply, Error) and reply.code == ErrorCode.REJECTED
    assert "does not authenticate" in reply.message
    assert app.call("valve", "status").payload == b"closed"
    assert_irrigation_works(app)  # the controller's "open" reaches the valve under fresh keys


# --- bugs found by these tests ----------------------------------------------------------------


def test_failed_attestation_on_one_node_does_not_stop_the_others(app: App, mitm: Mitm) -> None:
    corrupt_vendor_key(app, "field1")
    with pytest.raises(AttestationError, match="module sensor1 on node field1"):
        app.deploy()
    attested = state(app)
    assert attested["sensor1"] == ""
    assert all(attested[m] for m in ("sensor2", "valve", "relay", "controller", "weather"))


def test_emulated_refusal_is_reported_for_every_module(app: App) -> None:
    with pytest.raises(StepsFailed) as info:
        strict_deploy(app)
    refused = {f.where for f in info.value.failures if "emulated" in f.message}
    assert refused == {f"module {m.name}" for m in app.descriptor.modules}


def test_deploy_after_a_failed_attestation_reloads_the_module(app: App, mitm: Mitm) -> None:
    lying_loader(mitm, "sensor1")
    failed_deploy(app)
    mitm.stop()
    report = app.deploy()
    assert "sensor1" in report.plan.load
    assert_irrigation_works(app)
