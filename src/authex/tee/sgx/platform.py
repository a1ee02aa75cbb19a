"""Emulated SGX platform: measures enclave images (MRENCLAVE, MRSIGNER) and quotes reports with
an attestation key certified by the node's simulation CA, in the real quote v3 format."""

from __future__ import annotations

from typing import Any

from authex.attestation.sgx.simulation import SimulationCA
from authex.errors import BackendError
from authex.tee.images import mr_enclave, mr_signer, parse_sgx_image
from authex.tee.platform_base import Admission


class SgxPlatform:
    def __init__(self, secrets: dict[str, Any]) -> None:
        self.tee = "sgx"
        self.emulated = True
        self.description = "emulated SGX (DCAP quote v3 from a simulation CA, no isolation)"
        self._ca = SimulationCA.from_secrets(secrets)

    @staticmethod
    def create_secrets(node: str, ta_vendor_public_pem: str = "") -> dict[str, Any]:
        return SimulationCA.create(node).to_secrets()

    def admit(self, name: str, artifact: bytes) -> Admission:
        attributes, payload = parse_sgx_image(artifact)
        return Admission(
            measurement=mr_enclave(artifact),
            payload=payload,
            mr_signer=mr_signer(attributes.signer),
            isv_prod_id=attributes.isv_prod_id,
            isv_svn=attributes.isv_svn,
            debug=attributes.debug,
        )

    def quote(self, admission: Admission, report_data: bytes) -> bytes:
        if len(report_data) != 64:
            raise BackendError(f"report_data must be 64 bytes, not {len(report_data)}")
        return self._ca.make_quote(
            mr_enclave=admission.measurement,
            mr_signer=admission.mr_signer,
            isv_prod_id=admission.isv_prod_id,
            isv_svn=admission.isv_svn,
            debug=admission.debug,
            report_data=report_data,
        )

    def enrolment(self, vendor_ids: list[int]) -> dict[str, Any]:
        return {"tee": "sgx", "emulated": True, "root_ca": self._ca.root_pem}
