"""Recipes for what the deployer sends a module under its module key K_m.

Every message carries a control counter (one per module, starting at 1, strictly increasing) in
its nonce block (direction 2 from the deployer, 3 for the module's answers) and a type-tagged AD:

- set-key: AD = "set-key" || conn_id u32 || io_id u16 || role u8 || suite u8 || counter u64;
  plaintext = the 16-byte connection key.
- call:    AD = "call" || entry_id u16 || counter u64; plaintext = the argument.
- result:  AD = "call-result" || entry_id u16 || counter u64 || status u8 (direction 3).
"""

from __future__ import annotations

import struct
from enum import IntEnum

from authex.crypto.channel import MAX_COUNTER
from authex.crypto.secret import Secret
from authex.crypto.suites import Aead
from authex.errors import CryptoError

TO_MODULE = 2
FROM_MODULE = 3


class Role(IntEnum):
    """Which end of a connection a set-key configures."""

    SENDER = 0  # output or request side
    RECEIVER = 1  # input or handler side


def _checked(counter: int) -> int:
    """Control counters run 1 .. 2^64-2; nonce block (3, 0) belongs to the native confirmation."""
    if not 1 <= counter < MAX_COUNTER:
        raise CryptoError(f"control counter {counter} out of range: re-key the module")
    return counter


def set_key_ad(conn_id: int, io_id: int, role: int, suite: int, counter: int) -> bytes:
    return b"set-key" + struct.pack(">IHBBQ", conn_id, io_id, role, suite, _checked(counter))


def call_ad(entry_id: int, counter: int) -> bytes:
    return b"call" + struct.pack(">HQ", entry_id, _checked(counter))


def result_ad(entry_id: int, counter: int, status: int) -> bytes:
    return b"call-result" + struct.pack(">HQB", entry_id, _checked(counter), status)


def wrap_key(
    aead: Aead,
    module_key: Secret,
    conn_key: Secret,
    *,
    conn_id: int,
    io_id: int,
    role: int,
    suite: int,
    counter: int,
) -> bytes:
    ad = set_key_ad(conn_id, io_id, role, suite, counter)
    return aead.seal(module_key.reveal(), TO_MODULE, counter, ad, conn_key.reveal())


def unwrap_key(
    aead: Aead,
    module_key: Secret,
    wrapped: bytes,
    *,
    conn_id: int,
    io_id: int,
    role: int,
    suite: int,
    counter: int,
) -> Secret:
    ad = set_key_ad(conn_id, io_id, role, suite, counter)
    return Secret(aead.open(module_key.reveal(), TO_MODULE, counter, ad, wrapped))


def seal_call(aead: Aead, module_key: Secret, entry_id: int, counter: int, arg: bytes) -> bytes:
    return aead.seal(module_key.reveal(), TO_MODULE, counter, call_ad(entry_id, counter), arg)


def open_call(aead: Aead, module_key: Secret, entry_id: int, counter: int, sealed: bytes) -> bytes:
    return aead.open(module_key.reveal(), TO_MODULE, counter, call_ad(entry_id, counter), sealed)


def seal_result(
    aead: Aead, module_key: Secret, entry_id: int, counter: int, status: int, result: bytes
) -> bytes:
    ad = result_ad(entry_id, counter, status)
    return aead.seal(module_key.reveal(), FROM_MODULE, counter, ad, result)


def open_result(
    aead: Aead, module_key: Secret, entry_id: int, counter: int, status: int, sealed: bytes
) -> bytes:
    ad = result_ad(entry_id, counter, status)
    return aead.open(module_key.reveal(), FROM_MODULE, counter, ad, sealed)
