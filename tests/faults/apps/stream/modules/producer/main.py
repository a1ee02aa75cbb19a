"""Fault-test producer: ``burst(n)`` emits n events numbered from where the last burst ended."""

from __future__ import annotations

from authex.sdk import Context, Module

module = Module()
module.outputs("seq")

_next = 1


@module.entry()
def burst(ctx: Context, arg: bytes) -> bytes:
    global _next
    count = int(arg or b"1")
    for _ in range(count):
        ctx.emit("seq", str(_next).encode())
        _next += 1
    return str(_next - 1).encode()
