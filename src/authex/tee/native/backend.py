"""Deployer side of the native backend: attest = the operator-signed X25519 exchange."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.attestation.native import NativeChallenge
from authex.attestation.verified import VerifiedModule
from authex.deployer.client import AgentClient
from authex.errors import ProtocolError
from authex.wire.messages import Attest, Attested


class NativeBackend:
    def __init__(self) -> None:
        self.name = "native"
        self.label = "native — no TEE protection"
        self.emulated = False
        self.suites: tuple[str, ...] = ("aes-gcm-128",)

    def probe(self) -> str | None:
        return None

    async def attest(
        self,
        client: AgentClient,
        module: str,
        measurement: bytes,
        operator: Ed25519PrivateKey,
    ) -> VerifiedModule:
        challenge = NativeChallenge(module, client.node, operator)
        reply = await client.request(Attest(module, challenge.challenge))
        if not isinstance(reply, Attested):
            raise ProtocolError("agent answered attest without evidence", where=client.where)
        return challenge.verify(reply.evidence, measurement)
