"""``authex status`` shows what a node dropped for connections without a route there (a flood,
or a misrouted peer), with its biggest sources, and says nothing when there was none."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from authex.cli.render import render_status
from authex.deployer.operations import status_report
from authex.deployer.session import Session
from authex.deployer.state import DeploymentState
from authex.descriptor import parse_descriptor
from authex.errors import AuthexError
from authex.wire.status import DropSource, NodeStatus
from support import status as fake_status

DESCRIPTOR = """\
name: flood-test
nodes:
  - {name: a, tee: native, host: 127.0.0.1, port: 7301}
  - {name: b, tee: native, host: 127.0.0.1, port: 7302}
modules:
  - {name: m, node: a, language: python, source: modules/m}
"""


def test_unrouted_drops_are_reported_and_rendered_per_node(tmp_path: Path) -> None:
    (tmp_path / "modules" / "m").mkdir(parents=True)
    descriptor = parse_descriptor(DESCRIPTOR, tmp_path / "descriptor.yaml")
    session = cast(Session, SimpleNamespace(descriptor=descriptor, state=DeploymentState()))
    flooded = replace(
        fake_status.node("b"),
        unrouted=100_003,
        unrouted_sources=(DropSource("mallory@10.0.0.9", 100_000), DropSource("module m", 2)),
    )
    statuses: dict[str, NodeStatus | AuthexError] = {"a": fake_status.node("a"), "b": flooded}
    report = status_report(session, statuses)
    nodes = {n["name"]: n for n in report["nodes"]}
    assert (nodes["a"]["unrouted"], nodes["a"]["unrouted_sources"]) == (0, {})
    assert nodes["b"]["unrouted"] == 100_003
    assert nodes["b"]["unrouted_sources"] == {"mallory@10.0.0.9": 100_000, "module m": 2}
    lines = render_status(descriptor, report).splitlines()
    assert [line for line in lines if "no route" in line] == [
        "node b dropped 100003 events for connections it has no route for "
        "(from mallory@10.0.0.9 100000, module m 2)"
    ]
