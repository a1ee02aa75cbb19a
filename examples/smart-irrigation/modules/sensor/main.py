"""Soil-moisture sensor: each sample (a public entry, run by the node's timer) emits a reading.

The soil dries at a fixed rate per sample from a start level derived from the module's name,
so a run is reproducible: sensor1 starts at 52 %, sensor2 at 61 %.
"""

from __future__ import annotations

import json

from authex.sdk import Context, Module

module = Module()
module.outputs("reading")

_samples = 0


def _moisture(name: str, sample: int) -> float:
    start = 52.0 if name.endswith("1") else 61.0
    return max(5.0, round(start - 1.5 * sample, 1))


@module.entry(public=True)
def sample(ctx: Context, arg: bytes) -> bytes:
    global _samples
    _samples += 1
    reading = {"sensor": ctx.name, "moisture": _moisture(ctx.name, _samples), "seq": _samples}
    ctx.emit("reading", json.dumps(reading).encode())
    return str(reading["moisture"]).encode()
