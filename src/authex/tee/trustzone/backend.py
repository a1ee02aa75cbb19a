"""Deployer side of the TrustZone backend: sign the TA (OP-TEE style header), derive
K_m = KDF(K_vendor, TA hash) from the enrolled vendor key and check the challenge MAC."""

from __future__ import annotations

from authex.attestation.trustzone import attestation_mac, module_key, sign_ta, ta_hash
from authex.attestation.verified import VerifiedModule
from authex.crypto.session import trustzone_session_key
from authex.descriptor import ModuleSpec
from authex.tee.base import AttestContext, OperatorKeys, Packaged
from authex.tee.challenge_mac import attest_by_mac
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

    async def attest(self, ctx: AttestContext) -> VerifiedModule:
        k_m = module_key(ctx.trust.vendor_key(ctx.module.vendor_id), ctx.packaged.measurement)
        return await attest_by_mac(
            ctx,
            k_m,
            mac=attestation_mac,
            session_key=trustzone_session_key,
            evidence_kind=EVIDENCE_KIND,
            mismatch="TrustZone attestation MAC does not verify: the TA runs on another node, "
            "under another vendor key, or was altered",
            control_suite=self.control_suite,
        )
