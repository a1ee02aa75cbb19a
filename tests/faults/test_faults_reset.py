"""`authex reset` with a node down: it says which node it could not reach and keeps what runs
there (modules, their control keys, the connections touching them), so a later reset can still
stop it; only what the reached nodes stopped is forgotten."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from authex.cli.main import main
from authex.deployer import operations
from authex.deployer.cluster import LocalCluster
from authex.deployer.state import DeploymentState, StateStore
from authex.descriptor import load_descriptor
from support.harness import App, deployed_cluster


def kill_agent(cluster: LocalCluster, node: str) -> None:
    pid = json.loads(cluster.record.read_text())[node]
    os.killpg(pid, signal.SIGKILL)  # the agent, its platform and its modules
    os.waitpid(pid, 0)


def state_of(app: App) -> DeploymentState:
    return StateStore.of(app.descriptor).load()


def test_reset_keeps_what_runs_on_an_unreachable_node(irrigation_dir: Path) -> None:
    descriptor = load_descriptor(irrigation_dir / "descriptor.yaml")
    with deployed_cluster(descriptor) as (cluster, app):
        kill_agent(cluster, "field2")

        unreached = app.with_session(operations.reset)
        assert list(unreached) == ["field2"]
        state = state_of(app)
        assert sorted(state.modules) == ["sensor2", "valve"]  # field2's, keys and all
        assert all(ms.module_key for ms in state.modules.values())
        assert sorted(state.connections) == ["readings-2", "valve-command", "valve-state"]
        for cs in state.connections.values():
            assert set(cs.routes) <= {"field2"}  # the reached nodes dropped theirs
            assert not cs.key  # the next deploy keys both ends afresh

        assert main(["reset", "-f", str(descriptor.path)]) == 1  # the CLI says so and fails
        assert len(state_of(app).modules) == 2

        cluster.start(lambda _: None)  # field2 is back, with what it ran
        assert app.with_session(operations.reset) == {}
        state = state_of(app)
        assert not state.modules and not state.connections and not state.timers
        assert not any(m["running"] for m in app.status()["modules"])
        report = app.deploy()  # a fresh start works
        assert sorted(report.plan.load) == sorted(m.name for m in descriptor.modules)
