"""The emulated SGX platform's quoting: a per-node simulation CA that signs real-layout quotes.

An emulated SGX node has no CPU to measure enclaves and no Intel-provisioned PCK key, so its
platform process plays both the Provisioning Certification and the Quoting Enclave:

* ``SimulationCA.create(node)`` makes a self-signed root CA (its subject says "EMULATED, NOT
  INTEL"), a PCK-style leaf certificate signed by it, the PCK private key and an ECDSA P-256
  attestation key.  It is created once at ``authex node init``, kept in the platform's secret file
  (``to_secrets`` / ``from_secrets``) and the operator pins ``root_pem``.
* ``make_quote`` produces an SGX ECDSA quote v3 exactly as Intel's QE lays it out: the QE report
  (signed by the PCK key) binds the attestation key through its report data, the attestation key
  signs header || ISV report body, and the certification data (type 5) is the PEM chain leaf, root.

The header's QE vendor id is ``EMULATED_QE_VENDOR_ID`` instead of Intel's.  The header is inside
the attestation-key signature, so the marker cannot be removed without breaking the quote, and the
verifier also refuses an unmarked quote whose chain ends at a simulation root.

The PCK leaf carries Intel's SGX extension (OID 1.2.840.113741.1.13.1) with the same structure a
real PCK certificate has, so tools that read it (FMSPC, PCE id, TCB) work; its values are fixed
placeholders (zero TCB, zero FMSPC, SGX type Standard) plus a PPID derived from the node name.
None of this proves isolation or a TCB level: see docs/sgx.md.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from authex.attestation.sgx.quote import (
    ATT_KEY_TYPE_ECDSA_P256,
    CERT_TYPE_PCK_CHAIN,
    FLAG_DEBUG,
    FLAG_INIT,
    FLAG_MODE64BIT,
    QUOTE_VERSION,
    TEE_TYPE_SGX,
    Quote,
    QuoteHeader,
    ReportBody,
)
from authex.errors import AttestationError

EMULATED_QE_VENDOR_ID = b"authex-emulated!"
assert len(EMULATED_QE_VENDOR_ID) == 16

EMULATED_ROOT_MARKER = "EMULATED, NOT INTEL"
ROOT_CN_TEMPLATE = "authex SGX simulation root CA ({node}) \u2014 " + EMULATED_ROOT_MARKER
PCK_CN = "authex emulated SGX PCK Certificate"
SGX_EXTENSION_OID = x509.ObjectIdentifier("1.2.840.113741.1.13.1")

# The emulated Quoting Enclave's own identity (what a real verifier checks against QE identity).
EMULATED_QE_MR_ENCLAVE = hashlib.sha256(b"authex emulated SGX quoting enclave").digest()
EMULATED_QE_MR_SIGNER = hashlib.sha256(b"authex emulated SGX quoting enclave signer").digest()
EMULATED_QE_PROD_ID = 1
EMULATED_QE_SVN = 0
EMULATED_PCE_SVN = 0
EMULATED_XFRM = 0x3  # x87 and SSE state
QE_AUTH_DATA = bytes(range(32))

SECRET_KEYS = ("sgx_root_cert", "sgx_pck_cert", "sgx_pck_key", "sgx_attestation_key")


# --- a tiny DER writer for the SGX extension (only the types that extension uses) ---------------


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def _der_int(value: int, tag: int = 0x02) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return _der(tag, raw)


def _der_seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def _sgx_extension_value(node_name: str) -> bytes:
    """Intel's PCK SGX extension: PPID, TCB (16 component SVNs, PCESVN, CPUSVN), PCE-ID, FMSPC,
    SGX type.  Values are emulation placeholders."""
    base = "1.2.840.113741.1.13.1"
    ppid = hashlib.sha256(b"authex emulated PPID\x00" + node_name.encode()).digest()[:16]
    tcb_items = [_der_seq(_der_oid(f"{base}.2.{i}"), _der_int(0)) for i in range(1, 17)]
    tcb_items.append(_der_seq(_der_oid(f"{base}.2.17"), _der_int(EMULATED_PCE_SVN)))
    tcb_items.append(_der_seq(_der_oid(f"{base}.2.18"), _der(0x04, bytes(16))))
    return _der_seq(
        _der_seq(_der_oid(f"{base}.1"), _der(0x04, ppid)),
        _der_seq(_der_oid(f"{base}.2"), _der_seq(*tcb_items)),
        _der_seq(_der_oid(f"{base}.3"), _der(0x04, bytes(2))),
        _der_seq(_der_oid(f"{base}.4"), _der(0x04, bytes(6))),
        _der_seq(_der_oid(f"{base}.5"), _der_int(0, tag=0x0A)),
    )


# --- helpers -------------------------------------------------------------------------------------


def _raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA-SHA256 over data, as the 64-byte r || s (big-endian) that SGX quotes carry."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def public_key_xy(key: ec.EllipticCurvePublicKey) -> bytes:
    """A P-256 public key as the 64-byte x || y of the quote's attestation key field."""
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:]


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _load_key(pem: str, name: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise AttestationError(f"SGX simulation secret {name} is not a PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise AttestationError(f"SGX simulation secret {name} is not an ECDSA P-256 key")
    return key


def _load_cert(pem: str, name: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError as exc:
        raise AttestationError(f"SGX simulation secret {name} is not a PEM certificate") from exc


class SimulationCA:
    """One node's emulated SGX provisioning and quoting identity.  Holds private keys: its repr
    shows only the node's root subject."""

    def __init__(
        self,
        *,
        root_cert: x509.Certificate,
        pck_cert: x509.Certificate,
        pck_key: ec.EllipticCurvePrivateKey,
        attestation_key: ec.EllipticCurvePrivateKey,
    ) -> None:
        self.root_cert = root_cert
        self.pck_cert = pck_cert
        self._pck_key = pck_key
        self._attestation_key = attestation_key

    def __repr__(self) -> str:
        return f"SimulationCA({self.root_cert.subject.rfc4514_string()!r})"

    @classmethod
    def create(
        cls, node_name: str, *, now: datetime | None = None, validity_days: int = 3650
    ) -> SimulationCA:
        """A fresh simulation CA for ``node_name``, valid from one hour before ``now``."""
        start = (now or datetime.now(UTC)) - timedelta(hours=1)
        end = start + timedelta(days=validity_days)
        root_key = ec.generate_private_key(ec.SECP256R1())
        pck_key = ec.generate_private_key(ec.SECP256R1())
        attestation_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN_TEMPLATE.format(node=node_name)),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "authex"),
            ]
        )
        root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
        root_cert = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(root_key, hashes.SHA256())
        )
        pck_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, PCK_CN),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "authex"),
            ]
        )
        pck_cert = (
            x509.CertificateBuilder()
            .subject_name(pck_name)
            .issuer_name(root_name)
            .public_key(pck_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .add_extension(
                x509.UnrecognizedExtension(SGX_EXTENSION_OID, _sgx_extension_value(node_name)),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        return cls(
            root_cert=root_cert,
            pck_cert=pck_cert,
            pck_key=pck_key,
            attestation_key=attestation_key,
        )

    # --- persistence -----------------------------------------------------------------------------

    def to_secrets(self) -> dict[str, str]:
        """PEM strings for the platform's secret file.  The root CA's private key is not kept:
        nothing is signed by it after ``create``."""
        return {
            "sgx_root_cert": self.root_pem,
            "sgx_pck_cert": self.pck_cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "sgx_pck_key": _key_pem(self._pck_key),
            "sgx_attestation_key": _key_pem(self._attestation_key),
        }

    @classmethod
    def from_secrets(cls, secrets: dict[str, str]) -> SimulationCA:
        missing = [k for k in SECRET_KEYS if k not in secrets]
        if missing:
            raise AttestationError(f"SGX simulation secrets lack {', '.join(missing)}")
        ca = cls(
            root_cert=_load_cert(secrets["sgx_root_cert"], "sgx_root_cert"),
            pck_cert=_load_cert(secrets["sgx_pck_cert"], "sgx_pck_cert"),
            pck_key=_load_key(secrets["sgx_pck_key"], "sgx_pck_key"),
            attestation_key=_load_key(secrets["sgx_attestation_key"], "sgx_attestation_key"),
        )
        if public_key_xy(ca._pck_key.public_key()) != _cert_xy(ca.pck_cert):
            raise AttestationError(
                "SGX simulation secrets: sgx_pck_key does not match sgx_pck_cert"
            )
        return ca

    @property
    def root_pem(self) -> str:
        """The root certificate (PEM) the operator pins for this node."""
        return self.root_cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def attestation_public_xy(self) -> bytes:
        return public_key_xy(self._attestation_key.public_key())

    def chain_pem(self) -> bytes:
        """Certification data type 5: the PEM chain, leaf first, then the root."""
        return self.pck_cert.public_bytes(serialization.Encoding.PEM) + self.root_cert.public_bytes(
            serialization.Encoding.PEM
        )

    # --- quoting ---------------------------------------------------------------------------------

    def make_quote(
        self,
        *,
        mr_enclave: bytes,
        mr_signer: bytes,
        isv_prod_id: int,
        isv_svn: int,
        debug: bool,
        report_data: bytes,
    ) -> bytes:
        """An SGX ECDSA quote v3 for an enclave with this identity, in Intel's exact layout."""
        if len(report_data) != 64:
            raise ValueError(f"report_data must be 64 bytes, got {len(report_data)}")
        header = QuoteHeader(
            version=QUOTE_VERSION,
            att_key_type=ATT_KEY_TYPE_ECDSA_P256,
            tee_type=TEE_TYPE_SGX,
            qe_svn=EMULATED_QE_SVN,
            pce_svn=EMULATED_PCE_SVN,
            qe_vendor_id=EMULATED_QE_VENDOR_ID,
            user_data=bytes(20),
        )
        flags = FLAG_INIT | FLAG_MODE64BIT | (FLAG_DEBUG if debug else 0)
        body = ReportBody.build(
            mr_enclave=mr_enclave,
            mr_signer=mr_signer,
            isv_prod_id=isv_prod_id,
            isv_svn=isv_svn,
            flags=flags,
            xfrm=EMULATED_XFRM,
            report_data=report_data,
        )
        att_xy = self.attestation_public_xy
        qe_report = ReportBody.build(
            mr_enclave=EMULATED_QE_MR_ENCLAVE,
            mr_signer=EMULATED_QE_MR_SIGNER,
            isv_prod_id=EMULATED_QE_PROD_ID,
            isv_svn=EMULATED_QE_SVN,
            flags=FLAG_INIT | FLAG_MODE64BIT,
            xfrm=EMULATED_XFRM,
            report_data=hashlib.sha256(att_xy + QE_AUTH_DATA).digest() + bytes(32),
        )
        return Quote(
            header=header,
            body=body,
            isv_enclave_report_signature=_raw_signature(
                self._attestation_key, header.serialize() + body.serialize()
            ),
            attestation_key=att_xy,
            qe_report=qe_report,
            qe_report_signature=_raw_signature(self._pck_key, qe_report.serialize()),
            qe_auth_data=QE_AUTH_DATA,
            qe_cert_type=CERT_TYPE_PCK_CHAIN,
            qe_cert_data=self.chain_pem(),
        ).serialize()


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _cert_xy(cert: x509.Certificate) -> bytes:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AttestationError("SGX simulation secrets: sgx_pck_cert does not hold an EC key")
    return public_key_xy(key)
