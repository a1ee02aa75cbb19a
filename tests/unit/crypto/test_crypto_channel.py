"""The event channel: AD, counters, ReceiveWindow and ChannelEnd."""

from __future__ import annotations

import struct

import pytest

from authex.crypto.channel import (
    MAX_COUNTER,
    ChannelEnd,
    ReceiveWindow,
    SendCounter,
    event_ad,
    open_event,
    seal_event,
)
from authex.crypto.secret import Secret
from authex.crypto.suites import AesGcm128
from authex.errors import CryptoError, ReplayError

SUITE = AesGcm128()
KEY = Secret(bytes.fromhex("00112233445566778899aabbccddeeff"))


def pair(conn_id: int = 4) -> tuple[ChannelEnd, ChannelEnd]:
    return ChannelEnd(conn_id, SUITE, KEY), ChannelEnd(conn_id, SUITE, KEY)


def test_event_ad_layout() -> None:
    assert event_ad(0x01020304, 1, 0x05) == struct.pack(">BIBQ", 1, 0x01020304, 1, 5)
    assert len(event_ad(0, 0, 0)) == 14


# --- ReceiveWindow ----------------------------------------------------------------------------


def test_window_replay_rejected() -> None:
    window = ReceiveWindow()
    window.check(1)
    window.accept(1)
    with pytest.raises(ReplayError, match="counter 1 is not greater than 1"):
        window.check(1)
    assert window.rejected == 1


def test_window_reorder_rejected() -> None:
    window = ReceiveWindow()
    window.check(5)
    window.accept(5)
    with pytest.raises(ReplayError):
        window.check(4)
    assert (window.last, window.rejected) == (5, 1)


def test_window_counter_zero_rejected() -> None:
    with pytest.raises(ReplayError):
        ReceiveWindow().check(0)


def test_window_gaps_counted() -> None:
    window = ReceiveWindow()
    for counter in (1, 2, 6, 7, 10):
        window.check(counter)
        window.accept(counter)
    assert window.gaps == 3 + 2
    assert window.last == 10
    assert window.rejected == 0


def test_window_rejected_counted() -> None:
    window = ReceiveWindow(last=3)
    for counter in (1, 2, 3):
        with pytest.raises(ReplayError):
            window.check(counter)
    assert window.rejected == 3
    assert window.last == 3


def test_replay_error_is_a_crypto_error() -> None:
    assert issubclass(ReplayError, CryptoError)


# --- counters ---------------------------------------------------------------------------------


def test_send_counter_starts_at_one() -> None:
    counter = SendCounter()
    assert [counter.next() for _ in range(3)] == [1, 2, 3]


def test_send_counter_exhaustion() -> None:
    counter = SendCounter(last=MAX_COUNTER - 2)
    assert counter.next() == MAX_COUNTER - 1 == (1 << 64) - 2
    with pytest.raises(CryptoError, match="re-keyed"):
        counter.next()
    assert counter.last == MAX_COUNTER - 1


@pytest.mark.parametrize("counter", [0, MAX_COUNTER, MAX_COUNTER + 1, -1])
def test_seal_event_refuses_counters_out_of_range(counter: int) -> None:
    with pytest.raises(CryptoError, match="re-keyed"):
        seal_event(SUITE, KEY, 9, 0, counter, b"x")


def test_seal_event_largest_counter() -> None:
    sealed = seal_event(SUITE, KEY, 9, 0, MAX_COUNTER - 1, b"x")
    assert open_event(SUITE, KEY, 9, 0, MAX_COUNTER - 1, sealed) == b"x"


# --- ChannelEnd -------------------------------------------------------------------------------


def test_channel_end_seal_open() -> None:
    sender, receiver = pair()
    for i in range(1, 4):
        counter, sealed = sender.seal(0, f"event {i}".encode())
        assert counter == i
        assert receiver.open(0, counter, sealed) == f"event {i}".encode()
    assert receiver.receive.last == 3
    assert receiver.receive.gaps == 0


def test_channel_end_counter_exhaustion_raises() -> None:
    sender = ChannelEnd(4, SUITE, KEY, send=SendCounter(last=MAX_COUNTER - 2))
    counter, _ = sender.seal(0, b"last one")
    assert counter == (1 << 64) - 2
    with pytest.raises(CryptoError):
        sender.seal(0, b"one too many")
    with pytest.raises(CryptoError):
        sender.seal(1, b"explicit", counter=MAX_COUNTER)


def test_response_uses_request_counter_in_direction_one() -> None:
    requester, handler = pair()
    counter, request = requester.seal(0, b"question")
    assert handler.open(0, counter, request) == b"question"
    response_counter, response = handler.seal(1, b"answer", counter=counter)
    assert response_counter == counter
    assert handler.send.last == 0  # responding draws no counter of its own
    assert requester.open(1, counter, response) == b"answer"
    with pytest.raises(CryptoError):  # a response never opens as a request of the same counter
        ChannelEnd(4, SUITE, KEY).open(0, counter, response)


def test_channel_end_replay_rejected() -> None:
    sender, receiver = pair()
    counter, sealed = sender.seal(0, b"once")
    receiver.open(0, counter, sealed)
    with pytest.raises(ReplayError):
        receiver.open(0, counter, sealed)
    assert receiver.receive.rejected == 1


def test_channel_end_forgery_does_not_advance_window() -> None:
    sender, receiver = pair()
    counter, sealed = sender.seal(0, b"genuine")
    forged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(CryptoError) as info:
        receiver.open(0, counter, forged)
    assert not isinstance(info.value, ReplayError)
    assert (receiver.receive.last, receiver.receive.rejected) == (0, 1)
    assert receiver.open(0, counter, sealed) == b"genuine"


def test_forged_high_counter_cannot_block_the_connection() -> None:
    sender, receiver = pair()
    counter, sealed = sender.seal(0, b"genuine")
    with pytest.raises(CryptoError):
        receiver.open(0, MAX_COUNTER - 1, sealed)
    assert receiver.open(0, counter, sealed) == b"genuine"


def test_channel_end_gaps_counted() -> None:
    sender, receiver = pair()
    sent = [sender.seal(0, b"e") for _ in range(6)]
    for counter, sealed in (sent[0], sent[3], sent[5]):
        receiver.open(0, counter, sealed)
    assert receiver.receive.gaps == 3
    with pytest.raises(ReplayError):
        receiver.open(0, *sent[4])


def test_other_connection_rejected() -> None:
    sender = ChannelEnd(4, SUITE, KEY)
    counter, sealed = sender.seal(0, b"for 4")
    with pytest.raises(CryptoError):
        ChannelEnd(5, SUITE, KEY).open(0, counter, sealed)


def test_channel_end_repr_hides_key() -> None:
    text = repr(ChannelEnd(4, SUITE, KEY))
    assert KEY.reveal().hex() not in text
    assert repr(KEY.reveal()) not in text
