"""TEE-specific parts of the descriptor: the trust file, module attributes that apply only to
some TEEs (vendor_id; isv_prod_id, isv_svn, debug), the SGX policy fields, and the cipher suites
each TEE supports — structurally and combined with the modules' manifests."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from authex.descriptor import (
    TEE_SUITES,
    Descriptor,
    Endpoint,
    ModuleSpec,
    Policy,
    Problem,
    check_interfaces,
    load_descriptor,
    suites_for_connection,
)
from authex.descriptor.loader import path_problem
from authex.descriptor.model import SUITES
from authex.manifest import IoKind, Manifest, assign_ids

Expect = Callable[[str, str, int, str], Problem]
Problems = Callable[[str], list[Problem]]
Load = Callable[[str], Descriptor]

ALL = ("aes-gcm-128", "ascon-aead128", "spongewrap-128")

# Lines 1-23; sections appended by a test start on line 24.
BASE = """\
name: app
nodes:
  - {name: cloud, tee: native, host: 127.0.0.1, port: 7101}
  - {name: enclave, tee: sgx, host: 127.0.0.1, port: 7102}
  - {name: board, tee: trustzone, host: 127.0.0.1, port: 7103}
  - {name: mcu1, tee: sancus, host: 127.0.0.1, port: 7104}
modules:
  - name: controller
    node: cloud
    language: python
    source: modules/controller
  - name: weather
    node: enclave
    language: rust
    source: modules/weather
  - name: sensor1
    node: mcu1
    language: c
    source: modules/sensor1
  - name: sensor2
    node: board
    language: c
    source: modules/sensor2
"""
# The line a field added by with_fields() to each module is written on.
FIELD_LINE = {"controller": 12, "weather": 16, "sensor1": 20, "sensor2": 24}


def with_fields(module: str, *fields: str) -> str:
    """BASE with ``fields`` (``"key: value"``) added to ``module``, after its ``source``."""
    anchor = f"    source: modules/{module}\n"
    added = "".join(f"    {field}\n" for field in fields)
    return BASE.replace(anchor, anchor + added)


def with_connections(*rows: str) -> str:
    """BASE and a connections section (line 24); row i is written on line 25 + i."""
    return BASE + "connections:\n" + "".join(f"  - {{{row}}}\n" for row in rows)


# -- defaults ----------------------------------------------------------------------------------


def test_new_fields_default(load: Load) -> None:
    descriptor = load(BASE)
    for module in descriptor.modules:
        assert (module.vendor_id, module.isv_prod_id, module.isv_svn, module.debug) == (
            4660,
            0,
            0,
            False,
        )
    assert descriptor.policy == Policy()
    assert (Policy().allow_emulated, Policy().allow_debug, Policy().min_isv_svn) == (
        False,
        False,
        0,
    )
    assert descriptor.trust is None


def test_models_keep_their_old_constructors() -> None:
    module = ModuleSpec("m", "n", "c", Path("/src/m"), None)
    assert (module.vendor_id, module.isv_prod_id, module.isv_svn, module.debug) == (
        4660,
        0,
        0,
        False,
    )
    descriptor = Descriptor("app", Path("/d.yaml"), (), (module,), (), ())
    assert descriptor.trust is None
    assert descriptor.policy == Policy(allow_emulated=False, allow_debug=False, min_isv_svn=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        module.vendor_id = 1  # type: ignore[misc]


# -- module attributes -------------------------------------------------------------------------


def test_sgx_attributes_are_read(load: Load) -> None:
    descriptor = load(with_fields("weather", "isv_prod_id: 7", "isv_svn: 65535", "debug: true"))
    weather = descriptor.module("weather")
    assert (weather.isv_prod_id, weather.isv_svn, weather.debug, weather.vendor_id) == (
        7,
        65535,
        True,
        4660,
    )
    location = weather.where("isv_svn")
    assert location is not None and (location.line, location.column) == (17, 14)


@pytest.mark.parametrize(
    ("module", "written", "value"),
    [("sensor1", "0", 0), ("sensor2", "65535", 65535), ("sensor1", "0xBEEF", 0xBEEF)],
)
def test_vendor_id_on_sancus_and_trustzone(
    load: Load, module: str, written: str, value: int
) -> None:
    descriptor = load(with_fields(module, f"vendor_id: {written}"))
    assert descriptor.module(module).vendor_id == value
    assert descriptor.module("controller").vendor_id == 4660


INTEGER_ATTRIBUTES = [
    ("sensor1", "vendor_id"),
    ("sensor2", "vendor_id"),
    ("weather", "isv_prod_id"),
    ("weather", "isv_svn"),
]


@pytest.mark.parametrize(("module", "field"), INTEGER_ATTRIBUTES)
@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("abc", "'abc'"),
        ("-1", "-1"),
        ("65536", "65536"),
        ("true", "true"),
        ("1.5", "1.5"),
        ("[1]", "a list"),
        ("", "nothing (null)"),
    ],
)
def test_integer_attributes_must_be_16_bit(
    expect: Expect, module: str, field: str, written: str, shown: str
) -> None:
    text = with_fields(module, f"{field}: {written}".rstrip())
    path = f"modules[{list(FIELD_LINE).index(module)}].{field}"
    problem = expect(text, path, FIELD_LINE[module], "expected an integer")
    assert problem.message == f"expected an integer 0..65535, got {shown}"


@pytest.mark.parametrize(
    ("written", "shown"), [("yes please", "'yes please'"), ("1", "1"), ("", "nothing (null)")]
)
def test_debug_must_be_a_boolean(expect: Expect, written: str, shown: str) -> None:
    text = with_fields("weather", f"debug: {written}".rstrip())
    problem = expect(text, "modules[1].debug", 16, "expected true or false")
    assert problem.message == f"expected true or false, got {shown}"


@pytest.mark.parametrize(
    ("module", "field", "message"),
    [
        (
            "controller",
            "vendor_id: 7",
            "vendor_id applies to modules on sancus or trustzone nodes; node cloud runs native",
        ),
        (
            "weather",
            "vendor_id: 7",
            "vendor_id applies to modules on sancus or trustzone nodes; node enclave runs sgx",
        ),
        (
            "sensor1",
            "isv_prod_id: 1",
            "isv_prod_id applies to modules on sgx nodes; node mcu1 runs sancus",
        ),
        (
            "sensor2",
            "isv_svn: 1",
            "isv_svn applies to modules on sgx nodes; node board runs trustzone",
        ),
        (
            "controller",
            "debug: false",
            "debug applies to modules on sgx nodes; node cloud runs native",
        ),
        # the value is not checked when the field does not apply at all: one problem only
        (
            "controller",
            "vendor_id: abc",
            "vendor_id applies to modules on sancus or trustzone nodes; node cloud runs native",
        ),
    ],
)
def test_attribute_on_a_tee_it_does_not_apply_to(
    expect: Expect, module: str, field: str, message: str
) -> None:
    path = f"modules[{list(FIELD_LINE).index(module)}].{field.split(':')[0]}"
    problem = expect(with_fields(module, field), path, FIELD_LINE[module], "applies to")
    assert problem.message == message


def test_every_misplaced_attribute_is_reported(problems: Problems) -> None:
    text = with_fields("controller", "vendor_id: 1", "isv_prod_id: 1", "isv_svn: 1", "debug: true")
    found = problems(text)
    assert [(p.field, p.location and p.location.line) for p in found] == [
        ("modules[0].vendor_id", 12),
        ("modules[0].isv_prod_id", 13),
        ("modules[0].isv_svn", 14),
        ("modules[0].debug", 15),
    ]


def test_attribute_on_a_node_with_a_mistake_is_only_type_checked(problems: Problems) -> None:
    broken = BASE.replace("tee: native", "tee: sev")
    fine = broken.replace(
        "    source: modules/controller\n", "    source: modules/controller\n    vendor_id: 7\n"
    )
    assert [p.field for p in problems(fine)] == ["nodes[0].tee"]
    wrong = fine.replace("vendor_id: 7", "vendor_id: abc")
    assert [p.field for p in problems(wrong)] == ["nodes[0].tee", "modules[0].vendor_id"]


def test_unknown_module_field_lists_the_new_ones(expect: Expect) -> None:
    problem = expect(with_fields("sensor1", "vendor: 1"), "modules[2].vendor", 20, "unknown field")
    assert problem.message == (
        "unknown field 'vendor', expected one of: "
        "name, node, language, source, vendor_id, isv_prod_id, isv_svn, debug, cflags, memory"
    )


# -- policy ------------------------------------------------------------------------------------


def with_policy(*fields: str) -> str:
    """BASE with a policy section on line 2; field i is on line 3 + i."""
    policy = "policy:\n" + "".join(f"  {field}\n" for field in fields)
    return BASE.replace("nodes:\n", policy + "nodes:\n", 1)


def test_policy_fields_are_read(load: Load) -> None:
    descriptor = load(with_policy("allow_debug: true", "min_isv_svn: 5"))
    assert descriptor.policy == Policy(allow_emulated=False, allow_debug=True, min_isv_svn=5)
    full = load(with_policy("allow_emulated: true", "allow_debug: false", "min_isv_svn: 65535"))
    assert full.policy == Policy(allow_emulated=True, allow_debug=False, min_isv_svn=65535)


@pytest.mark.parametrize(
    ("written", "shown"), [("1", "1"), ("'yes'", "'yes'"), ("", "nothing (null)")]
)
def test_allow_debug_must_be_a_boolean(expect: Expect, written: str, shown: str) -> None:
    text = with_policy(f"allow_debug: {written}".rstrip())
    problem = expect(text, "policy.allow_debug", 3, "expected true or false")
    assert problem.message == f"expected true or false, got {shown}"


@pytest.mark.parametrize(
    ("written", "shown"), [("-1", "-1"), ("65536", "65536"), ("'2'", "'2'"), ("true", "true")]
)
def test_min_isv_svn_must_be_16_bit(expect: Expect, written: str, shown: str) -> None:
    problem = expect(with_policy(f"min_isv_svn: {written}"), "policy.min_isv_svn", 3, "expected")
    assert problem.message == f"expected an integer 0..65535, got {shown}"


def test_every_policy_mistake_is_reported(problems: Problems) -> None:
    found = problems(with_policy("allow_emulated: 1", "allow_debug: 2", "min_isv_svn: x"))
    assert [(p.field, p.location and p.location.line) for p in found] == [
        ("policy.allow_emulated", 3),
        ("policy.allow_debug", 4),
        ("policy.min_isv_svn", 5),
    ]


# -- trust -------------------------------------------------------------------------------------


def with_trust(value: str) -> str:
    """BASE with ``trust: value`` on line 2 (the value starts at column 8)."""
    return BASE.replace("name: app\n", f"name: app\ntrust: {value}\n", 1)


def test_trust_is_resolved_relative_to_the_descriptor(load: Load, workspace: Path) -> None:
    (workspace / "trust.json").write_text("{}")
    descriptor = load(with_trust("./modules/../trust.json"))
    assert descriptor.trust == (workspace / "trust.json").resolve()
    assert descriptor.trust.is_absolute()


def test_trust_is_relative_to_the_descriptor_not_the_cwd(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (workspace / "secrets").mkdir()
    (workspace / "secrets" / "trust.json").write_text("{}")
    (workspace / "app").mkdir()
    path = workspace / "app" / "descriptor.yaml"
    path.write_text(with_trust("../secrets/trust.json").replace("modules/", "../modules/"))
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert load_descriptor(path).trust == (workspace / "secrets" / "trust.json").resolve()


def test_absolute_trust_path_is_used_as_is(
    load: Load, tmp_path_factory: pytest.TempPathFactory
) -> None:
    trust = tmp_path_factory.mktemp("keys") / "trust.json"
    trust.write_text("{}")
    assert load(with_trust(str(trust))).trust == trust.resolve()


def test_missing_trust_file_gives_the_resolved_path(expect: Expect, workspace: Path) -> None:
    problem = expect(with_trust("modules/../trust.json"), "trust", 2, "does not exist")
    resolved = (workspace / "trust.json").resolve()
    assert problem.message == f"trust file {resolved} does not exist"
    assert problem.location is not None and problem.location.column == 8


def test_trust_that_is_a_folder(expect: Expect, workspace: Path) -> None:
    problem = expect(with_trust("modules"), "trust", 2, "is a folder")
    assert (
        problem.message == f"trust file {(workspace / 'modules').resolve()} is a folder, not a file"
    )


@pytest.mark.parametrize(
    ("written", "shown"), [("42", "42"), ("", "nothing (null)"), ("''", "''"), ("[a]", "a list")]
)
def test_trust_must_be_a_path_string(expect: Expect, written: str, shown: str) -> None:
    problem = expect(with_trust(written).replace("trust: \n", "trust:\n"), "trust", 2, "expected")
    assert problem.message == f"expected a trust file path (a string), got {shown}"


def test_paths_with_a_nul_character_are_problems(problems: Problems) -> None:
    text = with_trust('"a\\0b"').replace("source: modules/sensor1", 'source: "x\\0y"')
    found = problems(text)
    assert [(p.field, p.location and p.location.line) for p in found] == [
        ("trust", 2),
        ("modules[2].source", 20),
    ]
    assert all("containing a NUL character" in p.message for p in found)


def test_trust_problems_are_reported_with_the_others(problems: Problems) -> None:
    text = with_trust("nowhere.json").replace("language: c\n", "language: go\n", 1)
    assert [p.field for p in problems(text)] == ["trust", "modules[2].language"]


def test_path_problem_checks_folders_and_files(tmp_path: Path) -> None:
    folder, file = tmp_path / "folder", tmp_path / "file"
    folder.mkdir()
    file.write_text("")
    assert path_problem(folder, "source") is None
    assert path_problem(file, "trust") is None
    assert path_problem(file, "source") == f"source {file} is not a folder"
    assert path_problem(folder, "trust") == f"trust file {folder} is a folder, not a file"
    assert (
        path_problem(tmp_path / "x", "source") == f"source folder {tmp_path / 'x'} does not exist"
    )
    assert path_problem(tmp_path / "x", "trust") == f"trust file {tmp_path / 'x'} does not exist"
    if Path("/dev/null").exists():
        assert path_problem(Path("/dev/null"), "trust") == (
            "trust file /dev/null is not a regular file"
        )


# -- suites per TEE ----------------------------------------------------------------------------


def test_tee_suites_table() -> None:
    assert SUITES == ALL  # also the preference order
    assert TEE_SUITES == {
        "native": ALL,
        "sgx": ALL,
        "trustzone": ALL,
        "sancus": ("spongewrap-128",),
    }


def test_suites_for_connection(load: Load) -> None:
    descriptor = load(
        with_connections(
            "from: sensor1.reading, to: controller.reading",
            "from: weather.alert, to: sensor2.update",
            "from: operator, to: sensor1.command",
            "from: operator, to: controller.set_threshold",
            "from: controller.open_valve, to: operator",
            "from: sensor2.reading, to: sensor1.command",
        )
    )
    found = [suites_for_connection(descriptor, c) for c in descriptor.connections]
    sponge = ("spongewrap-128",)
    assert found == [sponge, ALL, sponge, ALL, ALL, sponge]
    ghost = dataclasses.replace(descriptor.connections[0], source=Endpoint("ghost", "x"))
    with pytest.raises(KeyError):
        suites_for_connection(descriptor, ghost)


def test_suites_for_connection_keeps_the_preference_order(
    load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    descriptor = load(with_connections("from: weather.alert, to: sensor2.update"))
    monkeypatch.setitem(TEE_SUITES, "sgx", ("spongewrap-128", "aes-gcm-128"))
    monkeypatch.setitem(TEE_SUITES, "trustzone", ("spongewrap-128", "ascon-aead128", "aes-gcm-128"))
    assert suites_for_connection(descriptor, descriptor.connections[0]) == (
        "aes-gcm-128",
        "spongewrap-128",
    )


@pytest.mark.parametrize("suite", ALL)
@pytest.mark.parametrize("module", ["controller", "sensor2"])
def test_full_tees_accept_every_suite(load: Load, suite: str, module: str) -> None:
    text = with_connections(f"from: weather.alert, to: {module}.update, suite: {suite}")
    assert load(text).connections[0].suite == suite


def test_explicit_suite_not_supported_by_a_sancus_end(expect: Expect) -> None:
    text = with_connections("from: sensor1.reading, to: controller.reading, suite: aes-gcm-128")
    problem = expect(text, "connections[0].suite", 25, "is not supported by sancus node mcu1")
    assert problem.message == (
        "suite aes-gcm-128 is not supported by sancus node mcu1 (supports: spongewrap-128)"
    )
    location = problem.location
    assert location is not None and location.column == text.splitlines()[24].index("aes") + 1


def test_explicit_suite_towards_a_sancus_module_from_the_operator(expect: Expect) -> None:
    text = with_connections(
        "from: operator, to: controller.set_threshold, suite: ascon-aead128",
        "from: operator, to: sensor1.command, suite: ascon-aead128",
    )
    problem = expect(text, "connections[1].suite", 26, "")
    assert problem.message == (
        "suite ascon-aead128 is not supported by sancus node mcu1 (supports: spongewrap-128)"
    )


def test_explicit_suite_spongewrap_on_sancus_is_fine(load: Load) -> None:
    text = with_connections("from: sensor1.reading, to: controller.reading, suite: spongewrap-128")
    assert load(text).connections[0].suite == "spongewrap-128"


def test_each_end_that_lacks_the_suite_is_named(problems: Problems) -> None:
    text = with_connections("from: sensor1.reading, to: sensor2.update, suite: aes-gcm-128")
    found = problems(text.replace("tee: trustzone", "tee: sancus"))
    assert [(p.field, p.location and p.location.line) for p in found] == [
        ("connections[0].suite", 25),
        ("connections[0].suite", 25),
    ]
    assert "sancus node mcu1 " in found[0].message
    assert "sancus node board " in found[1].message
    same_node = problems(text.replace("node: board", "node: mcu1"))
    assert [p.field for p in same_node] == ["connections[0].suite"]  # one node, one problem


def test_unknown_suite_is_not_also_a_tee_problem(expect: Expect) -> None:
    text = with_connections("from: sensor1.reading, to: controller.reading, suite: aes-256")
    problem = expect(text, "connections[0].suite", 25, "unknown suite 'aes-256'")
    assert "sancus" not in problem.message


def test_suite_problem_does_not_cascade_from_a_module_mistake(problems: Problems) -> None:
    text = with_connections("from: sensor1.reading, to: controller.reading, suite: aes-gcm-128")
    broken = text.replace("node: mcu1", "node: mcu9")
    assert [p.field for p in problems(broken)] == ["modules[2].node"]


def test_ends_whose_tees_share_no_suite(expect: Expect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TEE_SUITES, "trustzone", ("aes-gcm-128",))
    text = with_connections("from: sensor1.reading, to: sensor2.update")
    problem = expect(text, "connections[0]", 25, "share no cipher suite")
    assert problem.message == (
        "sensor1.reading and sensor2.update share no cipher suite: "
        "sancus node mcu1 supports spongewrap-128; trustzone node board supports aes-gcm-128"
    )


def test_operator_end_and_a_tee_without_suites(
    expect: Expect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(TEE_SUITES, "sancus", ())
    text = with_connections("from: operator, to: sensor1.command")
    problem = expect(text, "connections[0]", 25, "")
    assert problem.message == (
        "operator and sensor1.command share no cipher suite: sancus node mcu1 supports none"
    )


# -- suites against the manifests --------------------------------------------------------------


def manifest(name: str, language: str, suites: tuple[str, ...]) -> Manifest:
    ios = {
        IoKind.INPUT: {"reading": False, "update": False, "command": False},
        IoKind.OUTPUT: {"reading": False, "alert": False},
    }
    return Manifest(name, language, suites, assign_ids(ios), "00" * 32)


MANIFESTS = {
    "controller": manifest("controller", "python", ("aes-gcm-128",)),
    "weather": manifest("weather", "rust", ("ascon-aead128",)),
    "sensor1": manifest("sensor1", "c", ("aes-gcm-128", "spongewrap-128")),
    "sensor2": manifest("sensor2", "c", ALL),
}


def test_manifests_agree_but_the_sancus_tee_does_not(load: Load) -> None:
    descriptor = load(with_connections("from: sensor1.reading, to: controller.reading"))
    (problem,) = check_interfaces(descriptor, MANIFESTS)
    assert problem.field == "connections[0]"
    assert problem.location is not None and problem.location.line == 25
    assert problem.message == (
        "sensor1.reading and controller.reading share no cipher suite: "
        "sensor1 can use spongewrap-128 (its manifest lists aes-gcm-128, spongewrap-128; "
        "sancus node mcu1 supports spongewrap-128); "
        "controller can use aes-gcm-128 (its manifest lists aes-gcm-128; "
        "native node cloud supports aes-gcm-128, ascon-aead128, spongewrap-128)"
    )
    # the same modules on two native nodes share aes-gcm-128
    native = load(
        with_connections("from: sensor1.reading, to: controller.reading").replace(
            "tee: sancus", "tee: native"
        )
    )
    assert check_interfaces(native, MANIFESTS) == []


def test_manifests_alone_share_no_suite(load: Load) -> None:
    descriptor = load(with_connections("from: weather.alert, to: controller.reading"))
    (problem,) = check_interfaces(descriptor, MANIFESTS)
    assert (problem.field, problem.location and problem.location.line) == ("connections[0]", 25)
    assert problem.message.startswith("weather.alert and controller.reading share no cipher suite")
    assert "weather can use ascon-aead128" in problem.message
    assert "controller can use aes-gcm-128" in problem.message


def test_operator_to_a_module_whose_manifest_and_tee_disagree(load: Load) -> None:
    manifests = dict(MANIFESTS, sensor1=manifest("sensor1", "c", ("aes-gcm-128",)))
    descriptor = load(with_connections("from: operator, to: sensor1.command"))
    (problem,) = check_interfaces(descriptor, manifests)
    assert problem.message == (
        "operator and sensor1.command share no cipher suite: sensor1 can use none "
        "(its manifest lists aes-gcm-128; sancus node mcu1 supports spongewrap-128)"
    )


def test_common_suite_of_manifests_and_tees_passes(load: Load) -> None:
    descriptor = load(
        with_connections(
            "from: sensor1.reading, to: sensor2.update",
            "from: sensor2.reading, to: weather.update",
            "from: operator, to: sensor1.command",
            "from: controller.alert, to: sensor2.command",
        )
    )
    assert check_interfaces(descriptor, MANIFESTS) == []


def test_no_suite_problem_without_a_manifest(load: Load) -> None:
    descriptor = load(with_connections("from: sensor1.reading, to: controller.reading"))
    manifests = {k: v for k, v in MANIFESTS.items() if k != "controller"}
    assert [p.field for p in check_interfaces(descriptor, manifests)] == ["modules[0]"]


def test_hand_built_explicit_suite_is_checked_against_the_tee(load: Load) -> None:
    loaded = load(with_connections("from: sensor1.reading, to: sensor2.update"))
    connection = dataclasses.replace(loaded.connections[0], suite="aes-gcm-128")
    descriptor = dataclasses.replace(loaded, connections=(connection,))
    (problem,) = check_interfaces(descriptor, MANIFESTS)
    assert (problem.field, problem.location and problem.location.line) == (
        "connections[0].suite",
        25,
    )
    assert problem.message == (
        "suite aes-gcm-128 is not supported by sancus node mcu1 (supports: spongewrap-128)"
    )


# -- the documented example ----------------------------------------------------------------------


def test_the_tee_example_in_the_docs_loads(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "descriptor.md"
    blocks = re.findall(r"```yaml\n(.*?)```", docs.read_text(encoding="utf-8"), re.DOTALL)
    (text,) = [block for block in blocks if "\ntrust:" in block]
    data = yaml.safe_load(text)
    for module in data["modules"]:
        (tmp_path / module["source"]).mkdir(parents=True, exist_ok=True)
    (tmp_path / data["trust"]).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / data["trust"]).write_text("{}")
    path = tmp_path / "descriptor.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    descriptor = load_descriptor(path)
    assert descriptor.trust == (tmp_path / data["trust"]).resolve()
    assert {node.tee for node in descriptor.nodes} == {"native", "sgx", "trustzone", "sancus"}
    assert any(m.debug or m.isv_svn for m in descriptor.modules)
    assert any(m.vendor_id != 4660 for m in descriptor.modules)
    for connection in descriptor.connections:
        assert suites_for_connection(descriptor, connection)
