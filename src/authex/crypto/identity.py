"""TLS identities for the control plane: self-signed Ed25519 certificates that peers pin.

A node's identity certificate is created by ``authex node init`` and pinned by the operator in
the trust file; the operator's certificate is made from the operator key (the same key whose
public half is compiled into every module) and enrolled on each node.  Trust is by pinning the
exact certificate, not by any certificate authority or host name.
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from authex.errors import AuthexError

VALIDITY = datetime.timedelta(days=3650)


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: 16 hex digits of its SHA-256."""
    return _raw_key_id(public.public_bytes_raw())


def _raw_key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def make_certificate(key: Ed25519PrivateKey, common_name: str) -> bytes:
    """A self-signed certificate for ``key`` (PEM), usable as its own pinned trust anchor.

    The subject carries the key's id (``common_name KEYID``) and the certificate its subject
    key identifier: a node that enrols several operators holds several self-signed anchors, and
    OpenSSL picks the anchor for a client certificate by subject and key identifier — with one
    subject for all of them it tried only the first, so a second operator was refused."""
    public = key.public_key()
    subject = f"{common_name} {key_id(public)}"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    identifier = x509.SubjectKeyIdentifier.from_public_key(public)
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(identifier, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier),
            critical=False,
        )
        .sign(key, None)
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes, *, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, None)
    except ValueError as exc:
        raise AuthexError("not a PEM private key", where=where) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthexError("identity keys must be Ed25519", where=where)
    return key


def certificate_key(pem: str | bytes, *, where: str) -> bytes:
    """The raw Ed25519 public key of a certificate, PEM or DER (a TLS peer's certificate)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            public = x509.load_pem_x509_certificate(data).public_key()
        else:
            public = x509.load_der_x509_certificate(data).public_key()
    except ValueError as exc:
        raise AuthexError("not an X.509 certificate (PEM or DER)", where=where) from exc
    if not isinstance(public, Ed25519PublicKey):
        raise AuthexError("identity certificates must carry an Ed25519 key", where=where)
    return public.public_bytes_raw()


def certificate_key_id(data: str | bytes, *, where: str) -> str:
    """The key id (:func:`key_id`) of a certificate's Ed25519 key, PEM or DER."""
    return _raw_key_id(certificate_key(data, where=where))
