"""`authex update` on the heterogeneous example: the C relay on TrustZone (its sources are C
modules on Sancus, which swap to the new connections) and the Python controller on SGX (every
kind of connection: an input from another node, an input from the operator, outputs to a module
and to the operator, a request to a handler).  Afterwards the application works end to end on
the new versions, the old connections are gone from every agent, and a deploy has nothing to
do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from authex.deployer.session import Session
from authex.deployer.update import update
from authex.wire.messages import CallStatus
from authex.wire.status import NodeStatus
from support.harness import App, running_app


@pytest.fixture
def app(irrigation_dir: Path) -> Iterator[App]:
    with running_app(irrigation_dir) as app:
        app.deploy()
        yield app


def routes(app: App) -> set[int]:
    async def body(session: Session) -> set[int]:
        statuses = await session.all_status()
        return {r for s in statuses.values() if isinstance(s, NodeStatus) for r in s.route_ids}

    return app.with_session(body, exclusive=False)


def test_update_relay_and_controller_then_everything_works(app: App, irrigation_dir: Path) -> None:
    before = {c["name"]: c["id"] for c in app.status()["connections"]}
    with open(irrigation_dir / "modules/gateway-c/gateway.c", "a") as source:
        source.write('\n__attribute__((used)) const char relay_version[] = "2";\n')
    with open(irrigation_dir / "modules/controller/main.py", "a") as source:
        source.write('\nVERSION = "2"\n')
    relay = app.with_session(lambda session: update(session, "relay"))
    assert relay.connections == 3 and relay.transfer.startswith("none")
    controller = app.with_session(lambda session: update(session, "controller"))
    assert controller.connections == 5 and controller.transfer.startswith("none")

    after = {c["name"]: c["id"] for c in app.status()["connections"]}
    moved = {"readings-1", "readings-2", "uplink", "forecast", "valve-command", "threshold"}
    moved |= {"alerts"}
    assert {n for n in after if after[n] != before[n]} == moved
    assert routes(app) == set(after.values())  # old connections retired everywhere
    status = app.status()
    assert all(m["attested"] and m["running"] for m in status["modules"])

    app.send("threshold", b"45")
    for _ in range(5):  # sensor1 drops below 45 % at its fifth sample
        assert app.call("sensor1", "sample").status is CallStatus.OK
    alerts = app.watch("alerts", count=2)
    assert alerts[0] == b"threshold set to 45.0%"
    assert alerts[1].startswith(b"opening valve: sensor1 at 44.5% < 45.0%, rain 10%")
    assert app.watch("valve-state", count=1) == [b"open"]
    assert app.call("relay", "relayed").payload == b"5"  # the new relay counted from zero
    assert all(not c["rejected"] for c in app.status()["connections"])
    assert app.deploy().plan.empty
