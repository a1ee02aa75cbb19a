"""Module-side attestation per TEE kind: answer a challenge, yield the control key.

An attester turns the deployer's challenge into (evidence, control key).  Which one a module uses
follows from what its platform said it is (ModuleIdentity); without a platform it is native.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from authex.attestation.trustzone import attestation_mac
from authex.crypto.digest import sha256
from authex.crypto.native_exchange import NONCE_SIZE, module_respond
from authex.crypto.secret import Secret
from authex.crypto.session import (
    MODULE_NONCE_SIZE,
    check_challenge,
    sancus_session_key,
    trustzone_session_key,
)
from authex.crypto.spongewrap import sancus_mac
from authex.errors import AttestationError

Attester = Callable[[bytes], tuple[bytes, Secret]]
Quoter = Callable[[bytes], bytes]

CONTROL_SUITES = {
    "native": "aes-gcm-128",
    "sgx": "aes-gcm-128",
    "trustzone": "aes-gcm-128",
    "sancus": "spongewrap-128",
}


def native_attester(name: str, operator_public: bytes) -> Attester:
    def attest(challenge: bytes) -> tuple[bytes, Secret]:
        return module_respond(name, operator_public, challenge)

    return attest


def sgx_attester(name: str, operator_public: bytes, quote: Quoter) -> Attester:
    """The native exchange, plus a quote whose report_data binds the module's X25519 key to
    the verifier's nonce: SHA-256(module public || nonce) || 32 zero bytes."""

    def attest(challenge: bytes) -> tuple[bytes, Secret]:
        evidence, key = module_respond(name, operator_public, challenge)
        module_public, nonce = evidence[:32], challenge[:NONCE_SIZE]
        report_data = sha256(module_public + nonce) + bytes(32)
        return evidence + quote(report_data), key

    return attest


def sancus_attester(module_key: bytes) -> Attester:
    def attest(challenge: bytes) -> tuple[bytes, Secret]:
        check_challenge(challenge, even=True)
        nonce = os.urandom(MODULE_NONCE_SIZE)
        evidence = sancus_mac(module_key, challenge) + nonce
        return evidence, sancus_session_key(module_key, challenge, nonce)

    return attest


def trustzone_attester(module_key: bytes) -> Attester:
    def attest(challenge: bytes) -> tuple[bytes, Secret]:
        check_challenge(challenge)
        nonce = os.urandom(MODULE_NONCE_SIZE)
        evidence = attestation_mac(module_key, challenge) + nonce
        return evidence, trustzone_session_key(module_key, challenge, nonce)

    return attest


def attester_for(
    tee: str, name: str, operator_public: bytes, module_key: bytes, quote: Quoter
) -> Attester:
    if tee == "native":
        return native_attester(name, operator_public)
    if tee == "sgx":
        return sgx_attester(name, operator_public, quote)
    if tee == "sancus":
        return sancus_attester(module_key)
    if tee == "trustzone":
        return trustzone_attester(module_key)
    raise AttestationError(f"no attester for TEE {tee!r}")
