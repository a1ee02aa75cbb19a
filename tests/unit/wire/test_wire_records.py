"""Typed records in the wire codec: ``Nested`` (one record inline) and ``Records`` (u32 count,
then the records): layout, schema, bounded decoding and what a record's constructor refuses."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import pytest

from authex.errors import ProtocolError
from authex.wire import codec
from authex.wire.codec import (
    U8,
    U16,
    Bytes,
    Message,
    Nested,
    Record,
    Records,
    Str,
    decode_payload,
    encode_payload,
)
from authex.wire.messages import Event, EventAck, HostDeliver

# --- the codec's record kinds ----------------------------------------------------------------


@dataclass(frozen=True)
class Point(Record):
    x: U16
    label: Str


@dataclass(frozen=True)
class Shape(Message):
    TYPE = 0x7E
    name: Str
    origin: Nested[Point]
    points: Records[Point]
    tail: Bytes


@dataclass(frozen=True)
class Polygon(Record):
    points: Records[Point]
    closed: U8


@dataclass(frozen=True)
class Drawing(Message):
    TYPE = 0x7F
    polygon: Nested[Polygon]


@dataclass(frozen=True)
class Label(Record):
    text: Str


@dataclass(frozen=True)
class Blob(Record):
    data: Bytes


def test_records_layout_is_count_then_fields_inline() -> None:
    shape = Shape("tri", Point(1, "o"), (Point(2, "a"), Point(3, "bé")), b"\xff")
    payload = encode_payload(shape)
    assert payload == (
        b"\x00\x03tri"  # name
        + b"\x00\x01\x00\x01o"  # origin: x, label inline
        + b"\x00\x00\x00\x02"  # two points
        + b"\x00\x02\x00\x01a"
        + b"\x00\x03\x00\x03b\xc3\xa9"
        + b"\x00\x00\x00\x01\xff"  # tail
    )
    assert decode_payload(Shape, payload) == shape


def test_records_schema_and_minimum_sizes() -> None:
    assert Shape.schema() == (
        ("name", codec.Kind.STR),
        ("origin", codec.Kind.RECORD),
        ("points", codec.Kind.RECORDS),
        ("tail", codec.Kind.BYTES),
    )
    assert Shape.record_type("origin") is Point and Shape.record_type("points") is Point
    assert Point.min_size() == 4
    assert Shape.min_size() == 2 + 4 + 4 + 4
    assert Polygon.min_size() == 4 + 1


def test_a_record_stores_a_list_as_a_tuple_and_a_bool_as_an_int() -> None:
    polygon = Polygon([Point(1, "")], True)  # type: ignore[arg-type]
    assert polygon.points == (Point(1, ""),) and polygon.closed == 1
    assert type(polygon.closed) is int
    assert hash(polygon) == hash(Polygon((Point(1, ""),), 1))
    assert decode_payload(Drawing, encode_payload(Drawing(polygon))) == Drawing(polygon)


HEAD = b"\x00\x01s" + b"\x00\x00\x00\x00"  # Shape.name "s", origin Point(0, "")


def test_hostile_count_is_refused_before_reading() -> None:
    hostile = HEAD + struct.pack(">I", 0xFFFFFFFF) + b"\x00\x00\x00\x00"
    with pytest.raises(
        ProtocolError, match=r"Shape\.points: 4294967295 Point records need at least 17179869180"
    ):
        decode_payload(Shape, hostile)


def test_count_is_checked_against_the_bytes_left() -> None:
    # two points (at least 4 bytes each) and an empty tail would take 12 bytes after the count
    exact = HEAD + struct.pack(">I", 2) + b"\x00\x02\x00\x00" * 2 + b"\x00\x00\x00\x00"
    assert decode_payload(Shape, exact) == Shape("s", Point(0, ""), (Point(2, ""),) * 2, b"")
    # 7 bytes left cannot hold two points: refused from the count alone
    with pytest.raises(ProtocolError, match="2 Point records need at least 8 bytes, 7 remain"):
        decode_payload(Shape, HEAD + struct.pack(">I", 2) + b"\x00" * 7)
    # 8 bytes left pass the count check; the tail is then missing
    with pytest.raises(ProtocolError, match="payload truncated"):
        decode_payload(Shape, HEAD + struct.pack(">I", 2) + b"\x00" * 8)


def test_count_check_never_allocates_for_the_announced_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[type] = []
    original = codec._read_fields

    def counting(cls: type[Any], view: memoryview, offset: int) -> tuple[Any, int]:
        read.append(cls)
        return original(cls, view, offset)

    monkeypatch.setattr(codec, "_read_fields", counting)
    hostile = HEAD + struct.pack(">I", 1 << 31) + b"\x00" * 12
    with pytest.raises(ProtocolError):
        decode_payload(Shape, hostile)
    assert read == [Shape, Point]  # the message and its origin; none of the announced points


def test_truncated_record_and_trailing_bytes_are_refused() -> None:
    payload = encode_payload(Shape("s", Point(1, "a"), (Point(2, "b"),), b"x"))
    for cut in range(len(payload)):
        with pytest.raises(ProtocolError):
            decode_payload(Shape, payload[:cut])
    with pytest.raises(ProtocolError, match="1 trailing bytes"):
        decode_payload(Shape, payload + b"\x00")


def test_encoding_checks_record_types() -> None:
    # a message is checked when it is encoded, a record when it is constructed
    wrong_origin = Shape("s", Label("x"), (), b"")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Shape\.origin: .* is not a Point"):
        encode_payload(wrong_origin)
    wrong_points = Shape("s", Point(0, ""), (Label("x"),), b"")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Shape\.points: .* is not a Point"):
        encode_payload(wrong_points)
    with pytest.raises(ProtocolError, match=r"Polygon\.points: .* is not a Point"):
        Polygon((Label("x"),), 0)  # type: ignore[arg-type]


def test_record_constructor_refuses_values_outside_their_kind() -> None:
    with pytest.raises(ProtocolError, match=r"Point\.x: -1 is not a u16"):
        Point(-1, "")
    with pytest.raises(ProtocolError, match=r"Point\.x: 65536 is not a u16"):
        Point(1 << 16, "")
    with pytest.raises(ProtocolError, match=r"Point\.label: bytes is not text"):
        Point(0, b"x")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match=r"Point\.x: 1.5 is not a u16"):
        Point(1.5, "")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match=r"Blob\.data: str is not bytes"):
        Blob("ab")  # type: ignore[arg-type]
    assert Blob(bytearray(b"ab")).data == b"ab"  # type: ignore[arg-type]
    assert type(Blob(memoryview(b"a")).data) is bytes  # type: ignore[arg-type]


@dataclass(frozen=True)
class Empty(Record):
    pass


@dataclass(frozen=True)
class ManyEmpty(Message):
    TYPE = 0x7D
    items: Records[Empty]


@dataclass(frozen=True)
class NotARecord(Message):
    TYPE = 0x7C
    inner: Nested[Event]  # type: ignore[type-var]


def test_schema_errors_are_found_when_the_type_is_first_used() -> None:
    with pytest.raises(TypeError, match="records of Empty take no bytes"):
        ManyEmpty.schema()  # so a count could announce any number of them
    with pytest.raises(TypeError, match="not of a Record"):
        NotARecord.schema()


def test_event_path_messages_keep_their_fast_path() -> None:
    for cls in (Event, EventAck, HostDeliver):
        assert codec._layout(cls) is not None
    assert codec._layout(Shape) is None  # records take the general path
