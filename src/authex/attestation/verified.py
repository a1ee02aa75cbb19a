"""VerifiedModule: the capability a verifier hands the deployer once a module proved itself.

Only code in authex.attestation and the backends' attest methods construct these; the deployer
wraps keys for a module only through one.
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
    key: Secret  # the control key (K_m or a session key derived from it)
    evidence_kind: str  # e.g. "SGX DCAP quote v3 (emulated)"
    emulated: bool
    control_suite: str = "aes-gcm-128"
