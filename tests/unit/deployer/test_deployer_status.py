"""``authex status``: merging the deployer's state with what agents report, and rendering it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from authex.cli.render import render_status, show_bytes
from authex.crypto.secret import Secret
from authex.deployer.operations import StatusReport, status_report
from authex.deployer.session import Session
from authex.deployer.state import DeploymentState, ModuleState
from authex.descriptor import Descriptor, parse_descriptor
from authex.errors import AuthexError, RemoteError
from authex.wire.status import NodeStatus
from support import status as fake_status

DESCRIPTOR = """\
name: status-test
nodes:
  - {name: cloud, tee: sgx, host: 127.0.0.1, port: 7201}
  - {name: field, tee: sancus, host: 10.0.0.7, port: 7202}
modules:
  - {name: controller, node: cloud, language: python, source: modules/controller}
  - {name: sensor, node: field, language: python, source: modules/sensor}
connections:
  - {name: readings, from: sensor.reading, to: controller.reading}
  - {name: alerts, from: controller.alert, to: operator}
  - {name: threshold, from: operator, to: controller.set_threshold}
"""


@pytest.fixture
def descriptor(tmp_path: Path) -> Descriptor:
    for name in ("controller", "sensor"):
        (tmp_path / "modules" / name).mkdir(parents=True)
    return parse_descriptor(DESCRIPTOR, tmp_path / "descriptor.yaml")


def make_state() -> DeploymentState:
    state = DeploymentState()
    state.modules["controller"] = ModuleState(
        node="cloud",
        measurement="ab" * 32,
        instance=11,
        module_key=Secret(b"\x11" * 16),
        evidence="sgx-dcap-quote",
        emulated=True,
        manifest={
            "endpoints": [
                {"kind": "entry", "name": "status", "public": True},
                {"kind": "entry", "name": "secret", "public": False},
                {"kind": "input", "name": "reading", "public": False},
            ]
        },
    )
    state.modules["sensor"] = ModuleState(node="field", measurement="cd" * 32, instance=22)
    readings = state.connection_id("readings")
    readings.id = 1  # (fresh ids are random)
    readings.key, readings.suite = Secret(b"\x22" * 16), "spongewrap-128"
    alerts = state.connection_id("alerts")
    alerts.id = 2
    alerts.key, alerts.suite = Secret(b"\x33" * 16), "aes-gcm-128"
    return state


def make_report(descriptor: Descriptor) -> StatusReport:
    session = cast(Session, SimpleNamespace(descriptor=descriptor, state=make_state()))
    statuses: dict[str, NodeStatus | AuthexError] = {
        "cloud": fake_status.node(
            "cloud",
            modules=[fake_status.module("controller", 11, pid=4242)],
            connections=[
                fake_status.counters(1, delivered=5, rejected={"replay": 1}),
                fake_status.counters(2, to_operator=3),
            ],
        ),
        "field": RemoteError("connection refused", where="node field"),
    }
    return status_report(session, statuses)


def test_status_report_merges_state_and_agents(descriptor: Descriptor) -> None:
    report = make_report(descriptor)
    nodes = {n["name"]: n for n in report["nodes"]}
    assert nodes["cloud"]["reachable"] and nodes["cloud"]["error"] == ""
    assert nodes["field"]["address"] == "10.0.0.7:7202"
    assert not nodes["field"]["reachable"]
    assert nodes["field"]["error"] == "node field: connection refused"
    mods = {m["name"]: m for m in report["modules"]}
    controller = mods["controller"]
    assert controller["attested"] and controller["running"] and controller["emulated"]
    assert controller["pid"] == 4242
    assert controller["public_entries"] == ["status"]
    assert controller["label"] == "sgx (emulated DCAP)"
    sensor = mods["sensor"]
    assert not sensor["attested"] and not sensor["running"] and sensor["pid"] is None
    conns = {c["name"]: c for c in report["connections"]}
    assert conns["readings"]["delivered"] == 5
    assert conns["readings"]["rejected"] == {"replay": 1}
    assert conns["alerts"]["to_operator"] == 3
    assert conns["threshold"]["id"] is None and not conns["threshold"]["keyed"]
    assert "11" * 16 not in repr(report)  # no key material in what status shows


def test_status_report_running_needs_the_same_instance(descriptor: Descriptor) -> None:
    state = make_state()
    session = cast(Session, SimpleNamespace(descriptor=descriptor, state=state))
    status = fake_status.node("cloud", modules=[fake_status.module("controller", 99)])
    report = status_report(session, {"cloud": status})
    assert not next(m for m in report["modules"] if m["name"] == "controller")["running"]


def test_render_status_names_every_module_and_connection(descriptor: Descriptor) -> None:
    text = render_status(descriptor, make_report(descriptor))
    assert text.startswith(f"deployment status-test ({descriptor.path})")
    for heading in ("NODES", "MODULES", "CONNECTIONS"):
        assert heading in text.splitlines()
    for name in ("cloud", "field", "controller", "sensor", "readings", "alerts", "threshold"):
        assert name in text
    assert "no: node field: connection refused" in text
    assert "sgx-dcap-quote" in text and "not attested" in text
    assert "abababababababab…" in text and "ab" * 32 not in text
    assert "replay 1" in text
    lines = text.splitlines()
    threshold = next(line for line in lines if line.startswith("threshold"))
    assert threshold.split()[1:3] == ["-", "-"]  # no id, no suite yet


def test_render_status_with_no_connections(descriptor: Descriptor) -> None:
    report: StatusReport = {"nodes": [], "modules": [], "connections": []}
    text = render_status(descriptor, report)
    assert "connection  id  suite" in text


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"hello world", "hello world"),
        ("température 21°".encode(), "température 21°"),
        (b"", ""),
        (b"\x00\x01\xff", "0x0001ff"),
        (b"line\nbreak", "0x" + b"line\nbreak".hex()),
        (b"\xc3", "0xc3"),  # truncated UTF-8
    ],
)
def test_show_bytes(data: bytes, shown: str) -> None:
    assert show_bytes(data) == shown


# What `authex status` printed (text and --json) for make_report before the agent's status was
# typed: the typed records must give the very same output.
RENDERED = [
    "NODES",
    "node   tee     address         reachable",
    "cloud  sgx     127.0.0.1:7201  yes",
    "field  sancus  10.0.0.7:7202   no: node field: connection refused",
    "",
    "MODULES",
    "module      node   tee                  attested by     running  measurement        public"
    " entries",
    "controller  cloud  sgx (emulated DCAP)  sgx-dcap-quote  yes      abababababababab…  status",
    "sensor      field  sancus (emulated)    not attested    no       cdcdcdcdcdcdcdcd…  -",
    "",
    "CONNECTIONS",
    "connection  id  suite           delivered  forwarded  to operator  rejected",
    "readings    1   spongewrap-128  5          0          0            replay 1",
    "alerts      2   aes-gcm-128     0          0          3            0",
    "threshold   -   -               0          0          0            0",
]


def _row(name: str, id_: int | None, suite: str, **counts: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "id": id_, "suite": suite, "keyed": id_ is not None}
    row |= {k: 0 for k in ("delivered", "forwarded", "to_operator", "dropped", "duplicates")}
    return row | counts | {"rejected": counts.get("rejected", {})}


REPORT_JSON: dict[str, Any] = {
    "nodes": [
        {
            "name": "cloud",
            "tee": "sgx",
            "address": "127.0.0.1:7201",
            "reachable": True,
            "error": "",
            "unrouted": 0,
            "unrouted_sources": {},
        },
        {
            "name": "field",
            "tee": "sancus",
            "address": "10.0.0.7:7202",
            "reachable": False,
            "error": "node field: connection refused",
            "unrouted": 0,
            "unrouted_sources": {},
        },
    ],
    "modules": [
        {
            "name": "controller",
            "node": "cloud",
            "tee": "sgx",
            "label": "sgx (emulated DCAP)",
            "emulated": True,
            "measurement": "ab" * 32,
            "attested": True,
            "evidence": "sgx-dcap-quote",
            "running": True,
            "pid": 4242,
            "public_entries": ["status"],
        },
        {
            "name": "sensor",
            "node": "field",
            "tee": "sancus",
            "label": "sancus (emulated)",
            "emulated": False,
            "measurement": "cd" * 32,
            "attested": False,
            "evidence": "",
            "running": False,
            "pid": None,
            "public_entries": [],
        },
    ],
    "connections": [
        _row("readings", 1, "spongewrap-128", delivered=5, rejected={"replay": 1}),
        _row("alerts", 2, "aes-gcm-128", to_operator=3),
        _row("threshold", None, ""),
    ],
}


def test_status_output_is_unchanged(descriptor: Descriptor) -> None:
    report = make_report(descriptor)
    lines = [line.rstrip() for line in render_status(descriptor, report).splitlines()]
    assert lines[0] == f"deployment status-test ({descriptor.path})"
    assert lines[2:] == RENDERED
    assert json.dumps(report, indent=1) == json.dumps(REPORT_JSON, indent=1)  # key order too
