"""Python side of the mixed-language test: feeds the Rust echo module, collects its echoes,
and asks its handler."""

from __future__ import annotations

from authex.sdk import Context, Module

module = Module()
module.outputs("out")
module.requests("shout")

_echoes: list[bytes] = []


@module.entry()
def send(ctx: Context, arg: bytes) -> bytes:
    return str(ctx.emit("out", arg)).encode()


@module.entry()
def ask(ctx: Context, arg: bytes) -> bytes:
    return ctx.request("shout", arg)


@module.input()
def back(ctx: Context, data: bytes) -> None:
    _echoes.append(data)


@module.entry()
def echoes(ctx: Context, arg: bytes) -> bytes:
    return b",".join(_echoes)
