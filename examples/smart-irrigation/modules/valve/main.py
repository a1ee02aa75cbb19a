"""Valve actuator: obeys open/close commands from the controller and reports its state to the
operator; its state can also be read with an authenticated call."""

from __future__ import annotations

from authex.sdk import Context, Module

module = Module()
module.outputs("state")

_state = "closed"


@module.input()
def command(ctx: Context, data: bytes) -> None:
    global _state
    wanted = data.decode(errors="replace")
    if wanted not in ("open", "close"):
        ctx.log(f"ignoring unknown command {wanted!r}")
        return
    new_state = "open" if wanted == "open" else "closed"
    if new_state != _state:
        _state = new_state
        ctx.emit("state", _state.encode())


@module.entry()
def status(ctx: Context, arg: bytes) -> bytes:
    return _state.encode()
