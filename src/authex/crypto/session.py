"""Control-session keys for backends whose module key is fixed by the hardware.

On Sancus and TrustZone K_m is a function of the module's identity, so it is the same after a
module restart; a control counter window that restarts at zero would then accept replayed
set-key messages.  Each attestation therefore derives a fresh control key from K_m, the
verifier's challenge and a fresh nonce of the module's own (sent with the evidence), and
everything the deployer sends afterwards is sealed under it.  The module's nonce matters: an
agent replaying an old challenge must not bring back an old session key.

- Sancus:    K_ctl = MAC(K_m, "authex-session" || challenge || module_nonce)  (SpongeWrap tag)
- TrustZone: K_ctl = HKDF-SHA256(K_m, info = "authex control session v1" || challenge
                                            || module_nonce)[:16]

Evidence = MAC(K_m, challenge) (16 bytes) || module_nonce (16 bytes).

Native and SGX modules get a fresh K_m from every X25519 exchange already.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authex.crypto.secret import Secret
from authex.crypto.spongewrap import sancus_mac
from authex.errors import AttestationError

MAC_SIZE = 16
MODULE_NONCE_SIZE = 16
MIN_CHALLENGE = 16
MAX_CHALLENGE = 64


def check_challenge(challenge: bytes, *, even: bool = False) -> None:
    if not MIN_CHALLENGE <= len(challenge) <= MAX_CHALLENGE or (even and len(challenge) % 2):
        parity = " and of even length" if even else ""
        raise AttestationError(
            f"challenge must be {MIN_CHALLENGE}..{MAX_CHALLENGE} bytes{parity}, "
            f"not {len(challenge)}"
        )


def sancus_session_key(module_key: bytes, challenge: bytes, module_nonce: bytes) -> Secret:
    return Secret(sancus_mac(module_key, b"authex-session" + challenge + module_nonce))


def trustzone_session_key(module_key: bytes, challenge: bytes, module_nonce: bytes) -> Secret:
    info = b"authex control session v1" + challenge + module_nonce
    hkdf = HKDF(hashes.SHA256(), 16, salt=None, info=info)
    return Secret(hkdf.derive(module_key))


def split_evidence(evidence: bytes) -> tuple[bytes, bytes]:
    """(MAC over the challenge, module nonce) of Sancus / TrustZone evidence."""
    if len(evidence) != MAC_SIZE + MODULE_NONCE_SIZE:
        raise AttestationError(
            f"evidence is {len(evidence)} bytes, expected {MAC_SIZE + MODULE_NONCE_SIZE} "
            "(MAC || module nonce)"
        )
    return evidence[:MAC_SIZE], evidence[MAC_SIZE:]
