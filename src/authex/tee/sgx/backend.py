"""Deployer side of the SGX backend: package an enclave image, run the operator-signed X25519
exchange, and accept the module's key only after its DCAP quote verifies: chain to the pinned
root, QE report, quote signature, report_data = SHA-256(module key || our nonce), MRENCLAVE,
MRSIGNER, DEBUG and ISVSVN policy."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from cryptography import x509

from authex.attestation.native import NativeChallenge
from authex.attestation.sgx.verify import SgxPolicy, verify_quote
from authex.attestation.verified import VerifiedModule
from authex.crypto.native_exchange import EVIDENCE_SIZE
from authex.descriptor import ModuleSpec
from authex.errors import AttestationError
from authex.tee.base import AttestContext, OperatorKeys, Packaged
from authex.tee.images import SgxAttributes, mr_enclave, mr_signer, sgx_image


class SgxBackend:
    def __init__(self) -> None:
        self.name = "sgx"
        self.label = "sgx (emulated DCAP)"
        self.emulated = True
        self.control_suite = "aes-gcm-128"

    def package(self, spec: ModuleSpec, artifact: bytes, keys: OperatorKeys) -> Packaged:
        signer = keys.operator.public_key().public_bytes_raw()
        attributes = SgxAttributes(spec.isv_prod_id, spec.isv_svn, spec.debug, signer)
        image = sgx_image(artifact, attributes)
        return Packaged(image, mr_enclave(image))

    async def attest(self, ctx: AttestContext) -> VerifiedModule:
        where = f"module {ctx.module.name} on node {ctx.node.name}"
        try:
            root = x509.load_pem_x509_certificate(ctx.trust.root_ca.encode())
        except ValueError as exc:
            raise AttestationError(f"the pinned SGX root is not a certificate: {exc}") from exc
        challenge = NativeChallenge(ctx.module.name, ctx.node.name, ctx.keys.operator)
        evidence = await ctx.challenge(challenge.challenge)
        exchange_part, quote = evidence[:EVIDENCE_SIZE], evidence[EVIDENCE_SIZE:]
        module_public = exchange_part[:32]
        expected = hashlib.sha256(module_public + challenge.exchange.nonce).digest() + bytes(32)
        operator_public = ctx.keys.operator.public_key().public_bytes_raw()
        policy = SgxPolicy(
            mr_enclave=ctx.packaged.measurement,
            mr_signer=mr_signer(operator_public),
            allow_debug=ctx.policy.allow_debug,
            min_isv_svn=ctx.policy.min_isv_svn,
            isv_prod_id=ctx.module.isv_prod_id,
            allow_emulated=ctx.policy.allow_emulated,
        )
        try:
            verified = verify_quote(
                quote,
                pinned_roots=[root],
                policy=policy,
                expected_report_data=expected,
                now=datetime.now(UTC),
            )
        except AttestationError as exc:
            raise AttestationError(f"SGX quote rejected: {exc.message}", where=where) from exc
        module = challenge.verify(exchange_part, ctx.packaged.measurement)
        kind = "SGX DCAP quote v3" + (" (emulated)" if verified.emulated else "")
        return VerifiedModule(
            module.name,
            module.node,
            "sgx",
            module.measurement,
            module.key,
            kind,
            verified.emulated,
            self.control_suite,
        )
