"""Stuck-module test feeder: every tick of its timer it emits numbered events to the busy
module on another node."""

from __future__ import annotations

from authex.sdk import Context, Module

module = Module()
module.outputs("to_busy")

PER_TICK = 5

_next = 1


@module.entry(public=True)
def tick(ctx: Context, arg: bytes) -> bytes:
    global _next
    for _ in range(PER_TICK):
        ctx.emit("to_busy", str(_next).encode())
        _next += 1
    return b""
