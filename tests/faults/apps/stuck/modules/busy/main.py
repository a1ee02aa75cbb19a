"""Stuck-module test: counts the numbered events it gets (and those out of order)."""

from __future__ import annotations

import json

from authex.sdk import Context, Module

module = Module()

_stats = {"count": 0, "last": 0, "out_of_order": 0}


@module.input()
def seq(ctx: Context, data: bytes) -> None:
    number = int(data)
    if number <= _stats["last"]:
        return
    if number != _stats["last"] + 1:
        _stats["out_of_order"] += 1
    _stats["last"] = number
    _stats["count"] += 1


@module.entry()
def stats(ctx: Context, arg: bytes) -> bytes:
    return json.dumps(_stats).encode()
