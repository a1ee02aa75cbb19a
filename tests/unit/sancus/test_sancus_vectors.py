"""Every value of spec/vectors/sancus/spongewrap.json, reproduced; tampering is rejected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authex.crypto.sancus_keys import (
    attestation_response,
    module_identity,
    module_key,
    vendor_key,
)
from authex.crypto.spongewrap import (
    sancus_mac,
    security_bits,
    spongewrap_unwrap,
    spongewrap_wrap,
)
from authex.errors import CryptoError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[3] / "spec/vectors/sancus/spongewrap.json").read_text()
)
LEVELS = ["security_128", "security_64"]
AD_6164 = bytes.fromhex("6164")


def _wraps(level: str) -> list[tuple[str, dict[str, str]]]:
    return [(k, v) for k, v in VECTORS[level].items() if k.startswith("wrap_")]


def _identity(section: dict[str, Any]) -> bytes:
    layout = section["layout"]
    return module_identity(
        bytes.fromhex(section["module_text"]),
        layout["public_start"],
        layout["public_end"],
        layout["secret_start"],
        layout["secret_end"],
    )


def test_both_levels_and_their_wraps_are_present() -> None:
    assert set(LEVELS) <= set(VECTORS)
    assert all(_wraps(level) for level in LEVELS)


@pytest.mark.parametrize("level", LEVELS)
def test_vendor_key(level: str) -> None:
    section = VECTORS[level]
    node_key = bytes.fromhex(section["node_key"])
    assert security_bits(node_key) == int(level.removeprefix("security_"))
    assert vendor_key(node_key, section["vendor_id"]).hex() == section["vendor_key"]
    # the vendor id goes in little-endian: 0x1234 -> 34 12
    assert sancus_mac(node_key, bytes.fromhex("3412")).hex() == section["vendor_key"]


@pytest.mark.parametrize("level", LEVELS)
def test_mac_under_zero_key_of_empty_message(level: str) -> None:
    section = VECTORS[level]
    key = bytes(len(bytes.fromhex(section["node_key"])))
    assert sancus_mac(key, b"").hex() == section["mac_zero_key_empty"]
    assert spongewrap_wrap(key, b"", b"") == (b"", bytes.fromhex(section["mac_zero_key_empty"]))


def test_identity_layout_is_text_then_four_le16_addresses() -> None:
    section = VECTORS["security_128"]
    identity = _identity(section)
    text = bytes.fromhex(section["module_text"])
    assert identity == text + bytes.fromhex("0050205000042004")


def test_module_key_and_mac_under_it() -> None:
    section = VECTORS["security_128"]
    k_vendor = vendor_key(bytes.fromhex(section["node_key"]), section["vendor_id"])
    k_module = module_key(k_vendor, _identity(section))
    assert k_module.hex() == section["module_key"]
    assert sancus_mac(k_module, AD_6164).hex() == section["mac_module_key_ad_6164"]
    assert attestation_response(k_module, AD_6164).hex() == section["mac_module_key_ad_6164"]


@pytest.mark.parametrize(
    ("level", "name", "case"), [(lvl, n, c) for lvl in LEVELS for n, c in _wraps(lvl)]
)
def test_wrap_and_unwrap(level: str, name: str, case: dict[str, str]) -> None:
    key = bytes(len(bytes.fromhex(VECTORS[level]["node_key"])))
    assert "ad_6164" in name
    body, cipher, tag = (bytes.fromhex(case[k]) for k in ("body", "cipher", "tag"))
    assert spongewrap_wrap(key, AD_6164, body) == (cipher, tag)
    assert spongewrap_unwrap(key, AD_6164, cipher, tag) == body


@pytest.mark.parametrize(("level", "case"), [(lvl, c) for lvl in LEVELS for _, c in _wraps(lvl)])
def test_unwrap_rejects_any_flipped_bit(level: str, case: dict[str, str]) -> None:
    key = bytes(len(bytes.fromhex(VECTORS[level]["node_key"])))
    cipher, tag = bytes.fromhex(case["cipher"]), bytes.fromhex(case["tag"])
    for i in (0, len(tag) - 1):
        bad = bytearray(tag)
        bad[i] ^= 0x01
        with pytest.raises(CryptoError):
            spongewrap_unwrap(key, AD_6164, cipher, bytes(bad))
    for i in (0, len(cipher) - 1):
        bad = bytearray(cipher)
        bad[i] ^= 0x80
        with pytest.raises(CryptoError):
            spongewrap_unwrap(key, AD_6164, bytes(bad), tag)
    with pytest.raises(CryptoError):
        spongewrap_unwrap(key, b"ae", cipher, tag)
    with pytest.raises(CryptoError):
        spongewrap_unwrap(key, AD_6164, cipher, tag[:-1])


def test_tag_length_follows_key_length() -> None:
    assert len(sancus_mac(bytes(16), b"x")) == 16
    assert len(sancus_mac(bytes(8), b"x")) == 8


@pytest.mark.parametrize("size", [0, 7, 12, 15, 32])
def test_unusable_key_sizes_are_refused(size: int) -> None:
    with pytest.raises(CryptoError):
        spongewrap_wrap(bytes(size), b"", b"")


@pytest.mark.parametrize("value", [-1, 0x10000])
def test_vendor_id_and_addresses_must_fit_16_bits(value: int) -> None:
    with pytest.raises(ValueError, match="16 bits"):
        vendor_key(bytes(16), value)
    with pytest.raises(ValueError, match="secret_end"):
        module_identity(b"", 0, 0, 0, value)


def test_round_trip_various_lengths_both_levels() -> None:
    for key in (bytes(range(16)), bytes(range(8))):
        for size in (0, 1, 2, 3, 16, 33):
            body = bytes(range(100, 100 + size))
            cipher, tag = spongewrap_wrap(key, b"ad", body)
            assert len(cipher) == size
            assert spongewrap_unwrap(key, b"ad", cipher, tag) == body
