"""The emulated SGX platform's quoting: the simulation CA's certificates, its secrets round trip,
and quotes in Intel's exact layout carrying the signed emulation marker."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from authex.attestation.sgx.quote import parse
from authex.attestation.sgx.simulation import (
    EMULATED_QE_VENDOR_ID,
    PCK_CN,
    SGX_EXTENSION_OID,
    SimulationCA,
    public_key_xy,
)
from authex.errors import AttestationError

CA = SimulationCA.create("gateway")
REPORT_DATA = hashlib.sha256(b"pub" + b"nonce").digest() + bytes(32)


def _quote(ca: SimulationCA = CA, *, debug: bool = False) -> bytes:
    return ca.make_quote(
        mr_enclave=b"\x11" * 32,
        mr_signer=b"\x22" * 32,
        isv_prod_id=5,
        isv_svn=6,
        debug=debug,
        report_data=REPORT_DATA,
    )


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def test_root_and_pck_certificates() -> None:
    root, pck = CA.root_cert, CA.pck_cert
    assert _cn(root.subject) == (
        "authex SGX simulation root CA (gateway) \u2014 EMULATED, NOT INTEL"
    )
    assert root.issuer == root.subject
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _cn(pck.subject) == PCK_CN
    assert pck.issuer == root.subject
    assert not pck.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    pck.verify_directly_issued_by(root)
    sgx_ext = pck.extensions.get_extension_for_oid(SGX_EXTENSION_OID)
    assert not sgx_ext.critical
    for key in (root.public_key(), pck.public_key()):
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert isinstance(key.curve, ec.SECP256R1)


def test_validity_window_follows_now() -> None:
    start = datetime(2030, 5, 1, tzinfo=UTC)
    ca = SimulationCA.create("n", now=start, validity_days=10)
    assert ca.root_cert.not_valid_before_utc == start - timedelta(hours=1)
    assert ca.pck_cert.not_valid_after_utc == start - timedelta(hours=1) + timedelta(days=10)


def test_each_node_gets_its_own_keys() -> None:
    other = SimulationCA.create("gateway")
    assert other.root_pem != CA.root_pem
    assert other.attestation_public_xy != CA.attestation_public_xy


def test_secrets_round_trip_and_repr_hides_keys() -> None:
    secrets = CA.to_secrets()
    assert set(secrets) == {"sgx_root_cert", "sgx_pck_cert", "sgx_pck_key", "sgx_attestation_key"}
    assert all(isinstance(v, str) and v.startswith("-----BEGIN") for v in secrets.values())
    again = SimulationCA.from_secrets(secrets)
    assert again.root_pem == CA.root_pem
    assert again.attestation_public_xy == CA.attestation_public_xy
    assert "PRIVATE" not in repr(again) and "gateway" in repr(again)


def test_bad_secrets_are_rejected() -> None:
    secrets = CA.to_secrets()
    with pytest.raises(AttestationError, match="lack sgx_pck_key"):
        SimulationCA.from_secrets({k: v for k, v in secrets.items() if k != "sgx_pck_key"})
    with pytest.raises(AttestationError, match="sgx_attestation_key is not a PEM private key"):
        SimulationCA.from_secrets({**secrets, "sgx_attestation_key": "junk"})
    with pytest.raises(AttestationError, match="sgx_root_cert is not a PEM certificate"):
        SimulationCA.from_secrets({**secrets, "sgx_root_cert": "junk"})
    other = SimulationCA.create("x").to_secrets()
    with pytest.raises(AttestationError, match="does not match"):
        SimulationCA.from_secrets({**secrets, "sgx_pck_key": other["sgx_pck_key"]})


def test_quote_layout_and_marker() -> None:
    raw = _quote()
    quote = parse(raw)
    assert quote.serialize() == raw
    assert (quote.header.version, quote.header.att_key_type, quote.header.tee_type) == (3, 2, 0)
    assert quote.header.qe_vendor_id == EMULATED_QE_VENDOR_ID == b"authex-emulated!"
    assert raw[12:28] == EMULATED_QE_VENDOR_ID  # inside the signed header bytes
    body = quote.body
    assert (body.mr_enclave, body.mr_signer) == (b"\x11" * 32, b"\x22" * 32)
    assert (body.isv_prod_id, body.isv_svn, body.report_data) == (5, 6, REPORT_DATA)
    assert body.flags == 0x5 and not body.debug
    assert parse(_quote(debug=True)).body.flags == 0x7
    assert quote.attestation_key == CA.attestation_public_xy
    binding = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest()
    assert quote.qe_report.report_data == binding + bytes(32)
    assert quote.qe_cert_type == 5
    chain = x509.load_pem_x509_certificates(quote.qe_cert_data)
    assert chain == [CA.pck_cert, CA.root_cert]


def test_public_key_xy_is_uncompressed_point_without_prefix() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    xy = public_key_xy(key)
    numbers = key.public_numbers()
    assert xy == numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def test_report_data_must_be_64_bytes() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        CA.make_quote(
            mr_enclave=bytes(32),
            mr_signer=bytes(32),
            isv_prod_id=0,
            isv_svn=0,
            debug=False,
            report_data=bytes(32),
        )


def test_dcap_qvl_reads_the_emulated_quote_and_pck_extension() -> None:
    qvl = pytest.importorskip("dcap_qvl", reason="dcap-qvl is not installed")
    parsed = qvl.parse_quote(_quote())
    assert parsed.is_sgx()
    assert bytes(parsed.header.qe_vendor_id) == EMULATED_QE_VENDOR_ID
    ext = qvl.parse_pck_extension_from_pem(CA.chain_pem())
    assert bytes(ext.fmspc) == bytes(6)
    assert ext.sgx_type == 0
    assert len(bytes(ext.ppid)) == 16
