"""Stuck-module test flooder: while a flood is asked for, every tick of its timer emits large
events to the stuck module (deployed twice: on the stuck module's node and on another one)."""

from __future__ import annotations

from authex.sdk import Context, Module

module = Module()
module.outputs("to_stuck")

CHUNK = 256 << 10  # bytes per event
PER_TICK = 8

_left = 0
_flooded = 0


@module.entry()
def flood(ctx: Context, arg: bytes) -> bytes:
    """Emit ``arg`` more events, a few per tick."""
    global _left
    _left += int(arg)
    return b"ok"


@module.entry(public=True)
def tick(ctx: Context, arg: bytes) -> bytes:
    global _left, _flooded
    for _ in range(min(PER_TICK, _left)):
        ctx.emit("to_stuck", bytes(CHUNK))
        _left -= 1
        _flooded += 1
    return b""


@module.entry()
def flooded(ctx: Context, arg: bytes) -> bytes:
    return str(_flooded).encode()
