"""atheris harness: the SGX ECDSA quote v3 parser and the DCAP verifier.

    python fuzz/fuzz_quote.py -max_total_time=60 [corpus folder]

The first input byte picks the mode: raw bytes to ``parse``; or edits (``harness.mutate``) of the
real Intel sample or of a simulated quote, to ``parse`` and, for the simulated one, to
``verify_quote`` with its root, nonce and policy.  Findings: any exception but AttestationError,
a parsed quote that does not re-serialize to its input, or a verified quote whose signed content
differs from the original.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from harness import instrumented, mutate, run

with instrumented():
    from cryptography import x509

    from authex.attestation.sgx.quote import parse
    from authex.attestation.sgx.simulation import SimulationCA
    from authex.attestation.sgx.verify import SgxPolicy, verify_quote
    from authex.errors import AttestationError

INTEL_QUOTE = (Path(__file__).resolve().parents[1] / "spec/vectors/dcap/sgx_quote").read_bytes()
NOW = datetime.now(UTC)
CA = SimulationCA.create("fuzz", now=NOW)
MR_ENCLAVE = hashlib.sha256(b"fuzzed enclave").digest()
MR_SIGNER = hashlib.sha256(b"fuzzed signer").digest()
REPORT_DATA = hashlib.sha512(b"fuzz nonce").digest()
POLICY = SgxPolicy(mr_enclave=MR_ENCLAVE, mr_signer=MR_SIGNER, allow_emulated=True)
SIM_QUOTE = CA.make_quote(
    mr_enclave=MR_ENCLAVE,
    mr_signer=MR_SIGNER,
    isv_prod_id=1,
    isv_svn=1,
    debug=False,
    report_data=REPORT_DATA,
)
SIM_PARSED = parse(SIM_QUOTE)
# verify_quote used to let these escape for malformed PCK-chain certificates (fixed; kept empty
# so a regression shows up as a crash)
KNOWN_VERIFY_ESCAPES: tuple[type[BaseException], ...] = ()


def _leaf(cert_data: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificates(cert_data.rstrip(b"\x00"))[0]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 3, data[1:]
    quote = rest if mode == 0 else mutate(INTEL_QUOTE if mode == 1 else SIM_QUOTE, rest)
    try:
        parsed = parse(quote)
    except AttestationError:
        return
    if parsed.serialize() != quote:
        raise AssertionError("parse then serialize changed the quote")
    if mode != 2:
        return
    try:
        verified = verify_quote(
            quote,
            pinned_roots=[CA.root_cert],
            policy=POLICY,
            expected_report_data=REPORT_DATA,
            now=NOW,
        )
    except AttestationError:
        return
    except KNOWN_VERIFY_ESCAPES:
        return
    signed = replace(verified.quote, qe_cert_data=b"")
    if signed != replace(SIM_PARSED, qe_cert_data=b"") or _leaf(parsed.qe_cert_data) != _leaf(
        SIM_PARSED.qe_cert_data
    ):
        raise AssertionError("a quote with changed signed content verified")


if __name__ == "__main__":
    sys.exit(run(test_one_input))
