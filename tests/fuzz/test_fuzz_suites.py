"""Fuzz ``get_suite(name).open`` for every cipher suite (and ``get_suite`` itself).

Random keys, nonce fields, associated data and sealed bytes; honest seals with one field of the
input changed or the sealed bytes flipped, cut or extended.  The only exception is CryptoError
and nothing forged opens (every suite refuses a key that is not 16 bytes with CryptoError).
Where the SpongeWrap C accelerator is built, it is compared with the pure-Python code on the same
random inputs.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authex.crypto import spongent_accel, spongewrap
from authex.crypto.suites import KEY_SIZE, SUITE_NAMES, get_suite
from authex.errors import CryptoError

SCALE = max(1, int(os.environ.get("AUTHEX_FUZZ_SCALE", "1")))
NAMES = sorted(SUITE_NAMES)
KEYS = st.binary(min_size=KEY_SIZE, max_size=KEY_SIZE)
DIRECTIONS = st.integers(0, 255)
COUNTERS = st.integers(0, (1 << 64) - 1)
ADS = st.binary(max_size=40)


@settings(max_examples=150 * SCALE, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    key=KEYS,
    direction=DIRECTIONS,
    counter=COUNTERS,
    ad=ADS,
    sealed=st.binary(max_size=80),
)
@example(name="spongewrap-128", key=bytes(16), direction=0, counter=0, ad=b"", sealed=bytes(17))
@example(name="spongewrap-128", key=bytes(16), direction=0, counter=0, ad=b"", sealed=bytes(18))
@example(name="ascon-aead128", key=bytes(16), direction=0, counter=0, ad=b"", sealed=bytes(15))
def test_random_sealed_bytes(
    name: str, key: bytes, direction: int, counter: int, ad: bytes, sealed: bytes
) -> None:
    suite = get_suite(name)
    try:
        plaintext = suite.open(key, direction, counter, ad, sealed)
    except CryptoError:
        return
    # a random forgery that opens must be exactly what sealing its plaintext gives
    assert suite.seal(key, direction, counter, ad, plaintext) == sealed


@settings(max_examples=200 * SCALE, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    key=KEYS,
    direction=DIRECTIONS,
    counter=COUNTERS,
    ad=ADS,
    plaintext=st.binary(max_size=48),
    data=st.data(),
)
def test_tampered_seal_never_opens(
    name: str,
    key: bytes,
    direction: int,
    counter: int,
    ad: bytes,
    plaintext: bytes,
    data: st.DataObject,
) -> None:
    suite = get_suite(name)
    sealed = suite.seal(key, direction, counter, ad, plaintext)
    assert suite.open(key, direction, counter, ad, sealed) == plaintext
    inputs = [key, direction, counter, ad, sealed]
    what = data.draw(st.sampled_from(("key", "direction", "counter", "ad", "sealed")))
    if what == "key":
        inputs[0] = data.draw(KEYS.filter(lambda k: k != key))
    elif what == "direction":
        inputs[1] = data.draw(DIRECTIONS.filter(lambda d: d != direction))
    elif what == "counter":
        inputs[2] = data.draw(COUNTERS.filter(lambda c: c != counter))
    elif what == "ad":
        inputs[3] = data.draw(ADS.filter(lambda a: a != ad))
    else:
        edit = data.draw(st.sampled_from(("flip", "cut", "extend")))
        changed = bytearray(sealed)
        if edit == "flip":
            changed[data.draw(st.integers(0, len(changed) - 1))] ^= 1 << data.draw(
                st.integers(0, 7)
            )
        elif edit == "cut":
            del changed[data.draw(st.integers(0, len(changed) - 1)) :]
        else:
            changed += data.draw(st.binary(min_size=1, max_size=4))
        inputs[4] = bytes(changed)
    new_key, new_direction, new_counter, new_ad, new_sealed = inputs
    assert isinstance(new_key, bytes) and isinstance(new_ad, bytes)
    assert isinstance(new_direction, int) and isinstance(new_counter, int)
    assert isinstance(new_sealed, bytes)
    with pytest.raises(CryptoError):
        suite.open(new_key, new_direction, new_counter, new_ad, new_sealed)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60 * SCALE, deadline=None)
@given(key=st.binary(max_size=40), sealed=st.binary(max_size=40))
@example(key=bytes(5), sealed=bytes(32))
def test_any_key_length(name: str, key: bytes, sealed: bytes) -> None:
    suite = get_suite(name)
    try:
        suite.open(key, 0, 1, b"", sealed)
    except CryptoError:
        return
    raise AssertionError("random sealed bytes opened")


@settings(max_examples=100 * SCALE, deadline=None)
@given(st.text(max_size=16) | st.integers(-(1 << 70), 1 << 70) | st.sampled_from(NAMES))
def test_get_suite_rejects_unknown_names(suite: str | int) -> None:
    try:
        found = get_suite(suite)
    except CryptoError:
        return
    assert found.name in SUITE_NAMES and (suite == found.name or suite == found.suite_id)


@pytest.mark.skipif(spongent_accel.NATIVE is None, reason="the C accelerator is not built")
@settings(max_examples=40 * SCALE, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16) | st.binary(min_size=8, max_size=8),
    ad=st.binary(max_size=12),
    body=st.binary(max_size=12),
    decrypt=st.booleans(),
)
def test_accelerator_matches_pure_python(key: bytes, ad: bytes, body: bytes, decrypt: bool) -> None:
    native = spongent_accel.NATIVE
    assert native is not None
    assert native.wrap(key, ad, body, decrypt) == spongewrap._wrap_pure(
        key, ad, body, decrypt=decrypt
    )
