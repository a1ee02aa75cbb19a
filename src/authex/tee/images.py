"""Artifact envelopes per TEE kind: what the deployer ships and the platform admits.

- native: the module artifact (a ZIP) as built.
- sancus: ``"SMOD" || LE16 vendor_id || LE16 public_start || LE16 public_end ||
  LE16 secret_start || LE16 secret_end || text`` where text is the artifact.  The Sancus module
  identity is text || the four LE16 addresses; the text occupies [public_start, public_end).
- trustzone: an OP-TEE signed TA image whose signed payload is
  ``"TAPR" || LE16 vendor_id || artifact``.
- sgx: ``"SGXE" || LE16 isv_prod_id || LE16 isv_svn || u8 debug || signer (32) || artifact``,
  where signer is the operator's Ed25519 public key (the key compiled into the module);
  MRENCLAVE is the SHA-256 of this whole image and MRSIGNER = SHA-256(signer) (the header plays
  the role of SIGSTRUCT, the artifact of the enclave pages, whatever its language).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from authex.errors import BackendError

SANCUS_MAGIC = b"SMOD"
TA_MAGIC = b"TAPR"
SGX_MAGIC = b"SGXE"
SANCUS_PUBLIC_START = 0x4000
SANCUS_SECRET_START = 0x0200
SANCUS_SECRET_SIZE = 0x0100
SANCUS_MAX_TEXT = 0xFFFF - SANCUS_PUBLIC_START  # public_end must fit in 16 bits


@dataclass(frozen=True)
class SancusLayout:
    public_start: int
    public_end: int
    secret_start: int
    secret_end: int

    def pack(self) -> bytes:
        return struct.pack(
            "<HHHH", self.public_start, self.public_end, self.secret_start, self.secret_end
        )


@dataclass(frozen=True)
class SancusImage:
    vendor_id: int
    layout: SancusLayout
    text: bytes

    @property
    def identity(self) -> bytes:
        """What the Sancus hardware MACs to derive K_m: text || LE16 layout addresses."""
        return self.text + self.layout.pack()

    @property
    def measurement(self) -> bytes:
        return hashlib.sha256(self.identity).digest()


def sancus_image(artifact: bytes, vendor_id: int) -> bytes:
    if len(artifact) > SANCUS_MAX_TEXT:
        raise BackendError(
            f"module text of {len(artifact)} bytes does not fit the Sancus 16-bit address space "
            f"(at most {SANCUS_MAX_TEXT} bytes from 0x{SANCUS_PUBLIC_START:04x})"
        )
    layout = SancusLayout(
        SANCUS_PUBLIC_START,
        SANCUS_PUBLIC_START + len(artifact),
        SANCUS_SECRET_START,
        SANCUS_SECRET_START + SANCUS_SECRET_SIZE,
    )
    return SANCUS_MAGIC + struct.pack("<H", vendor_id) + layout.pack() + artifact


def parse_sancus_image(image: bytes) -> SancusImage:
    if len(image) < 14 or image[:4] != SANCUS_MAGIC:
        raise BackendError("not a Sancus module image (bad magic or too short)")
    vendor_id, ps, pe, ss, se = struct.unpack_from("<HHHHH", image, 4)
    text = image[14:]
    if pe - ps != len(text) or not ps < pe <= 0x10000 or not ss < se <= 0x10000:
        raise BackendError(
            f"Sancus layout {ps:#06x}-{pe:#06x} / {ss:#06x}-{se:#06x} does not match the "
            f"{len(text)}-byte text"
        )
    if ps < se and ss < pe:
        raise BackendError("Sancus text and secret sections overlap")
    return SancusImage(vendor_id, SancusLayout(ps, pe, ss, se), text)


def ta_payload(artifact: bytes, vendor_id: int) -> bytes:
    return TA_MAGIC + struct.pack("<H", vendor_id) + artifact


def parse_ta_payload(payload: bytes) -> tuple[int, bytes]:
    if len(payload) < 6 or payload[:4] != TA_MAGIC:
        raise BackendError("TA payload lacks its properties header")
    (vendor_id,) = struct.unpack_from("<H", payload, 4)
    return vendor_id, payload[6:]


SGX_SIGNER_SIZE = 32
_SGX_HEADER = 4 + 5 + SGX_SIGNER_SIZE


@dataclass(frozen=True)
class SgxAttributes:
    isv_prod_id: int
    isv_svn: int
    debug: bool
    signer: bytes = bytes(SGX_SIGNER_SIZE)  # the operator's Ed25519 public key


def sgx_image(artifact: bytes, attributes: SgxAttributes) -> bytes:
    if len(attributes.signer) != SGX_SIGNER_SIZE:
        raise BackendError(f"the SGX signer key must be {SGX_SIGNER_SIZE} bytes")
    header = struct.pack(
        "<HHB", attributes.isv_prod_id, attributes.isv_svn, 1 if attributes.debug else 0
    )
    return SGX_MAGIC + header + attributes.signer + artifact


def parse_sgx_image(image: bytes) -> tuple[SgxAttributes, bytes]:
    if len(image) < _SGX_HEADER or image[:4] != SGX_MAGIC:
        raise BackendError("not an SGX enclave image (bad magic or too short)")
    prod, svn, debug = struct.unpack_from("<HHB", image, 4)
    if debug not in (0, 1):
        raise BackendError(f"SGX enclave image has an invalid debug flag {debug}")
    signer = image[9:_SGX_HEADER]
    return SgxAttributes(prod, svn, bool(debug), signer), image[_SGX_HEADER:]


def mr_enclave(image: bytes) -> bytes:
    return hashlib.sha256(image).digest()


def mr_signer(operator_public: bytes) -> bytes:
    """The enclave signer identity: SHA-256 of the operator key compiled into the module."""
    return hashlib.sha256(operator_public).digest()
