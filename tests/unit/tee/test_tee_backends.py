"""Every backend attests, in memory, a module its platform admitted: the platform and the backend
agree on the measurement, the evidence verifies against the node's pinned trust entry, and the
deployer ends up with the control key the module derived.  The backend gets only an
AttestContext: the resolved trust entry and an exchange callable (here the module-side attester,
no agent)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex import kinds
from authex.attestation.trust import NodeTrust
from authex.attestation.trustzone import vendor_public_pem
from authex.attestation.verified import VerifiedModule
from authex.deployer.trust import parse_trust
from authex.descriptor import ModuleSpec, Node, Policy
from authex.errors import AttestationError, ProtocolError
from authex.sdk.attesters import CONTROL_SUITES, Attester, attester_for
from authex.tee.base import AttestContext, Exchange, OperatorKeys, get_backend
from authex.tee.platform_base import Platform
from authex.tee.platforms import create_secrets, open_platform

TA_VENDOR = rsa.generate_private_key(65537, 2048)
OPERATOR = Ed25519PrivateKey.generate()
KEYS = OperatorKeys(OPERATOR, lambda: TA_VENDOR)
ARTIFACT = b"PK\x03\x04 module artifact"
EVIDENCE_KINDS = {
    "native": "none (native X25519 exchange, no TEE)",
    "sancus": "Sancus MAC(K_m, challenge) (emulated)",
    "trustzone": "TrustZone MAC(K_m, challenge) (emulated)",
    "sgx": "SGX DCAP quote v3 (emulated)",
}


def new_platform(tee: str, node: str) -> Platform:
    pem = vendor_public_pem(TA_VENDOR).decode() if kinds.kind(tee).ta_vendor_key else ""
    return open_platform(tee, create_secrets(tee, node, ta_vendor_public_pem=pem))


@dataclass
class Rig:
    """A module admitted on one node's platform, and what the deployer knows about it."""

    context: AttestContext
    attester: Attester
    keys_seen: list[bytes]
    challenges: list[tuple[str, bytes]]


def rig(tee: str, *, running_on: Platform | None = None, slot: str = "") -> Rig:
    enrolled_platform = new_platform(tee, "n1")
    platform = running_on or enrolled_platform
    spec = ModuleSpec("sensor", "n1", "python", Path("."))
    node = Node("n1", tee, "127.0.0.1", 7000)
    backend = get_backend(tee)
    packaged = backend.package(spec, ARTIFACT, KEYS)
    admission = platform.admit(spec.name, packaged.image)
    assert admission.measurement == packaged.measurement
    entry = enrolled_platform.enrolment([spec.vendor_id])
    trust = parse_trust({"nodes": {"n1": entry}}, None).node("n1", tee)
    operator_public = OPERATOR.public_key().public_bytes_raw()
    attester = attester_for(
        tee,
        spec.name,
        operator_public,
        admission.module_key,
        lambda report_data: platform.quote(admission, report_data),
    )
    keys_seen: list[bytes] = []
    challenges: list[tuple[str, bytes]] = []

    async def exchange(module: str, challenge: bytes) -> bytes:
        challenges.append((module, challenge))
        evidence, key = attester(challenge)
        keys_seen.append(key.reveal())
        return evidence

    policy = Policy(allow_emulated=True)
    context = AttestContext(spec, node, packaged, KEYS, trust, policy, exchange, slot)
    return Rig(context, attester, keys_seen, challenges)


def attest(context: AttestContext) -> VerifiedModule:
    return asyncio.run(get_backend(context.node.tee).attest(context))


@pytest.mark.parametrize("tee", kinds.names())
def test_backend_attests_what_its_platform_admitted(tee: str) -> None:
    setup = rig(tee)
    verified = attest(setup.context)
    assert (verified.name, verified.node, verified.tee) == ("sensor", "n1", tee)
    assert verified.measurement == setup.context.packaged.measurement
    assert verified.key.reveal() == setup.keys_seen[-1]
    assert verified.evidence_kind == EVIDENCE_KINDS[tee]
    assert verified.emulated is (tee != "native")
    assert verified.control_suite == CONTROL_SUITES[tee] == get_backend(tee).control_suite
    assert [module for module, _ in setup.challenges] == ["sensor"]


@pytest.mark.parametrize("tee", kinds.names())
def test_the_challenge_goes_to_the_slot_the_module_is_loaded_as(tee: str) -> None:
    setup = rig(tee, slot="sensor~2")
    attest(setup.context)
    assert [module for module, _ in setup.challenges] == ["sensor~2"]


@pytest.mark.parametrize(
    ("tee", "refusal"),
    [
        ("sancus", "Sancus attestation MAC does not verify: the module runs on another node"),
        ("trustzone", "TrustZone attestation MAC does not verify: the TA runs on another node"),
        ("sgx", "SGX quote rejected"),
    ],
)
def test_a_module_on_another_node_is_refused(tee: str, refusal: str) -> None:
    setup = rig(tee, running_on=new_platform(tee, "impostor"))
    with pytest.raises(AttestationError, match=refusal) as caught:
        attest(setup.context)
    assert caught.value.where == "module sensor on node n1"


@pytest.mark.parametrize("tee", ["sancus", "trustzone"])
def test_a_vendor_id_that_was_not_enrolled_is_refused(tee: str) -> None:
    setup = rig(tee)
    trust = NodeTrust("n1", tee, True, {17: bytes(16)})
    with pytest.raises(AttestationError, match="no vendor key enrolled for vendor id 4660"):
        attest(replace(setup.context, trust=trust))


@pytest.mark.parametrize("tee", kinds.names())
def test_evidence_of_the_wrong_length_is_refused(tee: str) -> None:
    setup = rig(tee)

    async def short(module: str, challenge: bytes) -> bytes:
        evidence, _ = setup.attester(challenge)
        return evidence[:-1]

    with pytest.raises(AttestationError):
        attest(replace(setup.context, exchange=short))


@pytest.mark.parametrize("tee", kinds.names())
def test_a_failed_exchange_reaches_the_caller(tee: str) -> None:
    async def broken(module: str, challenge: bytes) -> bytes:
        raise ProtocolError("agent answered attest without evidence", where="node n1")

    exchange: Exchange = broken
    with pytest.raises(ProtocolError, match="agent answered attest without evidence"):
        attest(replace(rig(tee).context, exchange=exchange))
