"""The DCAP verifier: emulated quotes verify with the right root, nonce and policy, and every
tampering, wrong root, wrong identity, debug enclave, old ISVSVN, replay, unapproved emulation
and expired certificate fails at the step that says why.  The real Intel sample passes the same
structural path with Intel's root pinned."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from authex.attestation.sgx.quote import INTEL_QE_VENDOR_ID, parse
from authex.attestation.sgx.simulation import SimulationCA
from authex.attestation.sgx.verify import SgxPolicy, VerifiedQuote, verify_quote
from authex.errors import AttestationError

DCAP = Path(__file__).resolve().parents[3] / "spec/vectors/dcap"
MR_ENCLAVE = hashlib.sha256(b"module artifact").digest()
MR_SIGNER = hashlib.sha256(b"operator key").digest()
NONCE_DATA = hashlib.sha256(b"module public key" + b"nonce 1").digest() + bytes(32)
NOW = datetime.now(UTC)
POLICY = SgxPolicy(mr_enclave=MR_ENCLAVE, mr_signer=MR_SIGNER, min_isv_svn=2, allow_emulated=True)
CA = SimulationCA.create("node-a")
OTHER_CA = SimulationCA.create("node-b")


def _quote(
    ca: SimulationCA = CA, *, debug: bool = False, isv_svn: int = 3, report_data: bytes = NONCE_DATA
) -> bytes:
    return ca.make_quote(
        mr_enclave=MR_ENCLAVE,
        mr_signer=MR_SIGNER,
        isv_prod_id=1,
        isv_svn=isv_svn,
        debug=debug,
        report_data=report_data,
    )


QUOTE = _quote()


def _verify(
    quote: bytes = QUOTE,
    *,
    roots: list[x509.Certificate] | None = None,
    policy: SgxPolicy = POLICY,
    expected: bytes = NONCE_DATA,
    now: datetime = NOW,
) -> VerifiedQuote:
    return verify_quote(
        quote,
        pinned_roots=[CA.root_cert] if roots is None else roots,
        policy=policy,
        expected_report_data=expected,
        now=now,
    )


def _rejected(
    step: str,
    quote: bytes = QUOTE,
    *,
    roots: list[x509.Certificate] | None = None,
    policy: SgxPolicy = POLICY,
    expected: bytes = NONCE_DATA,
    now: datetime = NOW,
) -> str:
    with pytest.raises(AttestationError) as err:
        _verify(quote, roots=roots, policy=policy, expected=expected, now=now)
    assert f"step '{step}'" in str(err.value), str(err.value)
    return str(err.value)


def test_emulated_quote_verifies() -> None:
    verified = _verify()
    assert verified.emulated
    assert verified.mr_enclave == MR_ENCLAVE and verified.mr_signer == MR_SIGNER
    assert verified.isv_svn == 3 and not verified.debug
    assert verified.report_data == NONCE_DATA
    assert verified.quote.serialize() == QUOTE


def test_root_from_stored_secrets_verifies_the_same_quotes() -> None:
    again = SimulationCA.from_secrets(CA.to_secrets())
    pinned = x509.load_pem_x509_certificate(CA.root_pem.encode())
    assert _verify(_quote(again), roots=[pinned]).emulated


# byte offsets across header, ISV body (attributes, MRENCLAVE, MRSIGNER, prod id, ISVSVN,
# report data), ISV signature, attestation key, QE report, QE signature, auth data, cert data
FLIP_OFFSETS = [
    0, 1, 2, 8, 10, 12, 20, 27, 28, 40, 47,
    48, 60, 96, 112, 120, 143, 176, 200, 304, 306, 368, 400, 431,
    432, 435, 436, 470, 499,
    500, 530, 563,
    564, 600, 628, 700, 884, 947,
    948, 980, 1011,
    1012, 1014, 1045, 1046, 1048,
    1100, 1400, 1700,
]  # fmt: skip


@pytest.mark.parametrize("offset", FLIP_OFFSETS)
@pytest.mark.parametrize("bit", [0, 6])
def test_every_sampled_bit_flip_fails(offset: int, bit: int) -> None:
    tampered = bytearray(QUOTE)
    tampered[offset] ^= 1 << bit
    with pytest.raises(AttestationError, match=r"SGX quote rejected at step"):
        _verify(bytes(tampered))


def test_flips_in_identity_fields_fail_at_the_signature_check() -> None:
    for offset in (48 + 64, 48 + 128, 48 + 258, 48 + 320):  # MRENCLAVE MRSIGNER ISVSVN data
        tampered = bytearray(QUOTE)
        tampered[offset] ^= 1
        _rejected("quote", bytes(tampered))


def test_another_nodes_root_fails_at_chain_step() -> None:
    message = _rejected("chain", roots=[OTHER_CA.root_cert])
    assert "does not end at a pinned root" in message
    _rejected("chain", roots=[])


def test_same_named_impostor_root_fails_at_chain_step() -> None:
    impostor = SimulationCA.create("node-a")  # same subject, different key
    assert impostor.root_cert.subject == CA.root_cert.subject
    _rejected("chain", roots=[impostor.root_cert])


def test_wrong_mrenclave_and_mrsigner() -> None:
    other = hashlib.sha256(b"other").digest()
    assert "MRENCLAVE" in _rejected("policy", policy=replace(POLICY, mr_enclave=other))
    assert "MRSIGNER" in _rejected("policy", policy=replace(POLICY, mr_signer=other))


def test_debug_enclave_needs_allow_debug() -> None:
    debug_quote = _quote(debug=True)
    assert "DEBUG" in _rejected("policy", debug_quote)
    assert _verify(debug_quote, policy=replace(POLICY, allow_debug=True)).debug


def test_isv_svn_below_minimum_and_wrong_prod_id() -> None:
    assert "ISVSVN 1 is below the minimum 2" in _rejected("policy", _quote(isv_svn=1))
    assert "product id 1" in _rejected("policy", policy=replace(POLICY, isv_prod_id=9))
    assert _verify(policy=replace(POLICY, isv_prod_id=1)).isv_svn == 3


def test_quote_for_another_nonce_is_a_replay() -> None:
    other = hashlib.sha256(b"module public key" + b"nonce 2").digest() + bytes(32)
    message = _rejected("report data", expected=other)
    assert "not bound to this verifier's nonce (replayed or foreign quote)" in message


def test_emulated_quote_rejected_by_default() -> None:
    message = _rejected("emulation", policy=replace(POLICY, allow_emulated=False))
    assert "quote comes from an emulated SGX platform; set policy allow_emulated" in message


def _resign_with_vendor(vendor_id: bytes) -> bytes:
    """What a thief of the node's simulation secrets could make: a properly signed quote whose
    header claims Intel's QE."""
    quote = parse(QUOTE)
    header = replace(quote.header, qe_vendor_id=vendor_id)
    pem = CA.to_secrets()["sgx_attestation_key"].encode()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(
        key.sign(header.serialize() + quote.body.serialize(), ec.ECDSA(hashes.SHA256()))
    )
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return replace(quote, header=header, isv_enclave_report_signature=signature).serialize()


def test_emulated_marker_cannot_be_removed() -> None:
    stripped = QUOTE[:12] + INTEL_QE_VENDOR_ID + QUOTE[28:]
    strict = replace(POLICY, allow_emulated=False)
    _rejected("chain", stripped, policy=strict)
    forged = _resign_with_vendor(INTEL_QE_VENDOR_ID)
    assert "lacks the emulated marker" in _rejected("chain", forged, policy=strict)


def test_expired_and_not_yet_valid_certificates() -> None:
    old = SimulationCA.create("node-old", now=datetime(2000, 1, 1, tzinfo=UTC), validity_days=30)
    quote = _quote(old)
    roots = [old.root_cert]
    assert _verify(quote, roots=roots, now=datetime(2000, 1, 15, tzinfo=UTC)).emulated
    assert "is not valid at" in _rejected("chain", quote, roots=roots, now=NOW)
    _rejected("chain", quote, roots=roots, now=datetime(1999, 12, 1, tzinfo=UTC))


def test_unparsable_quote_fails_at_parse_step() -> None:
    assert "header" in _rejected("parse", QUOTE[:40])


def test_policy_must_pin_an_identity() -> None:
    with pytest.raises(ValueError, match="must pin"):
        SgxPolicy(mr_enclave=None, mr_signer=None)
    with pytest.raises(ValueError, match="32 bytes"):
        SgxPolicy(mr_enclave=b"short", mr_signer=None)
    with pytest.raises(ValueError, match="64 bytes"):
        _verify(expected=b"x" * 32)


# --- the real Intel sample through the same path ----------------------------------------------

REAL = (DCAP / "sgx_quote").read_bytes()
INTEL_ROOT = x509.load_pem_x509_certificate((DCAP / "intel_sgx_root_ca.pem").read_bytes())
IN_WINDOW = datetime(2025, 7, 1, tzinfo=UTC)


def _real_policy() -> SgxPolicy:
    body = parse(REAL).body
    return SgxPolicy(mr_enclave=body.mr_enclave, mr_signer=body.mr_signer)


def test_real_intel_quote_passes_structural_verification() -> None:
    body = parse(REAL).body
    verified = verify_quote(
        REAL,
        pinned_roots=[INTEL_ROOT],
        policy=_real_policy(),
        expected_report_data=body.report_data,
        now=IN_WINDOW,
    )
    assert not verified.emulated and not verified.debug


def test_real_intel_quote_with_a_flipped_report_bit_fails() -> None:
    tampered = bytearray(REAL)
    tampered[48 + 64] ^= 1  # MRENCLAVE
    with pytest.raises(AttestationError, match=r"step 'quote'.*does not verify"):
        verify_quote(
            bytes(tampered),
            pinned_roots=[INTEL_ROOT],
            policy=SgxPolicy(mr_enclave=None, mr_signer=_real_policy().mr_signer),
            expected_report_data=parse(REAL).body.report_data,
            now=IN_WINDOW,
        )


def test_real_intel_quote_against_a_simulation_root_fails_at_chain() -> None:
    with pytest.raises(AttestationError, match="step 'chain'"):
        verify_quote(
            REAL,
            pinned_roots=[CA.root_cert],
            policy=_real_policy(),
            expected_report_data=parse(REAL).body.report_data,
            now=IN_WINDOW,
        )
