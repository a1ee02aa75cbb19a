"""Deployment lifecycle: periodic timers, resume after an interrupted deploy, agent restart,
remove and reset."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from authex.cli.main import main
from authex.crypto.channel import MAX_COUNTER
from authex.deployer import operations
from authex.deployer.cluster import LocalCluster
from authex.deployer.deploy import deploy
from authex.deployer.plan import REKEY_AFTER
from authex.deployer.roles import EndRole
from authex.deployer.state import NO_KEY, StateStore
from authex.descriptor import load_descriptor
from authex.errors import AuthexError, StateError
from support.harness import run, running_app


class Interrupt(Exception):
    pass


def test_periodic_timers_drive_the_sensors(irrigation_dir: Path) -> None:
    descriptor = irrigation_dir / "descriptor.yaml"
    descriptor.write_text(
        descriptor.read_text() + "periodic:\n  - {module: sensor1, entry: sample, every: 50ms}\n"
    )
    with running_app(irrigation_dir) as app:
        app.deploy()
        app.wait_for(
            "three periodic readings", lambda: app.connection("readings-1")["delivered"] >= 3
        )
        assert app.connection("readings-2")["delivered"] == 0  # no timer for sensor2


def test_interrupted_deploy_resumes_with_only_the_missing_steps(irrigation_dir: Path) -> None:
    with running_app(irrigation_dir) as app:

        def stop_at_first_key(line: str) -> None:
            app.progress.append(line)
            if line.startswith("keyed "):
                raise Interrupt(line)

        session = app.session()
        session.progress = stop_at_first_key

        async def interrupted() -> None:
            async with session:
                await deploy(session)

        with pytest.raises(BaseException) as info:
            run(interrupted())
        assert "Interrupt" in repr(info.value)
        state = StateStore.of(app.descriptor).load()
        assert all(m.module_key for m in state.modules.values())  # attestation survived
        resumed = app.deploy()
        assert resumed.plan.load == [] and resumed.plan.attest == []
        # keys were in flight concurrently: whatever the state does not record is redone
        app.send("threshold", b"41")
        assert app.watch("alerts", count=1) == [b"threshold set to 41.0%"]
        assert app.deploy().plan.empty


def test_resume_redoes_exactly_what_the_state_lacks(irrigation_dir: Path) -> None:
    with running_app(irrigation_dir) as app:
        app.deploy()
        store = StateStore.of(app.descriptor)
        state = store.load()
        state.modules["weather"].module_key = NO_KEY  # as if attestation had not finished
        del state.connections["alerts"].keyed[EndRole.SOURCE]  # as if one set-key had not finished
        store.save(state)
        report = app.deploy()
        assert report.plan.load == [] and report.plan.attest == ["weather"]
        assert sorted(report.plan.key) == ["alerts", "forecast", "forecast-query"]
        assert json.loads(app.request("forecast-query", b"x"))["rain_probability"] == 10
        app.send("threshold", b"33")
        assert app.watch("alerts", count=1) == [b"threshold set to 33.0%"]


def test_agent_restart_reloads_only_that_nodes_modules(irrigation_dir: Path) -> None:
    with running_app(irrigation_dir) as app:
        app.deploy()
        cluster = LocalCluster(app.descriptor)
        pids = cluster._pids()
        os.kill(pids["field2"], signal.SIGKILL)
        app.wait_for(
            "agent gone",
            lambda: (
                not next(n for n in app.status()["nodes"] if n["name"] == "field2")["reachable"]
            ),
        )
        with pytest.raises(AuthexError, match=r"node field2 .*cannot reach agent"):
            app.deploy()  # the rest of the deployment is untouched and keeps working
        assert app.call("controller", "get_threshold").payload == b"30.0"
        cluster.start(lambda _: None)
        report = app.deploy()
        assert sorted(report.plan.load) == ["sensor2", "valve"]
        assert sorted(report.plan.key) == ["readings-2", "valve-command", "valve-state"]
        app.send("threshold", b"45")
        for _ in range(5):
            app.call("sensor1", "sample")
        assert app.watch("valve-state", count=1) == [b"open"]


def test_remove_and_reset(irrigation_dir: Path) -> None:
    with running_app(irrigation_dir) as app:
        app.deploy()
        app.with_session(lambda s: operations.remove(s, "weather"))
        status = app.status()
        weather = next(m for m in status["modules"] if m["name"] == "weather")
        assert not weather["attested"] and not weather["running"]
        with pytest.raises(StateError, match="not deployed"):
            app.call("weather", "forecast")
        assert app.deploy().plan.load == ["weather"]
        assert app.with_session(operations.reset) == {}
        assert not any(m["running"] for m in app.status()["modules"])
        assert load_descriptor(app.descriptor.path).name == "smart-irrigation"


def test_plan_shows_what_deploy_would_do_and_changes_nothing(
    irrigation_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_app(irrigation_dir) as app:
        descriptor = str(app.descriptor.path)
        assert main(["plan", descriptor]) == 0
        strict = capsys.readouterr().out
        assert "load and attest: sensor1 (field1, sancus)" in strict
        assert "cannot deploy sensor1 (field1, sancus): node field1 is an emulated" in strict
        assert main(["plan", descriptor, "--allow-emulated"]) == 0
        relaxed = capsys.readouterr().out
        assert "cannot deploy" not in relaxed
        assert "key (fresh key to both ends): readings-1" in relaxed
        assert not any(m["running"] for m in app.status()["modules"])  # nothing was loaded
        app.deploy()
        assert main(["plan", descriptor, "--allow-emulated"]) == 0
        assert "nothing to do: everything is deployed" in capsys.readouterr().out


def test_a_connection_whose_counters_run_out_is_rekeyed_by_deploy(irrigation_dir: Path) -> None:
    """The operator used (almost) every counter of a connection: sending says what to run, and
    `deploy` re-keys it — also when only the module's side, as its agent reports, passed half the
    counter space."""
    with running_app(irrigation_dir) as app:
        app.deploy()
        store = StateStore.of(app.descriptor)
        state = store.load()
        state.connections["threshold"].operator_send = MAX_COUNTER - 1  # the last one was used
        store.save(state)
        with pytest.raises(StateError, match=r"counter exhausted.*run `authex deploy` to re-key"):
            app.send("threshold", b"41")
        assert app.deploy().plan.key == ["threshold"]
        assert app.send("threshold", b"41") == 1  # a fresh key, counters from 1
        assert app.watch("alerts", count=1) == [b"threshold set to 41.0%"]

        state = store.load()  # past half the space on the module's side (what its agent saw)
        state.connections["threshold"].operator_send = REKEY_AFTER
        store.save(state)
        app.send("threshold", b"42")  # the controller accepts counter 2^63 + 1
        app.wait_for("the controller took it", lambda: app.connection("threshold")["delivered"] > 0)
        state = store.load()
        state.connections["threshold"].operator_send = 1  # only the agent's report says so now
        store.save(state)
        assert app.deploy().plan.key == ["threshold"]
        assert app.deploy().plan.empty
