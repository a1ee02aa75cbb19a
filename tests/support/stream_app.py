"""The fault tests' streaming application (tests/faults/apps/stream): a producer on node a
emits numbered events on one connection to a consumer on node b, which counts what arrives
(once, in order).  One descriptor template and the consumer's counts for every fault test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from authex.errors import RemoteError
from support.harness import App

APP = Path(__file__).resolve().parents[1] / "faults" / "apps" / "stream"
EVENTS = 5000


def stream_descriptor(
    port_a: int,
    port_b: int,
    *,
    host_a: str = "127.0.0.1",
    host_b: str = "127.0.0.1",
    tee_b: str = "native",
    consumer: str = "modules/consumer",
    language: str = "python",
) -> str:
    return f"""name: stream
nodes:
  - {{name: a, tee: native, host: {host_a}, port: {port_a}}}
  - {{name: b, tee: {tee_b}, host: {host_b}, port: {port_b}}}
modules:
  - {{name: producer, node: a, language: python, source: modules/producer}}
  - {{name: consumer, node: b, language: {language}, source: {consumer}}}
connections:
  - {{name: stream, from: producer.seq, to: consumer.seq}}
"""


def copy_modules(folder: Path) -> None:
    shutil.copytree(APP / "modules", folder / "modules")


def stats(app: App) -> dict[str, int]:
    """The consumer's counts: count, last, out_of_order, duplicates."""
    result: dict[str, int] = json.loads(app.call("consumer", "stats").payload)
    return result


def processed(app: App) -> int:
    """Events the consumer processed so far; -1 while it is not running (crashed, restarting)."""
    try:
        return stats(app)["count"]
    except RemoteError:
        return -1
