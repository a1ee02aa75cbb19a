"""The native "platform": no secrets, no checks beyond measuring the artifact."""

from __future__ import annotations

import hashlib
from typing import Any

from authex.tee.platform_base import Admission, no_quotes


class NativePlatform:
    def __init__(self, secrets: dict[str, Any]) -> None:
        self.tee = "native"
        self.emulated = False
        self.description = "native processes, no TEE protection"

    @staticmethod
    def create_secrets(node: str, ta_vendor_public_pem: str = "") -> dict[str, Any]:
        return {}

    def admit(self, name: str, artifact: bytes) -> Admission:
        return Admission(hashlib.sha256(artifact).digest(), artifact)

    def quote(self, admission: Admission, report_data: bytes) -> bytes:
        raise no_quotes(self.tee)

    def enrolment(self, vendor_ids: list[int]) -> dict[str, Any]:
        return {"tee": "native", "emulated": False}
