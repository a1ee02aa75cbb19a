"""Artifact envelopes per TEE kind: exact layouts, round trips, and clear refusals."""

from __future__ import annotations

import hashlib
import struct

import pytest

from authex.errors import BackendError
from authex.tee.images import (
    SANCUS_MAX_TEXT,
    SANCUS_PUBLIC_START,
    SANCUS_SECRET_SIZE,
    SANCUS_SECRET_START,
    SancusLayout,
    SgxAttributes,
    mr_enclave,
    mr_signer,
    parse_sancus_image,
    parse_sgx_image,
    parse_ta_payload,
    sancus_image,
    sgx_image,
    ta_payload,
)

ARTIFACT = b"PK\x03\x04 module artifact " + bytes(range(256))


def sancus_header(vendor: int, ps: int, pe: int, ss: int, se: int) -> bytes:
    return b"SMOD" + struct.pack("<HHHHH", vendor, ps, pe, ss, se)


# --- Sancus ----------------------------------------------------------------------------------


def test_sancus_image_layout_by_hand() -> None:
    image = sancus_image(ARTIFACT, 0x1234)
    end = SANCUS_PUBLIC_START + len(ARTIFACT)
    header = sancus_header(
        0x1234, SANCUS_PUBLIC_START, end, SANCUS_SECRET_START, SANCUS_SECRET_START + 0x100
    )
    assert image == header + ARTIFACT
    assert SANCUS_SECRET_SIZE == 0x100


def test_sancus_round_trip() -> None:
    parsed = parse_sancus_image(sancus_image(ARTIFACT, 4660))
    assert parsed.vendor_id == 4660
    assert parsed.text == ARTIFACT
    assert parsed.layout == SancusLayout(
        0x4000, 0x4000 + len(ARTIFACT), SANCUS_SECRET_START, SANCUS_SECRET_START + 0x100
    )
    identity = ARTIFACT + struct.pack("<HHHH", 0x4000, 0x4000 + len(ARTIFACT), 0x200, 0x300)
    assert parsed.identity == identity
    assert parsed.measurement == hashlib.sha256(identity).digest()


def test_sancus_measurement_depends_on_text_and_layout() -> None:
    a = parse_sancus_image(sancus_image(ARTIFACT, 1))
    assert a.measurement == parse_sancus_image(sancus_image(ARTIFACT, 2)).measurement  # not vid
    assert a.measurement != parse_sancus_image(sancus_image(ARTIFACT + b"!", 1)).measurement


def test_sancus_text_beyond_the_address_space_is_refused() -> None:
    with pytest.raises(BackendError, match="does not fit the Sancus 16-bit address space"):
        sancus_image(b"\x00" * (SANCUS_MAX_TEXT + 1), 1)
    big = b"\x01" * (SANCUS_MAX_TEXT - 1)
    parsed = parse_sancus_image(sancus_image(big, 1))
    assert parsed.layout.public_end == SANCUS_PUBLIC_START + len(big) <= 0xFFFF


def test_sancus_text_of_the_documented_maximum_size() -> None:
    biggest = b"\x00" * SANCUS_MAX_TEXT
    assert parse_sancus_image(sancus_image(biggest, 1)).text == biggest


def test_sancus_empty_text_is_refused() -> None:
    with pytest.raises(BackendError, match="does not match"):
        parse_sancus_image(sancus_image(b"", 1))


@pytest.mark.parametrize(
    "image",
    [b"", b"SMOD", b"SMOD" + b"\x00" * 9, b"XMOD" + b"\x00" * 10 + ARTIFACT, ARTIFACT],
    ids=["empty", "magic-only", "short-header", "bad-magic", "raw-artifact"],
)
def test_sancus_bad_magic_or_short(image: bytes) -> None:
    with pytest.raises(BackendError, match="not a Sancus module image"):
        parse_sancus_image(image)


@pytest.mark.parametrize(
    ("ps", "pe", "ss", "se"),
    [
        (0x4000, 0x4000 + 10, 0x200, 0x300),  # text length disagrees with the layout
        (0x4000, 0x4000, 0x200, 0x300),  # empty public section
        (0x4000 + len(ARTIFACT), 0x4000, 0x200, 0x300),  # reversed
        (0x4000, 0x4000 + len(ARTIFACT), 0x300, 0x200),  # reversed secret section
        (0x4000, 0x4000 + len(ARTIFACT), 0x300, 0x300),  # empty secret section
    ],
)
def test_sancus_layout_that_does_not_match_the_text(ps: int, pe: int, ss: int, se: int) -> None:
    with pytest.raises(BackendError, match="does not match the") as caught:
        parse_sancus_image(sancus_header(1, ps, pe, ss, se) + ARTIFACT)
    assert f"{len(ARTIFACT)}-byte text" in str(caught.value)


@pytest.mark.parametrize(
    ("ss", "se"),
    [(0x4000, 0x4100), (0x3F00, 0x4001), (0x4000 + 5, 0x4000 + 6), (0x3000, 0xFFFF)],
)
def test_sancus_overlapping_sections_are_refused(ss: int, se: int) -> None:
    image = sancus_header(1, 0x4000, 0x4000 + len(ARTIFACT), ss, se) + ARTIFACT
    with pytest.raises(BackendError, match="text and secret sections overlap"):
        parse_sancus_image(image)


def test_sancus_adjacent_sections_are_fine() -> None:
    pe = 0x4000 + len(ARTIFACT)
    image = sancus_header(1, 0x4000, pe, pe, pe + 0x100) + ARTIFACT
    assert parse_sancus_image(image).layout.secret_start == pe
    image = sancus_header(1, 0x4000, pe, 0x3F00, 0x4000) + ARTIFACT
    assert parse_sancus_image(image).layout.secret_end == 0x4000


# --- TrustZone TA payload --------------------------------------------------------------------


def test_ta_payload_round_trip() -> None:
    payload = ta_payload(ARTIFACT, 0x1234)
    assert payload == b"TAPR\x34\x12" + ARTIFACT
    assert parse_ta_payload(payload) == (0x1234, ARTIFACT)
    assert parse_ta_payload(ta_payload(b"", 0)) == (0, b"")


@pytest.mark.parametrize("payload", [b"", b"TAPR\x01", b"TAPX\x01\x00" + ARTIFACT, ARTIFACT])
def test_ta_payload_without_header_is_refused(payload: bytes) -> None:
    with pytest.raises(BackendError, match="lacks its properties header"):
        parse_ta_payload(payload)


# --- SGX ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_sgx_round_trip(debug: bool) -> None:
    signer = bytes(range(32))
    attributes = SgxAttributes(isv_prod_id=7, isv_svn=65535, debug=debug, signer=signer)
    image = sgx_image(ARTIFACT, attributes)
    assert image == b"SGXE" + struct.pack("<HHB", 7, 65535, int(debug)) + signer + ARTIFACT
    assert parse_sgx_image(image) == (attributes, ARTIFACT)


def test_sgx_measurement_covers_the_attributes() -> None:
    plain = sgx_image(ARTIFACT, SgxAttributes(1, 1, False))
    assert mr_enclave(plain) == hashlib.sha256(plain).digest()
    assert mr_enclave(plain) != mr_enclave(sgx_image(ARTIFACT, SgxAttributes(1, 2, False)))
    assert mr_enclave(plain) != mr_enclave(sgx_image(ARTIFACT, SgxAttributes(1, 1, True)))
    assert mr_enclave(plain) != mr_enclave(sgx_image(ARTIFACT, SgxAttributes(2, 1, False)))
    other_signer = SgxAttributes(1, 1, False, b"\x01" * 32)
    assert mr_enclave(plain) != mr_enclave(sgx_image(ARTIFACT, other_signer))


def test_sgx_signer_key_must_be_32_bytes() -> None:
    with pytest.raises(BackendError, match="signer key must be 32 bytes"):
        sgx_image(ARTIFACT, SgxAttributes(1, 1, False, b"short"))


@pytest.mark.parametrize("flag", [2, 0x80, 0xFF])
def test_sgx_bad_debug_flag(flag: int) -> None:
    image = b"SGXE" + struct.pack("<HHB", 1, 1, flag) + bytes(32) + ARTIFACT
    with pytest.raises(BackendError, match=f"invalid debug flag {flag}"):
        parse_sgx_image(image)


@pytest.mark.parametrize("image", [b"", b"SGXE\x00\x00\x00\x00", b"SGXF" + b"\x00" * 5, ARTIFACT])
def test_sgx_bad_magic_or_short(image: bytes) -> None:
    with pytest.raises(BackendError, match="not an SGX enclave image"):
        parse_sgx_image(image)


def test_mr_signer_is_the_hash_of_the_operator_key() -> None:
    key = bytes(range(32))
    assert mr_signer(key) == hashlib.sha256(key).digest()
    assert mr_signer(key) != mr_signer(bytes(32))
