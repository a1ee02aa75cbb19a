"""Field-level structural checks: every problem names its field path, line and what was expected.

Missing required fields, wrong types, unknown fields, bad names, unsupported tee / language /
suite values, and YAML-level mistakes (duplicate keys, tags, alias loops).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from authex.descriptor import Descriptor, Problem

Expect = Callable[[str, str, int, str], Problem]
Problems = Callable[[str], list[Problem]]
Load = Callable[[str], Descriptor]

# Lines 1-15; sections appended by a test start on line 16.
BASE = """\
name: app
nodes:
  - name: cloud
    tee: native
    host: 127.0.0.1
    port: 7101
modules:
  - name: controller
    node: cloud
    language: python
    source: modules/controller
  - name: sensor1
    node: cloud
    language: c
    source: modules/sensor1
"""


def with_base(section: str) -> str:
    return BASE + textwrap.dedent(section)


def test_base_is_valid(load: Load) -> None:
    assert [m.name for m in load(BASE).modules] == ["controller", "sensor1"]


# -- missing required fields -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "nodes", "modules"])
def test_missing_top_level_field(expect: Expect, field: str) -> None:
    lines = BASE.splitlines(keepends=True)
    keep = {"name": lines[1:], "nodes": lines[:1] + lines[6:], "modules": lines[:6]}[field]
    problem = expect("".join(keep), field, 1, f"missing required field '{field}'")
    assert problem.message == f"missing required field '{field}'"


def test_missing_node_field_points_at_the_node(expect: Expect) -> None:
    text = BASE.replace("    host: 127.0.0.1\n", "")
    expect(text, "nodes[0].host", 3, "missing required field 'host'")


def test_missing_module_field(expect: Expect) -> None:
    text = BASE.replace("    language: c\n", "")
    expect(text, "modules[1].language", 12, "missing required field 'language'")


def test_missing_connection_and_periodic_fields(problems: Problems) -> None:
    found = problems(
        with_base(
            """\
            connections:
              - from: sensor1.reading
            periodic:
              - module: sensor1
                every: 1s
            """
        )
    )
    assert [(p.field, p.location and p.location.line, p.message) for p in found] == [
        ("connections[0].to", 17, "missing required field 'to'"),
        ("periodic[0].entry", 19, "missing required field 'entry'"),
    ]


# -- wrong types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "shown"),
    [("abc", "'abc'"), ("0", "0"), ("65536", "65536"), ("true", "true"), ("80.5", "80.5")],
)
def test_port_must_be_an_integer_in_range(expect: Expect, port: str, shown: str) -> None:
    problem = expect(BASE.replace("7101", port), "nodes[0].port", 6, "expected an integer")
    assert problem.message == f"expected an integer 1..65535, got {shown}"
    assert problem.location is not None and problem.location.column == 11


def test_host_must_be_a_string(expect: Expect) -> None:
    problem = expect(BASE.replace("127.0.0.1", "[a, b]"), "nodes[0].host", 5, "got a list")
    assert problem.message == "expected a host name or address, got a list"


def test_allow_emulated_must_be_a_boolean(expect: Expect) -> None:
    text = BASE.replace("nodes:\n", "policy:\n  allow_emulated: yes please\nnodes:\n", 1)
    expect(text, "policy.allow_emulated", 3, "expected true or false, got 'yes please'")


def test_policy_must_be_a_mapping(expect: Expect) -> None:
    text = BASE.replace("nodes:\n", "policy: strict\nnodes:\n", 1)
    expect(text, "policy", 2, "expected the policy (a mapping), got 'strict'")


@pytest.mark.parametrize(
    ("replacement", "phrase"),
    [
        ("nodes: cloud\n", "expected a list of nodes, got 'cloud'"),
        ("nodes: {cloud: {}}\n", "got a mapping (start each entry with '- ')"),
        ("nodes: []\n", "expected a non-empty list of nodes, got an empty list"),
        ("nodes:\n", "expected a list of nodes, got nothing (null)"),
    ],
)
def test_nodes_must_be_a_non_empty_list(expect: Expect, replacement: str, phrase: str) -> None:
    lines = BASE.splitlines(keepends=True)
    text = "".join([lines[0], replacement, *lines[6:]])
    expect(text, "nodes", 2, phrase)


def test_entries_must_be_mappings(expect: Expect) -> None:
    text = with_base("connections:\n  - sensor1.reading -> controller.reading\n")
    expect(text, "connections[0]", 17, "expected a connection (a mapping), got 'sensor1.reading")


def test_connection_endpoint_must_be_a_string(expect: Expect) -> None:
    text = with_base("connections:\n  - from: 42\n    to: controller.reading\n")
    expect(text, "connections[0].from", 17, "expected MODULE.IO or 'operator', got 42")


def test_source_must_be_a_string(expect: Expect) -> None:
    text = BASE.replace("source: modules/sensor1", "source: {path: x}")
    expect(text, "modules[1].source", 15, "expected a source folder path (a string), got a mapping")


# -- unknown fields ----------------------------------------------------------------------------


def test_unknown_field_in_a_node_points_at_the_key(expect: Expect) -> None:
    text = BASE.replace("    port: 7101\n", "    port: 7101\n    prot: 7102\n")
    problem = expect(text, "nodes[0].prot", 7, "unknown field 'prot'")
    assert problem.message == "unknown field 'prot', expected one of: name, tee, host, port"
    assert problem.location is not None and problem.location.column == 5


def test_unknown_top_level_and_policy_fields(problems: Problems) -> None:
    text = "version: 2\npolicy: {allow_emulation: true}\n" + BASE
    found = {p.field: p for p in problems(text)}
    assert set(found) == {"version", "policy.allow_emulation"}
    assert found["version"].message.startswith("unknown field 'version', expected one of: name,")
    assert found["policy.allow_emulation"].message == (
        "unknown field 'allow_emulation', expected one of: allow_emulated, allow_debug, min_isv_svn"
    )
    location = found["policy.allow_emulation"].location
    assert location is not None and (location.line, location.column) == (2, 10)


def test_unknown_field_in_connection_and_periodic(problems: Problems) -> None:
    found = problems(
        with_base(
            """\
            connections:
              - from: sensor1.reading
                to: controller.reading
                cipher: aes-gcm-128
            periodic:
              - module: sensor1
                entry: sample
                every: 1s
                jitter: 5ms
            """
        )
    )
    assert [(p.field, p.location and p.location.line) for p in found] == [
        ("connections[0].cipher", 19),
        ("periodic[0].jitter", 24),
    ]
    assert "expected one of: from, to, name, suite" in found[0].message
    assert "expected one of: module, entry, every" in found[1].message


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Smart", "-app", "my app", "app.v2", "''"])
def test_descriptor_name_syntax(expect: Expect, name: str) -> None:
    expect(BASE.replace("name: app", f"name: {name}"), "name", 1, "[a-z0-9][a-z0-9-_]*")


def test_descriptor_name_accepts_digits_dashes_underscores(load: Load) -> None:
    assert load(BASE.replace("name: app", "name: 3d-app_x")).name == "3d-app_x"


@pytest.mark.parametrize("name", ["my.node", "1node", "no de", "42"])
def test_node_name_must_be_an_identifier(expect: Expect, name: str) -> None:
    text = BASE.replace("  - name: cloud", f"  - name: '{name}'")
    expect(text, "nodes[0].name", 3, "expected an identifier ([A-Za-z_][A-Za-z0-9_-]*)")


def test_module_name_must_be_an_identifier(expect: Expect) -> None:
    text = BASE.replace("name: sensor1", "name: sensor.1")
    expect(text, "modules[1].name", 12, "expected an identifier ([A-Za-z_][A-Za-z0-9_-]*), got")


def test_periodic_entry_must_be_an_identifier(expect: Expect) -> None:
    text = with_base("periodic:\n  - {module: sensor1, entry: 'do it', every: 1s}\n")
    expect(text, "periodic[0].entry", 17, "expected an identifier")


# -- supported values --------------------------------------------------------------------------


def test_unknown_tee_lists_the_supported_ones(expect: Expect) -> None:
    problem = expect(BASE.replace("tee: native", "tee: sev"), "nodes[0].tee", 4, "unknown tee")
    assert problem.message == "unknown tee 'sev', expected one of: native, sgx, trustzone, sancus"


def test_unknown_language_lists_the_supported_ones(expect: Expect) -> None:
    text = BASE.replace("language: c", "language: go")
    problem = expect(text, "modules[1].language", 14, "unknown language 'go'")
    assert problem.message.endswith("expected one of: python, rust, c")


def test_unknown_suite_lists_the_supported_ones(expect: Expect) -> None:
    text = with_base(
        """\
        connections:
          - from: sensor1.reading
            to: controller.reading
            suite: aes-256
        """
    )
    problem = expect(text, "connections[0].suite", 19, "unknown suite 'aes-256'")
    assert problem.message.endswith("expected one of: aes-gcm-128, ascon-aead128, spongewrap-128")


@pytest.mark.parametrize("tee", ["native", "sgx", "trustzone", "sancus"])
def test_every_supported_tee_is_accepted(load: Load, tee: str) -> None:
    assert load(BASE.replace("tee: native", f"tee: {tee}")).nodes[0].tee == tee


# -- YAML-level mistakes -----------------------------------------------------------------------


def test_duplicate_key_is_reported_not_silently_overwritten(expect: Expect) -> None:
    text = BASE.replace("    port: 7101\n", "    port: 7101\n    port: 7102\n")
    problem = expect(text, "nodes[0].port", 7, "duplicate field 'port'")
    assert problem.message == "duplicate field 'port' (first given at line 6)"


def test_unsupported_tag(expect: Expect) -> None:
    text = BASE.replace("host: 127.0.0.1", "host: !!python/name:os.system ''")
    expect(text, "nodes[0].host", 5, "unsupported YAML tag")


def test_recursive_alias_is_reported(expect: Expect) -> None:
    text = BASE.replace("nodes:\n", "nodes: &loop\n  - *loop\n", 1)
    expect(text, "nodes[0]", 2, "a YAML alias refers to a value that contains it")


def test_anchors_aliases_and_merge_keys_work(load: Load) -> None:
    descriptor = load(
        """\
        name: app
        nodes:
          - &node {name: a, tee: sgx, host: h, port: 1}
          - <<: *node
            name: b
            port: 2
        modules:
          - {name: m, node: b, language: c, source: modules/sensor1}
        """
    )
    assert [(n.name, n.tee, n.host, n.port) for n in descriptor.nodes] == [
        ("a", "sgx", "h", 1),
        ("b", "sgx", "h", 2),
    ]
