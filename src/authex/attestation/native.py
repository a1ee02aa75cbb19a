"""The native backend's "attestation": an operator-signed X25519 exchange, with no evidence.

It gives the deployer a key shared with whatever answers for the module, bound to the operator
key compiled into the artifact; it does not prove where or how the module runs.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.attestation.verified import VerifiedModule
from authex.crypto.native_exchange import DeployerExchange

EVIDENCE_KIND = "none (native X25519 exchange, no TEE)"


class NativeChallenge:
    def __init__(self, module: str, node: str, operator: Ed25519PrivateKey) -> None:
        self.module = module
        self.node = node
        self.exchange = DeployerExchange.start(module, operator)

    @property
    def challenge(self) -> bytes:
        return self.exchange.challenge

    def verify(self, evidence: bytes, measurement: bytes) -> VerifiedModule:
        key = self.exchange.finish(evidence)
        return VerifiedModule(
            name=self.module,
            node=self.node,
            tee="native",
            measurement=measurement,
            key=key,
            evidence_kind=EVIDENCE_KIND,
            emulated=False,
        )
