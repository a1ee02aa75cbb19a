"""The TrustZone key hierarchy (HUK -> K_vendor -> K_m) and challenge-MAC attestation.

Known answers are recomputed here with a from-scratch RFC 5869 HKDF over the standard library's
HMAC, so they do not depend on the code under test; the hex values pin the byte strings.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest

from authex.attestation.trustzone import (
    attestation_mac,
    check_attestation,
    generate_huk,
    module_key,
    vendor_key,
)
from authex.errors import AttestationError

HUK = bytes(range(16))
VENDOR_ID = 0x1234
TA_HASH = bytes(range(0x20, 0x40))
CHALLENGE = bytes(range(0x40, 0x60))

K_VENDOR_HEX = "f8fef6fa22b81f8ee31a56de7e01e51d"
K_M_HEX = "7ca7ba76f84a01bebb3faa8cebf1495e"
MAC_HEX = "d28048a07441656c42582da9bfcaea1d"


def _rfc5869_hkdf_sha256_16(ikm: bytes, info: bytes) -> bytes:
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()  # extract, salt absent
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:16]  # expand, one block


def test_vendor_key_known_answer() -> None:
    info = b"authex trustzone vendor key v1" + b"\x34\x12\x00\x00"
    assert info == b"authex trustzone vendor key v1" + struct.pack("<I", VENDOR_ID)
    expected = _rfc5869_hkdf_sha256_16(HUK, info)
    assert vendor_key(HUK, VENDOR_ID) == expected
    assert expected.hex() == K_VENDOR_HEX


def test_module_key_known_answer() -> None:
    k_vendor = bytes.fromhex(K_VENDOR_HEX)
    expected = _rfc5869_hkdf_sha256_16(k_vendor, b"authex trustzone module key v1" + TA_HASH)
    assert module_key(k_vendor, TA_HASH) == expected
    assert expected.hex() == K_M_HEX


def test_attestation_mac_known_answer() -> None:
    k_m = bytes.fromhex(K_M_HEX)
    expected = hmac.new(k_m, b"authex-tz-attest-v1" + CHALLENGE, hashlib.sha256).digest()[:16]
    assert attestation_mac(k_m, CHALLENGE) == expected
    assert expected.hex() == MAC_HEX


def test_derivation_is_deterministic() -> None:
    assert vendor_key(HUK, VENDOR_ID) == vendor_key(bytes.fromhex(HUK.hex()), VENDOR_ID)
    k_vendor = vendor_key(HUK, VENDOR_ID)
    assert module_key(k_vendor, TA_HASH) == module_key(k_vendor, TA_HASH)
    assert len(k_vendor) == 16 and len(module_key(k_vendor, TA_HASH)) == 16


def test_vendor_keys_are_separated() -> None:
    keys = {
        vendor_key(HUK, 0),
        vendor_key(HUK, 1),
        vendor_key(HUK, VENDOR_ID),
        vendor_key(HUK, 0x34120000),
        vendor_key(HUK, 0xFFFFFFFF),
        vendor_key(bytes(16), VENDOR_ID),
        vendor_key(HUK[:-1] + b"\xff", VENDOR_ID),
    }
    assert len(keys) == 7


def test_module_keys_are_separated() -> None:
    k_vendor = vendor_key(HUK, VENDOR_ID)
    other_ta = TA_HASH[:-1] + b"\x00"
    keys = {
        module_key(k_vendor, TA_HASH),
        module_key(k_vendor, other_ta),
        module_key(vendor_key(HUK, VENDOR_ID + 1), TA_HASH),
        module_key(vendor_key(bytes(16), VENDOR_ID), TA_HASH),
    }
    assert len(keys) == 4
    # The module key is not the vendor key, nor a key of the vendor level for the same bytes.
    assert module_key(k_vendor, TA_HASH) != k_vendor


def test_generate_huk() -> None:
    first, second = generate_huk(), generate_huk()
    assert len(first) == 16 and first != second


@pytest.mark.parametrize("huk", [b"", bytes(15), bytes(17), bytes(32)])
def test_huk_must_be_16_bytes(huk: bytes) -> None:
    with pytest.raises(ValueError, match="HUK must be 16 bytes"):
        vendor_key(huk, VENDOR_ID)


@pytest.mark.parametrize("vendor_id", [-1, 1 << 32])
def test_vendor_id_must_fit_32_bits(vendor_id: int) -> None:
    with pytest.raises(ValueError, match="vendor_id"):
        vendor_key(HUK, vendor_id)


def test_module_key_input_lengths() -> None:
    with pytest.raises(ValueError, match="K_vendor must be 16 bytes"):
        module_key(bytes(32), TA_HASH)
    with pytest.raises(ValueError, match="TA hash must be 32 bytes"):
        module_key(bytes(16), TA_HASH[:16])


def test_attestation_good() -> None:
    k_m = module_key(vendor_key(HUK, VENDOR_ID), TA_HASH)
    check_attestation(k_m, CHALLENGE, attestation_mac(k_m, CHALLENGE))


@pytest.mark.parametrize("length", [16, 17, 64])
def test_attestation_challenge_bounds_accepted(length: int) -> None:
    k_m = bytes(16)
    challenge = b"\xa5" * length
    check_attestation(k_m, challenge, attestation_mac(k_m, challenge))


def test_attestation_bad_mac() -> None:
    k_m = bytes.fromhex(K_M_HEX)
    good = attestation_mac(k_m, CHALLENGE)
    for response in (
        bytes([good[0] ^ 1]) + good[1:],
        good[:-1] + bytes([good[-1] ^ 0x80]),
        good[:15],
        good + b"\x00",
        b"",
        hmac.new(k_m, b"authex-tz-attest-v1" + CHALLENGE, hashlib.sha256).digest(),  # untruncated
    ):
        with pytest.raises(AttestationError, match="TrustZone attestation MAC does not verify"):
            check_attestation(k_m, CHALLENGE, response)


def test_attestation_wrong_key_or_challenge() -> None:
    k_m = bytes.fromhex(K_M_HEX)
    response = attestation_mac(k_m, CHALLENGE)
    other_module = module_key(vendor_key(HUK, VENDOR_ID), TA_HASH[:-1] + b"\x00")
    with pytest.raises(AttestationError, match="does not verify"):
        check_attestation(other_module, CHALLENGE, response)
    with pytest.raises(AttestationError, match="does not verify"):
        check_attestation(k_m, CHALLENGE[::-1], response)


def test_mac_is_not_bare_hmac_of_challenge() -> None:
    k_m = bytes.fromhex(K_M_HEX)
    bare = hmac.new(k_m, CHALLENGE, hashlib.sha256).digest()[:16]
    with pytest.raises(AttestationError):
        check_attestation(k_m, CHALLENGE, bare)


@pytest.mark.parametrize("length", [0, 8, 15, 65, 128])
def test_attestation_challenge_wrong_length(length: int) -> None:
    k_m = bytes(16)
    with pytest.raises(AttestationError, match=f"challenge is {length} bytes"):
        attestation_mac(k_m, b"\x00" * length)
    with pytest.raises(AttestationError, match=f"challenge is {length} bytes"):
        check_attestation(k_m, b"\x00" * length, bytes(16))


def test_attestation_key_length() -> None:
    with pytest.raises(ValueError, match="K_m must be 16 bytes"):
        attestation_mac(bytes(32), CHALLENGE)


def test_errors_never_show_key_bytes() -> None:
    k_m = bytes.fromhex(K_M_HEX)
    with pytest.raises(AttestationError) as info:
        check_attestation(k_m, CHALLENGE, bytes(16))
    assert K_M_HEX not in str(info.value) and MAC_HEX not in str(info.value)
