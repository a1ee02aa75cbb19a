"""The stuck-module application (tests/faults/apps/stuck), for
tests/faults/test_faults_stuck_module.py and scripts/stuck_module_figures.py.

On node b a module that stops reading (``stuck``), one that counts what node a's ``feeder``
sends it every 10 ms (``busy``), and one that floods ``stuck`` from node b itself (``local``);
``remote`` floods ``stuck`` from node a."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from authex.deployer.cluster import LocalCluster
from authex.descriptor import load_descriptor
from support.harness import App
from support.net import free_ports

APP = Path(__file__).resolve().parents[1] / "faults" / "apps" / "stuck"
FLOOD = 200  # events of 256 KiB towards the stuck module, from each side: 50 MiB each
MIB = 1 << 20


def descriptor(port_a: int, port_b: int) -> str:
    return f"""name: stuck
nodes:
  - {{name: a, tee: native, host: 127.0.0.1, port: {port_a}}}
  - {{name: b, tee: native, host: 127.0.0.1, port: {port_b}}}
modules:
  - {{name: feeder, node: a, language: python, source: modules/feeder}}
  - {{name: remote, node: a, language: python, source: modules/flooder}}
  - {{name: local, node: b, language: python, source: modules/flooder}}
  - {{name: stuck, node: b, language: python, source: modules/stuck}}
  - {{name: busy, node: b, language: python, source: modules/busy}}
connections:
  - {{name: busy, from: feeder.to_busy, to: busy.seq}}
  - {{name: remote_flood, from: remote.to_stuck, to: stuck.data}}
  - {{name: local_flood, from: local.to_stuck, to: stuck.data}}
periodic:
  - {{module: feeder, entry: tick, every: 10ms}}
  - {{module: remote, entry: tick, every: 10ms}}
  - {{module: local, entry: tick, every: 10ms}}
"""


def start(folder: Path) -> tuple[LocalCluster, App]:
    shutil.copytree(APP / "modules", folder / "modules")
    (folder / "descriptor.yaml").write_text(descriptor(*free_ports(2)))
    loaded = load_descriptor(folder / "descriptor.yaml")
    return LocalCluster(loaded), App(loaded)


def rss(pid: int) -> int:
    """VmRSS of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def busy_stats(app: App) -> dict[str, int]:
    stats: dict[str, int] = json.loads(app.call("busy", "stats").payload)
    return stats


def handed_to_stuck(app: App) -> int:
    """Events node b handed to the stuck module's process (it took one of them)."""
    rows = {c["name"]: c for c in app.status()["connections"]}
    return rows["remote_flood"]["delivered"] + rows["local_flood"]["delivered"]


def flood(app: App) -> None:
    """Have ``remote`` (node a) and ``local`` (node b) each emit FLOOD events towards ``stuck``."""
    app.call("remote", "flood", b"%d" % FLOOD)
    app.call("local", "flood", b"%d" % FLOOD)
