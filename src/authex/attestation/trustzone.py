"""TrustZone (OP-TEE): signed TA images, the HUK-based key hierarchy, challenge-MAC attestation.

**Signed TA image** (OP-TEE ``struct shdr`` layout, all integers little-endian)::

    offset  size      field
    0       u32       magic      = 0x4f545348 ("HSTO" on the wire)
    4       u32       img_type   = 0 (SHDR_TA, a plain signed TA)
    8       u32       img_size   = len(payload)
    12      u32       algo       = 0x70004830 (RSASSA-PKCS1-v1_5-SHA256, default)
                                   or 0x70414930 (RSASSA-PSS-MGF1-SHA256, salt 32 bytes)
    16      u16       hash_size  = 32
    18      u16       sig_size   = RSA modulus size in bytes (256 for RSA-2048)
    20      32        hash       = SHA-256(header[0:20] || payload)
    52      sig_size  signature  = RSA signature over ``hash`` (as a prehashed SHA-256 digest)
    ...     img_size  payload

``hash`` is the TA's measurement; the image is accepted only if it matches the payload and the
signature verifies with the enrolled vendor (TA-signing) public key, as OP-TEE's loader checks.

**Key hierarchy** (HKDF-SHA256, RFC 5869, salt absent = 32 zero bytes, 16-byte output)::

    K_vendor = HKDF(ikm=HUK,      info=b"authex trustzone vendor key v1" || LE32(vendor_id))
    K_m      = HKDF(ikm=K_vendor, info=b"authex trustzone module key v1" || ta_hash)

**Attestation**: ``response = HMAC-SHA256(K_m, b"authex-tz-attest-v1" || challenge)[:16]`` for a
16..64-byte challenge; the verifier compares in constant time.

The RSA key that signs TAs ("vendor signing key") and ``K_vendor`` (a symmetric key derived from
the HUK) are different keys; see docs/trustzone.md.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authex.crypto.digest import equal, hmac_sha256, sha256
from authex.errors import AttestationError

SHDR_MAGIC = 0x4F545348
SHDR_TA = 0
ALG_RSA_PKCS1_V15_SHA256 = 0x70004830
ALG_RSA_PSS_SHA256 = 0x70414930
SUPPORTED_ALGOS = {
    ALG_RSA_PKCS1_V15_SHA256: "TEE_ALG_RSASSA_PKCS1_V1_5_SHA256",
    ALG_RSA_PSS_SHA256: "TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256",
}
HASH_SIZE = 32
SIG_SIZES = (256, 384, 512)  # RSA-2048, -3072, -4096
VENDOR_KEY_BITS = 2048

HUK_SIZE = 16
KEY_SIZE = 16
MAC_SIZE = 16
CHALLENGE_MIN = 16
CHALLENGE_MAX = 64

VENDOR_KEY_INFO = b"authex trustzone vendor key v1"
MODULE_KEY_INFO = b"authex trustzone module key v1"
ATTEST_LABEL = b"authex-tz-attest-v1"

_FIXED = struct.Struct("<IIIIHH")
FIXED_HEADER_SIZE = _FIXED.size  # 20: the part of the header that the hash covers


@dataclass(frozen=True)
class TaHeader:
    """A parsed OP-TEE signed header (``struct shdr`` followed by hash and signature)."""

    magic: int
    img_type: int
    img_size: int
    algo: int
    hash_size: int
    sig_size: int
    hash: bytes
    signature: bytes

    def fixed(self) -> bytes:
        """The first 20 header bytes (magic..sig_size), the part covered by ``hash``."""
        return _FIXED.pack(
            self.magic, self.img_type, self.img_size, self.algo, self.hash_size, self.sig_size
        )

    def pack(self) -> bytes:
        return self.fixed() + self.hash + self.signature

    @property
    def size(self) -> int:
        """The length of the whole header: 20 + hash_size + sig_size."""
        return FIXED_HEADER_SIZE + self.hash_size + self.sig_size


def _padding(algo: int) -> padding.AsymmetricPadding:
    if algo == ALG_RSA_PSS_SHA256:
        return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=HASH_SIZE)
    return padding.PKCS1v15()


def _image_hash(fixed: bytes, payload: bytes) -> bytes:
    return sha256(fixed + payload)


def sign_ta(
    payload: bytes, vendor_key: rsa.RSAPrivateKey, *, algo: int = ALG_RSA_PKCS1_V15_SHA256
) -> bytes:
    """The signed TA image ``header || payload`` for ``payload``, signed with ``vendor_key``."""
    if algo not in SUPPORTED_ALGOS:
        raise AttestationError(f"TA signing algorithm {algo:#010x} is not supported")
    sig_size = vendor_key.key_size // 8
    if vendor_key.key_size % 8 or sig_size not in SIG_SIZES:
        raise AttestationError(
            f"a {vendor_key.key_size}-bit RSA key cannot sign TAs (use 2048, 3072 or 4096 bits)"
        )
    if len(payload) > 0xFFFFFFFF:
        raise AttestationError("TA payload does not fit the 32-bit img_size field")
    fixed = _FIXED.pack(SHDR_MAGIC, SHDR_TA, len(payload), algo, HASH_SIZE, sig_size)
    digest = _image_hash(fixed, payload)
    signature = vendor_key.sign(digest, _padding(algo), utils.Prehashed(hashes.SHA256()))
    return fixed + digest + signature + bytes(payload)


def parse_ta(image: bytes) -> tuple[TaHeader, bytes]:
    """Split a signed TA image into its header and payload, checking every header field.

    Checks structure only; ``verify_ta`` also checks the hash and the signature.
    """
    image = bytes(image)
    if len(image) < FIXED_HEADER_SIZE:
        raise AttestationError(
            f"TA image is truncated: {len(image)} bytes, shorter than the "
            f"{FIXED_HEADER_SIZE}-byte signed header"
        )
    magic, img_type, img_size, algo, hash_size, sig_size = _FIXED.unpack_from(image)
    if magic != SHDR_MAGIC:
        raise AttestationError(
            f"TA header magic is {magic:#010x}, not {SHDR_MAGIC:#010x} (not a signed TA image)"
        )
    if img_type != SHDR_TA:
        raise AttestationError(
            f"TA header img_type is {img_type}; only {SHDR_TA} (SHDR_TA, a plain signed TA) "
            "is supported"
        )
    if algo not in SUPPORTED_ALGOS:
        raise AttestationError(
            f"TA header algo {algo:#010x} is not supported (expected "
            f"{ALG_RSA_PKCS1_V15_SHA256:#010x} or {ALG_RSA_PSS_SHA256:#010x})"
        )
    if hash_size != HASH_SIZE:
        raise AttestationError(
            f"TA header hash_size is {hash_size}, but SHA-256 digests are {HASH_SIZE} bytes"
        )
    if sig_size not in SIG_SIZES:
        raise AttestationError(
            f"TA header sig_size is {sig_size}; expected an RSA signature of "
            f"{', '.join(map(str, SIG_SIZES))} bytes"
        )
    header_size = FIXED_HEADER_SIZE + hash_size + sig_size
    if len(image) < header_size:
        raise AttestationError(
            f"TA image is truncated: {len(image)} bytes, but its header (hash_size {hash_size}, "
            f"sig_size {sig_size}) needs {header_size}"
        )
    payload = image[header_size:]
    if img_size != len(payload):
        raise AttestationError(
            f"TA header img_size is {img_size}, but the image carries a {len(payload)}-byte payload"
        )
    digest = image[FIXED_HEADER_SIZE : FIXED_HEADER_SIZE + hash_size]
    signature = image[FIXED_HEADER_SIZE + hash_size : header_size]
    header = TaHeader(magic, img_type, img_size, algo, hash_size, sig_size, digest, signature)
    return header, payload


def _check_hash(header: TaHeader, payload: bytes) -> None:
    if not equal(_image_hash(header.fixed(), payload), header.hash):
        raise AttestationError("TA payload does not match the header hash")


def verify_ta(image: bytes, vendor_public: rsa.RSAPublicKey) -> tuple[TaHeader, bytes]:
    """Check a signed TA image as OP-TEE's loader does; return its header and payload."""
    header, payload = parse_ta(image)
    if header.sig_size * 8 != vendor_public.key_size:
        raise AttestationError(
            f"TA header sig_size is {header.sig_size}, but the vendor key is a "
            f"{vendor_public.key_size}-bit RSA key"
        )
    _check_hash(header, payload)
    try:
        vendor_public.verify(
            header.signature,
            header.hash,
            _padding(header.algo),
            utils.Prehashed(hashes.SHA256()),
        )
    except InvalidSignature:
        raise AttestationError("TA signature does not verify with the vendor key") from None
    return header, payload


def ta_hash(image: bytes) -> bytes:
    """The TA's measurement: its header hash, after checking that it matches the payload.

    This does not check the signature (that needs the vendor key: use ``verify_ta``).
    """
    header, payload = parse_ta(image)
    _check_hash(header, payload)
    return header.hash


# --- TA vendor (signing) keys ---------------------------------------------------------------


def generate_vendor_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 TA-signing key (public exponent 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=VENDOR_KEY_BITS)


def vendor_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """The private TA-signing key as unencrypted PKCS#8 PEM (store it mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def vendor_public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """The public TA-signing key as SubjectPublicKeyInfo PEM (what a platform enrols)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_rsa_size(bits: int, what: str) -> None:
    if bits % 8 or bits // 8 not in SIG_SIZES:
        raise AttestationError(f"{what} is a {bits}-bit RSA key; TAs need 2048, 3072 or 4096 bits")


def load_vendor_key(pem: bytes) -> rsa.RSAPrivateKey:
    """Load a PEM TA-signing private key (unencrypted); errors never echo the key material."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AttestationError("not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AttestationError("the TA-signing key is not an RSA key")
    _check_rsa_size(key.key_size, "the TA-signing key")
    return key


def load_vendor_public(pem: bytes) -> rsa.RSAPublicKey:
    """Load a PEM TA-signing public key (SubjectPublicKeyInfo or PKCS#1)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise AttestationError("not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise AttestationError("the TA vendor public key is not an RSA key")
    _check_rsa_size(key.key_size, "the TA vendor public key")
    return key


# --- key hierarchy and attestation ----------------------------------------------------------


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(ikm)


def generate_huk() -> bytes:
    """A fresh 16-byte hardware unique key (OP-TEE's HUK size)."""
    return os.urandom(HUK_SIZE)


def vendor_key(huk: bytes, vendor_id: int) -> bytes:
    """K_vendor = HKDF-SHA256(ikm=HUK, salt=none, info="authex trustzone vendor key v1" ||
    LE32(vendor_id)), 16 bytes."""
    _check_len("HUK", huk, HUK_SIZE)
    if not 0 <= vendor_id <= 0xFFFFFFFF:
        raise ValueError(f"vendor_id must fit in 32 bits, got {vendor_id}")
    return _hkdf(bytes(huk), VENDOR_KEY_INFO + struct.pack("<I", vendor_id))


def module_key(k_vendor: bytes, ta_hash: bytes) -> bytes:
    """K_m = HKDF-SHA256(ikm=K_vendor, salt=none, info="authex trustzone module key v1" ||
    ta_hash), 16 bytes."""
    _check_len("K_vendor", k_vendor, KEY_SIZE)
    _check_len("TA hash", ta_hash, HASH_SIZE)
    return _hkdf(bytes(k_vendor), MODULE_KEY_INFO + bytes(ta_hash))


def _check_challenge(challenge: bytes) -> None:
    if not CHALLENGE_MIN <= len(challenge) <= CHALLENGE_MAX:
        raise AttestationError(
            f"TrustZone attestation challenge is {len(challenge)} bytes; it must be "
            f"{CHALLENGE_MIN} to {CHALLENGE_MAX} bytes"
        )


def attestation_mac(k_m: bytes, challenge: bytes) -> bytes:
    """HMAC-SHA256(K_m, "authex-tz-attest-v1" || challenge), truncated to 16 bytes."""
    _check_len("K_m", k_m, KEY_SIZE)
    _check_challenge(challenge)
    tag = hmac_sha256(bytes(k_m), ATTEST_LABEL + bytes(challenge))
    return tag[:MAC_SIZE]


def check_attestation(k_m: bytes, challenge: bytes, response: bytes) -> None:
    """Accept ``response`` only if it is the attestation MAC of ``challenge`` under ``K_m``."""
    expected = attestation_mac(k_m, challenge)
    if len(response) != MAC_SIZE or not equal(expected, bytes(response)):
        raise AttestationError(
            "TrustZone attestation MAC does not verify under the module key "
            "(wrong TA, wrong platform, or a replayed or altered response)"
        )
