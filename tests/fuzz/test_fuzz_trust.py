"""Fuzz ``parse_trust`` (the operator's trust file) with random nested structures of every type
``yaml.safe_load`` can produce, with mutated valid trust files, and with YAML text.  The only
exception is DescriptorError; whatever parses has str names and tees, int vendor ids and bytes
keys.  Vendor-key ids that YAML reads as null, a float infinity or a date used to crash it
(docs/fuzzing.md); the regressions at the end keep them out."""

from __future__ import annotations

import copy
import datetime
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from authex.deployer.trust import TrustStore, parse_trust
from authex.errors import DescriptorError

SCALE = max(1, int(os.environ.get("AUTHEX_FUZZ_SCALE", "1")))
PATH = Path("/nonexistent-authex-fuzz/trust.yaml")
VALID: dict[str, Any] = {
    "nodes": {
        "mcu1": {"tee": "sancus", "emulated": True, "vendor_keys": {"4660": "00" * 16}},
        "gw": {"tee": "trustzone", "emulated": True, "vendor_keys": {4660: "11" * 16}},
        "srv": {"tee": "sgx", "emulated": False, "root_ca": "-----BEGIN CERTIFICATE-----"},
        "nat": {"tee": "native", "identity": "-----BEGIN CERTIFICATE-----"},
    }
}
FIELDS = ["nodes", "tee", "emulated", "vendor_keys", "root_ca", "identity", "4660", "0"]

_keys = (
    st.text(max_size=6)
    | st.integers()
    | st.booleans()
    | st.floats()
    | st.none()
    | st.dates()
    | st.sampled_from([*FIELDS, "-1", "65535", "65536", " 7 ", "\u0661", "1_0"])
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=34)
    | st.sampled_from(["00" * 16, "0g", "0", " 0a 0b ", "sgx", "sancus", "1e3", "-5", "\u0660"])
    | st.binary(max_size=4)
    | st.dates()
)
VALUES = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=10,
)


def _check(raw: object) -> TrustStore | None:
    try:
        store = parse_trust(raw, PATH)
    except DescriptorError as exc:
        assert exc.where == str(PATH)
        return None
    for name, entry in store.nodes.items():
        assert isinstance(name, str) and entry.name == name
        assert isinstance(entry.tee, str) and isinstance(entry.emulated, bool)
        for vendor_id, key in entry.vendor_keys.items():
            assert type(vendor_id) is int and 0 <= vendor_id <= 0xFFFF and type(key) is bytes
    return store


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    tree: Any = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        parent: Any = tree
        while isinstance(parent, dict) and parent and draw(st.booleans()):
            child = parent[draw(st.sampled_from(list(parent)))]
            if not isinstance(child, dict):
                break
            parent = child
        if not isinstance(parent, dict):
            continue
        key = draw(st.sampled_from(list(parent) or FIELDS) | _keys)
        if draw(st.booleans()):
            parent.pop(key, None)
        else:
            parent[key] = draw(VALUES)
    return tree


def test_the_valid_trust_file_parses() -> None:
    store = _check(VALID)
    assert store is not None and store.nodes["gw"].vendor_keys == {4660: bytes([0x11]) * 16}


@settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
@example({"nodes": None})
@example({"nodes": {"a": {"tee": "x", "vendor_keys": {"1": None}}}})
@example({"nodes": {"a": {"tee": "x", "vendor_keys": {"9" * 5000: "00"}}}})
@example({"nodes": {"a": {"tee": "x", "vendor_keys": {math.nan: "00"}}}})
@example({"nodes": {"a": {"tee": "x", "vendor_keys": {math.inf: "00"}}}})
@example({"nodes": {"a": {"tee": "x", "vendor_keys": {None: "00"}}}})
def test_random_structures(raw: Any) -> None:
    _check(raw)


@settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_valid_trust_file(raw: Any) -> None:
    _check(raw)


@settings(max_examples=100 * SCALE, deadline=None)
@given(
    st.lists(
        st.sampled_from(["nodes:", " a:", "  tee: sgx", "  vendor_keys:", "   1: 00ff", "  - x"])
        | st.sampled_from(["   0x10: aa", "   1_0: bb", "   0o7: cc", "  emulated: maybe", "{}"])
        | st.text(max_size=6),
        max_size=8,
    ).map("\n".join)
)
def test_yaml_text(text: str) -> None:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    except ValueError:  # PyYAML's own timestamp/int constructors; not parse_trust's concern
        return
    _check(raw or {})


# --- crashes found by fuzzing, fixed since (regressions; see docs/fuzzing.md) ----------------


def _with_vendor_id(vendor_id: object) -> dict[str, Any]:
    return {"nodes": {"a": {"tee": "sancus", "vendor_keys": {vendor_id: "00" * 16}}}}


def test_null_vendor_id_is_rejected() -> None:
    with pytest.raises(DescriptorError):
        parse_trust(yaml.safe_load("nodes: {a: {tee: sancus, vendor_keys: {~: '00'}}}"), PATH)


def test_infinite_vendor_id_is_rejected() -> None:
    with pytest.raises(DescriptorError):
        parse_trust(yaml.safe_load("nodes: {a: {tee: sancus, vendor_keys: {.inf: '00'}}}"), PATH)


def test_date_vendor_id_is_rejected() -> None:
    with pytest.raises(DescriptorError):
        parse_trust(_with_vendor_id(datetime.date(2001, 2, 3)), PATH)
