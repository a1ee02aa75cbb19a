"""Hypothesis properties of the event channel and the module-key control recipes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authex.crypto import control
from authex.crypto.channel import MAX_COUNTER, ChannelEnd, open_event, seal_event
from authex.crypto.secret import Secret
from authex.crypto.suites import AesGcm128
from authex.errors import CryptoError, ReplayError

SUITE = AesGcm128()
KEYS = st.binary(min_size=16, max_size=16).map(Secret)
CONN_IDS = st.integers(0, (1 << 32) - 1)
DIRECTIONS = st.sampled_from([0, 1])
COUNTERS = st.integers(1, MAX_COUNTER - 1)
PLAINTEXTS = st.binary(max_size=1024)


@settings(max_examples=150, deadline=None)
@given(key=KEYS, conn_id=CONN_IDS, direction=DIRECTIONS, counter=COUNTERS, plaintext=PLAINTEXTS)
def test_seal_open_round_trip(
    key: Secret, conn_id: int, direction: int, counter: int, plaintext: bytes
) -> None:
    sealed = seal_event(SUITE, key, conn_id, direction, counter, plaintext)
    assert len(sealed) == len(plaintext) + 16
    assert open_event(SUITE, key, conn_id, direction, counter, sealed) == plaintext
    receiver = ChannelEnd(conn_id, SUITE, key)
    assert receiver.open(direction, counter, sealed) == plaintext


@settings(max_examples=150, deadline=None)
@given(
    key=KEYS,
    conn_id=CONN_IDS,
    direction=DIRECTIONS,
    counter=COUNTERS,
    plaintext=PLAINTEXTS,
    data=st.data(),
)
def test_any_bit_flip_of_sealed_fails(
    key: Secret, conn_id: int, direction: int, counter: int, plaintext: bytes, data: st.DataObject
) -> None:
    sealed = bytearray(seal_event(SUITE, key, conn_id, direction, counter, plaintext))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CryptoError):
        open_event(SUITE, key, conn_id, direction, counter, bytes(sealed))


@settings(max_examples=200, deadline=None)
@given(
    key=KEYS,
    conn_id=CONN_IDS,
    direction=DIRECTIONS,
    counter=COUNTERS,
    plaintext=st.binary(max_size=64),
    field=st.sampled_from(["conn_id", "direction", "counter"]),
    data=st.data(),
)
def test_any_bit_flip_of_an_ad_field_fails(
    key: Secret,
    conn_id: int,
    direction: int,
    counter: int,
    plaintext: bytes,
    field: str,
    data: st.DataObject,
) -> None:
    sealed = seal_event(SUITE, key, conn_id, direction, counter, plaintext)
    width = {"conn_id": 32, "direction": 8, "counter": 64}[field]
    flip = 1 << data.draw(st.integers(0, width - 1))
    fields = {"conn_id": conn_id, "direction": direction, "counter": counter}
    fields[field] ^= flip
    with pytest.raises(CryptoError):
        open_event(SUITE, key, fields["conn_id"], fields["direction"], fields["counter"], sealed)
    receiver = ChannelEnd(fields["conn_id"], SUITE, key)
    with pytest.raises(CryptoError):
        receiver.open(fields["direction"], fields["counter"], sealed)
    assert receiver.receive.last == 0


@settings(max_examples=100, deadline=None)
@given(arrivals=st.lists(st.integers(1, 40), max_size=30))
def test_receive_window_matches_its_model(arrivals: list[int]) -> None:
    """Accept exactly the counters above every earlier accepted one; gaps = last - accepted."""
    key = Secret(bytes(range(16)))
    receiver = ChannelEnd(3, SUITE, key)
    highest, accepted, rejected = 0, 0, 0
    for counter in arrivals:
        sealed = seal_event(SUITE, key, 3, 0, counter, counter.to_bytes(2, "big"))
        if counter > highest:
            assert receiver.open(0, counter, sealed) == counter.to_bytes(2, "big")
            highest, accepted = counter, accepted + 1
        else:
            with pytest.raises(ReplayError):
                receiver.open(0, counter, sealed)
            rejected += 1
    assert receiver.receive.last == highest
    assert receiver.receive.gaps == highest - accepted
    assert receiver.receive.rejected == rejected


SET_KEY_FIELDS = st.fixed_dictionaries(
    {
        "conn_id": CONN_IDS,
        "io_id": st.integers(0, 0xFFFF),
        "role": st.sampled_from([0, 1]),
        "suite": st.integers(1, 3),
        "counter": COUNTERS,
    }
)


@settings(max_examples=100, deadline=None)
@given(module_key=KEYS, conn_key=KEYS, fields=SET_KEY_FIELDS, data=st.data())
def test_set_key_round_trip_and_binding(
    module_key: Secret, conn_key: Secret, fields: dict[str, int], data: st.DataObject
) -> None:
    wrapped = control.wrap_key(SUITE, module_key, conn_key, **fields)
    assert control.unwrap_key(SUITE, module_key, wrapped, **fields) == conn_key
    name = data.draw(st.sampled_from(sorted(fields)))
    width = {"conn_id": 32, "io_id": 16, "role": 8, "suite": 8, "counter": 64}[name]
    altered = dict(fields)
    altered[name] ^= 1 << data.draw(st.integers(0, width - 1))
    with pytest.raises(CryptoError):
        control.unwrap_key(SUITE, module_key, wrapped, **altered)


@settings(max_examples=100, deadline=None)
@given(
    module_key=KEYS,
    entry_id=st.integers(0, 0xFFFF),
    counter=COUNTERS,
    status=st.integers(0, 255),
    arg=st.binary(max_size=256),
)
def test_call_and_result_round_trip(
    module_key: Secret, entry_id: int, counter: int, status: int, arg: bytes
) -> None:
    sealed = control.seal_call(SUITE, module_key, entry_id, counter, arg)
    assert control.open_call(SUITE, module_key, entry_id, counter, sealed) == arg
    result = control.seal_result(SUITE, module_key, entry_id, counter, status, arg[::-1])
    assert control.open_result(SUITE, module_key, entry_id, counter, status, result) == arg[::-1]
    # A call can never be replayed as a result, nor a result as a call.
    with pytest.raises(CryptoError):
        control.open_result(SUITE, module_key, entry_id, counter, status, sealed)
    with pytest.raises(CryptoError):
        control.open_call(SUITE, module_key, entry_id, counter, result)
    with pytest.raises(CryptoError):
        control.open_result(SUITE, module_key, entry_id, counter, status ^ 1, result)
