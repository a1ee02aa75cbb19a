"""The spongewrap-128 suite: nonce block in the AD, pad2 to even lengths, cipher || tag."""

from __future__ import annotations

import pytest

from authex.crypto.spongewrap import (
    SpongeWrap128,
    pad2,
    spongewrap_wrap,
    suite_ad,
    unpad2,
)
from authex.crypto.suites import TAG_SIZE, Aead, SuiteId, nonce_block
from authex.errors import CryptoError

KEY = bytes(range(16))
AD = b"\x01\x00\x00\x00\x07\x00" + (5).to_bytes(8, "big")  # an event AD (14 bytes)


def suite() -> Aead:
    return SpongeWrap128()


def test_identity() -> None:
    s = suite()
    assert s.name == "spongewrap-128"
    assert s.suite_id is SuiteId.SPONGEWRAP_128


@pytest.mark.parametrize("size", [0, 1, 2, 3, 14, 15])
def test_round_trip_and_length(size: int) -> None:
    plaintext = bytes(range(200, 200 + size))
    sealed = suite().seal(KEY, 0, 5, AD, plaintext)
    assert len(sealed) == size + (1 if size % 2 else 2) + TAG_SIZE
    assert (len(sealed) - TAG_SIZE) % 2 == 0
    assert suite().open(KEY, 0, 5, AD, sealed) == plaintext


def test_construction_is_the_documented_one() -> None:
    sealed = suite().seal(KEY, 1, 9, b"abc", b"hello")
    ad_prime = nonce_block(1, 9) + b"abc\x80"
    assert suite_ad(1, 9, b"abc") == ad_prime
    cipher, tag = spongewrap_wrap(KEY, ad_prime, b"hello\x80")
    assert sealed == cipher + tag


def test_pad2() -> None:
    assert pad2(b"") == b"\x80\x00"
    assert pad2(b"a") == b"a\x80"
    assert pad2(b"ab") == b"ab\x80\x00"
    for data in (b"", b"a", b"ab", b"\x80", b"\x80\x00", b"x\x80\x00"):
        assert unpad2(pad2(data)) == data
    for bad in (b"", b"\x80", b"a\x00", b"ab\x80\x01", b"\x00\x00"):
        with pytest.raises(CryptoError):
            unpad2(bad)


def test_direction_and_counter_change_the_ciphertext() -> None:
    seen = {suite().seal(KEY, d, c, AD, b"same payload") for d in (0, 1) for c in (1, 2)}
    assert len(seen) == 4


def test_ad_is_padded_injectively() -> None:
    assert suite().seal(KEY, 0, 1, b"x", b"p") != suite().seal(KEY, 0, 1, b"x\x80", b"p")


def test_tampering_is_rejected() -> None:
    sealed = suite().seal(KEY, 0, 5, AD, b"payload!")
    for i in (0, len(sealed) - TAG_SIZE - 1, len(sealed) - 1):
        bad = bytearray(sealed)
        bad[i] ^= 0x04
        with pytest.raises(CryptoError):
            suite().open(KEY, 0, 5, AD, bytes(bad))
    for args in ((KEY, 1, 5, AD), (KEY, 0, 6, AD), (KEY, 0, 5, AD + b"!"), (bytes(16), 0, 5, AD)):
        with pytest.raises(CryptoError):
            suite().open(*args, sealed)


@pytest.mark.parametrize("size", [0, 15, 16, 17, 19])
def test_impossible_lengths_are_rejected(size: int) -> None:
    with pytest.raises(CryptoError):
        suite().open(KEY, 0, 1, b"", bytes(size))


def test_key_must_be_16_bytes() -> None:
    with pytest.raises(CryptoError):
        suite().seal(bytes(8), 0, 1, b"", b"")
    with pytest.raises(CryptoError):
        suite().open(bytes(8), 0, 1, b"", bytes(18))
