"""The native backend's operator-signed X25519 exchange (authex.crypto.native_exchange)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.crypto.native_exchange import (
    CHALLENGE_SIZE,
    EVIDENCE_SIZE,
    NONCE_SIZE,
    DeployerExchange,
    module_respond,
)
from authex.crypto.secret import Secret
from authex.errors import AttestationError

OPERATOR = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OPERATOR_PUBLIC = OPERATOR.public_key().public_bytes_raw()
NAME = "sensor"


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_sizes() -> None:
    assert (NONCE_SIZE, CHALLENGE_SIZE, EVIDENCE_SIZE) == (16, 112, 48)


def test_success() -> None:
    exchange = DeployerExchange.start(NAME, OPERATOR)
    assert len(exchange.challenge) == CHALLENGE_SIZE
    assert exchange.challenge[:NONCE_SIZE] == exchange.nonce
    evidence, module_key = module_respond(NAME, OPERATOR_PUBLIC, exchange.challenge)
    assert len(evidence) == EVIDENCE_SIZE
    deployer_key = exchange.finish(evidence)
    assert isinstance(deployer_key, Secret) and len(deployer_key) == 16
    assert deployer_key == module_key


def test_each_exchange_is_fresh() -> None:
    first = DeployerExchange.start(NAME, OPERATOR)
    second = DeployerExchange.start(NAME, OPERATOR)
    assert first.nonce != second.nonce
    assert first.challenge[16:48] != second.challenge[16:48]
    _, key_a = module_respond(NAME, OPERATOR_PUBLIC, first.challenge)
    _, key_b = module_respond(NAME, OPERATOR_PUBLIC, first.challenge)
    assert key_a != key_b  # the module draws a fresh ephemeral every time


def test_given_nonce_is_used() -> None:
    nonce = bytes(range(16))
    assert DeployerExchange.start(NAME, OPERATOR, nonce).challenge[:16] == nonce


def test_challenge_signed_by_other_operator_rejected() -> None:
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    exchange = DeployerExchange.start(NAME, other)
    with pytest.raises(AttestationError, match="not signed by this module's operator"):
        module_respond(NAME, OPERATOR_PUBLIC, exchange.challenge)


def test_challenge_for_another_module_rejected() -> None:
    exchange = DeployerExchange.start("actuator", OPERATOR)
    with pytest.raises(AttestationError):
        module_respond(NAME, OPERATOR_PUBLIC, exchange.challenge)


@pytest.mark.parametrize("index", [0, 15, 16, 47, 48, 111])
def test_tampered_challenge_rejected(index: int) -> None:
    exchange = DeployerExchange.start(NAME, OPERATOR)
    with pytest.raises(AttestationError):
        module_respond(NAME, OPERATOR_PUBLIC, flip(exchange.challenge, index))


@pytest.mark.parametrize("index", [32, 40, 47])
def test_tampered_evidence_tag_rejected(index: int) -> None:
    exchange = DeployerExchange.start(NAME, OPERATOR)
    evidence, _ = module_respond(NAME, OPERATOR_PUBLIC, exchange.challenge)
    with pytest.raises(AttestationError, match="key confirmation failed") as info:
        exchange.finish(flip(evidence, index))
    assert info.value.where == f"module {NAME}"


def test_tampered_evidence_public_key_rejected() -> None:
    exchange = DeployerExchange.start(NAME, OPERATOR)
    evidence, _ = module_respond(NAME, OPERATOR_PUBLIC, exchange.challenge)
    with pytest.raises(AttestationError):
        exchange.finish(flip(evidence, 5))


def test_evidence_from_another_exchange_rejected() -> None:
    first = DeployerExchange.start(NAME, OPERATOR)
    second = DeployerExchange.start(NAME, OPERATOR)
    evidence, _ = module_respond(NAME, OPERATOR_PUBLIC, first.challenge)
    with pytest.raises(AttestationError):
        second.finish(evidence)


@pytest.mark.parametrize("size", [0, 1, CHALLENGE_SIZE - 1, CHALLENGE_SIZE + 1])
def test_wrong_length_challenge_rejected(size: int) -> None:
    exchange = DeployerExchange.start(NAME, OPERATOR)
    challenge = (exchange.challenge + b"\x00")[:size]
    with pytest.raises(AttestationError, match=f"challenge is {size} bytes, expected 112"):
        module_respond(NAME, OPERATOR_PUBLIC, challenge)


@pytest.mark.parametrize("size", [0, 32, EVIDENCE_SIZE - 1, EVIDENCE_SIZE + 1])
def test_wrong_length_evidence_rejected(size: int) -> None:
    exchange = DeployerExchange.start(NAME, OPERATOR)
    evidence, _ = module_respond(NAME, OPERATOR_PUBLIC, exchange.challenge)
    with pytest.raises(AttestationError, match=f"evidence is {size} bytes, expected 48"):
        exchange.finish((evidence + b"\x00")[:size])


LOW_ORDER = pytest.mark.parametrize(
    "low_order", [bytes(32), b"\x01" + bytes(31)], ids=["u=0", "u=1"]
)


@LOW_ORDER
def test_low_order_module_public_key_rejected(low_order: bytes) -> None:
    """An agent-supplied low-order point would give an all-zero shared secret."""
    exchange = DeployerExchange.start(NAME, OPERATOR)
    with pytest.raises(AttestationError):
        exchange.finish(low_order + bytes(16))


@LOW_ORDER
def test_low_order_deployer_public_key_rejected(low_order: bytes) -> None:
    nonce = bytes(16)
    signed = b"authex-native-attest-v1" + len(NAME).to_bytes(2, "big") + NAME.encode()
    signature = OPERATOR.sign(signed + nonce + low_order)
    with pytest.raises(AttestationError):
        module_respond(NAME, OPERATOR_PUBLIC, nonce + low_order + signature)
