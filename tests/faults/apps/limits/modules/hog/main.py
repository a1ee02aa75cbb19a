"""Limits test: ``hog(n)`` allocates n MiB (and keeps it), beyond its memory limit or not."""

from __future__ import annotations

from authex.sdk import Context, Module

module = Module()

_kept: list[bytearray] = []


@module.entry()
def hog(ctx: Context, arg: bytes) -> bytes:
    _kept.append(bytearray(int(arg) << 20))
    return str(sum(len(b) for b in _kept) >> 20).encode()
