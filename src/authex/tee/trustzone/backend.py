"""Deployer side of the TrustZone backend: sign the TA (OP-TEE style header), derive
K_m = KDF(K_vendor, TA hash) from the enrolled vendor key and check the challenge MAC."""

from __future__ import annotations

import os

from authex.attestation.trustzone import check_attestation, module_key, sign_ta, ta_hash
from authex.attestation.verified import VerifiedModule
from authex.crypto.session import split_evidence, trustzone_session_key
from authex.deployer.client import AgentClient
from authex.descriptor import ModuleSpec
from authex.errors import AttestationError
from authex.tee.base import AttestContext, OperatorKeys, Packaged, enrolled, exchange
from authex.tee.images import ta_payload

EVIDENCE_KIND = "TrustZone MAC(K_m, challenge)"


class TrustZoneBackend:
    def __init__(self) -> None:
        self.name = "trustzone"
        self.label = "trustzone (emulated OP-TEE)"
        self.emulated = True
        self.control_suite = "aes-gcm-128"

    def package(self, spec: ModuleSpec, artifact: bytes, keys: OperatorKeys) -> Packaged:
        image = sign_ta(ta_payload(artifact, spec.vendor_id), keys.ta_vendor())
        return Packaged(image, ta_hash(image))

    async def attest(self, client: AgentClient, ctx: AttestContext) -> VerifiedModule:
        trust = enrolled(ctx)
        k_m = module_key(trust.vendor_key(ctx.module.vendor_id), ctx.packaged.measurement)
        challenge = os.urandom(16)
        evidence = await exchange(client, ctx.module.name, challenge)
        try:
            mac, module_nonce = split_evidence(evidence)
            check_attestation(k_m, challenge, mac)
        except AttestationError as exc:
            raise AttestationError(
                f"{exc.message}: the TA runs on another node, under another vendor key, or was "
                "altered",
                where=f"module {ctx.module.name} on node {ctx.node.name}",
            ) from exc
        return VerifiedModule(
            ctx.module.name,
            ctx.node.name,
            "trustzone",
            ctx.packaged.measurement,
            trustzone_session_key(k_m, challenge, module_nonce),
            EVIDENCE_KIND + (" (emulated)" if trust.emulated else ""),
            trust.emulated,
            self.control_suite,
        )
