"""Fault-test consumer that keeps sealed state: checks that numbered events arrive exactly once
and in order, across its own crashes and its agent's.  Its counts are part of the state the
platform seals before the module acknowledges anything, so they survive a restart."""

from __future__ import annotations

import json
import time

from authex.sdk import Context, Module

module = Module(persistent=True)

_stats: dict[str, int] | None = None
_delay = 0.0


def _current(ctx: Context) -> dict[str, int]:
    global _stats
    if _stats is None:
        kept = ctx.unseal()
        _stats = json.loads(kept) if kept else {"count": 0, "last": 0, "out_of_order": 0}
        _stats.setdefault("duplicates", 0)
    return _stats


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
    stats = _current(ctx)
    number = int(data)
    if number <= stats["last"]:
        stats["duplicates"] += 1
    else:
        if number != stats["last"] + 1:
            stats["out_of_order"] += 1
        stats["last"] = number
        stats["count"] += 1
    ctx.seal(json.dumps(stats).encode())


@module.entry()
def stats(ctx: Context, arg: bytes) -> bytes:
    return json.dumps(_current(ctx), sort_keys=True).encode()
