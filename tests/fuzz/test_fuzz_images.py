"""Fuzz the TEE artifact envelopes: ``parse_sancus_image``, ``parse_sgx_image``,
``parse_ta_payload``.  Random bytes, valid magic with random fields, and mutated valid images
raise only BackendError; whatever parses satisfies the envelope's invariants and re-packs to the
same bytes."""

from __future__ import annotations

import os
import struct

from hypothesis import example, given, settings
from hypothesis import strategies as st

from authex.errors import BackendError
from authex.tee.images import (
    SANCUS_MAGIC,
    SGX_MAGIC,
    TA_MAGIC,
    SgxAttributes,
    parse_sancus_image,
    parse_sgx_image,
    parse_ta_payload,
    sancus_image,
    sgx_image,
    ta_payload,
)

SCALE = max(1, int(os.environ.get("AUTHEX_FUZZ_SCALE", "1")))
ARTIFACT = b"PK\x03\x04" + bytes(range(60))
VALID = {
    "sancus": sancus_image(ARTIFACT, 0x1234),
    "sgx": sgx_image(ARTIFACT, SgxAttributes(7, 3, True)),
    "ta": ta_payload(ARTIFACT, 0x1234),
}
MAGICS = st.sampled_from((SANCUS_MAGIC, SGX_MAGIC, TA_MAGIC, b"", b"SMO", b"smod"))
U16 = st.sampled_from((0, 1, 0x00FF, 0x0200, 0x0300, 0x4000, 0x4040, 0xFFFF)) | st.integers(
    0, 0xFFFF
)


def _check_all(image: bytes) -> None:
    try:
        sancus = parse_sancus_image(image)
    except BackendError as exc:
        assert "Sancus" in str(exc)
    else:
        layout = sancus.layout
        assert layout.public_end - layout.public_start == len(sancus.text)
        assert layout.public_end <= 0x10000 and layout.secret_end <= 0x10000
        assert layout.public_end <= layout.secret_start or layout.secret_end <= layout.public_start
        assert SANCUS_MAGIC + struct.pack("<H", sancus.vendor_id) + layout.pack() + sancus.text == (
            image
        )
    try:
        attributes, artifact = parse_sgx_image(image)
    except BackendError as exc:
        assert "SGX" in str(exc)
    else:
        assert sgx_image(artifact, attributes) == image
    try:
        vendor_id, inner = parse_ta_payload(image)
    except BackendError as exc:
        assert "TA payload" in str(exc)
    else:
        assert ta_payload(inner, vendor_id) == image


def test_valid_images_parse() -> None:
    assert parse_sancus_image(VALID["sancus"]).text == ARTIFACT
    assert parse_sgx_image(VALID["sgx"]) == (SgxAttributes(7, 3, True), ARTIFACT)
    assert parse_ta_payload(VALID["ta"]) == (0x1234, ARTIFACT)


@settings(max_examples=200 * SCALE, deadline=None)
@given(st.binary(max_size=64))
@example(b"")
@example(SANCUS_MAGIC + bytes(10))
@example(SGX_MAGIC + bytes(4) + b"\x02")
def test_random_bytes(image: bytes) -> None:
    _check_all(image)


@settings(max_examples=300 * SCALE, deadline=None)
@given(magic=MAGICS, fields=st.lists(U16, min_size=0, max_size=5), text=st.binary(max_size=80))
@example(magic=SANCUS_MAGIC, fields=[0, 0x4000, 0x4001, 0x0200, 0x0300], text=b"x")
@example(magic=SANCUS_MAGIC, fields=[0, 0xFFFF, 0xFFFF, 0x0200, 0x0300], text=b"")
@example(magic=SANCUS_MAGIC, fields=[0, 0x0250, 0x0251, 0x0200, 0x0300], text=b"x")
@example(magic=SANCUS_MAGIC, fields=[0, 0xFFFF, 0x0000, 0x0200, 0x0300], text=b"x")
def test_valid_magic_random_fields(magic: bytes, fields: list[int], text: bytes) -> None:
    """Aims at the Sancus layout checks: sizes, wrap-around and overlapping sections."""
    _check_all(magic + b"".join(struct.pack("<H", f) for f in fields) + text)


@settings(max_examples=200 * SCALE, deadline=None)
@given(
    kind=st.sampled_from(sorted(VALID)),
    edits=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 255)), min_size=1, max_size=3),
    cut=st.none() | st.integers(0, 20),
    tail=st.binary(max_size=4),
)
def test_mutated_valid_images(
    kind: str, edits: list[tuple[int, int]], cut: int | None, tail: bytes
) -> None:
    image = bytearray(VALID[kind])
    for pos, value in edits:  # the headers live in the first 14 bytes
        image[pos] = value
    if cut is not None:
        del image[cut:]
    _check_all(bytes(image) + tail)
