"""Sancus and TrustZone control sessions: K_m is fixed by the module's identity, so each
attestation must yield a fresh control key.  A replayed old challenge (the agent can send any
HostAttest) must not bring an old session key back, and old set-keys must stay refused."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from authex.attestation.trustzone import attestation_mac
from authex.crypto.control import Role, wrap_key
from authex.crypto.sancus_keys import module_key as sancus_module_key
from authex.crypto.secret import Secret
from authex.crypto.session import sancus_session_key, split_evidence, trustzone_session_key
from authex.crypto.spongewrap import sancus_mac
from authex.crypto.suites import SuiteId, get_suite
from authex.errors import AttestationError
from authex.manifest import IoKind
from authex.sdk.attesters import CONTROL_SUITES, sancus_attester, trustzone_attester
from authex.sdk.loader import find_module, load_main
from authex.sdk.runtime import ModuleRuntime
from authex.wire.codec import Message
from authex.wire.messages import Error, HostAttest, HostAttested, HostSetKey, Ok

COUNTER = Path(__file__).resolve().parents[1] / "sdk" / "fixtures" / "counter"
K_M = bytes(range(16))
CHALLENGE = bytes(range(100, 116))

Session = Callable[[bytes, bytes, bytes], Secret]
MACS: dict[str, Callable[[bytes, bytes], bytes]] = {
    "sancus": sancus_mac,
    "trustzone": attestation_mac,
}
SESSIONS: dict[str, Session] = {"sancus": sancus_session_key, "trustzone": trustzone_session_key}


def runtime_for(tee: str) -> tuple[ModuleRuntime, list[Message]]:
    module = find_module(vars(load_main(COUNTER)), "counter")
    manifest = module.manifest("counter", "00" * 32, ("aes-gcm-128",))
    attester = sancus_attester(K_M) if tee == "sancus" else trustzone_attester(K_M)
    sent: list[Message] = []

    def wait(conn_id: int, counter: int, timeout: float) -> object:
        raise AssertionError("no requests here")

    runtime = ModuleRuntime(
        manifest,
        module,
        lambda m, rid: sent.append(m),
        wait,  # type: ignore[arg-type]
        log=lambda _: None,
        attester=attester,
        control_suite=CONTROL_SUITES[tee],
    )
    return runtime, sent


def attest(runtime: ModuleRuntime, sent: list[Message], tee: str, challenge: bytes) -> Secret:
    sent.clear()
    runtime.handle(HostAttest(challenge), 1)
    [reply] = sent
    assert isinstance(reply, HostAttested)
    mac, nonce = split_evidence(reply.evidence)
    assert mac == MACS[tee](K_M, challenge)  # what the deployer checks
    return SESSIONS[tee](K_M, challenge, nonce)


def set_key(runtime: ModuleRuntime, tee: str, session: Secret, counter: int) -> HostSetKey:
    io_id = runtime.manifest.find(IoKind.INPUT, "reading")
    assert io_id is not None
    wrapped = wrap_key(
        get_suite(CONTROL_SUITES[tee]),
        session,
        Secret(os.urandom(16)),
        conn_id=3,
        io_id=io_id.id,
        role=Role.RECEIVER,
        suite=SuiteId.AES_GCM_128,
        counter=counter,
    )
    return HostSetKey(3, io_id.id, Role.RECEIVER, SuiteId.AES_GCM_128, counter, wrapped)


@pytest.mark.parametrize("tee", ["sancus", "trustzone"])
def test_replayed_challenge_does_not_restore_an_old_session(tee: str) -> None:
    runtime, sent = runtime_for(tee)
    first = attest(runtime, sent, tee, CHALLENGE)
    old = set_key(runtime, tee, first, counter=1)
    sent.clear()
    runtime.handle(old, 2)
    assert sent == [Ok()]
    second = attest(runtime, sent, tee, CHALLENGE)  # the agent replays the old challenge
    assert second != first  # the module's own nonce makes the session fresh
    sent.clear()
    runtime.handle(old, 3)  # ... so the recorded set-key no longer authenticates
    [refused] = sent
    assert isinstance(refused, Error)
    sent.clear()
    runtime.handle(set_key(runtime, tee, second, counter=1), 4)
    assert sent == [Ok()]


def test_sancus_session_key_binds_challenge_and_module_nonce() -> None:
    k_m = sancus_module_key(bytes(16), b"identity")
    keys = {
        sancus_session_key(k_m, CHALLENGE, bytes(16)),
        sancus_session_key(k_m, CHALLENGE, bytes(15) + b"\x01"),
        sancus_session_key(k_m, bytes(16), bytes(16)),
    }
    assert len(keys) == 3


@pytest.mark.parametrize("evidence", [b"", bytes(16), bytes(33)])
def test_evidence_of_the_wrong_length_is_refused(evidence: bytes) -> None:
    with pytest.raises(AttestationError, match=re.escape("(MAC || module nonce)")):
        split_evidence(evidence)


def test_sancus_challenges_must_have_even_length() -> None:
    runtime, sent = runtime_for("sancus")
    runtime.handle(HostAttest(bytes(17)), 1)
    [reply] = sent
    assert isinstance(reply, Error) and "even length" in reply.message
