"""Hypothesis properties of the frame layer and the message codec, for every message class."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authex.errors import ProtocolError
from authex.wire import messages
from authex.wire.codec import (
    HEADER,
    LENGTH_OVERHEAD,
    Frame,
    FrameDecoder,
    Kind,
    Message,
    Registry,
    decode_payload,
    encode,
    encode_payload,
)
from authex.wire.status import NodeStatus
from support.strategies import fields_strategy

CLASSES: list[type[Message]] = sorted(
    (
        obj
        for obj in vars(messages).values()
        if isinstance(obj, type) and issubclass(obj, Message) and obj is not Message
    ),
    key=lambda cls: cls.TYPE,
)
REGISTRIES: list[Registry] = [
    messages.CONTROL_REQUESTS,
    messages.CONTROL_REPLIES,
    messages.DATA,
    messages.HOST_TO_MODULE,
    messages.MODULE_TO_HOST,
]
INT_BITS = {Kind.U8: 8, Kind.U16: 16, Kind.U32: 32, Kind.U64: 64}
REQUEST_IDS = st.integers(0, (1 << 32) - 1)


def field_strategy(kind: Kind) -> st.SearchStrategy[Any]:
    if kind in INT_BITS:
        return st.integers(0, (1 << INT_BITS[kind]) - 1)
    if kind is Kind.BYTES:
        return st.binary(max_size=64)
    return st.text(max_size=24)


def message_strategy(cls: type[Message]) -> st.SearchStrategy[Message]:
    return fields_strategy(cls, field_strategy)


ANY_MESSAGE = st.one_of([message_strategy(cls) for cls in CLASSES])


@pytest.mark.parametrize("cls", CLASSES, ids=[cls.__name__ for cls in CLASSES])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_every_message_class(cls: type[Message], data: st.DataObject) -> None:
    message = data.draw(message_strategy(cls))
    request_id = data.draw(REQUEST_IDS)
    wire = encode(message, request_id)
    decoder = FrameDecoder()
    (frame,) = decoder.feed(wire)
    assert decoder.pending == 0
    assert (frame.type, frame.request_id) == (cls.TYPE, request_id)
    assert decode_payload(cls, frame.payload) == message
    for registry in REGISTRIES:
        if registry.by_type.get(cls.TYPE) is cls:
            assert registry.decode(frame) == message


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(st.tuples(ANY_MESSAGE, REQUEST_IDS), max_size=8),
    cuts=st.lists(st.integers(0, 4096), max_size=12),
)
def test_split_stream_yields_the_same_frames(
    items: list[tuple[Message, int]], cuts: list[int]
) -> None:
    stream = b"".join(encode(message, rid) for message, rid in items)
    whole = FrameDecoder().feed(stream)
    assert [(f.type, f.request_id) for f in whole] == [(m.TYPE, rid) for m, rid in items]
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    decoder = FrameDecoder()
    pieces: list[Frame] = []
    for start, end in itertools.pairwise(points):
        pieces.extend(decoder.feed(stream[start:end]))
    assert pieces == whole
    assert decoder.pending == 0


def decode_all(registry: Registry, decoder: FrameDecoder, data: bytes) -> list[Message]:
    return [registry.decode(frame) for frame in decoder.feed(data)]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600), registry=st.sampled_from(REGISTRIES))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes, registry: Registry) -> None:
    with contextlib.suppress(ProtocolError):
        decode_all(registry, FrameDecoder(max_payload=256), data)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), registry=st.sampled_from(REGISTRIES))
def test_random_payload_of_a_known_type(data: st.DataObject, registry: Registry) -> None:
    """Reach the field decoder: a valid header of the link with arbitrary payload bytes."""
    ftype = data.draw(st.sampled_from(sorted(registry.by_type)))
    payload = data.draw(st.binary(max_size=80))
    request_id = data.draw(REQUEST_IDS)
    wire = HEADER.pack(len(payload) + LENGTH_OVERHEAD, ftype, request_id) + payload
    try:
        (message,) = decode_all(registry, FrameDecoder(), wire)
    except ProtocolError:
        return
    # Whatever decodes re-encodes to the very same bytes: the encoding is canonical.
    assert encode_payload(message) == payload
    assert encode(message, request_id) == wire


@settings(max_examples=100, deadline=None)
@given(message=ANY_MESSAGE, garbage=st.binary(min_size=1, max_size=16))
def test_trailing_bytes_always_rejected(message: Message, garbage: bytes) -> None:
    payload = encode_payload(message) + garbage
    with pytest.raises(ProtocolError):
        decode_payload(type(message), payload)


@settings(max_examples=100, deadline=None)
@given(message=ANY_MESSAGE, data=st.data())
def test_truncated_payload_always_rejected(message: Message, data: st.DataObject) -> None:
    payload = encode_payload(message)
    if not payload:
        return
    cut = data.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(ProtocolError):
        decode_payload(type(message), payload[:cut])


# --- the agent's status (typed records) -------------------------------------------------------

NODE_STATUS = fields_strategy(NodeStatus, field_strategy)


@settings(max_examples=60, deadline=None)
@given(status=NODE_STATUS, request_id=REQUEST_IDS)
def test_node_status_round_trip(status: NodeStatus, request_id: int) -> None:
    message = messages.StatusResult(status)
    (frame,) = FrameDecoder(1 << 26).feed(encode(message, request_id))
    decoded = messages.CONTROL_REPLIES.decode(frame)
    assert decoded == message
    assert isinstance(decoded, messages.StatusResult)
    assert decoded.status.emulated is bool(status.emulated)


@settings(max_examples=150, deadline=None)
@given(status=NODE_STATUS, data=st.data())
def test_a_changed_status_byte_decodes_canonically_or_is_refused(
    status: NodeStatus, data: st.DataObject
) -> None:
    """One byte of a valid status payload set to any value: the decoder refuses it with a
    ProtocolError (a count past the payload, a flag of 2, a repeated key, bad UTF-8...) or
    reads a status that encodes back to the very same bytes."""
    payload = bytearray(encode_payload(messages.StatusResult(status)))
    index = data.draw(st.integers(0, len(payload) - 1))
    payload[index] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_payload(messages.StatusResult, bytes(payload))
    except ProtocolError:
        return
    assert encode_payload(decoded) == bytes(payload)
