"""Fuzz ``parse_descriptor`` with mutations of examples/smart-irrigation/descriptor.yaml.

tests/unit/descriptor/test_descriptor_properties.py already throws arbitrary text, arbitrary YAML
structures and character-level edits of a fixture at it.  This file starts from the real example
(parsed at its real path, so module sources exist and validation runs to the end) and mutates it
two ways: as a tree (fields deleted, added, or replaced by values of every YAML type, then written
as block YAML, flow YAML or JSON) and as lines (deleted, duplicated, swapped, re-indented, tokens
replaced by YAML specials: anchors, aliases, merge keys, tags, directives, block scalars).
The only exception is DescriptorProblems, with at least one problem, each with a sane location.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from authex.descriptor import Descriptor, DescriptorProblems, parse_descriptor

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "smart-irrigation" / "descriptor.yaml"
TEXT = EXAMPLE.read_text()
TREE: dict[str, Any] = yaml.safe_load(TEXT)
LINES = TEXT.splitlines(keepends=True)
_NAMES = """name nodes modules connections periodic policy trust tee host port node language source
    from to suite module entry every allow_emulated allow_debug min_isv_svn vendor_id isv_prod_id
    isv_svn debug"""
FIELDS = sorted(_NAMES.split())
# fmt: off
SUSPICIOUS = st.sampled_from(
    [
        0, -1, 65535, 65536, 1 << 64, 7101.5, float("inf"), float("nan"), True, None, "", "7101",
        "sgx", "native", "sancus", "trustzone", "tdx", "python", "rust", "c", "operator",
        "operator.x", "sensor1.reading", "relay.reading", "a.b.c", ".x", "x.", "sensor1",
        "relay", "controller.set_threshold", "controller.alert", "aes-gcm-128", "spongewrap-128",
        "ascon-aead128", "rot13", "300ms", "9ms", "25h", "0s", "1.5s", "-5s", "5 s",
        "modules/sensor", "/", "..", "../../etc", "modules/sensor/main.py", "descriptor.yaml",
        "\x00", "\u2028", "caf\u00e9", b"\x00\xff", datetime.date(2001, 2, 3),
        datetime.datetime(2001, 2, 3, 4, 5, 6),
    ]
)
# fmt: on
_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | SUSPICIOUS
)
VALUES = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=8,
)
# fmt: off
YAML_SPECIALS = st.sampled_from(
    [
        "&a", "*a", "&a x", "<<: *a", "<<: [*a]", "!!str", "!!int x", "!!binary", "!!set",
        "!!omap", "!!python/object:os.system", "!custom", "? x", "? [a]", "- ", "-", ":", ": ",
        "|", ">-", "'", '"', "\\", "#", "{", "}", "[", "]", ",", "%YAML 1.1", "---", "...", "~",
        "null", "yes", "no", "on", "0x1F", "0o17", "1_000", "1e999", ".nan", "-.inf",
        "2001-02-30", "12:30:45", "=", "\t", "\ufeff",
    ]
)
# fmt: on
TOKEN = re.compile(r"[A-Za-z0-9_.\-/]+")


def _check(text: str, path: Path = EXAMPLE) -> None:
    try:
        result = parse_descriptor(text, path)
    except DescriptorProblems as exc:
        assert exc.problems
        lines = text.count("\n") + 2
        for problem in exc.problems:
            assert problem.message
            assert problem.location is None or 1 <= problem.location.line <= lines
    else:
        assert isinstance(result, Descriptor)


@st.composite
def _mutated_tree(draw: st.DrawFn) -> Any:
    tree: Any = copy.deepcopy(TREE)
    for _ in range(draw(st.integers(1, 3))):
        parent: Any = tree
        while draw(st.booleans()):
            keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
            if not keys:
                break
            child = parent[draw(st.sampled_from(keys))]
            if not isinstance(child, dict | list):
                break
            parent = child
        op = draw(st.sampled_from(("replace", "delete", "add", "duplicate")))
        if isinstance(parent, dict):
            key = draw(st.sampled_from(sorted(parent) or FIELDS) | st.sampled_from(FIELDS))
            if op == "delete":
                parent.pop(key, None)
            else:
                parent[key] = draw(VALUES)
        elif parent:
            index = draw(st.integers(0, len(parent) - 1))
            if op == "delete":
                del parent[index]
            elif op == "duplicate":
                parent.append(copy.deepcopy(parent[index]))
            elif op == "add":
                parent.insert(index, draw(VALUES))
            else:
                parent[index] = draw(VALUES)
    return tree


@st.composite
def _mutated_lines(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(("delete", "dup", "swap", "indent", "token", "insert")))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            shift = draw(st.sampled_from([" ", "  ", "\t", "- "]))
            stripped = lines[i].lstrip(" ")
            lines[i] = shift + lines[i] if draw(st.booleans()) else stripped
        elif op == "token":
            tokens = list(TOKEN.finditer(lines[i]))
            if tokens:
                match = draw(st.sampled_from(tokens))
                new = draw(YAML_SPECIALS | SUSPICIOUS.map(str) | st.text(max_size=4))
                lines[i] = lines[i][: match.start()] + new + lines[i][match.end() :]
        else:
            lines.insert(i, draw(YAML_SPECIALS) + draw(st.sampled_from([" x\n", "\n", ": 1\n"])))
    return "".join(lines)


def test_the_example_parses() -> None:
    assert isinstance(parse_descriptor(TEXT, EXAMPLE), Descriptor)
    _check(json.dumps(TREE), EXAMPLE.with_suffix(".json"))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tree=_mutated_tree(), style=st.sampled_from(("block", "flow", "json")))
def test_mutated_tree(tree: Any, style: str) -> None:
    if style == "json":
        _check(json.dumps(tree, default=str), EXAMPLE.with_suffix(".json"))
    else:
        _check(yaml.safe_dump(tree, default_flow_style=style == "flow", allow_unicode=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated_lines())
@example(TEXT.replace("nodes:", "nodes: &n", 1).replace("modules:", "modules: *n", 1))
@example(TEXT.replace("periodic:", "<<: {periodic: []}\nperiodic:", 1))
@example(TEXT.replace("name: smart-irrigation", "name: !!binary aGk=", 1))
@example(TEXT.replace("port: 7101", "port: 0x1F", 1))
@example(TEXT.replace("every: 300ms", "every: 1e999ms", 1))
def test_mutated_lines(text: str) -> None:
    _check(text)
