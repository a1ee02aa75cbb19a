"""The operator's trust file: parsing with clear errors, lookups that say what to do, and a
private, merging writer."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from authex.deployer.trust import NodeTrust, TrustStore, load_trust, parse_trust, write_trust
from authex.errors import AttestationError, DescriptorError

KEY = "0f" * 16
TRUST = Path("/ops/trust.yaml")


def test_parse_good_trust_file() -> None:
    raw = {
        "nodes": {
            "mcu1": {"tee": "sancus", "emulated": True, "vendor_keys": {"4660": KEY, 7: "aa"}},
            "srv": {"tee": "sgx", "root_ca": "-----BEGIN CERTIFICATE-----\nx"},
            "dev": {"tee": "native"},
        }
    }
    store = parse_trust(raw, TRUST)
    assert store.path == TRUST
    mcu = store.nodes["mcu1"]
    assert (mcu.name, mcu.tee, mcu.emulated) == ("mcu1", "sancus", True)
    assert mcu.vendor_keys == {4660: bytes.fromhex(KEY), 7: b"\xaa"}
    assert store.nodes["srv"].root_ca.startswith("-----BEGIN CERTIFICATE-----")
    assert store.nodes["srv"].emulated is False
    assert store.nodes["dev"].vendor_keys == {}


def test_parse_empty_trust_file() -> None:
    assert parse_trust({}, None).nodes == {}
    assert parse_trust({"nodes": {}}, None).nodes == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "expected a mapping with a `nodes` mapping"),
        ("nodes", "expected a mapping with a `nodes` mapping"),
        ({"nodes": ["mcu1"]}, "expected a mapping with a `nodes` mapping"),
        ({"nodes": {"mcu1": "sancus"}}, "nodes.mcu1: expected a mapping with `tee`"),
        ({"nodes": {"mcu1": {"emulated": True}}}, "nodes.mcu1: expected a mapping with `tee`"),
        ({"nodes": {"mcu1": {"tee": 3}}}, "nodes.mcu1: expected a mapping with `tee`"),
        (
            {"nodes": {"mcu1": {"tee": "sancus", "vendor_keys": {"4660": "zz"}}}},
            "nodes.mcu1.vendor_keys: ",
        ),
        (
            {"nodes": {"mcu1": {"tee": "sancus", "vendor_keys": {"vendor": KEY}}}},
            "nodes.mcu1.vendor_keys: ",
        ),
    ],
)
def test_parse_bad_trust_file(raw: object, message: str) -> None:
    with pytest.raises(DescriptorError) as caught:
        parse_trust(raw, TRUST)
    assert message in caught.value.message
    assert caught.value.where == str(TRUST)


def test_parse_error_without_a_path_says_trust_file() -> None:
    with pytest.raises(DescriptorError) as caught:
        parse_trust([], None)
    assert caught.value.where == "trust file"


def test_bad_vendor_key_error_does_not_echo_other_keys() -> None:
    raw = {"nodes": {"m": {"tee": "sancus", "vendor_keys": {"1": KEY, "2": "zz"}}}}
    with pytest.raises(DescriptorError) as caught:
        parse_trust(raw, TRUST)
    assert KEY not in str(caught.value)


def test_vendor_keys_must_be_a_mapping() -> None:
    with pytest.raises(DescriptorError, match=r"nodes\.mcu1\.vendor_keys"):
        parse_trust({"nodes": {"mcu1": {"tee": "sancus", "vendor_keys": [KEY]}}}, TRUST)


def test_unknown_node_says_how_to_enrol_it() -> None:
    store = parse_trust({"nodes": {"a": {"tee": "sgx"}}}, TRUST)
    with pytest.raises(AttestationError) as caught:
        store.node("mcu9", "sancus")
    text = str(caught.value)
    assert "node mcu9 (sancus) is not enrolled" in text
    assert "authex node init" in text
    assert caught.value.where == str(TRUST)
    with pytest.raises(AttestationError) as without_path:
        TrustStore(None, {}).node("x", "sgx")
    assert without_path.value.where == "trust file"


def test_tee_mismatch_names_both_kinds() -> None:
    store = parse_trust({"nodes": {"gw": {"tee": "sgx"}}}, TRUST)
    with pytest.raises(AttestationError, match="node gw is enrolled as sgx, but the descriptor "):
        store.node("gw", "trustzone")
    assert store.node("gw", "sgx").tee == "sgx"


def test_missing_vendor_key_names_the_enrolment_command() -> None:
    node = NodeTrust("mcu1", "sancus", True, {4660: b"k" * 16, 17: b"j" * 16})
    assert node.vendor_key(4660) == b"k" * 16
    with pytest.raises(AttestationError) as caught:
        node.vendor_key(99)
    text = str(caught.value)
    assert "vendor id 99 on node mcu1" in text
    assert "(enrolled: 17, 4660)" in text
    assert "authex node enrolment DIR --vendor-id 99" in text
    with pytest.raises(AttestationError, match=r"\(enrolled: none\)"):
        NodeTrust("m", "sancus", True).vendor_key(1)


def test_node_trust_repr_hides_vendor_keys() -> None:
    node = NodeTrust("mcu1", "sancus", True, {4660: bytes.fromhex(KEY)})
    assert KEY not in repr(node)
    assert "0x0f" not in repr(node) and "\\x0f" not in repr(node)


def test_load_trust_missing_file_is_empty(tmp_path: Path) -> None:
    assert load_trust(None).nodes == {}
    store = load_trust(tmp_path / "nope.yaml")
    assert store.nodes == {} and store.path == tmp_path / "nope.yaml"


def test_load_trust_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text("nodes: {a: [\n")
    with pytest.raises(DescriptorError, match="cannot read the trust file") as caught:
        load_trust(path)
    assert caught.value.where == str(path)


def test_write_trust_creates_a_private_file_and_merges(tmp_path: Path) -> None:
    path = tmp_path / ".authex" / "trust.yaml"
    write_trust(path, {"mcu1": {"tee": "sancus", "emulated": True, "vendor_keys": {"4660": KEY}}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().startswith("# authex operator trust file")
    write_trust(path, {"srv": {"tee": "sgx", "emulated": True, "root_ca": "PEM"}})
    write_trust(path, {"mcu1": {"tee": "sancus", "emulated": False, "vendor_keys": {"1": "aa"}}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["trust.yaml"]
    raw = yaml.safe_load(path.read_text())
    assert sorted(raw["nodes"]) == ["mcu1", "srv"]
    store = load_trust(path)
    assert store.nodes["mcu1"].vendor_keys == {1: b"\xaa"}  # the newer entry replaced the old
    assert store.nodes["mcu1"].emulated is False
    assert store.nodes["srv"].root_ca == "PEM"
