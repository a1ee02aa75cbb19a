"""Control-session keys for backends whose module key is fixed by the hardware.

On Sancus and TrustZone K_m is a function of the module's identity, so it is the same after a
module restart; a control counter window that restarts at zero would then accept replayed
set-key messages.  Each attestation therefore derives a fresh control key from K_m and the
verifier's challenge, and everything the deployer sends afterwards is sealed under it:

- Sancus:    K_ctl = MAC(K_m, "authex-session" || challenge)   (SpongeWrap tag, as the hardware can)
- TrustZone: K_ctl = HKDF-SHA256(K_m, info = "authex control session v1" || challenge)[:16]

Native and SGX modules get a fresh K_m from every X25519 exchange already.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authex.crypto.secret import Secret
from authex.crypto.spongewrap import sancus_mac
from authex.errors import AttestationError

MIN_CHALLENGE = 16
MAX_CHALLENGE = 64


def check_challenge(challenge: bytes, *, even: bool = False) -> None:
    if not MIN_CHALLENGE <= len(challenge) <= MAX_CHALLENGE or (even and len(challenge) % 2):
        parity = " and of even length" if even else ""
        raise AttestationError(
            f"challenge must be {MIN_CHALLENGE}..{MAX_CHALLENGE} bytes{parity}, "
            f"not {len(challenge)}"
        )


def sancus_session_key(module_key: bytes, challenge: bytes) -> Secret:
    return Secret(sancus_mac(module_key, b"authex-session" + challenge))


def trustzone_session_key(module_key: bytes, challenge: bytes) -> Secret:
    hkdf = HKDF(hashes.SHA256(), 16, salt=None, info=b"authex control session v1" + challenge)
    return Secret(hkdf.derive(module_key))
