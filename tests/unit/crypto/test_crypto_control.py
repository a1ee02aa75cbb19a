"""Set-key wrap and authenticated call/result under the module key (authex.crypto.control)."""

from __future__ import annotations

from typing import Any

import pytest

from authex.crypto import control
from authex.crypto.secret import Secret
from authex.crypto.suites import AesGcm128, SuiteId
from authex.errors import CryptoError

AEAD = AesGcm128()
MODULE_KEY = Secret(bytes(range(16)))
CONN_KEY = Secret(bytes(range(16, 32)))
FIELDS: dict[str, int] = {
    "conn_id": 12,
    "io_id": 0x2001,
    "role": int(control.Role.SENDER),
    "suite": int(SuiteId.AES_GCM_128),
    "counter": 7,
}


def wrapped() -> bytes:
    return control.wrap_key(AEAD, MODULE_KEY, CONN_KEY, **FIELDS)


def test_ad_layouts() -> None:
    assert control.set_key_ad(1, 2, 1, 3, 4) == b"set-key" + bytes.fromhex(
        "00000001000201030000000000000004"
    )
    assert control.call_ad(0x3001, 9) == b"call" + bytes.fromhex("30010000000000000009")
    assert control.result_ad(0x3001, 9, 4) == b"call-result" + bytes.fromhex(
        "3001000000000000000904"
    )


def test_roles() -> None:
    assert (control.Role.SENDER, control.Role.RECEIVER) == (0, 1)


def test_set_key_round_trip() -> None:
    sealed = wrapped()
    assert len(sealed) == 32
    assert control.unwrap_key(AEAD, MODULE_KEY, sealed, **FIELDS) == CONN_KEY


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("counter", 8),
        ("counter", 6),
        ("conn_id", 13),
        ("role", int(control.Role.RECEIVER)),
        ("suite", int(SuiteId.SPONGEWRAP_128)),
        ("io_id", 0x2002),
    ],
)
def test_set_key_unwrap_with_wrong_field_fails(field: str, value: int) -> None:
    altered: dict[str, Any] = {**FIELDS, field: value}
    with pytest.raises(CryptoError):
        control.unwrap_key(AEAD, MODULE_KEY, wrapped(), **altered)


def test_set_key_unwrap_with_wrong_module_key_fails() -> None:
    with pytest.raises(CryptoError):
        control.unwrap_key(AEAD, Secret(bytes(16)), wrapped(), **FIELDS)


def test_set_key_tampered_fails() -> None:
    sealed = bytearray(wrapped())
    sealed[0] ^= 0x80
    with pytest.raises(CryptoError):
        control.unwrap_key(AEAD, MODULE_KEY, bytes(sealed), **FIELDS)


def test_auth_call_round_trip() -> None:
    sealed = control.seal_call(AEAD, MODULE_KEY, 0x3001, 3, b"arg")
    assert control.open_call(AEAD, MODULE_KEY, 0x3001, 3, sealed) == b"arg"


def test_auth_call_with_wrong_key_fails() -> None:
    sealed = control.seal_call(AEAD, MODULE_KEY, 0x3001, 3, b"arg")
    with pytest.raises(CryptoError):
        control.open_call(AEAD, Secret(bytes(range(1, 17))), 0x3001, 3, sealed)


@pytest.mark.parametrize(("entry_id", "counter"), [(0x3002, 3), (0x3001, 4)])
def test_auth_call_bound_to_entry_and_counter(entry_id: int, counter: int) -> None:
    sealed = control.seal_call(AEAD, MODULE_KEY, 0x3001, 3, b"arg")
    with pytest.raises(CryptoError):
        control.open_call(AEAD, MODULE_KEY, entry_id, counter, sealed)


def test_set_key_cannot_be_replayed_as_call() -> None:
    with pytest.raises(CryptoError):
        control.open_call(AEAD, MODULE_KEY, 0x2001, FIELDS["counter"], wrapped())


def test_result_bound_to_status_and_direction() -> None:
    sealed = control.seal_result(AEAD, MODULE_KEY, 0x3001, 3, 0, b"done")
    assert control.open_result(AEAD, MODULE_KEY, 0x3001, 3, 0, sealed) == b"done"
    with pytest.raises(CryptoError):
        control.open_result(AEAD, MODULE_KEY, 0x3001, 3, 4, sealed)
    with pytest.raises(CryptoError):
        control.open_result(AEAD, Secret(bytes(16)), 0x3001, 3, 0, sealed)
    # direction 3 (from module) differs from direction 2 (to module)
    assert sealed != control.seal_call(AEAD, MODULE_KEY, 0x3001, 3, b"done")


@pytest.mark.parametrize("counter", [0, (1 << 64) - 1])
def test_control_counter_out_of_range_refused(counter: int) -> None:
    with pytest.raises(CryptoError):
        control.seal_result(AEAD, MODULE_KEY, 0x3001, counter, 0, b"")
    with pytest.raises(CryptoError):
        control.seal_call(AEAD, MODULE_KEY, 0x3001, counter, b"")
    with pytest.raises(CryptoError):
        control.wrap_key(AEAD, MODULE_KEY, CONN_KEY, **{**FIELDS, "counter": counter})
