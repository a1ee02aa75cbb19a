"""Optional encryption at rest of the deployment state (which holds module and connection keys).

With ``AUTHEX_STATE_PASSPHRASE`` set, ``state.json`` is written as an envelope:
``{"encrypted": "scrypt-aes-gcm-v1", "salt", "n", "r", "p", "nonce", "ciphertext"}`` where the
key is scrypt(passphrase, salt) and the state JSON is sealed with AES-256-GCM (AD = the
encryption label).  A wrong passphrase or a tampered file is refused; nothing is lost.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from authex.errors import StateError

ENCRYPTION = "scrypt-aes-gcm-v1"
PASSPHRASE_ENV = "AUTHEX_STATE_PASSPHRASE"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1


def passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


class StateSealer:
    """Derives the key once per (passphrase, salt) and seals/opens state envelopes."""

    def __init__(self, secret: bytes, salt: bytes | None, *, where: str) -> None:
        self.salt = salt if salt is not None else os.urandom(16)
        self.where = where
        kdf = Scrypt(salt=self.salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
        self._aead = AESGCM(kdf.derive(secret))

    def __repr__(self) -> str:
        return "StateSealer(<key redacted>)"

    def seal(self, plaintext: bytes) -> dict[str, Any]:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, ENCRYPTION.encode())
        return {
            "encrypted": ENCRYPTION,
            "salt": self.salt.hex(),
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "nonce": nonce.hex(),
            "ciphertext": base64.b64encode(sealed).decode(),
        }

    def open(self, envelope: dict[str, Any]) -> bytes:
        if (envelope.get("n"), envelope.get("r"), envelope.get("p")) != (
            SCRYPT_N,
            SCRYPT_R,
            SCRYPT_P,
        ):
            raise StateError("unsupported state encryption parameters", where=self.where)
        try:
            nonce = bytes.fromhex(envelope["nonce"])
            sealed = base64.b64decode(envelope["ciphertext"], validate=True)
            return self._aead.decrypt(nonce, sealed, ENCRYPTION.encode())
        except InvalidTag as exc:
            raise StateError(
                "cannot open the deployment state: wrong passphrase or a tampered file",
                where=self.where,
            ) from exc
