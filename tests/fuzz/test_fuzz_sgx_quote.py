"""Fuzz the SGX ECDSA quote v3 parser and the DCAP verifier.

Inputs are mutated copies of the real Intel sample (spec/vectors/dcap/sgx_quote) and of a quote
from the simulation CA: random byte edits, edits aimed at the header and at every length field,
truncations and extensions, optionally with signature_data_len fixed up so the parser gets past
its first length check.  ``parse`` raises only AttestationError, and what parses re-serializes to
the same bytes.  ``verify_quote`` (right root, nonce and policy) raises only AttestationError and
never accepts a quote whose signed content was changed.  Mutations inside the DER of the PCK
chain's certificates found crashes: see the xfail tests at the end and docs/fuzzing.md.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import struct
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from authex.attestation.sgx.quote import (
    ATTESTATION_KEY_SIZE,
    HEADER_SIZE,
    REPORT_BODY_SIZE,
    SIGNATURE_SIZE,
    Quote,
    parse,
)
from authex.attestation.sgx.simulation import SimulationCA
from authex.attestation.sgx.verify import SgxPolicy, VerifiedQuote, verify_quote
from authex.errors import AttestationError

SCALE = max(1, int(os.environ.get("AUTHEX_FUZZ_SCALE", "1")))
INTEL_QUOTE = (Path(__file__).resolve().parents[2] / "spec/vectors/dcap/sgx_quote").read_bytes()
MR_ENCLAVE = hashlib.sha256(b"fuzzed enclave").digest()
MR_SIGNER = hashlib.sha256(b"fuzzed signer").digest()
REPORT_DATA = hashlib.sha512(b"fuzz nonce").digest()
POLICY = SgxPolicy(mr_enclave=MR_ENCLAVE, mr_signer=MR_SIGNER, allow_emulated=True)
NOW = datetime.now(UTC)
SIG_LEN_OFFSET = HEADER_SIZE + REPORT_BODY_SIZE  # 432
SIG_START = SIG_LEN_OFFSET + 4
IN_PLACE = ("set", "xor", "int")  # edits that keep every later field where it was
AUTH_SIZE_OFFSET = SIG_START + 2 * SIGNATURE_SIZE + ATTESTATION_KEY_SIZE + REPORT_BODY_SIZE


@cache
def _ca() -> SimulationCA:
    return SimulationCA.create("n", now=NOW)


@cache
def _sim_quote() -> bytes:
    return _ca().make_quote(
        mr_enclave=MR_ENCLAVE,
        mr_signer=MR_SIGNER,
        isv_prod_id=1,
        isv_svn=1,
        debug=False,
        report_data=REPORT_DATA,
    )


def _verify(quote: bytes) -> VerifiedQuote:
    return verify_quote(
        quote,
        pinned_roots=[_ca().root_cert],
        policy=POLICY,
        expected_report_data=REPORT_DATA,
        now=NOW,
    )


def _layout(original: bytes) -> tuple[list[tuple[int, int]], list[int]]:
    """The quote's fields as (start, size) regions, and the offsets of its integer fields
    (header version, key type, TEE type, SVNs; signature_data_len; QE auth and cert sizes)."""
    auth_size = struct.unpack_from("<H", original, AUTH_SIZE_OFFSET)[0]
    cert_type = AUTH_SIZE_OFFSET + 2 + auth_size
    starts = [0, 8, HEADER_SIZE, SIG_LEN_OFFSET, SIG_START, SIG_START + SIGNATURE_SIZE]
    starts += [SIG_START + SIGNATURE_SIZE + ATTESTATION_KEY_SIZE, AUTH_SIZE_OFFSET - SIGNATURE_SIZE]
    starts += [AUTH_SIZE_OFFSET, AUTH_SIZE_OFFSET + 2, cert_type, cert_type + 6, len(original)]
    regions = [(a, b - a) for a, b in itertools.pairwise(starts) if b > a]
    return regions, [0, 2, 4, 8, 10, SIG_LEN_OFFSET, AUTH_SIZE_OFFSET, cert_type, cert_type + 2]


@st.composite
def _mutated(draw: st.DrawFn, original: bytes, *, certs: bool = True) -> bytes:
    """1-4 edits of fields picked evenly; with ``certs=False`` byte edits spare the cert data."""
    data = bytearray(original)
    regions, hot = _layout(original)
    if not certs:
        regions = regions[:-1]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(IN_PLACE * 3 + ("truncate", "extend", "insert", "delete")))
        start, size = draw(st.sampled_from(regions))
        pos = start + draw(st.integers(0, size - 1))
        if pos >= len(data):
            op = "extend"
        if op == "set":
            data[pos] = draw(st.integers(0, 255))
        elif op == "xor":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "int":
            at = draw(st.sampled_from(hot))
            width = draw(st.sampled_from((2, 4)))
            value = draw(st.sampled_from((0, 1, 2, 3, 5, 0x81, 0xFFFF, 0xFFFFFFFF)))
            if at + width <= len(data):
                data[at : at + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        elif op == "truncate":
            del data[pos:]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=16))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos : pos + draw(st.integers(1, 16))]
    if draw(st.integers(0, 3)) and len(data) >= SIG_START:  # mostly fix up the length
        data[SIG_LEN_OFFSET:SIG_START] = struct.pack("<I", len(data) - SIG_START)
    return bytes(data)


def _parse_only_attestation_error(data: bytes) -> Quote | None:
    try:
        quote = parse(data)
    except AttestationError as exc:
        assert str(exc).startswith("SGX quote")
        return None
    assert quote.serialize() == data
    return quote


def _same_signed_content(a: Quote, b: Quote) -> bool:
    """Everything the signatures and the chain check cover (the cert data is an unsigned
    envelope: equivalent PEM text around the same leaf carries the same trust)."""
    leaf_a = x509.load_pem_x509_certificates(a.qe_cert_data.rstrip(b"\x00"))[0]
    leaf_b = x509.load_pem_x509_certificates(b.qe_cert_data.rstrip(b"\x00"))[0]
    return replace(a, qe_cert_data=b"") == replace(b, qe_cert_data=b"") and leaf_a == leaf_b


def test_both_sources_parse_and_the_simulated_one_verifies() -> None:
    assert _parse_only_attestation_error(INTEL_QUOTE) is not None
    assert _verify(_sim_quote()).mr_enclave == MR_ENCLAVE


@settings(max_examples=150 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), source=st.sampled_from(("intel", "simulated")))
def test_parse_mutated_quotes(data: st.DataObject, source: str) -> None:
    original = INTEL_QUOTE if source == "intel" else _sim_quote()
    _parse_only_attestation_error(data.draw(_mutated(original)))


@settings(max_examples=100 * SCALE, deadline=None)
@given(st.binary(max_size=1200))
@example(b"")
@example(struct.pack("<HHI", 3, 2, 0) + bytes(480))
@example(struct.pack("<HHI", 4, 2, 0x81))
def test_parse_random_bytes(data: bytes) -> None:
    _parse_only_attestation_error(data)


@settings(max_examples=150 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_verify_mutated_simulated_quotes(data: st.DataObject) -> None:
    """Edits anywhere in the quote's binary structure (header, bodies, signatures, keys, length
    fields, truncations and extensions); byte edits stay out of the PEM text, whose DER content
    is fuzzed by test_verify_mutated_certificates below."""
    original = _sim_quote()
    mutated = data.draw(_mutated(original, certs=False))
    try:
        verified = _verify(mutated)
    except AttestationError as exc:
        assert str(exc).startswith("SGX quote rejected at step")
        event(f"rejected at step {str(exc).split(chr(39))[1]}")
        return
    assert _same_signed_content(verified.quote, parse(original)), "a mutated quote verified"


def _pem(der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"


def _chain_ders() -> list[bytes]:
    ca = _ca()
    return [c.public_bytes(serialization.Encoding.DER) for c in (ca.pck_cert, ca.root_cert)]


def _with_chain(ders: list[bytes]) -> bytes:
    return replace(parse(_sim_quote()), qe_cert_data=b"".join(map(_pem, ders))).serialize()


@settings(
    max_examples=150 * SCALE,
    deadline=None,
    phases=[Phase.generate],  # an expected failure: no shrinking, stop at the first
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.data())
def test_verify_mutated_certificates(data: st.DataObject) -> None:
    """Byte edits inside the DER of the leaf or the root, re-encoded as PEM."""
    ders = [bytearray(der) for der in _chain_ders()]
    target = ders[data.draw(st.integers(0, 1))]
    for _ in range(data.draw(st.integers(1, 3))):
        target[data.draw(st.integers(0, len(target) - 1))] = data.draw(st.integers(0, 255))
    mutated = _with_chain([bytes(der) for der in ders])
    try:
        verified = _verify(mutated)
    except AttestationError:
        return
    assert _same_signed_content(verified.quote, parse(_sim_quote()))


# --- minimal regressions of the crashes (see docs/fuzzing.md) ---------------------------------


def _patched(index: int, old: bytes, new: bytes) -> bytes:
    ders = _chain_ders()
    assert old in ders[index]
    ders[index] = ders[index].replace(old, new, 1)
    return _with_chain(ders)


def test_certificate_with_invalid_version_is_rejected() -> None:
    with pytest.raises(AttestationError):
        _verify(_patched(0, bytes.fromhex("a003020102"), bytes.fromhex("a003020141")))


def test_root_with_malformed_extension_is_rejected() -> None:
    # keyUsage's value becomes an INTEGER where a BIT STRING is expected
    der = _chain_ders()[1]
    key_usage = bytes.fromhex("0603551d0f")  # OID 2.5.29.15 (keyUsage)
    at = der.index(key_usage) + len(key_usage)
    # skip the critical flag (01 01 ff), then the OCTET STRING header (04 len)
    value = at + 3 + 2
    assert der[value] == 0x03
    ders = _chain_ders()
    ders[1] = der[:value] + b"\x02" + der[value + 1 :]
    with pytest.raises(AttestationError):
        _verify(_with_chain(ders))


@pytest.mark.parametrize(
    ("index", "occurrence"), [(0, 1), (1, 0)], ids=["leaf-subject", "root-issuer"]
)
def test_certificate_with_malformed_name_is_rejected(index: int, occurrence: int) -> None:
    """The tag of a commonName value becomes NULL: the certificate loads (names are parsed
    lazily) and fails when the verifier first reads that name."""
    ders = _chain_ders()
    der = bytearray(ders[index])
    cn = bytes.fromhex("0603550403")  # OID 2.5.4.3 (commonName)
    at = -1
    for _ in range(occurrence + 1):
        at = der.index(cn, at + 1)
    der[at + len(cn)] = 0x05
    ders[index] = bytes(der)
    with pytest.raises(AttestationError):
        _verify(_with_chain(ders))


def test_root_with_unknown_key_algorithm_is_rejected() -> None:
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # OID 1.2.840.10045.2.1
    unknown = bytes.fromhex("06072a8648ce3d0209")  # OID 1.2.840.10045.2.9
    with pytest.raises(AttestationError):
        _verify(_patched(1, ec_public_key, unknown))


def test_root_with_duplicate_extension_is_rejected() -> None:
    subject_key_id = bytes.fromhex("0603551d0e")  # OID 2.5.29.14
    key_usage = bytes.fromhex("0603551d0f")  # OID 2.5.29.15, already in the root
    with pytest.raises(AttestationError):
        _verify(_patched(1, subject_key_id, key_usage))
