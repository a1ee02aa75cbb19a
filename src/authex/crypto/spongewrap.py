"""SpongeWrap over SPONGENT exactly as Sancus computes it, and the ``spongewrap-128`` cipher suite.

Duplex (sancus-compiler ``src/crypto``, bit-exact): the state starts at zero; every duplexing call
XORs an 18-bit padded block into state bits 0..17 (byte order little-endian, bits LSB first) and
applies the permutation; its output is state bits 0..15.  A block is up to 16 data bits, then for
key/AD/body blocks one frame bit, then a single 1 bit (simple ``10*`` padding, no final 1).

- key (2-byte blocks): frame bit 1 on every block but the last, 0 on the last;
- AD (2-byte blocks, an empty AD is one empty block): frame 0 on every block but the last, 1 on
  the last; the last call's output is the key stream for the first body block;
- body (2-byte blocks, an empty body is one empty block): cipher = block XOR key stream, the
  *plaintext* block is absorbed with frame 1, the last with frame 0; each call's output is the
  next key stream, the last one's is the first 16 tag bits;
- more tag bits: duplex an empty block without frame bit (the block is just the 1 bit).

Security level follows the key length: 16 bytes -> 128-bit (pi_336), 8 bytes -> 64-bit (pi_176);
the tag is as long as the key.  This software model is byte-oriented: an odd-length AD or body
ends in an 8-bit block, where Sancus hardware works in 16-bit words, so anything a real Sancus
node must check keeps AD and body at even lengths.

The suite (docs/sancus-crypto.md): SpongeWrap takes no nonce, so ``seal`` wraps
``AD' = nonce_block(direction, counter) || pad2(ad)`` and ``body' = pad2(plaintext)`` where
``pad2(x) = x || 0x80`` if ``len(x)`` is odd and ``x || 0x80 || 0x00`` if even (always even,
always reversible), and returns ``cipher' || tag``: the ciphertext is 1 or 2 bytes longer than the
plaintext.

Every wrap, unwrap and MAC runs in the optional C accelerator when it is built
(crypto.spongent_accel; ``AUTHEX_PURE_PYTHON=1`` forces the pure-Python code below); the results
are identical.
"""

from __future__ import annotations

from authex.crypto import spongent_accel
from authex.crypto.digest import equal
from authex.crypto.spongent import SPONGENT_176, SPONGENT_336, SpongentPermutation
from authex.crypto.suites import TAG_SIZE, SuiteId, nonce_block
from authex.errors import CryptoError

RATE_BYTES = 2
_OUT_MASK = 0xFFFF
_SQUEEZE_BLOCK = 0x1  # empty block, no frame bit: only the padding 1 bit

_LEVELS: dict[int, SpongentPermutation] = {16: SPONGENT_336, 8: SPONGENT_176}


def security_bits(key: bytes) -> int:
    """128 for a 16-byte key, 64 for an 8-byte key; CryptoError otherwise."""
    if len(key) not in _LEVELS:
        raise CryptoError(f"SpongeWrap key must be 16 or 8 bytes, not {len(key)}")
    return len(key) * 8


def _block(data: bytes, frame: int) -> int:
    """data bits, one frame bit, one padding bit, as the integer XORed into the state."""
    bits = 8 * len(data)
    return int.from_bytes(data, "little") | (frame << bits) | (1 << (bits + 1))


def _framed_blocks(data: bytes, inner: int, last: int) -> list[int]:
    """2-byte blocks with frame bit ``inner`` except the last (possibly empty) with ``last``."""
    chunks = [data[i : i + RATE_BYTES] for i in range(0, len(data), RATE_BYTES)] or [b""]
    return [_block(chunk, inner) for chunk in chunks[:-1]] + [_block(chunks[-1], last)]


def _wrap(key: bytes, ad: bytes, body: bytes, *, decrypt: bool) -> tuple[bytes, bytes]:
    security_bits(key)
    native = spongent_accel.NATIVE
    if native is not None:
        return native.wrap(key, ad, body, decrypt)
    return _wrap_pure(key, ad, body, decrypt=decrypt)


def _wrap_pure(key: bytes, ad: bytes, body: bytes, *, decrypt: bool) -> tuple[bytes, bytes]:
    """The pure-Python SpongeWrap pass: (output, tag), output = body XOR key stream."""
    security_bits(key)
    permute = _LEVELS[len(key)].permute
    state = 0
    for block in _framed_blocks(key, 1, 0):
        state = permute(state ^ block)
    for block in _framed_blocks(ad, 0, 1):
        state = permute(state ^ block)

    out = bytearray()
    chunks = [body[i : i + RATE_BYTES] for i in range(0, len(body), RATE_BYTES)] or [b""]
    last = len(chunks) - 1
    for index, chunk in enumerate(chunks):
        size = len(chunk)
        mixed = (int.from_bytes(chunk, "little") ^ state) & ((1 << (8 * size)) - 1)
        mixed_bytes = mixed.to_bytes(size, "little")
        out += mixed_bytes
        plain = mixed_bytes if decrypt else chunk
        state = permute(state ^ _block(plain, 1 if index < last else 0))

    tag = bytearray((state & _OUT_MASK).to_bytes(RATE_BYTES, "little"))
    while len(tag) < len(key):
        state = permute(state ^ _SQUEEZE_BLOCK)
        tag += (state & _OUT_MASK).to_bytes(RATE_BYTES, "little")
    return bytes(out), bytes(tag[: len(key)])


def spongewrap_wrap(key: bytes, ad: bytes, body: bytes) -> tuple[bytes, bytes]:
    """(cipher, tag): the cipher is as long as the body, the tag as long as the key."""
    return _wrap(key, ad, body, decrypt=False)


def spongewrap_unwrap(key: bytes, ad: bytes, cipher: bytes, tag: bytes) -> bytes:
    """The body; raises CryptoError if the tag does not verify (compared in constant time)."""
    body, expected = _wrap(key, ad, cipher, decrypt=True)
    if not equal(expected, tag):
        raise CryptoError("SpongeWrap tag does not verify")
    return body


def sancus_mac(key: bytes, message: bytes) -> bytes:
    """Sancus's MAC: the SpongeWrap tag with AD = message and an empty body."""
    return _wrap(key, message, b"", decrypt=False)[1]


def pad2(data: bytes) -> bytes:
    """``data || 0x80``, then ``0x00`` if needed, so the result has even length (1-2 bytes more)."""
    return data + (b"\x80" if len(data) % 2 else b"\x80\x00")


def unpad2(data: bytes) -> bytes:
    """Inverse of pad2; CryptoError if ``data`` is not a pad2 output."""
    if len(data) % 2 == 0 and data.endswith(b"\x80"):
        return data[:-1]
    if len(data) % 2 == 0 and data.endswith(b"\x80\x00"):
        return data[:-2]
    raise CryptoError("SpongeWrap body padding is malformed")


def suite_ad(direction: int, counter: int, ad: bytes) -> bytes:
    """The AD the suite wraps: ``nonce_block(direction, counter) || pad2(ad)`` (even length)."""
    return nonce_block(direction, counter) + pad2(ad)


class SpongeWrap128:
    """The ``spongewrap-128`` suite: Sancus SpongeWrap at 128-bit security, 16-byte key and tag."""

    def __init__(self) -> None:
        self.name = "spongewrap-128"
        self.suite_id = SuiteId.SPONGEWRAP_128

    def seal(self, key: bytes, direction: int, counter: int, ad: bytes, plaintext: bytes) -> bytes:
        if len(key) != 16:
            raise CryptoError("spongewrap-128 needs a 16-byte key")
        cipher, tag = spongewrap_wrap(key, suite_ad(direction, counter, ad), pad2(plaintext))
        return cipher + tag

    def open(self, key: bytes, direction: int, counter: int, ad: bytes, sealed: bytes) -> bytes:
        if len(key) != 16:
            raise CryptoError("spongewrap-128 needs a 16-byte key")
        body_size = len(sealed) - TAG_SIZE
        if body_size < 2 or body_size % 2:
            raise CryptoError("sealed spongewrap-128 message has an impossible length")
        body = spongewrap_unwrap(
            key, suite_ad(direction, counter, ad), sealed[:body_size], sealed[body_size:]
        )
        return unpad2(body)
