"""Cipher suites: ids, the nonce block, and AES-GCM-128 against the GCM specification."""

from __future__ import annotations

import pytest

from authex.crypto import suites
from authex.crypto.suites import (
    SUITE_NAMES,
    TAG_SIZE,
    AesGcm128,
    SuiteId,
    available_suites,
    get_suite,
    nonce_block,
)
from authex.errors import CryptoError


def test_suite_ids_are_pinned() -> None:
    assert {name: int(ident) for name, ident in SUITE_NAMES.items()} == {
        "aes-gcm-128": 1,
        "ascon-aead128": 2,
        "spongewrap-128": 3,
    }
    assert suites.KEY_SIZE == TAG_SIZE == 16


def test_nonce_block_layout() -> None:
    block = nonce_block(1, 0x0102030405060708)
    assert block == bytes.fromhex("01000000010203040506070800000000")
    assert len(nonce_block(0, 0)) == 16
    assert nonce_block(3, (1 << 64) - 1)[4:12] == b"\xff" * 8


@pytest.mark.parametrize("selector", ["aes-gcm-128", 1, SuiteId.AES_GCM_128])
def test_get_suite(selector: str | int) -> None:
    suite = get_suite(selector)
    assert suite.name == "aes-gcm-128"
    assert suite.suite_id is SuiteId.AES_GCM_128


@pytest.mark.parametrize("selector", ["aes-gcm-256", 0, 99, "", "AES-GCM-128"])
def test_unsupported_suite(selector: str | int) -> None:
    with pytest.raises(CryptoError, match="unsupported cipher suite"):
        get_suite(selector)


def test_available_suites_lists_registered_only() -> None:
    assert "aes-gcm-128" in available_suites()
    assert set(available_suites()) <= set(SUITE_NAMES)


def test_register_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suites, "_SUITES", dict(suites._SUITES))

    class Fake(AesGcm128):
        def __init__(self) -> None:
            super().__init__()
            self.name = "ascon-aead128"
            self.suite_id = SuiteId.ASCON_AEAD128

    suites.register_suite(Fake())
    assert get_suite("ascon-aead128").suite_id is SuiteId.ASCON_AEAD128
    assert "ascon-aead128" in available_suites()


# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 1 and 2: the
# all-zero 96-bit IV is exactly the AES-GCM nonce of nonce_block(0, 0).
GCM_TC1_TAG = bytes.fromhex("58e2fccefa7e3061367f1d57a4e7455a")
GCM_TC2_CT = bytes.fromhex("0388dace60b6a392f328c2b971b2fe78")
GCM_TC2_TAG = bytes.fromhex("ab6e47d42cec13bdf53a67b21257bddf")


def test_gcm_specification_test_case_1() -> None:
    assert AesGcm128().seal(bytes(16), 0, 0, b"", b"") == GCM_TC1_TAG


def test_gcm_specification_test_case_2() -> None:
    suite = AesGcm128()
    assert suite.seal(bytes(16), 0, 0, b"", bytes(16)) == GCM_TC2_CT + GCM_TC2_TAG
    assert suite.open(bytes(16), 0, 0, b"", GCM_TC2_CT + GCM_TC2_TAG) == bytes(16)


def test_nonce_depends_on_direction_and_counter() -> None:
    suite, key = AesGcm128(), bytes(range(16))
    sealed = {suite.seal(key, d, c, b"ad", b"same") for d in (0, 1, 2, 3) for c in (1, 2)}
    assert len(sealed) == 8


def test_open_short_input() -> None:
    with pytest.raises(CryptoError, match="shorter than its tag"):
        AesGcm128().open(bytes(16), 0, 1, b"", b"\x00" * 15)


def test_open_wrong_key_or_ad_does_not_leak_key() -> None:
    key = bytes(range(16))
    sealed = AesGcm128().seal(key, 0, 1, b"ad", b"secret payload")
    for wrong_key, ad in ((bytes(16), b"ad"), (key, b"ax")):
        with pytest.raises(CryptoError) as info:
            AesGcm128().open(wrong_key, 0, 1, ad, sealed)
        assert str(info.value) == "authentication tag does not verify"
        assert key.hex() not in repr(info.value)
