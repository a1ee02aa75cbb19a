"""Deployer side of the Sancus backend: package as a Sancus module image, derive K_m from the
enrolled vendor key exactly as the hardware does, and check MAC(K_m, challenge)."""

from __future__ import annotations

import hmac
import os

from authex.attestation.verified import VerifiedModule
from authex.crypto.sancus_keys import module_key
from authex.crypto.session import sancus_session_key, split_evidence
from authex.crypto.spongewrap import sancus_mac
from authex.deployer.client import AgentClient
from authex.descriptor import ModuleSpec
from authex.errors import AttestationError
from authex.tee.base import AttestContext, OperatorKeys, Packaged, enrolled, exchange
from authex.tee.images import parse_sancus_image, sancus_image

EVIDENCE_KIND = "Sancus MAC(K_m, challenge)"


class SancusBackend:
    def __init__(self) -> None:
        self.name = "sancus"
        self.label = "sancus (emulated)"
        self.emulated = True
        self.control_suite = "spongewrap-128"

    def package(self, spec: ModuleSpec, artifact: bytes, keys: OperatorKeys) -> Packaged:
        image = sancus_image(artifact, spec.vendor_id)
        return Packaged(image, parse_sancus_image(image).measurement)

    async def attest(self, client: AgentClient, ctx: AttestContext) -> VerifiedModule:
        trust = enrolled(ctx)
        image = parse_sancus_image(ctx.packaged.image)
        k_m = module_key(trust.vendor_key(ctx.module.vendor_id), image.identity)
        challenge = os.urandom(16)
        evidence = await exchange(client, ctx.module.name, challenge)
        mac, module_nonce = split_evidence(evidence)
        if not hmac.compare_digest(mac, sancus_mac(k_m, challenge)):
            raise AttestationError(
                "Sancus attestation MAC does not verify: the module runs on another node, under "
                "another vendor key, or with altered text or layout",
                where=f"module {ctx.module.name} on node {ctx.node.name}",
            )
        return VerifiedModule(
            ctx.module.name,
            ctx.node.name,
            "sancus",
            ctx.packaged.measurement,
            sancus_session_key(k_m, challenge, module_nonce),
            EVIDENCE_KIND + (" (emulated)" if trust.emulated else ""),
            trust.emulated,
            self.control_suite,
        )
