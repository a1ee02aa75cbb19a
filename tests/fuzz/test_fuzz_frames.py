"""Fuzz the frame layer and every message registry (wire.messages and wire.platform).

Complements tests/property/test_property_wire.py (round trips, random bytes and random payloads
on the five wire.messages registries) with the four platform registries, arbitrary chunking of
the input stream, and structure-aware mutations of valid frames: byte flips, truncations,
extensions, insertions and overwritten length fields.  Whatever the input, the only exception is
ProtocolError, and whatever decodes is canonical (it re-encodes to the very same payload).
"""

from __future__ import annotations

import itertools
import struct
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from authex.errors import ProtocolError
from authex.wire import messages, platform
from authex.wire.codec import (
    HEADER,
    HEADER_SIZE,
    LENGTH_OVERHEAD,
    FrameDecoder,
    Kind,
    Message,
    Registry,
    encode,
    encode_payload,
)
from support.strategies import fields_strategy

REGISTRIES: dict[str, Registry] = {
    "CONTROL_REQUESTS": messages.CONTROL_REQUESTS,
    "CONTROL_REPLIES": messages.CONTROL_REPLIES,
    "DATA": messages.DATA,
    "HOST_TO_MODULE": messages.HOST_TO_MODULE,
    "MODULE_TO_HOST": messages.MODULE_TO_HOST,
    "AGENT_TO_PLATFORM": platform.AGENT_TO_PLATFORM,
    "PLATFORM_TO_AGENT": platform.PLATFORM_TO_AGENT,
    "MODULE_TO_PLATFORM": platform.MODULE_TO_PLATFORM,
    "PLATFORM_TO_MODULE": platform.PLATFORM_TO_MODULE,
}
REGISTRY_NAMES = st.sampled_from(sorted(REGISTRIES))
MAX_PAYLOAD = 512  # a small limit keeps the decoder's size check in reach of random lengths
INT_BITS = {Kind.U8: 8, Kind.U16: 16, Kind.U32: 32, Kind.U64: 64}
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)


def _field(kind: Kind) -> st.SearchStrategy[Any]:
    if kind in INT_BITS:
        top = (1 << INT_BITS[kind]) - 1
        return st.integers(0, top) | st.sampled_from((0, 1, top))
    if kind is Kind.BYTES:
        return st.binary(max_size=40)
    return st.text(max_size=16)


@st.composite
def _valid_frame(draw: st.DrawFn, registry: Registry) -> tuple[type[Message], bytes]:
    cls = draw(st.sampled_from(sorted(registry.by_type.values(), key=lambda c: c.TYPE)))
    message = draw(fields_strategy(cls, _field))  # StatusResult: its records too
    return cls, encode(message, draw(st.integers(0, (1 << 32) - 1)))


@st.composite
def _mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """1-4 random edits of ``original``; the header and length fields are hit often."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("set", "xor", "truncate", "extend", "insert", "delete", "u32")))
        hot = draw(st.booleans()) and len(data) > 0
        top = min(len(data), HEADER_SIZE + 8) if hot else len(data)
        pos = draw(st.integers(0, max(0, top - 1)))
        if op == "set" and data:
            data[pos] = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        elif op == "xor" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=24))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "u32" and len(data) >= 4:
            pos = min(pos, len(data) - 4)
            value = draw(st.sampled_from((0, 1, 0x7FFFFFFF, 0xFFFFFFFF)) | st.integers(0, 600))
            data[pos : pos + 4] = struct.pack(">I", value)
    return bytes(data)


def _decode_stream(registry: Registry, data: bytes, cuts: list[int]) -> list[Message]:
    """Feed ``data`` in pieces split at ``cuts``; decode every frame; check canonicity."""
    decoder = FrameDecoder(max_payload=MAX_PAYLOAD)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    decoded: list[Message] = []
    for start, end in itertools.pairwise(points):
        for frame in decoder.feed(data[start:end]):
            message = registry.decode(frame)
            assert registry.by_type[frame.type] is type(message)
            assert encode_payload(message) == frame.payload
            decoded.append(message)
    assert 0 <= decoder.pending < HEADER_SIZE + MAX_PAYLOAD
    return decoded


@settings(max_examples=150, deadline=None)
@given(
    name=REGISTRY_NAMES,
    data=st.binary(max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
@example(name="PLATFORM_TO_MODULE", data=b"\x00\x00\x00\x05\xa8\x00\x00\x00\x00", cuts=[])
@example(name="AGENT_TO_PLATFORM", data=b"\xff" * 9, cuts=[3])
@example(name="DATA", data=b"\x00\x00\x00\x04" + b"\x00" * 5, cuts=[])
def test_random_bytes_in_random_chunks(name: str, data: bytes, cuts: list[int]) -> None:
    try:
        _decode_stream(REGISTRIES[name], data, cuts)
    except ProtocolError as exc:
        assert str(exc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_frames(data: st.DataObject) -> None:
    registry = REGISTRIES[data.draw(REGISTRY_NAMES)]
    frames = data.draw(st.lists(_valid_frame(registry), min_size=1, max_size=3))
    stream = data.draw(_mutated(b"".join(wire for _, wire in frames)))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=4))
    try:
        _decode_stream(registry, stream, cuts)
    except ProtocolError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_valid_header_random_payload(data: st.DataObject) -> None:
    """Every registry, including the platform links: a well-formed header of a known (or nearby
    unknown) type with arbitrary payload bytes reaches the field decoder."""
    registry = REGISTRIES[data.draw(REGISTRY_NAMES)]
    known = sorted(registry.by_type)
    ftype = data.draw(st.sampled_from(known) | st.integers(0, 255))
    payload = data.draw(st.binary(max_size=96))
    wire = HEADER.pack(len(payload) + LENGTH_OVERHEAD, ftype, 7) + payload
    try:
        (message,) = _decode_stream(registry, wire, [])
    except ProtocolError:
        return
    assert encode(message, 7) == wire


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_payload_fields_keep_the_header(data: st.DataObject) -> None:
    """Header intact and its length fixed up: only the payload is mutated, so every mutation
    reaches ``decode_payload`` (length prefixes that run past the end, bad UTF-8, leftovers)."""
    registry = REGISTRIES[data.draw(REGISTRY_NAMES)]
    cls, wire = data.draw(_valid_frame(registry))
    payload = data.draw(_mutated(wire[HEADER_SIZE:]))
    frame = HEADER.pack(len(payload) + LENGTH_OVERHEAD, cls.TYPE, 1) + payload
    try:
        (message,) = _decode_stream(registry, frame, [])
    except ProtocolError:
        return
    assert type(message) is cls


def test_oversized_frame_rejected_before_its_payload_arrives() -> None:
    for registry in REGISTRIES.values():
        ftype = min(registry.by_type)
        header = HEADER.pack(MAX_PAYLOAD + LENGTH_OVERHEAD + 1, ftype, 0)
        try:
            _decode_stream(registry, header, [])
        except ProtocolError as exc:
            assert "exceeds the limit" in str(exc)
        else:
            raise AssertionError("an oversized frame header was accepted")
