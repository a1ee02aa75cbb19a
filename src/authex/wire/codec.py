"""Frame layer and typed-field message codec shared by the control, data and host protocols.

A frame is ``u32 length | u8 type | u32 request_id | payload`` (big-endian), where ``length``
counts everything after itself.  A message is a frozen dataclass whose fields are annotated with
wire kinds (``U8`` .. ``U64``, ``Bytes``, ``Str``); they are encoded in declaration order:
integers big-endian, ``Bytes`` as u32 length + data, ``Str`` as u16 length + UTF-8.
No sockets here: the edges feed bytes in and write the bytes that come out.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, get_args, get_type_hints

from authex.errors import ProtocolError

HEADER = struct.Struct(">IBI")  # length, type, request id
HEADER_SIZE = HEADER.size
LENGTH_OVERHEAD = HEADER_SIZE - 4  # bytes counted by `length` besides the payload
DEFAULT_MAX_FRAME = 1 << 20  # 1 MiB payload for data and host links
CONTROL_MAX_FRAME = 64 << 20  # control links carry artifacts


class Kind(Enum):
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    BYTES = "bytes"
    STR = "str"


U8 = Annotated[int, Kind.U8]
U16 = Annotated[int, Kind.U16]
U32 = Annotated[int, Kind.U32]
U64 = Annotated[int, Kind.U64]
Bytes = Annotated[bytes, Kind.BYTES]
Str = Annotated[str, Kind.STR]

_INT_FORMATS = {Kind.U8: ">B", Kind.U16: ">H", Kind.U32: ">I", Kind.U64: ">Q"}
_INT_LIMITS = {Kind.U8: 1 << 8, Kind.U16: 1 << 16, Kind.U32: 1 << 32, Kind.U64: 1 << 64}


@dataclass(frozen=True)
class Message:
    """Base of every wire message; subclasses set TYPE and annotate their fields."""

    TYPE: ClassVar[int] = -1
    _schema: ClassVar[tuple[tuple[str, Kind], ...]] = ()

    @classmethod
    def schema(cls) -> tuple[tuple[str, Kind], ...]:
        if "_schema" not in cls.__dict__:
            hints = get_type_hints(cls, include_extras=True)
            fields: list[tuple[str, Kind]] = []
            for field in dataclasses.fields(cls):
                args = get_args(hints[field.name])
                kinds = [a for a in args[1:] if isinstance(a, Kind)]
                if not kinds:
                    raise TypeError(f"{cls.__name__}.{field.name} lacks a wire kind")
                fields.append((field.name, kinds[0]))
            cls._schema = tuple(fields)
        return cls._schema


@dataclass(frozen=True)
class Frame:
    type: int
    request_id: int
    payload: bytes


class _Layout:
    """A message type whose fields are integers, optionally followed by one ``Bytes`` field
    (every event-path message): encoded and decoded with one precompiled ``struct.Struct``."""

    __slots__ = ("fixed", "names", "tail")

    def __init__(self, fixed: struct.Struct, names: tuple[str, ...], tail: bool) -> None:
        self.fixed = fixed  # the integer fields, then the u32 length of the tail if any
        self.names = names  # every field, in order
        self.tail = tail


_LAYOUTS: dict[type[Message], _Layout | None] = {}
_STRUCT_CODES = {Kind.U8: "B", Kind.U16: "H", Kind.U32: "I", Kind.U64: "Q"}


def _layout(cls: type[Message]) -> _Layout | None:
    try:
        return _LAYOUTS[cls]
    except KeyError:
        pass
    schema = cls.schema()
    kinds = [kind for _, kind in schema]
    tail = bool(kinds) and kinds[-1] is Kind.BYTES
    ints = kinds[:-1] if tail else kinds
    layout: _Layout | None = None
    if all(kind in _STRUCT_CODES for kind in ints):
        code = ">" + "".join(_STRUCT_CODES[kind] for kind in ints) + ("I" if tail else "")
        layout = _Layout(struct.Struct(code), tuple(name for name, _ in schema), tail)
    _LAYOUTS[cls] = layout
    return layout


def encode_payload(message: Message) -> bytes:
    layout = _layout(type(message))
    if layout is not None:
        values = [getattr(message, name) for name in layout.names]
        try:
            if layout.tail:
                data = values[-1]
                if type(data) is not bytes:
                    data = bytes(data)
                values[-1] = len(data)
                return layout.fixed.pack(*values) + data
            return layout.fixed.pack(*values)
        except (struct.error, TypeError):
            pass  # out of range or not an integer: the general path says which field
    return _encode_fields(message)


def _encode_fields(message: Message) -> bytes:
    parts: list[bytes] = []
    for name, kind in message.schema():
        value: Any = getattr(message, name)
        if kind in _INT_FORMATS:
            if not isinstance(value, int) or not 0 <= value < _INT_LIMITS[kind]:
                raise ValueError(f"{type(message).__name__}.{name}={value!r} is not a {kind.value}")
            parts.append(struct.pack(_INT_FORMATS[kind], value))
        elif kind is Kind.BYTES:
            data = bytes(value)
            parts.append(struct.pack(">I", len(data)))
            parts.append(data)
        else:
            text = str(value).encode("utf-8")
            if len(text) >= 1 << 16:
                raise ValueError(f"{type(message).__name__}.{name} is longer than 65535 bytes")
            parts.append(struct.pack(">H", len(text)))
            parts.append(text)
    return b"".join(parts)


def encode(message: Message, request_id: int = 0) -> bytes:
    """Encode one message as a complete frame."""
    payload = encode_payload(message)
    return HEADER.pack(len(payload) + LENGTH_OVERHEAD, message.TYPE, request_id) + payload


def decode_payload(cls: type[Message], payload: bytes) -> Message:
    layout = _layout(cls)
    if layout is None:
        return _decode_fields(cls, payload)
    fixed = layout.fixed
    try:
        values = fixed.unpack_from(payload)
    except struct.error as exc:
        raise ProtocolError(f"{cls.__name__}: payload truncated") from exc
    end = fixed.size
    if layout.tail:
        size = values[-1]
        if end + size > len(payload):
            raise ProtocolError(
                f"{cls.__name__}.{layout.names[-1]}: length {size} runs past the frame"
            )
        data = payload[end : end + size]
        values = (*values[:-1], data if type(data) is bytes else bytes(data))
        end += size
    if end != len(payload):
        raise ProtocolError(f"{cls.__name__}: {len(payload) - end} trailing bytes")
    return cls(*values)


def _decode_fields(cls: type[Message], payload: bytes) -> Message:
    values: dict[str, Any] = {}
    offset = 0
    view = memoryview(payload)
    try:
        for name, kind in cls.schema():
            if kind in _INT_FORMATS:
                fmt = _INT_FORMATS[kind]
                (values[name],) = struct.unpack_from(fmt, view, offset)
                offset += struct.calcsize(fmt)
            else:
                fmt = ">I" if kind is Kind.BYTES else ">H"
                (size,) = struct.unpack_from(fmt, view, offset)
                offset += struct.calcsize(fmt)
                if offset + size > len(payload):
                    raise ProtocolError(f"{cls.__name__}.{name}: length {size} runs past the frame")
                raw = bytes(view[offset : offset + size])
                offset += size
                values[name] = raw if kind is Kind.BYTES else raw.decode("utf-8")
    except struct.error as exc:
        raise ProtocolError(f"{cls.__name__}: payload truncated") from exc
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{cls.__name__}: text field is not UTF-8") from exc
    if offset != len(payload):
        raise ProtocolError(f"{cls.__name__}: {len(payload) - offset} trailing bytes")
    return cls(**values)


class Registry:
    """The set of message types one side of one link accepts."""

    def __init__(self, name: str, *classes: type[Message]) -> None:
        self.name = name
        self.by_type: dict[int, type[Message]] = {}
        for cls in classes:
            if cls.TYPE in self.by_type:
                raise ValueError(f"duplicate message type 0x{cls.TYPE:02x} in {name}")
            self.by_type[cls.TYPE] = cls

    def decode(self, frame: Frame) -> Message:
        cls = self.by_type.get(frame.type)
        if cls is None:
            raise ProtocolError(f"unknown {self.name} message type 0x{frame.type:02x}")
        return decode_payload(cls, frame.payload)


class FrameDecoder:
    """Incremental frame splitter: feed bytes, get complete frames; enforces the size limit."""

    def __init__(self, max_payload: int = DEFAULT_MAX_FRAME) -> None:
        self.max_payload = max_payload
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer
        if buffer:
            buffer += data
            view: bytes | bytearray = buffer
        else:
            view = data  # nothing left over: split the chunk itself, copy only its tail
        frames: list[Frame] = []
        offset = 0
        size = len(view)
        unpack = HEADER.unpack_from
        try:
            while size - offset >= HEADER_SIZE:
                length, ftype, request_id = unpack(view, offset)
                if length < LENGTH_OVERHEAD:
                    raise ProtocolError(f"frame length {length} is shorter than its header")
                payload_size = length - LENGTH_OVERHEAD
                if payload_size > self.max_payload:
                    raise ProtocolError(
                        f"frame of {payload_size} bytes exceeds the limit of {self.max_payload}"
                    )
                end = offset + HEADER_SIZE + payload_size
                if size < end:
                    break
                frames.append(Frame(ftype, request_id, bytes(view[offset + HEADER_SIZE : end])))
                offset = end
        finally:
            if view is buffer:
                del buffer[:offset]
            else:
                buffer += view[offset:]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        return len(self._buffer)
