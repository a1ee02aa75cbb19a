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


_target = 0
_per_tick = 0


@module.entry()
def pace(ctx: Context, arg: bytes) -> bytes:
    """``n,k``: emit n more events, k per tick (so a stream flows while the operator is busy,
    e.g. updating the consumer)."""
    global _target, _per_tick
    count, per_tick = (int(x) for x in arg.split(b","))
    _target = _next - 1 + count
    _per_tick = per_tick
    return str(_target).encode()


@module.entry(public=True)
def tick(ctx: Context, arg: bytes) -> bytes:
    """Called by the descriptor's timer: the next k events of a paced stream, if any."""
    global _next
    for _ in range(min(_per_tick, _target - (_next - 1))):
        ctx.emit("seq", str(_next).encode())
        _next += 1
    return b""
