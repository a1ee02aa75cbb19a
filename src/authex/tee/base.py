"""The deployer's side of a TEE backend, and the lookup of backends by TEE kind.

A backend packages a built module for its platform (the image the node admits and the
measurement the deployer expects), and attests a loaded module: it runs the challenge through the
context's exchange, checks the evidence against the node's pinned trust entry and the
descriptor's policy, and only then yields a VerifiedModule carrying the control key.

Backends import nothing of the deployer: the deployer builds the :class:`AttestContext` — it
resolves the node's trust entry (refusing unenrolled nodes and, without the policy's opt-in,
emulated ones) and turns its agent client into the exchange (``deployer/deploy.py``).  Which
backend serves a TEE kind is the registry's (``authex/kinds.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, cast

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex import kinds
from authex.attestation.trust import NodeTrust
from authex.attestation.verified import VerifiedModule
from authex.descriptor import ModuleSpec, Node, Policy
from authex.errors import BackendError

# Sends a challenge to the loaded module (by the agent's name for it) and returns its evidence.
Exchange = Callable[[str, bytes], Awaitable[bytes]]


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
    trust: NodeTrust  # the node's pinned entry, already checked against the policy
    policy: Policy
    exchange: Exchange  # (loaded_as, challenge) -> evidence, through the node's agent
    slot: str = ""  # the agent's name for the instance when not the module's (NAME~TAG)

    @property
    def loaded_as(self) -> str:
        return self.slot or self.module.name

    async def challenge(self, challenge: bytes) -> bytes:
        """The module's evidence for ``challenge``."""
        return await self.exchange(self.loaded_as, challenge)


class Backend(Protocol):
    name: str
    label: str  # shown by `authex status`
    emulated: bool
    control_suite: str

    def package(self, spec: ModuleSpec, artifact: bytes, keys: OperatorKeys) -> Packaged: ...

    async def attest(self, ctx: AttestContext) -> VerifiedModule: ...


_BACKENDS: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend of TEE kind ``name``, its class imported on first use."""
    backend = _BACKENDS.get(name)
    if backend is None:
        if name not in kinds.names():
            raise BackendError(
                f"no backend for TEE {name!r}; available: " + ", ".join(sorted(kinds.names()))
            )
        factory = cast(Callable[[], Backend], kinds.load(kinds.kind(name).backend))
        backend = _BACKENDS[name] = factory()
    return backend
