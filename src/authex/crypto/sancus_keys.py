"""The Sancus key hierarchy: node key -> vendor key -> module key, and attestation responses.

``MAC`` is Sancus's SpongeWrap tag with AD = message and an empty body (crypto.spongewrap); the
security level follows the key length (16 bytes: 128-bit, 8 bytes: 64-bit).

- ``K_vendor = MAC(K_node, LE16(vendor_id))``
- ``identity = text || LE16(public_start) || LE16(public_end) || LE16(secret_start) ||
  LE16(secret_end)``
- ``K_m = MAC(K_vendor, identity)``
- attestation response ``= MAC(K_m, challenge)``
"""

from __future__ import annotations

import struct

from authex.crypto.spongewrap import sancus_mac

_LAYOUT = struct.Struct("<HHHH")


def _u16(name: str, value: int) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} must fit in 16 bits, got {value:#x}")
    return value


def vendor_key(node_key: bytes, vendor_id: int) -> bytes:
    """K_vendor = MAC(K_node, LE16(vendor_id))."""
    return sancus_mac(node_key, struct.pack("<H", _u16("vendor_id", vendor_id)))


def module_identity(
    text: bytes, public_start: int, public_end: int, secret_start: int, secret_end: int
) -> bytes:
    """text || LE16(public_start) || LE16(public_end) || LE16(secret_start) || LE16(secret_end)."""
    layout = _LAYOUT.pack(
        _u16("public_start", public_start),
        _u16("public_end", public_end),
        _u16("secret_start", secret_start),
        _u16("secret_end", secret_end),
    )
    return bytes(text) + layout


def module_key(vendor_key: bytes, identity: bytes) -> bytes:
    """K_m = MAC(K_vendor, identity)."""
    return sancus_mac(vendor_key, identity)


def attestation_response(module_key: bytes, challenge: bytes) -> bytes:
    """MAC(K_m, challenge): what a Sancus module answers to an attestation challenge."""
    return sancus_mac(module_key, challenge)
