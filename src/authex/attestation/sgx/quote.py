"""The Intel SGX ECDSA quote, version 3 (DCAP), byte for byte.

Layout (all integers little-endian, offsets from the start of the quote):

    0    header            48  version u16 = 3, attestation key type u16 = 2 (ECDSA-256 with
                               P-256), reserved/tee type u32 = 0 (SGX), QE SVN u16, PCE SVN u16,
                               QE vendor id 16, user data 20
    48   ISV report body  384  the attested enclave's REPORT body (see ``ReportBody``)
    432  signature length   4  u32, the number of bytes that follow, exactly
    436  signature data        ISV report signature 64 (r || s, big-endian), attestation key 64
                               (x || y), QE report body 384, QE report signature 64,
                               QE auth data (u16 size + bytes), certification data
                               (u16 type, u32 size, bytes; type 5 = PEM PCK chain leaf..root)

Parsing is strict: every length is checked, and a truncated field, trailing bytes, or a version or
key type other than 3 / 2 raise ``AttestationError`` naming the field and its offset.  ``parse``
followed by ``serialize`` gives back the input byte for byte (reserved areas are kept as they were).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from authex.errors import AttestationError

QUOTE_VERSION = 3
ATT_KEY_TYPE_ECDSA_P256 = 2
TEE_TYPE_SGX = 0
CERT_TYPE_PCK_CHAIN = 5

HEADER_SIZE = 48
REPORT_BODY_SIZE = 384
SIGNATURE_SIZE = 64
ATTESTATION_KEY_SIZE = 64

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")

# SGX attribute flags (low 64 bits of ATTRIBUTES)
FLAG_INIT = 0x1
FLAG_DEBUG = 0x2
FLAG_MODE64BIT = 0x4

_HEADER = struct.Struct("<HHIHH16s20s")
_BODY = struct.Struct("<16sI28sQQ32s32s32s96sHH60s64s")
assert _HEADER.size == HEADER_SIZE
assert _BODY.size == REPORT_BODY_SIZE


def _need(value: bytes, size: int, name: str) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _need_uint(value: int, bits: int, name: str) -> None:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must fit in an unsigned {bits}-bit integer, got {value}")


class _Reader:
    """Takes named fields off the front of a buffer; every shortfall names the field."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.offset = 0
        self.what = what

    def take(self, size: int, field: str) -> bytes:
        left = len(self.data) - self.offset
        if size > left:
            raise AttestationError(
                f"{self.what} truncated: field {field} needs {size} bytes at offset "
                f"{self.offset}, only {left} left"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def u16(self, field: str) -> int:
        value: int = struct.unpack("<H", self.take(2, field))[0]
        return value

    def u32(self, field: str) -> int:
        value: int = struct.unpack("<I", self.take(4, field))[0]
        return value

    def done(self, after: str) -> None:
        extra = len(self.data) - self.offset
        if extra:
            raise AttestationError(
                f"{self.what} has {extra} trailing bytes at offset {self.offset} after {after}"
            )


@dataclass(frozen=True)
class QuoteHeader:
    """The 48-byte quote header.  The verifier reads the emulation marker from qe_vendor_id."""

    version: int
    att_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes

    def __post_init__(self) -> None:
        for name in ("version", "att_key_type", "qe_svn", "pce_svn"):
            _need_uint(getattr(self, name), 16, name)
        _need_uint(self.tee_type, 32, "tee_type")
        _need(self.qe_vendor_id, 16, "qe_vendor_id")
        _need(self.user_data, 20, "user_data")

    @classmethod
    def parse(cls, data: bytes) -> QuoteHeader:
        if len(data) != HEADER_SIZE:
            raise AttestationError(f"SGX quote header must be {HEADER_SIZE} bytes, got {len(data)}")
        return cls(*_HEADER.unpack(data))

    def serialize(self) -> bytes:
        return _HEADER.pack(
            self.version,
            self.att_key_type,
            self.tee_type,
            self.qe_svn,
            self.pce_svn,
            self.qe_vendor_id,
            self.user_data,
        )


@dataclass(frozen=True)
class ReportBody:
    """An SGX REPORT body (384 bytes): the enclave's identity and its 64 bytes of report data.

    ``reserved1`` (28 B) also holds ISVEXTPRODID and ``reserved3`` (96 B) CONFIGID, and
    ``reserved4`` (60 B) CONFIGSVN and ISVFAMILYID, for enclaves using key separation and
    sharing; authex does not interpret them but keeps them byte-exact.
    """

    cpu_svn: bytes
    misc_select: int
    reserved1: bytes
    flags: int
    xfrm: int
    mr_enclave: bytes
    reserved2: bytes
    mr_signer: bytes
    reserved3: bytes
    isv_prod_id: int
    isv_svn: int
    reserved4: bytes
    report_data: bytes

    def __post_init__(self) -> None:
        _need(self.cpu_svn, 16, "cpu_svn")
        _need_uint(self.misc_select, 32, "misc_select")
        _need(self.reserved1, 28, "reserved1")
        _need_uint(self.flags, 64, "flags")
        _need_uint(self.xfrm, 64, "xfrm")
        _need(self.mr_enclave, 32, "mr_enclave")
        _need(self.reserved2, 32, "reserved2")
        _need(self.mr_signer, 32, "mr_signer")
        _need(self.reserved3, 96, "reserved3")
        _need_uint(self.isv_prod_id, 16, "isv_prod_id")
        _need_uint(self.isv_svn, 16, "isv_svn")
        _need(self.reserved4, 60, "reserved4")
        _need(self.report_data, 64, "report_data")

    @classmethod
    def build(
        cls,
        *,
        mr_enclave: bytes,
        mr_signer: bytes,
        isv_prod_id: int,
        isv_svn: int,
        flags: int,
        xfrm: int,
        report_data: bytes,
        cpu_svn: bytes = bytes(16),
        misc_select: int = 0,
    ) -> ReportBody:
        """A report body with every reserved area zero."""
        return cls(
            cpu_svn=cpu_svn,
            misc_select=misc_select,
            reserved1=bytes(28),
            flags=flags,
            xfrm=xfrm,
            mr_enclave=mr_enclave,
            reserved2=bytes(32),
            mr_signer=mr_signer,
            reserved3=bytes(96),
            isv_prod_id=isv_prod_id,
            isv_svn=isv_svn,
            reserved4=bytes(60),
            report_data=report_data,
        )

    @classmethod
    def parse(cls, data: bytes) -> ReportBody:
        if len(data) != REPORT_BODY_SIZE:
            raise AttestationError(
                f"SGX report body must be {REPORT_BODY_SIZE} bytes, got {len(data)}"
            )
        return cls(*_BODY.unpack(data))

    def serialize(self) -> bytes:
        return _BODY.pack(
            self.cpu_svn,
            self.misc_select,
            self.reserved1,
            self.flags,
            self.xfrm,
            self.mr_enclave,
            self.reserved2,
            self.mr_signer,
            self.reserved3,
            self.isv_prod_id,
            self.isv_svn,
            self.reserved4,
            self.report_data,
        )

    @property
    def attributes(self) -> bytes:
        """ATTRIBUTES as the 16 bytes in the report (flags u64 || xfrm u64, little-endian)."""
        return struct.pack("<QQ", self.flags, self.xfrm)

    @property
    def debug(self) -> bool:
        return bool(self.flags & FLAG_DEBUG)


@dataclass(frozen=True)
class Quote:
    """A whole SGX ECDSA quote v3: header, ISV report body and the ECDSA signature data."""

    header: QuoteHeader
    body: ReportBody
    isv_enclave_report_signature: bytes
    attestation_key: bytes
    qe_report: ReportBody
    qe_report_signature: bytes
    qe_auth_data: bytes
    qe_cert_type: int
    qe_cert_data: bytes

    def __post_init__(self) -> None:
        _need(self.isv_enclave_report_signature, SIGNATURE_SIZE, "isv_enclave_report_signature")
        _need(self.attestation_key, ATTESTATION_KEY_SIZE, "attestation_key")
        _need(self.qe_report_signature, SIGNATURE_SIZE, "qe_report_signature")
        _need_uint(len(self.qe_auth_data), 16, "qe_auth_data length")
        _need_uint(self.qe_cert_type, 16, "qe_cert_type")
        _need_uint(len(self.qe_cert_data), 32, "qe_cert_data length")

    @property
    def signed_data(self) -> bytes:
        """What the attestation key signs: header || ISV report body (432 bytes)."""
        return self.header.serialize() + self.body.serialize()

    def signature_data(self) -> bytes:
        """The signature data that follows the u32 length field."""
        return b"".join(
            (
                self.isv_enclave_report_signature,
                self.attestation_key,
                self.qe_report.serialize(),
                self.qe_report_signature,
                struct.pack("<H", len(self.qe_auth_data)),
                self.qe_auth_data,
                struct.pack("<HI", self.qe_cert_type, len(self.qe_cert_data)),
                self.qe_cert_data,
            )
        )

    def serialize(self) -> bytes:
        sig = self.signature_data()
        return self.signed_data + struct.pack("<I", len(sig)) + sig


def parse(data: bytes) -> Quote:
    """Parse an SGX ECDSA quote v3 strictly; raise ``AttestationError`` naming the bad field."""
    data = bytes(data)
    r = _Reader(data, "SGX quote")
    header_bytes = r.take(HEADER_SIZE, "header")
    version, key_type, tee_type = struct.unpack_from("<HHI", header_bytes)
    if version != QUOTE_VERSION:
        kind = " (a TDX quote)" if tee_type == 0x81 else ""
        raise AttestationError(
            f"SGX quote: unsupported quote version {version}{kind} in field header.version at "
            f"offset 0; only SGX ECDSA quote version {QUOTE_VERSION} is supported"
        )
    if key_type != ATT_KEY_TYPE_ECDSA_P256:
        raise AttestationError(
            f"SGX quote: unsupported attestation key type {key_type} in field "
            f"header.att_key_type at offset 2; only {ATT_KEY_TYPE_ECDSA_P256} "
            "(ECDSA-256 with P-256) is supported"
        )
    if tee_type != TEE_TYPE_SGX:
        raise AttestationError(
            f"SGX quote: unsupported TEE type {tee_type:#x} in field header.tee_type at offset 4; "
            "only SGX (0) is supported"
        )
    header = QuoteHeader.parse(header_bytes)
    body = ReportBody.parse(r.take(REPORT_BODY_SIZE, "isv_report_body"))
    sig_len_offset = r.offset
    sig_len = r.u32("signature_data_len")
    remaining = len(data) - r.offset
    if sig_len != remaining:
        raise AttestationError(
            f"SGX quote: field signature_data_len at offset {sig_len_offset} says {sig_len} bytes "
            f"but {remaining} follow"
            + (" (truncated)" if sig_len > remaining else " (trailing bytes)")
        )
    isv_sig = r.take(SIGNATURE_SIZE, "isv_enclave_report_signature")
    att_key = r.take(ATTESTATION_KEY_SIZE, "ecdsa_attestation_key")
    qe_report = ReportBody.parse(r.take(REPORT_BODY_SIZE, "qe_report"))
    qe_sig = r.take(SIGNATURE_SIZE, "qe_report_signature")
    auth_len = r.u16("qe_auth_data.size")
    auth = r.take(auth_len, "qe_auth_data")
    cert_type = r.u16("qe_cert_data.type")
    cert_len = r.u32("qe_cert_data.size")
    cert_data = r.take(cert_len, "qe_cert_data")
    r.done("qe_cert_data")
    return Quote(
        header=header,
        body=body,
        isv_enclave_report_signature=isv_sig,
        attestation_key=att_key,
        qe_report=qe_report,
        qe_report_signature=qe_sig,
        qe_auth_data=auth,
        qe_cert_type=cert_type,
        qe_cert_data=cert_data,
    )
