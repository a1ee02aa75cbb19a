"""Ascon-AEAD128 and Ascon-Hash256 (NIST SP 800-232), pure Python; the ``ascon-aead128`` suite.

The 320-bit state is five 64-bit words ``x0..x4``; byte strings load into words little-endian
(SP 800-232 convention).  Ascon-AEAD128: 128-bit key ``K = K0 || K1``, 128-bit nonce, rate 128
bits (``x0, x1``), ``p12`` for initialisation and finalisation, ``p8`` between blocks:

- init: ``x = IV, K0, K1, N0, N1``; ``p12``; ``x3 ^= K0, x4 ^= K1``;
- AD (only if not empty): 16-byte blocks, the last padded with ``0x01`` then zeros (a full last
  block gets a whole padding block); each block XORed into ``x0, x1`` then ``p8``; always then the
  domain separation ``x4 ^= 1 << 63``;
- plaintext: the same padding; ciphertext = rate words after XOR, ``p8`` after every block but the
  last (padded) one;
- final: ``x2 ^= K0, x3 ^= K1``; ``p12``; tag = ``(x3 ^ K0) || (x4 ^ K1)``.

Ascon-Hash256: ``x = p12(IV, 0, 0, 0, 0)``, 8-byte blocks into ``x0`` with ``0x01`` padding and
``p12`` after each, then four squeezes of ``x0`` with ``p12`` in between.
"""

from __future__ import annotations

from authex.crypto.digest import equal
from authex.crypto.suites import TAG_SIZE, SuiteId, nonce_block
from authex.errors import CryptoError

_MASK = (1 << 64) - 1
_ROUND_CONSTANTS = tuple(0xF0 - 0x10 * i + i for i in range(12))
_AEAD128_IV = 0x00001000808C0001
_HASH256_IV = 0x0000080100CC0002
_DOMAIN_SEPARATION = 1 << 63
KEY_SIZE = 16
NONCE_SIZE = 16

State = list[int]


def _permute(s: State, rounds: int) -> None:
    """Ascon-p[rounds] in place on the five words."""
    x0, x1, x2, x3, x4 = s
    mask = _MASK
    for c in _ROUND_CONSTANTS[12 - rounds :]:
        # constant addition and the bitsliced 5-bit S-box
        x2 ^= c
        x0 ^= x4
        x4 ^= x3
        x2 ^= x1
        t0 = ~x0 & x1
        t1 = ~x1 & x2
        t2 = ~x2 & x3
        t3 = ~x3 & x4
        t4 = ~x4 & x0
        x0 ^= t1
        x1 ^= t2
        x2 ^= t3
        x3 ^= t4
        x4 ^= t0
        x1 ^= x0
        x0 ^= x4
        x3 ^= x2
        x2 ^= mask
        # linear diffusion: x ^= rotr(x, a) ^ rotr(x, b), 64-bit rotations
        x0 = (x0 ^ (x0 >> 19) ^ (x0 << 45) ^ (x0 >> 28) ^ (x0 << 36)) & mask
        x1 = (x1 ^ (x1 >> 61) ^ (x1 << 3) ^ (x1 >> 39) ^ (x1 << 25)) & mask
        x2 = (x2 ^ (x2 >> 1) ^ (x2 << 63) ^ (x2 >> 6) ^ (x2 << 58)) & mask
        x3 = (x3 ^ (x3 >> 10) ^ (x3 << 54) ^ (x3 >> 17) ^ (x3 << 47)) & mask
        x4 = (x4 ^ (x4 >> 7) ^ (x4 << 57) ^ (x4 >> 41) ^ (x4 << 23)) & mask
    s[:] = (x0, x1, x2, x3, x4)


def _le(data: bytes) -> int:
    return int.from_bytes(data, "little")


def _padded_blocks(data: bytes) -> list[tuple[int, int]]:
    """16-byte blocks as (low word, high word), padded with 0x01 then zeros (always one more)."""
    tail = len(data) % 16
    padded = data + b"\x01" + bytes(15 - tail)
    return [
        (_le(padded[i : i + 8]), _le(padded[i + 8 : i + 16])) for i in range(0, len(padded), 16)
    ]


def _start(key: bytes, nonce: bytes, ad: bytes) -> tuple[State, int, int]:
    if len(key) != KEY_SIZE:
        raise CryptoError(f"Ascon-AEAD128 key must be 16 bytes, not {len(key)}")
    if len(nonce) != NONCE_SIZE:
        raise CryptoError(f"Ascon-AEAD128 nonce must be 16 bytes, not {len(nonce)}")
    k0, k1 = _le(key[:8]), _le(key[8:])
    s = [_AEAD128_IV, k0, k1, _le(nonce[:8]), _le(nonce[8:])]
    _permute(s, 12)
    s[3] ^= k0
    s[4] ^= k1
    if ad:
        for a0, a1 in _padded_blocks(ad):
            s[0] ^= a0
            s[1] ^= a1
            _permute(s, 8)
    s[4] ^= _DOMAIN_SEPARATION
    return s, k0, k1


def _tag(s: State, k0: int, k1: int) -> bytes:
    s[2] ^= k0
    s[3] ^= k1
    _permute(s, 12)
    return (s[3] ^ k0).to_bytes(8, "little") + (s[4] ^ k1).to_bytes(8, "little")


def ascon_encrypt(key: bytes, nonce: bytes, ad: bytes, plaintext: bytes) -> bytes:
    """Ascon-AEAD128: ciphertext (as long as the plaintext) || 16-byte tag."""
    s, k0, k1 = _start(key, nonce, ad)
    out = bytearray()
    blocks = _padded_blocks(plaintext)
    for p0, p1 in blocks[:-1]:
        s[0] ^= p0
        s[1] ^= p1
        out += s[0].to_bytes(8, "little") + s[1].to_bytes(8, "little")
        _permute(s, 8)
    p0, p1 = blocks[-1]
    s[0] ^= p0
    s[1] ^= p1
    tail = len(plaintext) % 16
    out += (s[0].to_bytes(8, "little") + s[1].to_bytes(8, "little"))[:tail]
    return bytes(out) + _tag(s, k0, k1)


def ascon_decrypt(key: bytes, nonce: bytes, ad: bytes, sealed: bytes) -> bytes:
    """The plaintext; raises CryptoError if the tag does not verify (constant-time compare)."""
    if len(sealed) < TAG_SIZE:
        raise CryptoError("sealed message shorter than its tag")
    s, k0, k1 = _start(key, nonce, ad)
    cipher, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
    out = bytearray()
    full = len(cipher) - len(cipher) % 16
    for i in range(0, full, 16):
        c0, c1 = _le(cipher[i : i + 8]), _le(cipher[i + 8 : i + 16])
        out += (s[0] ^ c0).to_bytes(8, "little") + (s[1] ^ c1).to_bytes(8, "little")
        s[0], s[1] = c0, c1
        _permute(s, 8)
    tail = cipher[full:]
    size = len(tail)
    rate = s[0] | (s[1] << 64)
    last = _le(tail)
    low = (1 << (8 * size)) - 1
    out += ((rate ^ last) & low).to_bytes(size, "little")
    # the state takes the ciphertext bytes, then the padding byte is XORed in after them
    rate = (rate & ~low) | last
    rate ^= 1 << (8 * size)
    s[0], s[1] = rate & _MASK, rate >> 64
    if not equal(_tag(s, k0, k1), tag):
        raise CryptoError("Ascon tag does not verify")
    return bytes(out)


def ascon_hash256(message: bytes) -> bytes:
    """Ascon-Hash256: the 32-byte digest of ``message``."""
    s = [_HASH256_IV, 0, 0, 0, 0]
    _permute(s, 12)
    tail = len(message) % 8
    padded = message + b"\x01" + bytes(7 - tail)
    for i in range(0, len(padded), 8):
        s[0] ^= _le(padded[i : i + 8])
        _permute(s, 12)
    digest = bytearray()
    for _ in range(3):
        digest += s[0].to_bytes(8, "little")
        _permute(s, 12)
    digest += s[0].to_bytes(8, "little")
    return bytes(digest)


class AsconAead128:
    """The ``ascon-aead128`` suite: nonce = the 16-byte nonce block of (direction, counter)."""

    def __init__(self) -> None:
        self.name = "ascon-aead128"
        self.suite_id = SuiteId.ASCON_AEAD128

    def seal(self, key: bytes, direction: int, counter: int, ad: bytes, plaintext: bytes) -> bytes:
        return ascon_encrypt(key, nonce_block(direction, counter), ad, plaintext)

    def open(self, key: bytes, direction: int, counter: int, ad: bytes, sealed: bytes) -> bytes:
        return ascon_decrypt(key, nonce_block(direction, counter), ad, sealed)
