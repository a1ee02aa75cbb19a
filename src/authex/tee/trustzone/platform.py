"""Emulated OP-TEE platform: verifies the TA's signed header against the enrolled TA vendor key,
then derives K_vendor = KDF(HUK, vendor_id) and K_m = KDF(K_vendor, TA hash) as a key-derivation
PTA would, handing K_m only to the TA process."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authex.attestation.trustzone import module_key, vendor_key, verify_ta
from authex.errors import BackendError
from authex.tee.images import parse_ta_payload
from authex.tee.platform_base import Admission, no_quotes


class TrustZonePlatform:
    def __init__(self, secrets: dict[str, Any]) -> None:
        self.tee = "trustzone"
        self.emulated = True
        self.description = "emulated OP-TEE (signed TAs, HUK key derivation, no isolation)"
        self._huk = bytes.fromhex(secrets["huk"])
        public = serialization.load_pem_public_key(secrets["ta_vendor_public"].encode())
        if not isinstance(public, rsa.RSAPublicKey):
            raise BackendError("the enrolled TA vendor key is not an RSA key")
        self._vendor_public = public

    @staticmethod
    def create_secrets(node: str, ta_vendor_public_pem: str) -> dict[str, Any]:
        return {"huk": os.urandom(16).hex(), "ta_vendor_public": ta_vendor_public_pem}

    def admit(self, name: str, artifact: bytes) -> Admission:
        header, payload = verify_ta(artifact, self._vendor_public)
        vendor_id, inner = parse_ta_payload(payload)
        k_vendor = vendor_key(self._huk, vendor_id)
        return Admission(header.hash, inner, module_key(k_vendor, header.hash))

    def quote(self, admission: Admission, report_data: bytes) -> bytes:
        raise no_quotes(self.tee)

    def enrolment(self, vendor_ids: list[int]) -> dict[str, Any]:
        keys = {str(v): vendor_key(self._huk, v).hex() for v in vendor_ids}
        return {"tee": "trustzone", "emulated": True, "vendor_keys": keys}
