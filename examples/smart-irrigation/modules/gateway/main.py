"""Field gateway: receives readings from the Sancus sensors over SpongeWrap-protected
connections and forwards them to the controller in the cloud, tagged with how many it has
relayed; drops readings that are not well-formed JSON."""

from __future__ import annotations

import json

from authex.sdk import Context, Module

module = Module()
module.outputs("forward")

_relayed = 0


@module.input()
def reading(ctx: Context, data: bytes) -> None:
    global _relayed
    try:
        sample = json.loads(data)
        sensor, moisture = str(sample["sensor"]), float(sample["moisture"])
    except (ValueError, KeyError, TypeError):
        ctx.log(f"dropping malformed reading {data[:40]!r}")
        return
    _relayed += 1
    forwarded = {"sensor": sensor, "moisture": moisture, "via": ctx.name, "relayed": _relayed}
    ctx.emit("forward", json.dumps(forwarded).encode())


@module.entry()
def relayed(ctx: Context, arg: bytes) -> bytes:
    return str(_relayed).encode()
