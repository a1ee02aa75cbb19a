"""Applications are isolated from each other on the operator's machine: two descriptors in one
folder, with the same node and module names, each have their own deployment state, node folders,
trust entries and cluster record under ``.authex/apps/NAME`` — deployed, used, reset and brought
down independently (the operator key is shared: it is the same operator)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from authex.deployer import operations
from authex.deployer.cluster import LocalCluster
from authex.deployer.state import StateStore
from authex.deployer.update import update
from authex.descriptor import load_descriptor
from support.harness import App
from support.net import free_ports


def second_descriptor(folder: Path) -> Path:
    """The same application under another name, on its own ports, in the same folder."""
    text = (folder / "descriptor.yaml").read_text()
    text = text.replace("name: smart-irrigation", "name: smart-irrigation-b", 1)
    for node in load_descriptor(folder / "descriptor.yaml").nodes:
        (port,) = free_ports(1)
        text = text.replace(f"port: {node.port}", f"port: {port}")
    path = folder / "other.yaml"
    path.write_text(text)
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(app: App) -> list[str]:
    return sorted(m["name"] for m in app.status()["modules"] if m["running"])


def test_two_applications_in_one_folder_never_touch_each_other(irrigation_dir: Path) -> None:
    one = load_descriptor(irrigation_dir / "descriptor.yaml")
    two = load_descriptor(second_descriptor(irrigation_dir))
    first, second = LocalCluster(one), LocalCluster(two)
    try:
        first.start(lambda _: None)
        second.start(lambda _: None)
        app1, app2 = App(one), App(two)
        app1.deploy()
        app2.deploy()
        everything = sorted(m.name for m in one.modules)
        assert running(app1) == running(app2) == everything

        store1, store2 = StateStore.of(one), StateStore.of(two)
        assert store1.folder != store2.folder and store1.root == store2.root
        for store, descriptor in ((store1, one), (store2, two)):
            trust = (store.folder / "trust.yaml").read_text()
            nodes = json.loads((store.folder / "nodes" / "cloud" / "node.json").read_text())
            assert nodes["port"] == descriptor.node("cloud").port  # its own node folder
            assert nodes["name"] == "cloud" and "cloud" in trust

        app1.send("threshold", b"45")  # each is used on its own connections
        app2.send("threshold", b"45")
        assert app1.call("sensor1", "sample").status == 0
        assert app2.call("sensor1", "sample").status == 0

        assert app2.with_session(operations.reset) == {}
        assert running(app2) == []
        assert running(app1) == everything  # untouched by the other's reset
        assert app1.deploy().plan.empty

        pids1 = json.loads(first.record.read_text())
        second.stop()  # `authex down` of the second stops only its own agents
        assert all(alive(pid) for pid in pids1.values())
        assert running(app1) == everything
        assert app1.call("sensor1", "sample").status == 0
    finally:
        second.stop()
        first.stop()


def test_two_applications_share_the_same_nodes_safely(irrigation_dir: Path) -> None:
    """Nodes namespace deployments: the same modules (same names) of two applications run side
    by side on the same agents; each sees, uses, resets and redeploys only its own."""
    one = load_descriptor(irrigation_dir / "descriptor.yaml")
    cluster = LocalCluster(one)
    try:
        cluster.start(lambda _: None)
        trust = StateStore.of(one).folder / "trust.yaml"
        text = (irrigation_dir / "descriptor.yaml").read_text()
        text = text.replace("name: smart-irrigation", "name: smart-irrigation-b", 1)
        (irrigation_dir / "shared.yaml").write_text(text + f"trust: {trust}\n")
        two = load_descriptor(irrigation_dir / "shared.yaml")
        app1, app2 = App(one), App(two)
        app1.deploy()
        app2.deploy()
        everything = sorted(m.name for m in one.modules)
        assert running(app1) == running(app2) == everything
        ids1 = {c.id for c in StateStore.of(one).load().connections.values()}
        ids2 = {c.id for c in StateStore.of(two).load().connections.values()}
        assert not ids1 & ids2  # fresh random ids: no collision on the shared nodes

        app1.send("threshold", b"45")
        app2.send("threshold", b"46")
        assert app1.watch("alerts", count=1) == [b"threshold set to 45.0%"]
        assert app2.watch("alerts", count=1) == [b"threshold set to 46.0%"]

        assert app2.with_session(operations.reset) == {}
        assert running(app2) == []
        assert running(app1) == everything  # the other deployment's reset left it alone
        assert app1.deploy().plan.empty
        assert app1.call("sensor1", "sample").status == 0
        assert sorted(app2.deploy().plan.load) == everything  # and it comes back on its own
        assert running(app2) == everything

        pids = {m["name"]: m["pid"] for m in app1.status()["modules"]}
        with open(irrigation_dir / "modules/weather/main.py", "a") as source:
            source.write('\nVERSION = "2"\n')  # the other application's update, same module
        report = app2.with_session(lambda session: update(session, "weather"))
        assert report.connections == 2
        assert {m["name"]: m["pid"] for m in app1.status()["modules"]} == pids  # untouched
        assert json.loads(app1.request("forecast-query", b"x"))["rain_probability"] == 10
        assert json.loads(app2.request("forecast-query", b"x"))["rain_probability"] == 10
    finally:
        cluster.stop()
