"""Frame layer and typed-field message codec shared by the control, data and host protocols.

A frame is ``u32 length | u8 type | u32 request_id | payload`` (big-endian), where ``length``
counts everything after itself.  A message is a frozen dataclass whose fields are annotated with
wire kinds (``U8`` .. ``U64``, ``Bytes``, ``Str``); they are encoded in declaration order:
integers big-endian, ``Bytes`` as u32 length + data, ``Str`` as u16 length + UTF-8.

A message may also carry typed records (``Record`` subclasses, frozen dataclasses with the same
field kinds and no type code): ``Nested[R]`` is one record of type R, its fields inline;
``Records[R]`` is a u32 count, then that many records of type R.  The decoder checks a count
against the bytes left before it reads (every record takes at least one byte), so a hostile
count cannot make it allocate more than the frame it already holds.
No sockets here: the edges feed bytes in and write the bytes that come out.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, TypeVar, get_args, get_type_hints

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
    RECORD = "record"  # one record, its fields inline
    RECORDS = "records"  # u32 count, then that many records


R = TypeVar("R", bound="Record")

U8 = Annotated[int, Kind.U8]
U16 = Annotated[int, Kind.U16]
U32 = Annotated[int, Kind.U32]
U64 = Annotated[int, Kind.U64]
Bytes = Annotated[bytes, Kind.BYTES]
Str = Annotated[str, Kind.STR]
Nested = Annotated[R, Kind.RECORD]
Records = Annotated[tuple[R, ...], Kind.RECORDS]

_INT_FORMATS = {Kind.U8: ">B", Kind.U16: ">H", Kind.U32: ">I", Kind.U64: ">Q"}
_INT_LIMITS = {Kind.U8: 1 << 8, Kind.U16: 1 << 16, Kind.U32: 1 << 32, Kind.U64: 1 << 64}
_INT_SIZES = {Kind.U8: 1, Kind.U16: 2, Kind.U32: 4, Kind.U64: 8}
MAX_RECORDS = (1 << 32) - 1


class Fields:
    """What messages and records share: fields annotated with wire kinds, in declaration order."""

    _schema: ClassVar[tuple[tuple[str, Kind], ...]] = ()
    _record_types: ClassVar[dict[str, type[Record]]] = {}
    _min_size: ClassVar[int] = -1

    @classmethod
    def schema(cls) -> tuple[tuple[str, Kind], ...]:
        if "_schema" not in cls.__dict__:
            hints = get_type_hints(cls, include_extras=True)
            fields: list[tuple[str, Kind]] = []
            record_types: dict[str, type[Record]] = {}
            for field in dataclasses.fields(cls):  # type: ignore[arg-type]
                args = get_args(hints[field.name])
                kinds = [a for a in args[1:] if isinstance(a, Kind)]
                if not kinds:
                    raise TypeError(f"{cls.__name__}.{field.name} lacks a wire kind")
                if kinds[0] in (Kind.RECORD, Kind.RECORDS):
                    record_types[field.name] = _record_type(cls, field.name, kinds[0], args[0])
                fields.append((field.name, kinds[0]))
            cls._record_types = record_types
            cls._schema = tuple(fields)
        return cls._schema

    @classmethod
    def record_type(cls, name: str) -> type[Record]:
        """The record type of a ``Nested`` or ``Records`` field."""
        cls.schema()
        return cls._record_types[name]

    @classmethod
    def min_size(cls) -> int:
        """The fewest payload bytes an encoding of this type takes (every string, byte string
        and sequence empty)."""
        if "_min_size" not in cls.__dict__:
            cls._min_size = -2  # being computed: met again only if the type contains itself
            size = 0
            for name, kind in cls.schema():
                if kind in _INT_SIZES:
                    size += _INT_SIZES[kind]
                elif kind is Kind.BYTES or kind is Kind.RECORDS:
                    size += 4
                elif kind is Kind.STR:
                    size += 2
                else:
                    inner = cls.record_type(name)
                    if inner.__dict__.get("_min_size") == -2:
                        raise TypeError(f"{cls.__name__}.{name}: a record cannot contain itself")
                    size += inner.min_size()
            cls._min_size = size
        return cls._min_size


def _record_type(owner: type[Fields], name: str, kind: Kind, hint: Any) -> type[Record]:
    record = hint if kind is Kind.RECORD else get_args(hint)[0]
    if not (isinstance(record, type) and issubclass(record, Record)):
        raise TypeError(f"{owner.__name__}.{name}: {kind.value} of {record!r}, not of a Record")
    if kind is Kind.RECORDS and record.min_size() == 0:
        raise TypeError(f"{owner.__name__}.{name}: records of {record.__name__} take no bytes")
    return record


@dataclass(frozen=True)
class Message(Fields):
    """Base of every wire message; subclasses set TYPE and annotate their fields."""

    TYPE: ClassVar[int] = -1


@dataclass(frozen=True)
class Record(Fields):
    """A typed record carried inside a message (``Nested`` or ``Records`` field); no type code.

    Constructing one checks it, on the sending side as on the receiving side (the decoder builds
    records through their constructor): integers in the range of their kind, sequences as tuples
    of their record type, then ``check`` for what the kinds alone allow but the record does not.
    Every refusal is a ``ProtocolError`` naming the field.
    """

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name, kind in self.schema():
            value = getattr(self, name)
            if kind in _INT_LIMITS:
                if type(value) is bool:
                    value = int(value)
                    object.__setattr__(self, name, value)
                if not isinstance(value, int) or not 0 <= value < _INT_LIMITS[kind]:
                    raise ProtocolError(f"{owner}.{name}: {value!r} is not a {kind.value}")
            elif kind is Kind.BYTES:
                if not isinstance(value, bytes | bytearray | memoryview):
                    raise ProtocolError(f"{owner}.{name}: {type(value).__name__} is not bytes")
                if type(value) is not bytes:
                    object.__setattr__(self, name, bytes(value))
            elif kind is Kind.STR:
                if not isinstance(value, str):
                    raise ProtocolError(f"{owner}.{name}: {type(value).__name__} is not text")
            elif kind is Kind.RECORD:
                if not isinstance(value, self.record_type(name)):
                    expected = self.record_type(name).__name__
                    raise ProtocolError(f"{owner}.{name}: {value!r} is not a {expected}")
            else:
                record = self.record_type(name)
                if type(value) is not tuple:
                    if not isinstance(value, list):
                        raise ProtocolError(f"{owner}.{name}: {value!r} is not a list of records")
                    value = tuple(value)
                    object.__setattr__(self, name, value)
                if len(value) > MAX_RECORDS:
                    raise ProtocolError(f"{owner}.{name}: {len(value)} records are too many")
                for item in value:
                    if not isinstance(item, record):
                        raise ProtocolError(f"{owner}.{name}: {item!r} is not a {record.__name__}")
        self.check()

    def check(self) -> None:
        """Refuse values the field kinds allow but this record does not (raise ProtocolError
        naming the field); called on construction."""


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


def _encode_fields(message: Fields) -> bytes:
    parts: list[bytes] = []
    _encode_into(message, parts)
    return b"".join(parts)


def _encode_into(message: Fields, parts: list[bytes]) -> None:
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
        elif kind is Kind.STR:
            text = str(value).encode("utf-8")
            if len(text) >= 1 << 16:
                raise ValueError(f"{type(message).__name__}.{name} is longer than 65535 bytes")
            parts.append(struct.pack(">H", len(text)))
            parts.append(text)
        else:
            record = message.record_type(name)
            items = (value,) if kind is Kind.RECORD else tuple(value)
            if kind is Kind.RECORDS:
                if len(items) > MAX_RECORDS:
                    raise ValueError(f"{type(message).__name__}.{name}: too many records")
                parts.append(struct.pack(">I", len(items)))
            for item in items:
                if not isinstance(item, record):
                    raise ValueError(
                        f"{type(message).__name__}.{name}: {item!r} is not a {record.__name__}"
                    )
                _encode_into(item, parts)


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
    view = memoryview(payload)
    try:
        message, offset = _read_fields(cls, view, 0)
    except struct.error as exc:
        raise ProtocolError(f"{cls.__name__}: payload truncated") from exc
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{cls.__name__}: text field is not UTF-8") from exc
    if offset != len(payload):
        raise ProtocolError(f"{cls.__name__}: {len(payload) - offset} trailing bytes")
    return message


F = TypeVar("F", bound=Fields)


def _read_fields(cls: type[F], view: memoryview, offset: int) -> tuple[F, int]:
    """Decode the fields of ``cls`` starting at ``offset``: the value and the offset after it."""
    values: dict[str, Any] = {}
    end = len(view)
    for name, kind in cls.schema():
        if kind in _INT_FORMATS:
            fmt = _INT_FORMATS[kind]
            (values[name],) = struct.unpack_from(fmt, view, offset)
            offset += _INT_SIZES[kind]
        elif kind is Kind.BYTES or kind is Kind.STR:
            fmt = ">I" if kind is Kind.BYTES else ">H"
            (size,) = struct.unpack_from(fmt, view, offset)
            offset += 4 if kind is Kind.BYTES else 2
            if offset + size > end:
                raise ProtocolError(f"{cls.__name__}.{name}: length {size} runs past the frame")
            raw = bytes(view[offset : offset + size])
            offset += size
            values[name] = raw if kind is Kind.BYTES else raw.decode("utf-8")
        elif kind is Kind.RECORD:
            values[name], offset = _read_fields(cls.record_type(name), view, offset)
        else:
            record = cls.record_type(name)
            (count,) = struct.unpack_from(">I", view, offset)
            offset += 4
            need = count * record.min_size()
            if need > end - offset:  # refused before anything is allocated for them
                raise ProtocolError(
                    f"{cls.__name__}.{name}: {count} {record.__name__} records need at least "
                    f"{need} bytes, {end - offset} remain"
                )
            items = []
            for _ in range(count):
                item, offset = _read_fields(record, view, offset)
                items.append(item)
            values[name] = tuple(items)
    return cls(**values), offset


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
