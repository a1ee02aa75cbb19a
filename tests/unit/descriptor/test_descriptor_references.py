"""Cross-field structural checks: duplicates, port clashes, references between sections, source
folders, connection endpoints, timers — and that all problems are reported at once."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from authex.descriptor import Descriptor, DescriptorProblems, Problem, load_descriptor

Expect = Callable[[str, str, int, str], Problem]
Problems = Callable[[str], list[Problem]]
Load = Callable[[str], Descriptor]

# Lines 1-19; sections appended by a test start on line 20.
BASE = """\
name: app
nodes:
  - name: cloud
    tee: native
    host: 127.0.0.1
    port: 7101
  - name: edge
    tee: trustzone
    host: 127.0.0.1
    port: 7102
modules:
  - name: controller
    node: cloud
    language: python
    source: modules/controller
  - name: sensor1
    node: edge
    language: c
    source: modules/sensor1
"""


def with_base(section: str) -> str:
    return BASE + textwrap.dedent(section)


def connection(source: str, target: str, extra: str = "") -> str:
    """A connections section (lines 20-22, plus ``extra`` lines) after BASE."""
    return with_base(f"connections:\n  - from: {source}\n    to: {target}\n{extra}")


# -- duplicates and clashes --------------------------------------------------------------------


def test_duplicate_node_name_points_at_the_second(expect: Expect) -> None:
    text = BASE.replace("name: edge", "name: cloud")
    problem = expect(text, "nodes[1].name", 7, "duplicate node name 'cloud'")
    assert problem.message == "duplicate node name 'cloud' (first defined at line 3)"


def test_duplicate_module_name_points_at_the_second(expect: Expect) -> None:
    text = BASE.replace("name: sensor1", "name: controller")
    problem = expect(text, "modules[1].name", 16, "duplicate module name 'controller'")
    assert problem.message.endswith("(first defined at line 12)")


def test_duplicate_connection_name(expect: Expect) -> None:
    text = with_base(
        """\
        connections:
          - {from: sensor1.reading, to: controller.reading, name: r}
          - {from: operator, to: controller.reading, name: r}
        """
    )
    problem = expect(text, "connections[1].name", 22, "duplicate connection name 'r'")
    assert problem.message == "duplicate connection name 'r' (first defined at line 21)"


def test_duplicate_default_connection_name_asks_for_a_name(expect: Expect) -> None:
    text = with_base(
        """\
        connections:
          - {from: sensor1.reading, to: controller.reading}
          - {from: sensor1.reading, to: controller.reading}
        """
    )
    problem = expect(text, "connections[1].name", 22, "'sensor1.reading->controller.reading'")
    assert "first defined at line 21" in problem.message
    assert "give one of them a distinct 'name'" in problem.message


def test_port_clash_between_two_nodes(expect: Expect) -> None:
    problem = expect(BASE.replace("7102", "7101"), "nodes[1].port", 10, "port clash")
    assert problem.message == (
        "port clash: 127.0.0.1:7101 is already used by node 'cloud' (line 6)"
    )


def test_same_port_on_different_hosts_is_fine(load: Load) -> None:
    text = BASE.replace("    host: 127.0.0.1\n    port: 7102", "    host: 10.0.0.2\n    port: 7101")
    assert [n.port for n in load(text).nodes] == [7101, 7101]


# -- modules -----------------------------------------------------------------------------------


def test_module_on_unknown_node(expect: Expect) -> None:
    problem = expect(BASE.replace("node: edge", "node: egde"), "modules[1].node", 17, "egde")
    assert problem.message == "unknown node 'egde', expected one of: cloud, edge"


def test_module_named_operator_is_reserved(expect: Expect) -> None:
    text = BASE.replace("name: sensor1", "name: operator")
    expect(text, "modules[1].name", 16, "'operator' is reserved")


def test_missing_source_folder_gives_the_resolved_path(expect: Expect, workspace: Path) -> None:
    text = BASE.replace("source: modules/sensor1", "source: modules/../modules/sensr")
    problem = expect(text, "modules[1].source", 19, "does not exist")
    resolved = (workspace / "modules" / "sensr").resolve()
    assert problem.message == f"source folder {resolved} does not exist"


def test_source_that_is_a_file(expect: Expect, workspace: Path) -> None:
    (workspace / "modules" / "file.py").write_text("")
    text = BASE.replace("source: modules/sensor1", "source: modules/file.py")
    expect(text, "modules[1].source", 19, "is not a folder")


def test_source_is_relative_to_the_descriptor_not_the_cwd(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (workspace / "app").mkdir()
    path = workspace / "app" / "descriptor.yaml"
    path.write_text(BASE.replace("modules/", "../modules/"))
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    descriptor = load_descriptor(path)
    assert descriptor.module("sensor1").source == (workspace / "modules" / "sensor1").resolve()


# -- connections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", ["sensor1", "sensor1.reading.x", "sensor1.", ".reading", "sensor 1.reading"]
)
def test_endpoint_must_be_module_dot_io_or_operator(expect: Expect, endpoint: str) -> None:
    text = connection(f"'{endpoint}'", "controller.reading")
    problem = expect(text, "connections[0].from", 21, "expected MODULE.IO")
    assert "or the word 'operator'" in problem.message


def test_operator_takes_no_io(expect: Expect) -> None:
    text = connection("sensor1.reading", "operator.inbox")
    expect(text, "connections[0].to", 22, "write just 'operator'")


def test_endpoint_module_unknown(expect: Expect) -> None:
    problem = expect(
        connection("sensr.reading", "controller.reading"), "connections[0].from", 21, ""
    )
    assert problem.message == "unknown module 'sensr', expected one of: controller, sensor1"


def test_operator_to_operator(expect: Expect) -> None:
    text = connection("operator", "operator")
    expect(text, "connections[0].to", 22, "at least one end must be a module")


def test_self_connection(expect: Expect) -> None:
    text = connection("controller.open_valve", "controller.reading")
    problem = expect(text, "connections[0].to", 22, "self-connection")
    assert "wired into the same module 'controller'" in problem.message


def test_every_legal_endpoint_pair_parses(load: Load) -> None:
    descriptor = load(
        with_base(
            """\
            connections:
              - {from: sensor1.reading, to: controller.reading}
              - {from: operator, to: controller.reading, suite: ascon-aead128}
              - {from: controller.open_valve, to: operator, name: valve}
            """
        )
    )
    assert [c.name for c in descriptor.connections] == [
        "sensor1.reading->controller.reading",
        "operator->controller.reading",
        "valve",
    ]
    assert descriptor.connections[1].suite == "ascon-aead128"


# -- periodic ----------------------------------------------------------------------------------


def periodic(module: str, every: str) -> str:
    return with_base(f"periodic:\n  - module: {module}\n    entry: sample\n    every: {every}\n")


def test_periodic_on_unknown_module(expect: Expect) -> None:
    problem = expect(periodic("sensor2", "1s"), "periodic[0].module", 21, "unknown module")
    assert problem.message == "unknown module 'sensor2', expected one of: controller, sensor1"


@pytest.mark.parametrize(
    ("every", "phrase"),
    [
        ("5 seconds", "invalid interval '5 seconds'"),
        ("1h", "invalid interval '1h'"),
        ("-5s", "invalid interval"),
        ("1.5s", "invalid interval"),
        ("9ms", "shorter than the minimum of 10ms"),
        ("0s", "shorter than the minimum of 10ms"),
        ("1441m", "longer than the maximum of 24h"),
        ("86400001ms", "longer than the maximum of 24h"),
        ("500", "(write a whole number followed by a unit: ms, s or m)"),
        ("[1s]", "expected an interval such as 500ms, 5s or 2m, got a list"),
    ],
)
def test_bad_interval(expect: Expect, every: str, phrase: str) -> None:
    expect(periodic("sensor1", every), "periodic[0].every", 23, phrase)


@pytest.mark.parametrize(("every", "ms"), [("10ms", 10), ("1s", 1000), ("1440m", 86_400_000)])
def test_interval_bounds_are_inclusive(load: Load, every: str, ms: int) -> None:
    assert load(periodic("sensor1", every)).periodic[0].interval_ms == ms


# -- everything at once ------------------------------------------------------------------------


def test_all_mistakes_are_reported_in_one_go(fixture_copy: Callable[[str], Path]) -> None:
    path = fixture_copy("many_mistakes.yaml")
    with pytest.raises(DescriptorProblems) as caught:
        load_descriptor(path)
    found = [(p.field, p.location and p.location.line) for p in caught.value.problems]
    assert found == [
        ("name", 2),
        ("nodes[1].tee", 9),
        ("nodes[1].port", 11),
        ("nodes[2].port", 12),  # the missing field is reported at the entry (column 5) ...
        ("nodes[2].name", 12),  # ... which comes before its name's value (column 11)
        ("nodes[2].prot", 15),
        ("modules[1].node", 22),
        ("modules[1].language", 23),
        ("modules[1].source", 24),
        ("connections[0].to", 27),
        ("connections[1].to", 29),
        ("periodic[0].every", 33),
    ]
    messages = [p.message for p in caught.value.problems]
    for phrase, message in zip(
        [
            "expected a descriptor name",
            "unknown tee 'sgz'",
            "port clash",
            "missing required field 'port'",
            "duplicate node name 'cloud'",
            "unknown field 'prot'",
            "unknown node 'clod'",
            "unknown language 'cobol'",
            "does not exist",
            "unknown module 'sensr'",
            "at least one end must be a module",
            "invalid interval '5 seconds'",
        ],
        messages,
        strict=True,
    ):
        assert phrase in message
    lines = str(caught.value).splitlines()
    assert len(lines) == 12
    assert lines[0].startswith(f"{path}:2:7: name: expected a descriptor name")


def test_a_mistake_in_a_node_does_not_cascade_into_its_modules(problems: Problems) -> None:
    found = problems(BASE.replace("tee: trustzone", "tee: tz"))
    assert [p.field for p in found] == ["nodes[1].tee"]  # sensor1 on edge is not "unknown node"
