"""Irrigation controller: opens the valve when a sensor reports soil drier than the threshold
and the weather service does not expect rain; closes it once the soil is wet again.

The operator sets the threshold (percent) over a direct connection and receives alerts.
"""

from __future__ import annotations

import json

from authex.sdk import Context, Module

module = Module()
module.outputs("valve_command", "alert")
module.requests("forecast")

_threshold = 30.0
_valve_open = False
_latest: dict[str, float] = {}


@module.input()
def set_threshold(ctx: Context, data: bytes) -> None:
    global _threshold
    try:
        _threshold = float(data.decode())
    except ValueError:
        ctx.emit("alert", b"ignored invalid threshold " + data[:32])
        return
    ctx.emit("alert", f"threshold set to {_threshold:.1f}%".encode())


@module.input()
def reading(ctx: Context, data: bytes) -> None:
    global _valve_open
    sample = json.loads(data)
    sensor, moisture = str(sample["sensor"]), float(sample["moisture"])
    _latest[sensor] = moisture
    if not _valve_open and moisture < _threshold:
        forecast = json.loads(ctx.request("forecast", sensor.encode()))
        if forecast["rain_probability"] >= 50:
            return
        _valve_open = True
        ctx.emit("valve_command", b"open")
        ctx.emit(
            "alert",
            f"opening valve: {sensor} at {moisture:.1f}% < {_threshold:.1f}%, "
            f"rain {forecast['rain_probability']}%".encode(),
        )
    elif _valve_open and all(m >= _threshold + 10 for m in _latest.values()):
        _valve_open = False
        ctx.emit("valve_command", b"close")
        ctx.emit("alert", b"closing valve: soil is wet again")


@module.entry()
def get_threshold(ctx: Context, arg: bytes) -> bytes:
    return f"{_threshold:.1f}".encode()
