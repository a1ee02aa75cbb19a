"""Challenge-MAC attestation, shared by backends whose hardware derives K_m (Sancus, TrustZone):
send a fresh challenge, check MAC(K_m, challenge) in constant time, and derive the session's
control key from K_m, the challenge and the module's nonce (crypto/session.py)."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from authex.attestation.verified import VerifiedModule
from authex.crypto.secret import Secret
from authex.crypto.session import split_evidence
from authex.errors import AttestationError
from authex.tee.base import AttestContext

CHALLENGE_SIZE = 16


async def attest_by_mac(
    ctx: AttestContext,
    module_key: bytes,
    *,
    mac: Callable[[bytes, bytes], bytes],
    session_key: Callable[[bytes, bytes, bytes], Secret],
    evidence_kind: str,
    mismatch: str,
    control_suite: str,
) -> VerifiedModule:
    challenge = os.urandom(CHALLENGE_SIZE)
    where = f"module {ctx.module.name} on node {ctx.node.name}"
    evidence = await ctx.challenge(challenge)
    try:
        response, module_nonce = split_evidence(evidence)
    except AttestationError as exc:
        raise AttestationError(exc.message, where=where) from exc
    if not hmac.compare_digest(response, mac(module_key, challenge)):
        raise AttestationError(mismatch, where=where)
    emulated = ctx.trust.emulated
    return VerifiedModule(
        ctx.module.name,
        ctx.node.name,
        ctx.node.tee,
        ctx.packaged.measurement,
        session_key(module_key, challenge, module_nonce),
        evidence_kind + (" (emulated)" if emulated else ""),
        emulated,
        control_suite,
    )
