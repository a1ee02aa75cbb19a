"""The DCAP quote verifier: one path for emulated and real SGX ECDSA quotes v3.

``verify_quote`` runs the DCAP steps in order and stops at the first that fails, raising
``AttestationError`` whose message names the step and the reason:

1. parse          the quote's exact v3 layout (``quote.parse``)
2. emulation      an emulated quote (QE vendor id ``EMULATED_QE_VENDOR_ID``) needs
                  ``policy.allow_emulated``
3. certificates   certification data type 5 holds a PEM chain, leaf first
4. chain          every link is issued by the next (name and signature), issuers are CAs, the
                  chain ends at (or is issued by) a pinned root, every certificate is valid at
                  ``now``; a chain ending at a simulation root must come with the emulation marker
5. QE report      the QE report body is signed by the PCK leaf's key
6. key binding    QE report_data = SHA-256(attestation key || QE auth data) || 32 zero bytes
7. quote          the attestation key signs header || ISV report body
8. report data    the ISV report_data equals the verifier's expected 64 bytes (nonce binding)
9. policy         MRENCLAVE, MRSIGNER, DEBUG, ISVSVN >= minimum, ISV product id

It does not evaluate Intel TCB levels, QE identity or revocation lists: for real Intel quotes that
collateral is checked by ``authex.attestation.sgx.intel`` (dcap-qvl).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from authex.attestation.sgx.quote import CERT_TYPE_PCK_CHAIN, Quote, parse
from authex.attestation.sgx.simulation import EMULATED_QE_VENDOR_ID, EMULATED_ROOT_MARKER
from authex.errors import AttestationError

MAX_CHAIN_LENGTH = 5

EMULATED_REJECTED = (
    "quote comes from an emulated SGX platform; set policy allow_emulated to accept it"
)
NOT_BOUND = "report_data is not bound to this verifier's nonce (replayed or foreign quote)"


@dataclass(frozen=True)
class SgxPolicy:
    """What the verifier accepts.  ``None`` for mr_enclave or mr_signer means "any", but a policy
    must pin at least one of them."""

    mr_enclave: bytes | None
    mr_signer: bytes | None
    allow_debug: bool = False
    min_isv_svn: int = 0
    isv_prod_id: int | None = None
    allow_emulated: bool = False

    def __post_init__(self) -> None:
        if self.mr_enclave is None and self.mr_signer is None:
            raise ValueError("an SGX policy must pin mr_enclave or mr_signer (or both)")
        for name in ("mr_enclave", "mr_signer"):
            value = getattr(self, name)
            if value is not None and len(value) != 32:
                raise ValueError(f"policy {name} must be 32 bytes, got {len(value)}")


@dataclass(frozen=True)
class VerifiedQuote:
    """A quote that passed every step; ``emulated`` says whether a simulation CA vouched for it."""

    quote: Quote
    emulated: bool
    mr_enclave: bytes
    mr_signer: bytes
    debug: bool
    isv_svn: int
    report_data: bytes


def _fail(step: str, why: str) -> AttestationError:
    return AttestationError(f"SGX quote rejected at step '{step}': {why}")


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _load_chain(quote: Quote) -> list[x509.Certificate]:
    if quote.qe_cert_type != CERT_TYPE_PCK_CHAIN:
        raise _fail(
            "certificates",
            f"certification data type {quote.qe_cert_type} is not supported; only type "
            f"{CERT_TYPE_PCK_CHAIN} (PEM PCK certificate chain) carries a verifiable chain",
        )
    try:
        chain = x509.load_pem_x509_certificates(quote.qe_cert_data.rstrip(b"\x00"))
    except (ValueError, x509.InvalidVersion) as exc:
        raise _fail("certificates", f"PCK certificate chain is not valid PEM: {exc}") from exc
    if len(chain) > MAX_CHAIN_LENGTH:
        raise _fail("certificates", f"PCK chain has {len(chain)} certificates (limit 5)")
    for index, cert in enumerate(chain):
        # cryptography parses names, extensions and keys lazily: force it here, so a malformed
        # certificate is refused now instead of escaping later as a library exception
        try:
            cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            for _ in cert.extensions:
                pass
            cert.public_key()
            _ = cert.signature_hash_algorithm, cert.not_valid_before_utc, cert.not_valid_after_utc
        except Exception as exc:  # ValueError, DuplicateExtension, UnsupportedAlgorithm, ...
            raise _fail(
                "certificates", f"certificate {index} of the PCK chain is malformed: {exc}"
            ) from exc
    return chain


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """None if ``issuer`` issued ``cert`` (name match and signature), else the reason."""
    constraints = issuer.extensions.get_extension_for_class
    try:
        is_ca = constraints(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return f"issuer {_name(issuer)!r} is not a CA certificate"
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return f"signature on {_name(cert)!r} does not verify with {_name(issuer)!r}"
    except (ValueError, TypeError) as exc:
        return f"{_name(cert)!r} is not issued by {_name(issuer)!r}: {exc}"
    return None


def _verify_chain(
    chain: list[x509.Certificate], pinned: Sequence[x509.Certificate], now: datetime
) -> x509.Certificate:
    """Check the chain up to a pinned root; return that root."""
    if not pinned:
        raise _fail("chain", "no pinned root certificates were given")
    for cert, issuer in itertools.pairwise(chain):
        problem = _issued_by(cert, issuer)
        if problem:
            raise _fail("chain", problem)
    last = chain[-1]
    anchor = next((r for r in pinned if r == last), None)
    if anchor is None:
        candidates = [r for r in pinned if r.subject == last.issuer]
        for root in candidates:
            if _issued_by(last, root) is None:
                anchor = root
                chain = [*chain, root]
                break
    if anchor is None:
        raise _fail(
            "chain",
            f"certificate chain does not end at a pinned root (it ends at {_name(last)!r}, "
            f"issued by {last.issuer.rfc4514_string()!r})",
        )
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise _fail(
                "chain",
                f"certificate {_name(cert)!r} is not valid at {now.isoformat()} (valid "
                f"{cert.not_valid_before_utc.isoformat()} to "
                f"{cert.not_valid_after_utc.isoformat()})",
            )
    return anchor


def _p256(key: object, what: str, step: str) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _fail(step, f"{what} is not an ECDSA P-256 key")
    return key


def _check_raw_signature(
    key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes, step: str, what: str
) -> None:
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _fail(step, f"{what} does not verify") from None


def _is_emulated_root(root: x509.Certificate) -> bool:
    names = root.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return any(EMULATED_ROOT_MARKER in str(attr.value) for attr in names)


def _check_policy(quote: Quote, policy: SgxPolicy) -> None:
    body = quote.body
    want_enclave, want_signer = policy.mr_enclave, policy.mr_signer
    if want_enclave is not None and not hmac.compare_digest(body.mr_enclave, want_enclave):
        raise _fail(
            "policy",
            f"MRENCLAVE {body.mr_enclave.hex()} is not the expected {want_enclave.hex()}",
        )
    if want_signer is not None and not hmac.compare_digest(body.mr_signer, want_signer):
        raise _fail(
            "policy",
            f"MRSIGNER {body.mr_signer.hex()} is not the expected {want_signer.hex()}",
        )
    if body.debug and not policy.allow_debug:
        raise _fail(
            "policy",
            "the enclave runs in DEBUG mode (its memory is readable by the host); set policy "
            "allow_debug to accept it",
        )
    if body.isv_svn < policy.min_isv_svn:
        raise _fail("policy", f"ISVSVN {body.isv_svn} is below the minimum {policy.min_isv_svn}")
    if policy.isv_prod_id is not None and body.isv_prod_id != policy.isv_prod_id:
        raise _fail(
            "policy",
            f"ISV product id {body.isv_prod_id} is not the expected {policy.isv_prod_id}",
        )


def verify_quote(
    quote_bytes: bytes,
    *,
    pinned_roots: Sequence[x509.Certificate],
    policy: SgxPolicy,
    expected_report_data: bytes,
    now: datetime,
) -> VerifiedQuote:
    """Run every DCAP step on ``quote_bytes`` (see the module docstring).  A naive ``now`` is
    taken as UTC."""
    if len(expected_report_data) != 64:
        raise ValueError(f"expected_report_data must be 64 bytes, got {len(expected_report_data)}")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        quote = parse(quote_bytes)
    except AttestationError as exc:
        raise _fail("parse", exc.message) from exc

    emulated = quote.header.qe_vendor_id == EMULATED_QE_VENDOR_ID
    if emulated and not policy.allow_emulated:
        raise _fail("emulation", EMULATED_REJECTED)

    chain = _load_chain(quote)
    root = _verify_chain(chain, pinned_roots, now)
    if _is_emulated_root(root) and not emulated:
        raise _fail(
            "chain",
            "the chain ends at an SGX simulation root but the quote lacks the emulated marker",
        )

    pck_key = _p256(chain[0].public_key(), "the PCK certificate's key", "QE report")
    _check_raw_signature(
        pck_key,
        quote.qe_report_signature,
        quote.qe_report.serialize(),
        "QE report",
        "the QE report signature (by the PCK key)",
    )

    expected_binding = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest()
    if not hmac.compare_digest(quote.qe_report.report_data[:32], expected_binding):
        raise _fail(
            "key binding",
            "the QE report's report_data is not SHA-256(attestation key || QE auth data)",
        )

    try:
        att_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b"\x04" + quote.attestation_key
        )
    except ValueError as exc:
        raise _fail("quote", "the attestation key is not a point on P-256") from exc
    _check_raw_signature(
        att_key,
        quote.isv_enclave_report_signature,
        quote.signed_data,
        "quote",
        "the quote signature over header and ISV report body (by the attestation key)",
    )

    if not hmac.compare_digest(quote.body.report_data, expected_report_data):
        raise _fail("report data", NOT_BOUND)

    _check_policy(quote, policy)
    return VerifiedQuote(
        quote=quote,
        emulated=emulated,
        mr_enclave=quote.body.mr_enclave,
        mr_signer=quote.body.mr_signer,
        debug=quote.body.debug,
        isv_svn=quote.body.isv_svn,
        report_data=quote.body.report_data,
    )
