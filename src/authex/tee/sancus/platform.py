"""Emulated Sancus platform: holds K_node and derives keys exactly as the hardware does.

K_vendor = MAC(K_node, LE16(vendor_id)); K_m = MAC(K_vendor, text || LE16 layout), computed when
the module is "protected" (admitted), and handed only to the module process.
"""

from __future__ import annotations

import os
from typing import Any

from authex.crypto.sancus_keys import module_key, vendor_key
from authex.tee.images import parse_sancus_image
from authex.tee.platform_base import Admission, no_quotes


class SancusPlatform:
    def __init__(self, secrets: dict[str, Any]) -> None:
        self.tee = "sancus"
        self.emulated = True
        self.description = "emulated Sancus (SpongeWrap-128 key hierarchy, no isolation)"
        self._node_key = bytes.fromhex(secrets["node_key"])

    @staticmethod
    def create_secrets(node: str, ta_vendor_public_pem: str = "") -> dict[str, Any]:
        return {"node_key": os.urandom(16).hex()}

    def admit(self, name: str, artifact: bytes) -> Admission:
        image = parse_sancus_image(artifact)
        k_vendor = vendor_key(self._node_key, image.vendor_id)
        return Admission(image.measurement, image.text, module_key(k_vendor, image.identity))

    def quote(self, admission: Admission, report_data: bytes) -> bytes:
        raise no_quotes(self.tee)

    def enrolment(self, vendor_ids: list[int]) -> dict[str, Any]:
        keys = {str(v): vendor_key(self._node_key, v).hex() for v in vendor_ids}
        return {"tee": "sancus", "emulated": True, "vendor_keys": keys}
