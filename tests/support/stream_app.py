"""The fault tests' streaming application (tests/faults/apps/stream): a producer on node a
emits numbered events on one connection to a consumer on node b, which counts what arrives
(once, in order).  One descriptor template and the consumer's counts for every fault test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from authex.deployer.cluster import LocalCluster
from authex.deployer.operations import ModuleRow
from authex.descriptor import load_descriptor
from authex.errors import RemoteError
from support.harness import App
from support.net import free_ports

APP = Path(__file__).resolve().parents[1] / "faults" / "apps" / "stream"
EVENTS = 5000
RUST_CONSUMER = Path(__file__).resolve().parents[2] / "sdks/rust/examples/durable-consumer"
# consumers that keep their counts as sealed state, per language
DURABLE = {"python": "modules/durable", "c": "modules/durable-c", "rust": str(RUST_CONSUMER)}


def stream_descriptor(
    port_a: int,
    port_b: int,
    *,
    host_a: str = "127.0.0.1",
    host_b: str = "127.0.0.1",
    tee_b: str = "native",
    consumer: str = "modules/consumer",
    language: str = "python",
    paced: bool = False,
) -> str:
    """``paced``: the producer's timer emits what ``pace`` asks for, every 10 ms."""
    periodic = "periodic:\n  - {module: producer, entry: tick, every: 10ms}\n" if paced else ""
    return f"""name: stream
nodes:
  - {{name: a, tee: native, host: {host_a}, port: {port_a}}}
  - {{name: b, tee: {tee_b}, host: {host_b}, port: {port_b}}}
modules:
  - {{name: producer, node: a, language: python, source: modules/producer}}
  - {{name: consumer, node: b, language: {language}, source: {consumer}}}
connections:
  - {{name: stream, from: producer.seq, to: consumer.seq}}
{periodic}"""


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


def start_durable(
    folder: Path, tee: str = "native", language: str = "python", *, paced: bool = False
) -> tuple[LocalCluster, App]:
    """Local agents for nodes a and b, and the stream app deployed with a durable consumer."""
    copy_modules(folder)
    a, b = free_ports(2)
    text = stream_descriptor(
        a, b, tee_b=tee, language=language, consumer=DURABLE[language], paced=paced
    )
    (folder / "descriptor.yaml").write_text(text)
    descriptor = load_descriptor(folder / "descriptor.yaml")
    cluster = LocalCluster(descriptor)
    cluster.start(lambda _: None)
    app = App(descriptor)
    app.deploy()
    return cluster, app


def consumer_status(app: App) -> ModuleRow:
    """The consumer as the status shows it ("running": its node runs the instance deployed)."""
    return next(m for m in app.status()["modules"] if m["name"] == "consumer")
