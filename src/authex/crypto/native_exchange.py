"""The native backend's key exchange: X25519 with the deployer's half signed by the operator.

challenge = nonce (16) || deployer X25519 public (32) || Ed25519 signature (64) over
            "authex-native-attest-v1" || u16 len(name) || name || nonce || deployer public
evidence  = module X25519 public (32) || confirmation tag (16)
K_m       = HKDF-SHA256(X25519 shared secret, salt = nonce,
                        info = "authex native module key v1" || deployer public
                               || module public)[:16]
confirm   = AES-GCM(K_m, nonce block (3, 0), AD = "attest-confirm" || nonce, empty plaintext)

The module accepts only a challenge signed by the operator key compiled into its artifact, so a
module hands its key only to its own operator.  Nothing here proves *where* the module runs: the
native backend offers no TEE protection, and an agent could stand in for the module.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authex.crypto.digest import equal
from authex.crypto.secret import Secret
from authex.crypto.suites import AesGcm128
from authex.errors import AttestationError

NONCE_SIZE = 16
CHALLENGE_SIZE = NONCE_SIZE + 32 + 64
EVIDENCE_SIZE = 32 + 16
_CONTEXT = b"authex-native-attest-v1"
_INFO = b"authex native module key v1"


def _signed_part(name: str, nonce: bytes, public: bytes) -> bytes:
    encoded = name.encode()
    return _CONTEXT + struct.pack(">H", len(encoded)) + encoded + nonce + public


def _derive(shared: bytes, nonce: bytes, deployer_pub: bytes, module_pub: bytes) -> Secret:
    hkdf = HKDF(hashes.SHA256(), 16, salt=nonce, info=_INFO + deployer_pub + module_pub)
    return Secret(hkdf.derive(shared))


def _confirm(key: Secret, nonce: bytes) -> bytes:
    return AesGcm128().seal(key.reveal(), 3, 0, b"attest-confirm" + nonce, b"")


@dataclass
class DeployerExchange:
    """The deployer's side of one exchange: make the challenge, then check the evidence."""

    name: str
    nonce: bytes
    private: X25519PrivateKey
    challenge: bytes

    @staticmethod
    def start(
        name: str, operator: Ed25519PrivateKey, nonce: bytes | None = None
    ) -> DeployerExchange:
        nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
        private = X25519PrivateKey.generate()
        public = private.public_key().public_bytes_raw()
        signature = operator.sign(_signed_part(name, nonce, public))
        return DeployerExchange(name, nonce, private, nonce + public + signature)

    def finish(self, evidence: bytes) -> Secret:
        if len(evidence) != EVIDENCE_SIZE:
            raise AttestationError(
                f"native evidence is {len(evidence)} bytes, expected {EVIDENCE_SIZE}",
                where=f"module {self.name}",
            )
        module_pub, tag = evidence[:32], evidence[32:]
        try:
            shared = self.private.exchange(X25519PublicKey.from_public_bytes(module_pub))
        except ValueError as exc:
            raise AttestationError(
                "module's X25519 public key is invalid", where=f"module {self.name}"
            ) from exc
        deployer_pub = self.private.public_key().public_bytes_raw()
        key = _derive(shared, self.nonce, deployer_pub, module_pub)
        if not equal(_confirm(key, self.nonce), tag):
            raise AttestationError(
                "key confirmation failed: the module did not derive the same key",
                where=f"module {self.name}",
            )
        return key


def module_respond(name: str, operator_public: bytes, challenge: bytes) -> tuple[bytes, Secret]:
    """The module's side: verify the operator's signature, answer, and return (evidence, K_m)."""
    if len(challenge) != CHALLENGE_SIZE:
        raise AttestationError(f"challenge is {len(challenge)} bytes, expected {CHALLENGE_SIZE}")
    nonce = challenge[:NONCE_SIZE]
    deployer_pub = challenge[NONCE_SIZE : NONCE_SIZE + 32]
    signature = challenge[NONCE_SIZE + 32 :]
    try:
        Ed25519PublicKey.from_public_bytes(operator_public).verify(
            signature, _signed_part(name, nonce, deployer_pub)
        )
    except (InvalidSignature, ValueError) as exc:
        raise AttestationError("challenge is not signed by this module's operator") from exc
    private = X25519PrivateKey.generate()
    module_pub = private.public_key().public_bytes_raw()
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(deployer_pub))
    except ValueError as exc:
        raise AttestationError("deployer's X25519 public key is invalid") from exc
    key = _derive(shared, nonce, deployer_pub, module_pub)
    return module_pub + _confirm(key, nonce), key
