"""OP-TEE-style signed TA images: layout, round trips, and every way a tampered image is refused."""

from __future__ import annotations

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from authex.attestation.trustzone import (
    ALG_RSA_PKCS1_V15_SHA256,
    ALG_RSA_PSS_SHA256,
    SHDR_MAGIC,
    TaHeader,
    generate_vendor_key,
    load_vendor_key,
    load_vendor_public,
    parse_ta,
    sign_ta,
    ta_hash,
    vendor_key_pem,
    vendor_public_pem,
    verify_ta,
)
from authex.errors import AttestationError

PAYLOAD = b"TAPR\x34\x12" + bytes(range(256)) * 3
HEADER_LEN = 20 + 32 + 256


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return generate_vendor_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return generate_vendor_key()


@pytest.fixture(scope="module")
def image(key: rsa.RSAPrivateKey) -> bytes:
    return sign_ta(PAYLOAD, key)


def _patch(image: bytes, offset: int, fmt: str, value: int) -> bytes:
    buf = bytearray(image)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def test_vendor_key_is_rsa_2048_f4(key: rsa.RSAPrivateKey) -> None:
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537


def test_header_layout_by_hand(image: bytes) -> None:
    assert image[:4] == b"HSTO"  # 0x4f545348 little-endian
    magic, img_type, img_size, algo, hash_size, sig_size = struct.unpack_from("<IIIIHH", image)
    assert (magic, img_type, img_size) == (0x4F545348, 0, len(PAYLOAD))
    assert (algo, hash_size, sig_size) == (0x70004830, 32, 256)
    assert len(image) == HEADER_LEN + len(PAYLOAD)
    assert image[HEADER_LEN:] == PAYLOAD
    # The hash covers the first 20 header bytes and the payload, nothing else.
    assert image[20:52] == hashlib.sha256(image[:20] + PAYLOAD).digest()


def test_signature_is_pkcs1_v15_over_the_prehashed_header_hash(
    key: rsa.RSAPrivateKey, image: bytes
) -> None:
    # Verify with cryptography directly, independent of verify_ta.
    key.public_key().verify(
        image[52:HEADER_LEN], image[20:52], padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
    )


def test_round_trip(key: rsa.RSAPrivateKey, image: bytes) -> None:
    header, payload = verify_ta(image, key.public_key())
    assert payload == PAYLOAD
    assert header == parse_ta(image)[0]
    assert header.magic == SHDR_MAGIC and header.algo == ALG_RSA_PKCS1_V15_SHA256
    assert header.pack() + payload == image
    assert header.size == HEADER_LEN
    assert ta_hash(image) == header.hash == image[20:52]


def test_empty_payload_round_trip(key: rsa.RSAPrivateKey) -> None:
    header, payload = verify_ta(sign_ta(b"", key), key.public_key())
    assert payload == b"" and header.img_size == 0


def test_pss_round_trip(key: rsa.RSAPrivateKey) -> None:
    image = sign_ta(PAYLOAD, key, algo=ALG_RSA_PSS_SHA256)
    assert struct.unpack_from("<I", image, 12)[0] == 0x70414930
    header, payload = verify_ta(image, key.public_key())
    assert payload == PAYLOAD and header.algo == ALG_RSA_PSS_SHA256
    # OP-TEE verifies PSS with salt length = hash_size (32).
    key.public_key().verify(
        header.signature,
        header.hash,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        utils.Prehashed(hashes.SHA256()),
    )


def test_switching_pss_to_pkcs1_is_refused(key: rsa.RSAPrivateKey) -> None:
    image = sign_ta(PAYLOAD, key, algo=ALG_RSA_PSS_SHA256)
    # Changing algo changes the hashed header bytes, so the hash no longer matches.
    forged = _patch(image, 12, "<I", ALG_RSA_PKCS1_V15_SHA256)
    with pytest.raises(AttestationError, match="does not match the header hash"):
        verify_ta(forged, key.public_key())


def test_signing_rejects_unknown_algo(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AttestationError, match="0x70005830"):
        sign_ta(PAYLOAD, key, algo=0x70005830)


@pytest.mark.parametrize("offset", [HEADER_LEN, HEADER_LEN + 100, HEADER_LEN + len(PAYLOAD) - 1])
def test_tampered_payload_byte(key: rsa.RSAPrivateKey, image: bytes, offset: int) -> None:
    buf = bytearray(image)
    buf[offset] ^= 0x01
    with pytest.raises(AttestationError, match="payload does not match the header hash"):
        verify_ta(bytes(buf), key.public_key())
    with pytest.raises(AttestationError, match="payload does not match the header hash"):
        ta_hash(bytes(buf))


def test_tampered_hash(key: rsa.RSAPrivateKey, image: bytes) -> None:
    buf = bytearray(image)
    buf[20] ^= 0x80
    with pytest.raises(AttestationError, match="header hash"):
        verify_ta(bytes(buf), key.public_key())


def test_tampered_signature(key: rsa.RSAPrivateKey, image: bytes) -> None:
    buf = bytearray(image)
    buf[HEADER_LEN - 1] ^= 0x01
    with pytest.raises(AttestationError, match="TA signature does not verify with the vendor key"):
        verify_ta(bytes(buf), key.public_key())


def test_resigned_hash_for_other_payload_is_refused(key: rsa.RSAPrivateKey) -> None:
    # Splice the header of one TA onto another payload of the same size.
    one = sign_ta(b"A" * 64, key)
    two = sign_ta(b"B" * 64, key)
    with pytest.raises(AttestationError, match="header hash"):
        verify_ta(one[:HEADER_LEN] + two[HEADER_LEN:], key.public_key())


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "field"),
    [
        (0, "<I", 0x4F545349, "magic"),
        (4, "<I", 1, "img_type"),
        (8, "<I", len(PAYLOAD) + 1, "img_size"),
        (8, "<I", len(PAYLOAD) - 1, "img_size"),
        (12, "<I", 0x70005830, "algo"),
        (16, "<H", 20, "hash_size"),
        (18, "<H", 255, "sig_size"),
    ],
)
def test_tampered_header_field_is_named(
    image: bytes, offset: int, fmt: str, value: int, field: str
) -> None:
    with pytest.raises(AttestationError, match=field):
        parse_ta(_patch(image, offset, fmt, value))


def test_other_vendor_key(image: bytes, other_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AttestationError, match="TA signature does not verify with the vendor key"):
        verify_ta(image, other_key.public_key())


def test_vendor_key_of_other_size_is_refused(image: bytes) -> None:
    big = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    with pytest.raises(AttestationError, match=r"sig_size is 256.*3072-bit"):
        verify_ta(image, big.public_key())


def test_rsa_3072_signing_sets_sig_size() -> None:
    big = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    image = sign_ta(PAYLOAD, big)
    assert struct.unpack_from("<H", image, 18)[0] == 384
    assert verify_ta(image, big.public_key())[1] == PAYLOAD


def test_small_signing_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(AttestationError, match="1024-bit"):
        sign_ta(PAYLOAD, small)


@pytest.mark.parametrize("length", [0, 4, 19])
def test_truncated_below_fixed_header(image: bytes, length: int) -> None:
    with pytest.raises(AttestationError, match=f"truncated: {length} bytes"):
        parse_ta(image[:length])


@pytest.mark.parametrize("length", [20, 51, HEADER_LEN - 1])
def test_truncated_inside_hash_or_signature(image: bytes, length: int) -> None:
    with pytest.raises(AttestationError, match="truncated"):
        parse_ta(image[:length])


def test_truncated_payload_names_img_size(image: bytes) -> None:
    with pytest.raises(AttestationError, match="img_size"):
        parse_ta(image[:-1])


def test_trailing_bytes_name_img_size(image: bytes) -> None:
    with pytest.raises(AttestationError, match="img_size"):
        parse_ta(image + b"\x00")


def test_sig_size_larger_than_image(key: rsa.RSAPrivateKey) -> None:
    # A supported sig_size (512) that the short image cannot hold: a clear truncation error.
    image = _patch(sign_ta(b"x" * 8, key), 18, "<H", 512)
    with pytest.raises(AttestationError, match=r"truncated.*sig_size 512"):
        parse_ta(image)


def test_absurd_sig_size(image: bytes) -> None:
    with pytest.raises(AttestationError, match="sig_size is 65535"):
        parse_ta(_patch(image, 18, "<H", 0xFFFF))


def test_header_dataclass_is_frozen(image: bytes) -> None:
    header = parse_ta(image)[0]
    assert isinstance(header, TaHeader)
    with pytest.raises(AttributeError):
        header.img_size = 0  # type: ignore[misc]


def test_pem_round_trip(key: rsa.RSAPrivateKey, image: bytes) -> None:
    private_pem = vendor_key_pem(key)
    public_pem = vendor_public_pem(key)
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert vendor_public_pem(key.public_key()) == public_pem
    reloaded = load_vendor_key(private_pem)
    assert verify_ta(sign_ta(PAYLOAD, reloaded), load_vendor_public(public_pem))[1] == PAYLOAD
    assert verify_ta(image, load_vendor_public(public_pem))[1] == PAYLOAD


def test_pem_loading_errors(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AttestationError, match="not an unencrypted PEM private key"):
        load_vendor_key(b"garbage")
    with pytest.raises(AttestationError, match="not a PEM public key"):
        load_vendor_public(b"garbage")
    with pytest.raises(AttestationError, match="not a PEM public key"):
        load_vendor_public(vendor_key_pem(key))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(AttestationError, match="1024-bit"):
        load_vendor_public(vendor_public_pem(small))
    with pytest.raises(AttestationError, match="1024-bit"):
        load_vendor_key(vendor_key_pem(small))
