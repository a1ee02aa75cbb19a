"""The deployer's side of a TEE backend, and the registry of backends by TEE kind.

A backend packages a built module for its platform (the image the node admits and the
measurement the deployer expects), and attests a loaded module: it runs the challenge, checks
the evidence against the operator's trust file and the descriptor's policy, and only then
yields a VerifiedModule carrying the control key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.attestation.verified import VerifiedModule
from authex.deployer.client import AgentClient
from authex.deployer.trust import NodeTrust, TrustStore
from authex.descriptor import ModuleSpec, Node, Policy
from authex.errors import AttestationError, BackendError, ProtocolError
from authex.wire.messages import Attest, Attested


@dataclass(frozen=True)
class Packaged:
    image: bytes  # what the node's platform admits
    measurement: bytes  # what the platform must report and the evidence must show


@dataclass(frozen=True)
class OperatorKeys:
    """The operator's signing keys: Ed25519 (compiled into modules) and, created on demand,
    the RSA key that signs TrustZone TAs."""

    operator: Ed25519PrivateKey
    ta_vendor: Callable[[], rsa.RSAPrivateKey]


@dataclass(frozen=True)
class AttestContext:
    module: ModuleSpec
    node: Node
    packaged: Packaged
    keys: OperatorKeys
    trust: TrustStore
    policy: Policy
    slot: str = ""  # the agent's name for the instance when not the module's (NAME~TAG)

    @property
    def loaded_as(self) -> str:
        return self.slot or self.module.name


class Backend(Protocol):
    name: str
    label: str  # shown by `authex status`
    emulated: bool
    control_suite: str

    def package(self, spec: ModuleSpec, artifact: bytes, keys: OperatorKeys) -> Packaged: ...

    async def attest(self, client: AgentClient, ctx: AttestContext) -> VerifiedModule: ...


def enrolled(ctx: AttestContext) -> NodeTrust:
    """The node's trust entry, refusing emulated platforms unless the policy allows them."""
    trust = ctx.trust.node(ctx.node.name, ctx.node.tee)
    if trust.emulated and not ctx.policy.allow_emulated:
        raise AttestationError(
            f"node {ctx.node.name} is an emulated {ctx.node.tee} platform and the descriptor's "
            "policy does not accept emulated TEEs (policy: {allow_emulated: true} for development)",
            where=f"module {ctx.module.name}",
        )
    return trust


async def exchange(client: AgentClient, module: str, challenge: bytes) -> bytes:
    reply = await client.request(Attest(module, challenge))
    if not isinstance(reply, Attested):
        raise ProtocolError("agent answered attest without evidence", where=client.where)
    return reply.evidence


_BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> None:
    _BACKENDS[backend.name] = backend


def get_backend(name: str) -> Backend:
    if not _BACKENDS:
        from authex.tee.native.backend import NativeBackend
        from authex.tee.sancus.backend import SancusBackend
        from authex.tee.sgx.backend import SgxBackend
        from authex.tee.trustzone.backend import TrustZoneBackend

        builtin: list[Backend] = [
            NativeBackend(),
            SancusBackend(),
            TrustZoneBackend(),
            SgxBackend(),
        ]
        for each in builtin:
            register(each)
    backend = _BACKENDS.get(name)
    if backend is None:
        raise BackendError(
            f"no backend for TEE {name!r}; available: " + ", ".join(sorted(_BACKENDS))
        )
    return backend
