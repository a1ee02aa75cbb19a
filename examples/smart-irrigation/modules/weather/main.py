"""Weather service: answers forecast requests for a field with a rain probability (percent).

Deterministic for the demo: field names containing "2" get a rainy forecast.
"""

from __future__ import annotations

import json

from authex.sdk import Context, Module

module = Module()
_answered = 0


@module.handler()
def forecast(ctx: Context, data: bytes) -> bytes:
    global _answered
    _answered += 1
    field = data.decode(errors="replace") or "unknown"
    rain = 80 if "2" in field else 10
    return json.dumps({"field": field, "rain_probability": rain, "answered": _answered}).encode()
