"""The SGX ECDSA quote v3 codec: exact round trip of a real Intel quote, its field values, and
strict rejection (naming field and offset) of truncated, padded and unsupported quotes."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import pytest

from authex.attestation.sgx.quote import (
    FLAG_DEBUG,
    HEADER_SIZE,
    INTEL_QE_VENDOR_ID,
    REPORT_BODY_SIZE,
    Quote,
    QuoteHeader,
    ReportBody,
    parse,
)
from authex.errors import AttestationError

DCAP = Path(__file__).resolve().parents[3] / "spec/vectors/dcap"
SGX_QUOTE = (DCAP / "sgx_quote").read_bytes()
TDX_QUOTE = (DCAP / "tdx_quote").read_bytes()
SHARED = Path("/work/shared/vectors/dcap/sgx_quote")


def test_real_quote_round_trips_byte_for_byte() -> None:
    quote = parse(SGX_QUOTE)
    assert quote.serialize() == SGX_QUOTE
    assert quote.header.serialize() == SGX_QUOTE[:HEADER_SIZE]
    assert quote.body.serialize() == SGX_QUOTE[HEADER_SIZE : HEADER_SIZE + REPORT_BODY_SIZE]
    assert quote.signed_data == SGX_QUOTE[:432]


@pytest.mark.skipif(not SHARED.exists(), reason="shared vector folder not mounted here")
def test_spec_copy_is_the_shared_vector() -> None:
    assert SHARED.read_bytes() == SGX_QUOTE


def test_real_quote_field_values() -> None:
    quote = parse(SGX_QUOTE)
    h = quote.header
    assert (h.version, h.att_key_type, h.tee_type, h.qe_svn, h.pce_svn) == (3, 2, 0, 10, 15)
    assert h.qe_vendor_id == INTEL_QE_VENDOR_ID
    assert h.qe_vendor_id.hex() == "939a7233f79c4ca9940a0db3957f0607"
    b = quote.body
    assert b.mr_enclave.hex() == "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
    assert b.mr_signer.hex() == "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
    assert (b.isv_prod_id, b.isv_svn) == (0, 0)
    assert b.flags == 0x5 and b.xfrm == 0xE7  # INIT | MODE64BIT, not DEBUG
    assert not b.debug
    assert b.attributes == bytes.fromhex("0500000000000000e700000000000000")
    assert b.report_data.startswith(b"Hello, world!\x00")
    assert quote.qe_auth_data == bytes(range(32))
    assert quote.qe_cert_type == 5
    assert quote.qe_cert_data.count(b"-----BEGIN CERTIFICATE-----") == 3
    assert struct.unpack_from("<I", SGX_QUOTE, 432)[0] == len(SGX_QUOTE) - 436


def test_debug_flag_is_bit_1() -> None:
    body = parse(SGX_QUOTE).body
    assert replace(body, flags=body.flags | FLAG_DEBUG).debug
    assert FLAG_DEBUG == 0x2


@pytest.mark.parametrize(
    ("length", "field", "offset"),
    [
        (0, "header", 0),
        (47, "header", 0),
        (48, "isv_report_body", 48),
        (431, "isv_report_body", 48),
        (433, "signature_data_len", 432),
    ],
)
def test_truncation_before_signature_names_field(length: int, field: str, offset: int) -> None:
    with pytest.raises(AttestationError) as err:
        parse(SGX_QUOTE[:length])
    assert f"field {field}" in str(err.value)
    assert f"offset {offset}" in str(err.value)


def _with_sig_len(data: bytes) -> bytes:
    """``data`` with its signature length rewritten to match what follows."""
    return data[:432] + struct.pack("<I", len(data) - 436) + data[436:]


@pytest.mark.parametrize(
    ("length", "field", "offset"),
    [
        (436 + 10, "isv_enclave_report_signature", 436),
        (500 + 63, "ecdsa_attestation_key", 500),
        (564 + 100, "qe_report", 564),
        (948 + 1, "qe_report_signature", 948),
        (1013, "qe_auth_data.size", 1012),
        (1014 + 31, "qe_auth_data", 1014),
        (1047, "qe_cert_data.type", 1046),
        (1051, "qe_cert_data.size", 1048),
        (4599, "qe_cert_data", 1052),
    ],
)
def test_truncation_inside_signature_names_field(length: int, field: str, offset: int) -> None:
    with pytest.raises(AttestationError) as err:
        parse(_with_sig_len(SGX_QUOTE[:length]))
    assert f"field {field} " in str(err.value)
    assert f"offset {offset}" in str(err.value)


def test_length_field_disagreeing_with_data_is_rejected() -> None:
    with pytest.raises(AttestationError, match=r"signature_data_len at offset 432 .*truncated"):
        parse(SGX_QUOTE[:-1])
    with pytest.raises(AttestationError, match=r"signature_data_len at offset 432 .*trailing"):
        parse(SGX_QUOTE + b"\x00")


def test_trailing_bytes_inside_signature_data_are_rejected() -> None:
    with pytest.raises(AttestationError, match=r"1 trailing bytes at offset 4600 after qe_cert"):
        parse(_with_sig_len(SGX_QUOTE + b"\x00"))


def test_tdx_quote_is_unsupported() -> None:
    with pytest.raises(AttestationError, match=r"unsupported quote version 4 \(a TDX quote\)"):
        parse(TDX_QUOTE)


def test_unsupported_key_type_and_tee_type() -> None:
    p384 = SGX_QUOTE[:2] + struct.pack("<H", 3) + SGX_QUOTE[4:]
    with pytest.raises(
        AttestationError, match=r"attestation key type 3 .*att_key_type at offset 2"
    ):
        parse(p384)
    tdx = SGX_QUOTE[:4] + struct.pack("<I", 0x81) + SGX_QUOTE[8:]
    with pytest.raises(AttestationError, match=r"TEE type 0x81 .*offset 4"):
        parse(tdx)


def test_dataclasses_refuse_wrong_sizes() -> None:
    quote = parse(SGX_QUOTE)
    with pytest.raises(ValueError, match="mr_enclave must be 32 bytes"):
        replace(quote.body, mr_enclave=b"short")
    with pytest.raises(ValueError, match="qe_vendor_id must be 16 bytes"):
        replace(quote.header, qe_vendor_id=b"x")
    with pytest.raises(ValueError, match="isv_svn must fit"):
        replace(quote.body, isv_svn=1 << 16)
    with pytest.raises(ValueError, match="attestation_key must be 64 bytes"):
        replace(quote, attestation_key=bytes(65))


def test_header_and_body_parse_need_exact_sizes() -> None:
    with pytest.raises(AttestationError, match="48 bytes"):
        QuoteHeader.parse(SGX_QUOTE[:47])
    with pytest.raises(AttestationError, match="384 bytes"):
        ReportBody.parse(SGX_QUOTE[48:433])


def test_built_quote_round_trips() -> None:
    quote = parse(SGX_QUOTE)
    body = ReportBody.build(
        mr_enclave=b"e" * 32,
        mr_signer=b"s" * 32,
        isv_prod_id=7,
        isv_svn=9,
        flags=0x7,
        xfrm=0x3,
        report_data=bytes(range(64)),
    )
    built = Quote(
        header=quote.header,
        body=body,
        isv_enclave_report_signature=bytes(64),
        attestation_key=bytes(64),
        qe_report=body,
        qe_report_signature=bytes(64),
        qe_auth_data=b"",
        qe_cert_type=5,
        qe_cert_data=b"pem",
    )
    again = parse(built.serialize())
    assert again == built
    assert again.body.debug and again.body.isv_prod_id == 7
