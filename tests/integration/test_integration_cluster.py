"""A local cluster that fails to start leaves nothing running: every agent it started, with the
platform (and module) processes that agent started, is stopped before the error is raised, and
forgotten in ``.authex/apps/NAME/cluster.json``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from authex.deployer import cluster as cluster_module
from authex.deployer.cluster import LocalCluster
from authex.descriptor import Node, load_descriptor
from authex.errors import AuthexError, AuthexTimeoutError
from support.net import free_ports
from support.procs import session_members
from support.stream_app import copy_modules, stream_descriptor

Agents = dict[str, subprocess.Popen[bytes]]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll until ``check()`` holds; a bounded wait, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LocalCluster, Agents]:
    """A cluster of nodes a and b (agents on free loopback ports) whose started agents are
    recorded as they are spawned."""
    copy_modules(tmp_path)
    (tmp_path / "descriptor.yaml").write_text(stream_descriptor(*free_ports(2)))
    local = LocalCluster(load_descriptor(tmp_path / "descriptor.yaml"))
    agents: Agents = {}
    spawn = LocalCluster._spawn

    def recorded(self: LocalCluster, node: Node) -> subprocess.Popen[bytes]:
        agents[node.name] = agent = spawn(self, node)
        return agent

    monkeypatch.setattr(LocalCluster, "_spawn", recorded)
    return local, agents


def assert_nothing_left(local: LocalCluster, agents: Agents) -> None:
    for name, agent in agents.items():
        assert agent.returncode is not None, name  # stopped and reaped by the start itself
    sessions = [agent.pid for agent in agents.values()]
    wait_for("the agents' sessions to end", lambda: not any(map(session_members, sessions)))
    assert not local.record.exists() or json.loads(local.record.read_text()) == {}


def test_a_port_in_use_stops_the_agents_already_started(
    cluster: tuple[LocalCluster, Agents],
) -> None:
    local, agents = cluster
    b = local.descriptor.node("b")
    with (
        socket.create_server((b.host, b.port)),  # another program holds node b's port
        pytest.raises(AuthexError, match=f"port {b.port} is already in use"),
    ):
        local.start(lambda _: None)
    assert list(agents) == ["a"]  # node a's agent had been started
    assert_nothing_left(local, agents)


def test_an_agent_that_never_gets_ready_stops_every_agent_started(
    cluster: tuple[LocalCluster, Agents], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both agents start for real (each with its platform process); node b's is never seen
    listening, as if it hung, so the start gives up on it."""
    local, agents = cluster
    accepting = cluster_module._accepting
    members: dict[str, list[int]] = {}

    async def ready(host: str, port: int) -> bool:
        node = next(n for n in local.descriptor.nodes if n.port == port)
        if node.name not in agents:  # the check before starting it: the port is free
            return await accepting(host, port)
        while not await accepting(host, port):  # bounded by the agents' own start-up
            assert agents[node.name].poll() is None, f"agent {node.name} died"
            await asyncio.sleep(0.05)
        members[node.name] = session_members(agents[node.name].pid)
        return node.name != "b"

    monkeypatch.setattr(cluster_module, "_accepting", ready)
    monkeypatch.setattr(cluster_module, "START_TIMEOUT", 0.0)  # do not wait for b in vain
    b = local.descriptor.node("b")
    with pytest.raises(AuthexTimeoutError, match=f"did not start listening on {b.address}"):
        local.start(lambda _: None)
    assert sorted(agents) == ["a", "b"]
    assert all(len(pids) >= 2 for pids in members.values())  # agent + platform, at least
    assert_nothing_left(local, agents)


def test_a_cancelled_start_stops_what_it_started(
    cluster: tuple[LocalCluster, Agents], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled (Ctrl-C in `authex up`) while it waits for the agents to listen."""
    local, agents = cluster
    accepting = cluster_module._accepting

    async def body() -> None:
        waiting, never = asyncio.Event(), asyncio.Event()

        async def hangs(host: str, port: int) -> bool:
            if all(n.name not in agents for n in local.descriptor.nodes if n.port == port):
                return await accepting(host, port)  # the check before starting it
            waiting.set()
            await never.wait()
            return True

        monkeypatch.setattr(cluster_module, "_accepting", hangs)
        start = asyncio.create_task(local.start_async(lambda _: None))
        await asyncio.wait_for(waiting.wait(), 60)
        start.cancel()
        with pytest.raises(asyncio.CancelledError):
            await start

    asyncio.run(body())
    assert sorted(agents) == ["a", "b"]
    assert_nothing_left(local, agents)


def test_a_started_cluster_stops(cluster: tuple[LocalCluster, Agents]) -> None:
    local, agents = cluster
    assert local.start(lambda _: None) == ["a", "b"]
    assert local.start(lambda _: None) == []  # already running
    try:
        for agent in agents.values():
            assert agent.poll() is None
            assert os.getpgid(agent.pid) == agent.pid
    finally:
        assert sorted(local.stop()) == ["a", "b"]
    for agent in agents.values():
        agent.wait(30)  # bounded: stop() signalled it
