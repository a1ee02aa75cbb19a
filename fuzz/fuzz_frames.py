"""atheris harness: the frame decoder and every message registry (wire.messages, wire.platform).

    python fuzz/fuzz_frames.py -max_total_time=60 [corpus folder]

The first input byte picks a registry and a mode: raw (the rest is a byte stream, fed to
``FrameDecoder`` in pieces) or seeded (the rest edits a stream of valid frames of that registry,
see ``harness.mutate``).  Findings: any exception but ProtocolError, or a decoded message that
does not re-encode to its payload.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from harness import instrumented, mutate, run

with instrumented():
    from authex.errors import ProtocolError
    from authex.wire import messages, platform
    from authex.wire.codec import Fields, FrameDecoder, Kind, Registry, encode, encode_payload

REGISTRIES: list[Registry] = [
    messages.CONTROL_REQUESTS,
    messages.CONTROL_REPLIES,
    messages.DATA,
    messages.HOST_TO_MODULE,
    messages.MODULE_TO_HOST,
    platform.AGENT_TO_PLATFORM,
    platform.PLATFORM_TO_AGENT,
    platform.MODULE_TO_PLATFORM,
    platform.PLATFORM_TO_MODULE,
]
MAX_PAYLOAD = 4096
F = TypeVar("F", bound=Fields)
_SAMPLE = {Kind.U8: 0x7F, Kind.U16: 0x1234, Kind.U32: 0xDEADBEEF, Kind.U64: 1 << 40}


def _sample(cls: type[F]) -> F:
    flags = getattr(cls, "FLAGS", ())  # status records: flags are 0 or 1
    values: dict[str, object] = {}
    for name, kind in cls.schema():
        if kind is Kind.BYTES:
            values[name] = b"\x00\x01bytes\xff"
        elif kind is Kind.STR:
            values[name] = "text \u00e9"
        elif kind is Kind.RECORD:
            values[name] = _sample(cls.record_type(name))
        elif kind is Kind.RECORDS:
            values[name] = (_sample(cls.record_type(name)),)
        else:
            values[name] = 1 if name in flags else _SAMPLE[kind]
    return cls(**values)


SEEDS = [
    b"".join(encode(_sample(cls), 7) for cls in registry.by_type.values())
    for registry in REGISTRIES
]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    selector, rest = data[0], data[1:]
    index = selector % len(REGISTRIES)
    registry = REGISTRIES[index]
    stream = mutate(SEEDS[index], rest) if selector & 0x80 else rest
    step = 1 + (selector >> 4 & 0x7) * 7  # feed in pieces of 1..50 bytes
    decoder = FrameDecoder(max_payload=MAX_PAYLOAD)
    try:
        for start in range(0, len(stream), step):
            for frame in decoder.feed(stream[start : start + step]):
                message = registry.decode(frame)
                if encode_payload(message) != frame.payload:
                    raise AssertionError(f"{type(message).__name__} is not canonical")
    except ProtocolError:
        return


if __name__ == "__main__":
    sys.exit(run(test_one_input))
