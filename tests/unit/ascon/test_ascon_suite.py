"""Ascon-AEAD128 rejects tampering; the ascon-aead128 suite uses the 16-byte nonce block."""

from __future__ import annotations

import pytest

from authex.crypto.ascon import AsconAead128, ascon_decrypt, ascon_encrypt
from authex.crypto.suites import TAG_SIZE, Aead, SuiteId, nonce_block
from authex.errors import CryptoError

KEY = bytes(range(16))
NONCE = bytes(range(16, 32))


def suite() -> Aead:
    return AsconAead128()


def test_identity() -> None:
    assert suite().name == "ascon-aead128"
    assert suite().suite_id is SuiteId.ASCON_AEAD128


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 40])
def test_round_trip(size: int) -> None:
    pt = bytes(range(size))
    sealed = ascon_encrypt(KEY, NONCE, b"ad", pt)
    assert len(sealed) == size + TAG_SIZE
    assert ascon_decrypt(KEY, NONCE, b"ad", sealed) == pt


def test_any_flipped_bit_is_rejected() -> None:
    sealed = ascon_encrypt(KEY, NONCE, b"ad", bytes(20))
    for i in range(len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 1 << (i % 8)
        with pytest.raises(CryptoError):
            ascon_decrypt(KEY, NONCE, b"ad", bytes(bad))


def test_wrong_inputs_are_rejected() -> None:
    sealed = ascon_encrypt(KEY, NONCE, b"ad", b"payload")
    with pytest.raises(CryptoError):
        ascon_decrypt(KEY, NONCE, b"ae", sealed)
    with pytest.raises(CryptoError):
        ascon_decrypt(KEY, bytes(16), b"ad", sealed)
    with pytest.raises(CryptoError):
        ascon_decrypt(bytes(16), NONCE, b"ad", sealed)
    with pytest.raises(CryptoError):
        ascon_decrypt(KEY, NONCE, b"ad", sealed[:-1])
    with pytest.raises(CryptoError):
        ascon_decrypt(KEY, NONCE, b"ad", bytes(TAG_SIZE - 1))
    with pytest.raises(CryptoError):
        ascon_encrypt(bytes(15), NONCE, b"", b"")
    with pytest.raises(CryptoError):
        ascon_encrypt(KEY, bytes(12), b"", b"")


def test_suite_uses_the_nonce_block() -> None:
    sealed = suite().seal(KEY, 1, 7, b"ad", b"event")
    assert sealed == ascon_encrypt(KEY, nonce_block(1, 7), b"ad", b"event")
    assert suite().open(KEY, 1, 7, b"ad", sealed) == b"event"
    with pytest.raises(CryptoError):
        suite().open(KEY, 1, 8, b"ad", sealed)
    with pytest.raises(CryptoError):
        suite().open(KEY, 0, 7, b"ad", sealed)
    outs = {suite().seal(KEY, d, c, b"ad", b"event") for d in (0, 1) for c in (1, 2)}
    assert len(outs) == 4
