"""Fault-test consumer: checks that numbered events arrive exactly once and in order."""

from __future__ import annotations

import json
import time

from authex.sdk import Context, Module

module = Module()

_stats = {"count": 0, "last": 0, "out_of_order": 0, "duplicates": 0}
_delay = 0.0


@module.entry()
def slow_down(ctx: Context, arg: bytes) -> bytes:
    """Spend ``arg`` milliseconds on each event, so a stream is still in flight when cut."""
    global _delay
    _delay = float(arg) / 1000
    return b"ok"


@module.input()
def seq(ctx: Context, data: bytes) -> None:
    if _delay:
        time.sleep(_delay)
    number = int(data)
    if number <= _stats["last"]:
        _stats["duplicates"] += 1
        return
    if number != _stats["last"] + 1:
        _stats["out_of_order"] += 1
    _stats["last"] = number
    _stats["count"] += 1


@module.entry()
def stats(ctx: Context, arg: bytes) -> bytes:
    return json.dumps(_stats).encode()
