"""Fuzz ``Manifest.from_json``: random bytes, JSON-ish text, and valid manifests whose fields were
deleted, added or replaced by JSON values of any type.  The only exception is ManifestError, and
whatever parses survives a canonical round trip."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from authex.errors import ManifestError
from authex.manifest import IoKind, Manifest, assign_ids

VALID = Manifest(
    name="tiny",
    language="python",
    suites=("aes-gcm-128", "spongewrap-128"),
    endpoints=assign_ids(
        {
            IoKind.INPUT: {"inp": False},
            IoKind.OUTPUT: {"out": False, "alert": False},
            IoKind.ENTRY: {"ping": True, "tick": False},
            IoKind.REQUEST: {"ask": False},
            IoKind.HANDLER: {"answer": False},
        }
    ),
    operator_key="00" * 32,
)
VALID_DICT = VALID.to_dict()
FIELDS = sorted({*VALID_DICT, "kind", "name", "id", "public"})

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(1 << 70), 1 << 70)
    | st.sampled_from([0, 1, 4097, 0x1FFF, 1 << 12, -1, 1.0, 4097.0])
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.sampled_from([k.value for k in IoKind])
)
JSON_VALUES = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=12,
)


def _parse_only_manifest_error(data: bytes) -> Manifest | None:
    try:
        manifest = Manifest.from_json(data, where="fuzz")
    except ManifestError as exc:
        assert exc.where == "fuzz"
        assert exc.message
        return None
    assert Manifest.from_json(manifest.to_json()) == manifest
    return manifest


@st.composite
def _mutated_manifest(draw: st.DrawFn) -> Any:
    """The valid manifest as a JSON tree with 1-4 random edits at random depths."""
    tree: Any = copy.deepcopy(VALID_DICT)
    for _ in range(draw(st.integers(1, 4))):
        parent: Any = tree
        # walk down a random path, stop at a random depth
        while isinstance(parent, dict | list) and parent and draw(st.booleans()):
            keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
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
                parent[key] = draw(JSON_VALUES)
        elif isinstance(parent, list):
            if op == "delete" and parent:
                del parent[draw(st.integers(0, len(parent) - 1))]
            elif op == "duplicate" and parent:
                parent.append(copy.deepcopy(draw(st.sampled_from(parent))))
            elif op == "add":
                parent.insert(draw(st.integers(0, len(parent))), draw(JSON_VALUES))
            elif parent:
                parent[draw(st.integers(0, len(parent) - 1))] = draw(JSON_VALUES)
    return tree


def test_the_valid_manifest_parses() -> None:
    assert _parse_only_manifest_error(VALID.to_json()) == VALID


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
@example(b"")
@example(b"\xff\xfe\x00")
@example(b"\xef\xbb\xbf{}")
@example(b'{"format": 1e400}')
@example(b'{"format": NaN}')
@example(b'{"format": true}')
def test_random_bytes(data: bytes) -> None:
    _parse_only_manifest_error(data)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(['{"', '"', ":", ",", "[", "]", "{", "}", "1", "-0", "e9", "true", "null"])
        | st.sampled_from(['"format"', '"endpoints"', '"suites"', '"kind"', '"id"', '"\\ud800"'])
        | st.text(max_size=3),
        max_size=40,
    ).map("".join)
)
def test_json_ish_text(text: str) -> None:
    _parse_only_manifest_error(text.encode("utf-8", "surrogatepass"))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_mutated_manifest())
def test_mutated_valid_manifest(tree: Any) -> None:
    _parse_only_manifest_error(json.dumps(tree).encode())


@settings(max_examples=150, deadline=None)
@given(JSON_VALUES)
def test_any_json_document(document: Any) -> None:
    _parse_only_manifest_error(json.dumps(document).encode())


# --- crashes found by fuzzing (regressions; see docs/fuzzing.md) ------------------------------


def test_deeply_nested_json_raises_manifest_error() -> None:
    with pytest.raises(ManifestError):
        Manifest.from_json(b"[" * 100_000)


def test_huge_integer_raises_manifest_error() -> None:
    with pytest.raises(ManifestError):
        Manifest.from_json(b'{"format": ' + b"9" * 5000 + b"}")
