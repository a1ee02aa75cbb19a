"""Deployer side of the Sancus backend: package as a Sancus module image, derive K_m from the
enrolled vendor key exactly as the hardware does, and check MAC(K_m, challenge)."""

from __future__ import annotations

from authex.attestation.verified import VerifiedModule
from authex.crypto.sancus_keys import module_key
from authex.crypto.session import sancus_session_key
from authex.crypto.spongewrap import sancus_mac
from authex.descriptor import ModuleSpec
from authex.tee.base import AttestContext, OperatorKeys, Packaged
from authex.tee.challenge_mac import attest_by_mac
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

    async def attest(self, ctx: AttestContext) -> VerifiedModule:
        image = parse_sancus_image(ctx.packaged.image)
        k_m = module_key(ctx.trust.vendor_key(ctx.module.vendor_id), image.identity)
        return await attest_by_mac(
            ctx,
            k_m,
            mac=sancus_mac,
            session_key=sancus_session_key,
            evidence_kind=EVIDENCE_KIND,
            mismatch="Sancus attestation MAC does not verify: the module runs on another node, "
            "under another vendor key, or with altered text or layout",
            control_suite=self.control_suite,
        )
