"""Cipher suites: one AEAD interface with a 16-byte nonce block and suite ids for the wire.

The nonce block is ``direction (1) || 000000 || BE64(counter)`` padded with four zero bytes to 16;
AES-GCM uses its first 12 bytes.  Suites that take no nonce (SpongeWrap) absorb direction and
counter through the associated data instead (see crypto.channel).
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from authex.errors import CryptoError


class SuiteId(IntEnum):
    AES_GCM_128 = 1
    ASCON_AEAD128 = 2
    SPONGEWRAP_128 = 3


SUITE_NAMES = {
    "aes-gcm-128": SuiteId.AES_GCM_128,
    "ascon-aead128": SuiteId.ASCON_AEAD128,
    "spongewrap-128": SuiteId.SPONGEWRAP_128,
}

TAG_SIZE = 16
KEY_SIZE = 16


class Aead(Protocol):
    """seal/open with a nonce derived from (direction, counter)."""

    name: str
    suite_id: SuiteId

    def seal(self, key: bytes, direction: int, counter: int, ad: bytes, plaintext: bytes) -> bytes:
        """Ciphertext followed by a 16-byte tag."""
        ...

    def open(self, key: bytes, direction: int, counter: int, ad: bytes, sealed: bytes) -> bytes:
        """Plaintext; raises CryptoError if the tag does not verify."""
        ...


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise CryptoError(f"a {KEY_SIZE}-byte key is needed, not {len(key)} bytes")


def nonce_block(direction: int, counter: int) -> bytes:
    return struct.pack(">B3xQ4x", direction, counter)


class AesGcm128:
    def __init__(self) -> None:
        self.name = "aes-gcm-128"
        self.suite_id = SuiteId.AES_GCM_128

    def seal(self, key: bytes, direction: int, counter: int, ad: bytes, plaintext: bytes) -> bytes:
        _check_key(key)
        return AESGCM(key).encrypt(nonce_block(direction, counter)[:12], plaintext, ad)

    def open(self, key: bytes, direction: int, counter: int, ad: bytes, sealed: bytes) -> bytes:
        if len(sealed) < TAG_SIZE:
            raise CryptoError("sealed message shorter than its tag")
        _check_key(key)
        try:
            return AESGCM(key).decrypt(nonce_block(direction, counter)[:12], sealed, ad)
        except InvalidTag as exc:
            raise CryptoError("authentication tag does not verify") from exc


_SUITES: dict[SuiteId, Aead] = {SuiteId.AES_GCM_128: AesGcm128()}
_builtins_loaded = False


def register_suite(suite: Aead) -> None:
    """Add or replace a suite implementation (e.g. an accelerated one)."""
    _SUITES[suite.suite_id] = suite


def _load_builtins() -> None:
    """SpongeWrap and Ascon import this module, so they are registered lazily."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    from authex.crypto.ascon import AsconAead128
    from authex.crypto.spongewrap import SpongeWrap128

    _SUITES.setdefault(SuiteId.ASCON_AEAD128, AsconAead128())
    _SUITES.setdefault(SuiteId.SPONGEWRAP_128, SpongeWrap128())
    _builtins_loaded = True


def get_suite(suite: SuiteId | int | str) -> Aead:
    _load_builtins()
    try:
        ident = SUITE_NAMES[suite] if isinstance(suite, str) else SuiteId(suite)
        return _SUITES[ident]
    except (KeyError, ValueError) as exc:
        raise CryptoError(f"unsupported cipher suite {suite!r}") from exc


def available_suites() -> list[str]:
    _load_builtins()
    return [name for name, ident in SUITE_NAMES.items() if ident in _SUITES]
