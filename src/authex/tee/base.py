"""The interface every TEE backend implements on the deployer's side, and the registry.

A backend knows which cipher suites its modules support, how to tell whether it can be used
here (probe), and how to attest a loaded module into a VerifiedModule.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.attestation.verified import VerifiedModule
from authex.deployer.client import AgentClient
from authex.errors import BackendError


class Backend(Protocol):
    name: str
    label: str  # shown by `authex status`
    emulated: bool
    suites: tuple[str, ...]

    def probe(self) -> str | None:
        """None if usable here, else why not."""
        ...

    async def attest(
        self,
        client: AgentClient,
        module: str,
        measurement: bytes,
        operator: Ed25519PrivateKey,
    ) -> VerifiedModule: ...


_BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> None:
    _BACKENDS[backend.name] = backend


def get_backend(name: str) -> Backend:
    from authex.tee import native  # noqa: F401  (registers itself)

    backend = _BACKENDS.get(name)
    if backend is None:
        raise BackendError(
            f"no backend for TEE {name!r}; available: " + ", ".join(sorted(_BACKENDS))
        )
    return backend
