"""Fuzz the OP-TEE signed TA image parser and verifier (``parse_ta``, ``ta_hash``, ``verify_ta``).

Signed images (PKCS#1 v1.5 and PSS) are mutated field by field: the fixed header integers set to
nearby valid or invalid values, bytes of the hash, the signature and the payload changed, the
image truncated or extended; optionally the header hash is recomputed after the edit, so the
verifier gets as far as the RSA signature check.  Only AttestationError is raised, a parsed image
re-packs to the same bytes, and a mutated image never verifies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from functools import cache

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from authex.attestation.trustzone import (
    ALG_RSA_PKCS1_V15_SHA256,
    ALG_RSA_PSS_SHA256,
    FIXED_HEADER_SIZE,
    HASH_SIZE,
    SHDR_MAGIC,
    generate_vendor_key,
    parse_ta,
    sign_ta,
    ta_hash,
    verify_ta,
)
from authex.errors import AttestationError

SCALE = max(1, int(os.environ.get("AUTHEX_FUZZ_SCALE", "1")))
PAYLOAD = b"TAPR\x34\x12" + bytes(range(200))
ALGOS = (ALG_RSA_PKCS1_V15_SHA256, ALG_RSA_PSS_SHA256)
# offset, struct format and interesting values of each fixed header field
FIELDS = (
    (0, "<I", (SHDR_MAGIC, 0, SHDR_MAGIC ^ 1, 0xFFFFFFFF)),
    (4, "<I", (0, 1, 2, 0xFFFFFFFF)),
    (8, "<I", (0, len(PAYLOAD) - 1, len(PAYLOAD) + 1, 0xFFFFFFFF)),
    (12, "<I", (*ALGOS, 0x70414830, 0)),
    (16, "<H", (0, 20, 31, 33, 0xFFFF)),
    (18, "<H", (0, 128, 256, 384, 512, 0xFFFF)),
)


@cache
def _key() -> rsa.RSAPrivateKey:
    return generate_vendor_key()


@cache
def _image(algo: int) -> bytes:
    return sign_ta(PAYLOAD, _key(), algo=algo)


@st.composite
def _mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    sig_end = FIXED_HEADER_SIZE + HASH_SIZE + 256
    regions = [(FIXED_HEADER_SIZE, HASH_SIZE), (FIXED_HEADER_SIZE + HASH_SIZE, 256)]
    regions.append((sig_end, len(original) - sig_end))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(("field", "field", "byte", "byte", "truncate", "extend")))
        if op == "field":
            offset, fmt, values = draw(st.sampled_from(FIELDS))
            size = struct.calcsize(fmt)
            value = draw(st.sampled_from(values) | st.integers(0, (1 << (8 * size)) - 1))
            if offset + size <= len(data):
                struct.pack_into(fmt, data, offset, value)
        elif op == "byte":
            start, size = draw(st.sampled_from(regions))
            pos = start + draw(st.integers(0, size - 1))
            if pos < len(data):
                data[pos] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        else:
            data += draw(st.binary(min_size=1, max_size=16))
    if draw(st.booleans()) and len(data) >= sig_end:
        # recompute the hash over the (mutated) fixed header and payload: only the
        # signature stands between this image and acceptance
        fixed = bytes(data[:FIXED_HEADER_SIZE])
        digest = hashlib.sha256(fixed + bytes(data[sig_end:])).digest()
        data[FIXED_HEADER_SIZE : FIXED_HEADER_SIZE + HASH_SIZE] = digest
    return bytes(data)


def test_both_algorithms_verify() -> None:
    for algo in ALGOS:
        header, payload = verify_ta(_image(algo), _key().public_key())
        assert (header.algo, payload) == (algo, PAYLOAD)


@settings(max_examples=250 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), algo=st.sampled_from(ALGOS))
def test_mutated_images(data: st.DataObject, algo: int) -> None:
    original = _image(algo)
    image = data.draw(_mutated(original))
    try:
        header, payload = parse_ta(image)
    except AttestationError as exc:
        assert str(exc).startswith("TA ")
        event("parse rejected")
        return
    assert header.pack() + payload == image
    try:
        assert ta_hash(image) == header.hash
    except AttestationError:
        event("hash rejected")
    try:
        verify_ta(image, _key().public_key())
    except AttestationError:
        event("verify rejected")
        return
    assert image == original, "a mutated TA image verified"


@settings(max_examples=150 * SCALE, deadline=None)
@given(st.binary(max_size=400))
@example(struct.pack("<IIIIHH", SHDR_MAGIC, 0, 0, ALG_RSA_PSS_SHA256, 32, 256))
@example(struct.pack("<IIIIHH", SHDR_MAGIC, 0, 0xFFFFFFFF, ALG_RSA_PSS_SHA256, 32, 512))
def test_random_bytes(image: bytes) -> None:
    for check in (parse_ta, ta_hash, lambda i: verify_ta(i, _key().public_key())):
        with contextlib.suppress(AttestationError):
            check(image)


@settings(max_examples=100 * SCALE, deadline=None)
@given(
    algo=st.sampled_from(ALGOS),
    img_size=st.integers(0, 64),
    sig_size=st.sampled_from((256, 384, 512)),
    body=st.binary(max_size=700),
)
def test_valid_header_random_body(algo: int, img_size: int, sig_size: int, body: bytes) -> None:
    fixed = struct.pack("<IIIIHH", SHDR_MAGIC, 0, img_size, algo, HASH_SIZE, sig_size)
    try:
        verify_ta(fixed + body, _key().public_key())
    except AttestationError:
        return
    raise AssertionError("an image with a random body verified")
