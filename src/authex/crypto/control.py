"""Recipes for what the deployer sends a module under its module key K_m.

Every message carries a control counter (one per module, starting at 1, strictly increasing) in
its nonce block (direction 2 from the deployer, 3 for the module's answers) and a type-tagged AD:

- set-key: AD = "set-key" || conn_id u32 || io_id u16 || role u8 || suite u8 || counter u64;
  plaintext = the 16-byte connection key.
- swap-key: AD = "swap-key" || conn_id u32 || replaces u32 || io_id u16 || role u8 || suite u8 ||
  counter u64; plaintext = the 16-byte key of ``conn_id``, or empty when conn_id is 0 (the
  module only forgets ``replaces``).
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


def swap_key_ad(
    conn_id: int, replaces: int, io_id: int, role: int, suite: int, counter: int
) -> bytes:
    fields = struct.pack(">IIHBBQ", conn_id, replaces, io_id, role, suite, _checked(counter))
    return b"swap-key" + fields


def _key_ad(
    conn_id: int, io_id: int, role: int, suite: int, counter: int, replaces: int | None
) -> bytes:
    if replaces is None:
        return set_key_ad(conn_id, io_id, role, suite, counter)
    return swap_key_ad(conn_id, replaces, io_id, role, suite, counter)


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
    replaces: int | None = None,
) -> bytes:
    """The connection key sealed for a set-key, or (``replaces`` given) for a swap-key."""
    ad = _key_ad(conn_id, io_id, role, suite, counter, replaces)
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
    replaces: int | None = None,
) -> Secret:
    ad = _key_ad(conn_id, io_id, role, suite, counter, replaces)
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
