"""The frame layer and typed-field codec (authex.wire.codec)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest

from authex.errors import ProtocolError
from authex.wire import messages
from authex.wire.codec import (
    CONTROL_MAX_FRAME,
    DEFAULT_MAX_FRAME,
    HEADER_SIZE,
    U8,
    Frame,
    FrameDecoder,
    Message,
    Registry,
    decode_payload,
    encode,
    encode_payload,
)
from authex.wire.messages import Error, ErrorCode, Event, Hello, LinkKind, Ok, Status


def header(payload_size: int, ftype: int = Event.TYPE, request_id: int = 1) -> bytes:
    return struct.pack(">IBI", payload_size + 5, ftype, request_id)


# --- frame layer ----------------------------------------------------------------------------


def test_limits() -> None:
    assert HEADER_SIZE == 9
    assert DEFAULT_MAX_FRAME == 1 << 20
    assert CONTROL_MAX_FRAME == 64 << 20


def test_oversize_error_names_size_and_limit() -> None:
    with pytest.raises(ProtocolError) as info:
        FrameDecoder(max_payload=100).feed(header(101))
    assert "101" in str(info.value)
    assert "100" in str(info.value)


def test_oversize_default_limit_named() -> None:
    with pytest.raises(ProtocolError) as info:
        FrameDecoder().feed(header(DEFAULT_MAX_FRAME + 1))
    assert str(DEFAULT_MAX_FRAME + 1) in str(info.value)
    assert str(DEFAULT_MAX_FRAME) in str(info.value)


def test_oversize_rejected_from_header_without_payload() -> None:
    decoder = FrameDecoder(max_payload=10)
    assert decoder.feed(header(11)[:8]) == []  # header not complete yet: no verdict
    with pytest.raises(ProtocolError):
        decoder.feed(header(11)[8:])


def test_payload_of_exactly_the_limit_is_accepted() -> None:
    frame = encode(Ok(b"x" * 96), 3)  # payload = 4-byte length + 96 bytes
    (decoded,) = FrameDecoder(max_payload=100).feed(frame)
    assert messages.DATA.decode(decoded) == Ok(b"x" * 96)
    with pytest.raises(ProtocolError):
        FrameDecoder(max_payload=99).feed(frame)


def test_control_limit_accepts_what_data_limit_rejects() -> None:
    big = header(DEFAULT_MAX_FRAME + 1, messages.Load.TYPE)
    assert FrameDecoder(CONTROL_MAX_FRAME).feed(big) == []
    with pytest.raises(ProtocolError):
        FrameDecoder(CONTROL_MAX_FRAME).feed(header(CONTROL_MAX_FRAME + 1))


@pytest.mark.parametrize("length", [0, 1, 4])
def test_length_shorter_than_header(length: int) -> None:
    with pytest.raises(ProtocolError, match="shorter than its header"):
        FrameDecoder().feed(struct.pack(">IBI", length, 1, 0))


def test_several_frames_in_one_feed_and_one_byte_at_a_time() -> None:
    stream = encode(Hello(1, 1, "a"), 1) + encode(Status(), 2) + encode(Ok(b"z"), 3)
    frames = FrameDecoder().feed(stream)
    assert [(f.type, f.request_id) for f in frames] == [(1, 1), (0x1C, 2), (2, 3)]
    decoder = FrameDecoder()
    trickled: list[Frame] = []
    for i in range(len(stream)):
        trickled.extend(decoder.feed(stream[i : i + 1]))
        assert decoder.pending == (i + 1) - sum(HEADER_SIZE + len(f.payload) for f in trickled)
    assert trickled == frames


def test_pending_counts_partial_frame() -> None:
    wire = encode(Hello(1, 1, "peer"), 9)
    decoder = FrameDecoder()
    assert decoder.feed(wire[:-2]) == []
    assert decoder.pending == len(wire) - 2
    (frame,) = decoder.feed(wire[-2:])
    assert decoder.pending == 0
    assert frame == Frame(Hello.TYPE, 9, wire[HEADER_SIZE:])


# --- registry ---------------------------------------------------------------------------------


def test_unknown_type_message_names_link_and_type() -> None:
    with pytest.raises(ProtocolError) as info:
        messages.DATA.decode(Frame(0x7F, 1, b""))
    assert str(info.value) == "unknown data message type 0x7f"


def test_type_of_another_link_is_unknown() -> None:
    with pytest.raises(ProtocolError, match="unknown host message type 0x10"):
        messages.HOST_TO_MODULE.decode(Frame(messages.Load.TYPE, 1, b""))


def test_registry_rejects_duplicate_type() -> None:
    @dataclass(frozen=True)
    class Clash(Message):
        TYPE = Hello.TYPE

    with pytest.raises(ValueError, match="duplicate message type 0x01 in test"):
        Registry("test", Hello, Clash)


def test_schema_requires_a_wire_kind() -> None:
    @dataclass(frozen=True)
    class Untyped(Message):
        TYPE = 0x7E
        value: int

    with pytest.raises(TypeError, match=r"Untyped\.value lacks a wire kind"):
        Untyped.schema()


def test_schema_in_declaration_order() -> None:
    @dataclass(frozen=True)
    class Pair(Message):
        TYPE = 0x7D
        second: U8
        first: U8

    assert [name for name, _ in Pair.schema()] == ["second", "first"]
    assert encode_payload(Pair(1, 2)) == b"\x01\x02"


# --- Hello / Error / Event exact encodings ----------------------------------------------------


def test_hello_codec() -> None:
    hello = Hello(link=LinkKind.DATA, version=1, peer="node-é")
    peer = "node-é".encode()
    payload = b"\x02\x01" + struct.pack(">H", len(peer)) + peer
    wire = struct.pack(">IBI", 5 + len(payload), 0x01, 0x01020304) + payload
    assert len(peer) == 7  # UTF-8 bytes, not characters
    assert encode(hello, 0x01020304) == wire
    (frame,) = FrameDecoder().feed(wire)
    assert messages.DATA.decode(frame) == hello
    assert messages.CONTROL_REQUESTS.decode(frame) == hello


def test_error_codec() -> None:
    error = Error(code=ErrorCode.UNKNOWN_CONNECTION, message="no route for 9")
    payload = b"\x00\x03" + b"\x00\x0e" + b"no route for 9"
    assert encode(error, 5) == struct.pack(">IBI", 5 + len(payload), 0x03, 5) + payload
    (frame,) = FrameDecoder().feed(encode(error, 5))
    decoded = messages.CONTROL_REPLIES.decode(frame)
    assert decoded == error
    assert isinstance(decoded, Error) and decoded.code == 3


def test_event_codec() -> None:
    event = Event(conn_id=0xA0B0C0D0, direction=1, counter=(1 << 64) - 2, ciphertext=b"ct")
    payload = bytes.fromhex("a0b0c0d001fffffffffffffffe00000002") + b"ct"
    assert encode_payload(event) == payload
    assert decode_payload(Event, payload) == event


def test_message_without_fields() -> None:
    assert encode(Status(), 0) == struct.pack(">IBI", 5, 0x1C, 0)
    assert decode_payload(Status, b"") == Status()
    with pytest.raises(ProtocolError, match="Status: 1 trailing bytes"):
        decode_payload(Status, b"\x00")


def test_ok_body_defaults_to_empty() -> None:
    assert encode_payload(Ok()) == b"\x00\x00\x00\x00"


# --- encode errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("link", [-1, 256])
def test_encode_rejects_out_of_range_int(link: int) -> None:
    with pytest.raises(ValueError, match=rf"Hello.link={link} is not a u8"):
        encode(Hello(link, 1, "x"))


def test_encode_rejects_u64_overflow() -> None:
    with pytest.raises(ValueError, match=r"Event\.counter"):
        encode(Event(1, 0, 1 << 64, b""))


def test_str_length_limit_counts_utf8_bytes() -> None:
    longest = "a" * 65535
    assert decode_payload(Hello, encode_payload(Hello(1, 1, longest))) == Hello(1, 1, longest)
    with pytest.raises(ValueError, match=r"Hello\.peer is longer than 65535 bytes"):
        encode_payload(Hello(1, 1, "a" * 65536))
    with pytest.raises(ValueError, match="longer than 65535 bytes"):
        encode_payload(Hello(1, 1, "é" * 32768))  # 32768 characters, 65536 bytes


# --- decode errors ----------------------------------------------------------------------------


def test_truncated_payload() -> None:
    payload = encode_payload(Event(5, 0, 1, b"abc"))
    with pytest.raises(ProtocolError, match="Event: payload truncated"):
        decode_payload(Event, payload[:7])


def test_trailing_bytes() -> None:
    payload = encode_payload(Hello(1, 1, "x")) + b"\x00\x00"
    with pytest.raises(ProtocolError, match="Hello: 2 trailing bytes"):
        decode_payload(Hello, payload)


def test_bytes_length_past_frame() -> None:
    payload = struct.pack(">IBQI", 5, 0, 1, 100) + b"abc"
    with pytest.raises(ProtocolError, match=r"Event.ciphertext: length 100 runs past the frame"):
        decode_payload(Event, payload)


def test_str_not_utf8() -> None:
    payload = b"\x01\x01\x00\x02\xc3\x28"
    with pytest.raises(ProtocolError, match="Hello: text field is not UTF-8"):
        decode_payload(Hello, payload)


def test_str_surrogate_rejected() -> None:
    payload = b"\x01\x01\x00\x03\xed\xa0\x80"  # an encoded lone surrogate is not UTF-8
    with pytest.raises(ProtocolError):
        decode_payload(Hello, payload)
