"""Deployer side of the native backend: attest = the operator-signed X25519 exchange."""

from __future__ import annotations

import hashlib

from authex.attestation.native import NativeChallenge
from authex.attestation.verified import VerifiedModule
from authex.descriptor import ModuleSpec
from authex.tee.base import AttestContext, OperatorKeys, Packaged


class NativeBackend:
    def __init__(self) -> None:
        self.name = "native"
        self.label = "native — no TEE protection"
        self.emulated = False
        self.control_suite = "aes-gcm-128"

    def package(self, spec: ModuleSpec, artifact: bytes, keys: OperatorKeys) -> Packaged:
        return Packaged(artifact, hashlib.sha256(artifact).digest())

    async def attest(self, ctx: AttestContext) -> VerifiedModule:
        challenge = NativeChallenge(ctx.module.name, ctx.node.name, ctx.keys.operator)
        evidence = await ctx.challenge(challenge.challenge)
        return challenge.verify(evidence, ctx.packaged.measurement)
