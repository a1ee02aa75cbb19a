"""The link-cut scenario on real, separate network stacks: two agents each in a network
namespace of their own, joined by veth pairs on a bridge (the deployer reaches both from the
root namespace).  Node b's interface is taken down for three seconds in the middle of a stream
of 5,000 events — the kernel drops every packet, no proxy involved — and brought up again: the
sender's outbox resends and nothing is lost or processed twice.

Needs root and iproute2 (``ip netns``); skipped with the reason otherwise."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from authex.agent.config import enrolment
from authex.deployer.cluster import LocalCluster
from authex.deployer.trust import write_trust
from authex.descriptor import load_descriptor
from support.harness import App
from support.stream_app import EVENTS, copy_modules, stream_descriptor

PORT = 7300  # the same port on both nodes: each has an address of its own


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@dataclass
class Net:
    """Two namespaces on a bridge: ``hosts[n]`` is node n's address, ``inside[n]`` its veth."""

    namespaces: dict[str, str]
    hosts: dict[str, str]
    inside: dict[str, str]

    def run(self, node: str, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[node], *command]

    def link(self, node: str, state: str) -> None:
        subprocess.run(
            self.run(node, "ip", "link", "set", self.inside[node], state),
            check=True,
            capture_output=True,
            timeout=20,
        )


@pytest.fixture
def net() -> Iterator[Net]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (ip); the proxy test covers cuts")
    tag = os.getpid() % 10000
    subnet = f"10.231.{200 + tag % 50}"
    bridge = f"axbr{tag}"
    created: list[list[str]] = []
    net = Net({}, {}, {})
    try:
        ip("link", "add", bridge, "type", "bridge")
        created.append(["link", "del", bridge])
        ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for index, node in enumerate(("a", "b"), start=2):
            ns, outside, inside = f"ax{node}{tag}", f"axh{node}{tag}", f"axn{node}{tag}"
            ip("netns", "add", ns)
            created.append(["netns", "del", ns])
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            ip("link", "set", inside, "netns", ns)
            ip("link", "set", outside, "master", bridge)
            ip("link", "set", outside, "up")
            for args in (
                ("addr", "add", f"{subnet}.{index}/24", "dev", inside),
                ("link", "set", inside, "up"),
                ("link", "set", "lo", "up"),
            ):
                ip("netns", "exec", ns, "ip", *args)
            net.namespaces[node], net.hosts[node], net.inside[node] = (
                ns,
                f"{subnet}.{index}",
                inside,
            )
    except (subprocess.CalledProcessError, OSError) as exc:
        for undo in reversed(created):
            subprocess.run(["ip", *undo], capture_output=True, timeout=20, check=False)
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        pytest.skip(f"cannot create network namespaces here: {detail.decode().strip()}")
    yield net
    for undo in reversed(created):
        subprocess.run(["ip", *undo], capture_output=True, timeout=20, check=False)


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def test_interface_down_mid_stream_between_namespaces_loses_nothing(
    tmp_path: Path, net: Net
) -> None:
    copy_modules(tmp_path)
    text = stream_descriptor(PORT, PORT, host_a=net.hosts["a"], host_b=net.hosts["b"])
    (tmp_path / "descriptor.yaml").write_text(text)
    descriptor = load_descriptor(tmp_path / "descriptor.yaml")
    cluster = LocalCluster(descriptor)  # node directories and the operator's enrolment
    entries = {n.name: enrolment(cluster.node_dir(n), []) for n in descriptor.nodes}
    write_trust(cluster.store.folder / "trust.yaml", entries)
    agents = []
    try:
        for node in descriptor.nodes:
            directory = cluster.node_dir(node)
            with open(directory / "agent.log", "ab") as log:
                command = [sys.executable, "-m", "authex", "node", "run", str(directory)]
                agents.append(
                    subprocess.Popen(
                        net.run(node.name, *command),
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 30
        while not all(listening(net.hosts[n], PORT) for n in ("a", "b")):
            assert time.monotonic() < deadline, "agents did not start in their namespaces"
            time.sleep(0.1)
        app = App(descriptor)
        app.deploy()
        app.call("consumer", "slow_down", b"1")
        app.call("producer", "burst", b"%d" % (EVENTS // 2))
        net.link("b", "down")  # node b's only interface: the kernel drops everything
        cut_at = time.monotonic()
        app.call("producer", "burst", b"%d" % (EVENTS // 2))  # node a is still reachable
        time.sleep(3)  # the cut lasts a few seconds (not an assertion)
        net.link("b", "up")
        healed = time.monotonic()

        def count() -> int:
            result: dict[str, int] = json.loads(app.call("consumer", "stats").payload)
            return result["count"]

        app.wait_for("every event", lambda: count() == EVENTS, 120)
        final = json.loads(app.call("consumer", "stats").payload)
        assert final == {"count": EVENTS, "last": EVENTS, "out_of_order": 0, "duplicates": 0}
        stream = app.connection("stream")
        assert stream["rejected"] == {} and stream["dropped"] == 0
        print(
            f"\nnetns interface down {healed - cut_at:.1f}s: {EVENTS} sent, {final['count']} "
            f"delivered in order, 0 duplicates processed, {stream['duplicates']} resends "
            f"dropped by the receiving agent; recovered {time.monotonic() - healed:.1f}s after "
            "the interface came back"
        )
    finally:
        for agent in agents:
            try:
                os.killpg(agent.pid, signal.SIGTERM)
                agent.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(agent.pid, signal.SIGKILL)
                agent.wait()
