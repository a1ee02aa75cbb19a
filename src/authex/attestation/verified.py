"""VerifiedModule: the capability a verifier hands the deployer once a module proved itself.

Only code in authex.attestation constructs these; the deployer wraps keys for a module only
through one.
"""

from __future__ import annotations

from dataclasses import dataclass

from authex.crypto.secret import Secret


@dataclass(frozen=True)
class VerifiedModule:
    name: str
    node: str
    tee: str
    measurement: bytes
    key: Secret  # K_m, shared with the module only
    evidence_kind: str  # e.g. "none (native X25519 exchange)"
    emulated: bool
