"""A complete, valid descriptor (YAML and JSON) parses into the expected models; the models'
helpers; how locations, problems and file-level errors are reported."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from authex.descriptor import (
    Connection,
    Descriptor,
    DescriptorProblems,
    Endpoint,
    Location,
    ModuleSpec,
    Node,
    Periodic,
    Policy,
    Problem,
    load_descriptor,
    parse_descriptor,
)
from authex.errors import AuthexError, DescriptorError

Copy = Callable[[str], Path]


def _strip(descriptor: Descriptor) -> Descriptor:
    """The descriptor without locations and path, to compare YAML with JSON."""
    return dataclasses.replace(
        descriptor,
        path=Path("-"),
        nodes=tuple(dataclasses.replace(n, location=None) for n in descriptor.nodes),
        modules=tuple(dataclasses.replace(m, location=None) for m in descriptor.modules),
        connections=tuple(dataclasses.replace(c, location=None) for c in descriptor.connections),
        periodic=tuple(dataclasses.replace(p, location=None) for p in descriptor.periodic),
    )


def _problems_of(path: Path) -> list[Problem]:
    with pytest.raises(DescriptorProblems) as caught:
        load_descriptor(path)
    return list(caught.value.problems)


def test_valid_yaml_parses_into_the_expected_models(fixture_copy: Copy, workspace: Path) -> None:
    descriptor = load_descriptor(fixture_copy("valid.yaml"))
    modules = workspace.resolve() / "modules"

    assert descriptor.name == "smart-irrigation"
    assert descriptor.path == (workspace / "valid.yaml").absolute()
    assert descriptor.policy == Policy(allow_emulated=True)
    assert _strip(descriptor).nodes == (
        Node("cloud", "native", "127.0.0.1", 7101, None),
        Node("gateway", "sgx", "127.0.0.1", 7102, None),
        Node("field", "sancus", "10.0.0.5", 7103, None),
    )
    assert _strip(descriptor).modules == (
        ModuleSpec("controller", "cloud", "python", modules / "controller", None),
        ModuleSpec("weather", "gateway", "rust", modules / "weather", None),
        ModuleSpec("sensor1", "field", "c", modules / "sensor1", None),
        ModuleSpec("sensor2", "field", "c", modules / "sensor2", None),
    )
    operator = Endpoint(None, None)
    assert _strip(descriptor).connections == (
        Connection(
            "readings-1",
            Endpoint("sensor1", "reading"),
            Endpoint("controller", "reading"),
            "spongewrap-128",
            None,
        ),
        Connection(
            "sensor2.reading->controller.reading",
            Endpoint("sensor2", "reading"),
            Endpoint("controller", "reading"),
            None,
            None,
        ),
        Connection(
            "controller.forecast->weather.forecast",
            Endpoint("controller", "forecast"),
            Endpoint("weather", "forecast"),
            None,
            None,
        ),
        Connection(
            "operator->controller.set_threshold",
            operator,
            Endpoint("controller", "set_threshold"),
            None,
            None,
        ),
        Connection("operator->weather.status", operator, Endpoint("weather", "status"), None),
        Connection(
            "controller.open_valve->operator", Endpoint("controller", "open_valve"), operator
        ),
    )
    assert _strip(descriptor).periodic == (
        Periodic("sensor1", "sample", 500, None),
        Periodic("sensor2", "sample", 5_000, None),
        Periodic("controller", "report", 120_000, None),
    )


def test_yaml_locations_point_at_each_entry_and_field(fixture_copy: Copy) -> None:
    path = fixture_copy("valid.yaml")
    descriptor = load_descriptor(path)
    assert descriptor.nodes[1].location == Location(str(path), 10, 5)
    assert descriptor.modules[1].location == Location(str(path), 23, 5)
    assert descriptor.modules[1].where("source") == Location(str(path), 26, 13)
    assert descriptor.connections[0].location == Location(str(path), 36, 5)
    assert descriptor.connections[0].where("to") == Location(str(path), 37, 9)
    assert descriptor.connections[0].where("suite") == Location(str(path), 39, 12)
    assert descriptor.periodic[2].where("entry") == Location(str(path), 58, 12)
    # a sub-field that is not written falls back to the entry itself
    assert descriptor.connections[1].where("suite") == descriptor.connections[1].location


def test_json_gives_the_same_models_with_correct_lines(fixture_copy: Copy) -> None:
    from_yaml = load_descriptor(fixture_copy("valid.yaml"))
    path = fixture_copy("valid.json")
    from_json = load_descriptor(path)
    assert _strip(from_json) == _strip(from_yaml)
    assert from_json.nodes[1].location == Location(str(path), 6, 5)
    assert from_json.modules[1].location == Location(str(path), 12, 5)
    assert from_json.modules[1].where("source") == Location(str(path), 13, 16)
    assert from_json.connections[0].where("suite") == Location(str(path), 22, 16)
    assert from_json.connections[5].location == Location(str(path), 28, 5)
    assert from_json.periodic[1].where("every") == Location(str(path), 32, 55)


def test_json_problems_have_json_lines_even_with_tab_indentation(workspace: Path) -> None:
    path = workspace / "descriptor.json"
    path.write_text(
        '{\n\t"name": "app",\n\t"nodes": [\n\t\t{"name": "n", "tee": "native", '
        '"host": "h", "port": "abc"}\n\t],\n\t"modules": []\n}\n'
    )
    found = _problems_of(path)
    assert [(p.field, p.location) for p in found] == [
        ("nodes[0].port", Location(str(path), 4, 55)),
        ("modules", Location(str(path), 6, 13)),
    ]
    assert found[0].message == "expected an integer 1..65535, got 'abc'"
    assert "non-empty list of modules" in found[1].message


def test_descriptor_helpers(fixture_copy: Copy) -> None:
    descriptor = load_descriptor(fixture_copy("valid.yaml"))
    assert descriptor.node("gateway").tee == "sgx"
    assert descriptor.node("field").address == "10.0.0.5:7103"
    assert descriptor.module("weather").node == "gateway"
    assert [m.name for m in descriptor.modules_on("field")] == ["sensor1", "sensor2"]
    assert descriptor.modules_on("nowhere") == []
    assert descriptor.connection("readings-1").suite == "spongewrap-128"
    assert descriptor.connection("controller.open_valve->operator").target.is_operator
    for lookup in (descriptor.node, descriptor.module, descriptor.connection):
        with pytest.raises(KeyError):
            lookup("missing")


def test_models_are_frozen_and_hashable(fixture_copy: Copy) -> None:
    descriptor = load_descriptor(fixture_copy("valid.yaml"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        descriptor.name = "other"  # type: ignore[misc]
    assert isinstance(descriptor.nodes, tuple)
    assert len({*descriptor.connections}) == len(descriptor.connections)
    assert str(Endpoint("sensor1", "reading")) == "sensor1.reading"
    assert str(Endpoint(None, None)) == "operator"


def test_optional_sections_may_be_absent_or_null(load: Callable[[str], Descriptor]) -> None:
    descriptor = load(
        """\
        name: app
        policy:
        nodes: [{name: n, tee: native, host: localhost, port: 1}]
        modules: [{name: m, node: n, language: python, source: modules/controller}]
        connections:
        """
    )
    assert descriptor.policy == Policy(allow_emulated=False)
    assert descriptor.connections == ()
    assert descriptor.periodic == ()


def test_location_problem_and_problems_render_as_text() -> None:
    here = Location("descriptor.yaml", 14, 9)
    assert str(here) == "descriptor.yaml:14:9"
    unknown = Problem(here, "connections[2].to", "unknown module 'sensr'")
    assert str(unknown) == "descriptor.yaml:14:9: connections[2].to: unknown module 'sensr'"
    assert str(Problem(None, "name", "bad")) == "name: bad"
    assert str(Problem(here, "", "YAML syntax error")) == "descriptor.yaml:14:9: YAML syntax error"
    error = DescriptorProblems([unknown, Problem(None, "name", "bad")])
    assert isinstance(error, DescriptorError)
    assert isinstance(error, AuthexError)
    assert str(error).splitlines() == [str(unknown), "name: bad"]
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == error.problems


def test_parse_descriptor_takes_text_and_a_path(workspace: Path) -> None:
    text = (
        "name: app\nnodes: [{name: n, tee: sgx, host: h, port: 9}]\n"
        "modules: [{name: m, node: n, language: rust, source: modules/sensor1}]\n"
    )
    descriptor = parse_descriptor(text, workspace / "inline.yaml")
    assert descriptor.modules[0].source == (workspace / "modules" / "sensor1").resolve()
    with pytest.raises(DescriptorProblems) as caught:
        parse_descriptor(text.replace("sgx", "tdx"), workspace / "inline.yaml")
    (problem,) = caught.value.problems
    assert problem.location == Location(str(workspace / "inline.yaml"), 2, 24)


def test_missing_file_is_a_problem_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    (problem,) = _problems_of(path)
    assert problem.location == Location(str(path), 1, 1)
    assert "cannot read the descriptor: no such file" in problem.message
    (problem,) = _problems_of(tmp_path)
    assert "is a folder" in problem.message


def test_yaml_syntax_error_is_a_problem_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "descriptor.yaml"
    path.write_text("name: app\nnodes:\n  - name: [cloud\n    tee: native\n")
    (problem,) = _problems_of(path)
    assert problem.location is not None
    assert problem.location == Location(str(path), 4, 8)
    assert problem.message.startswith("YAML syntax error:")
    assert "line 3" in problem.message  # where the unclosed flow sequence started


@pytest.mark.parametrize(
    ("content", "line", "phrase"),
    [
        (b"name: app\nnodes: \xff\n", 2, "not UTF-8"),
        (b"", 1, "the descriptor is empty"),
        (b"# only a comment\n", 1, "the descriptor is empty"),
        (b"name: a\n---\nname: b\n", 2, "expected a single document"),
        (b"name: app\nbad: \x07\n", 2, "unacceptable character"),
        (b"- name: app\n", 1, "expected a descriptor (a mapping), got a list"),
        (b"name: app\nnodes:\n\t- x\n", 3, "indent with spaces, not tabs"),
        (b"name: app\nnodes: [a, *nope]\n", 2, "found undefined alias 'nope'"),
        # a 200 MB file was read whole; now refused from its first MiB, before any parsing
        (b"name: app\n" + b"#" * (1 << 20), 1, "larger than 1 MiB: not a descriptor"),
    ],
)
def test_unreadable_documents(tmp_path: Path, content: bytes, line: int, phrase: str) -> None:
    path = tmp_path / "descriptor.yaml"
    path.write_bytes(content)
    problem = _problems_of(path)[0]
    assert problem.location is not None
    assert problem.location.line == line
    assert phrase in problem.message
