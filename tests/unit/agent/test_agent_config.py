"""Node directories: ``authex node init`` creates the configuration and the platform's private
secrets for each kind of TEE, refuses bad input, and ``enrolment`` says what the operator pins."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from authex.agent.config import (
    CONFIG_NAME,
    NodeConfig,
    enrolment,
    init_node_dir,
    load_node_dir,
)
from authex.attestation.trustzone import generate_vendor_key, vendor_public_pem
from authex.attestation.trustzone import vendor_key as tz_vendor_key
from authex.crypto.sancus_keys import vendor_key as sancus_vendor_key
from authex.errors import AuthexError, BackendError
from authex.tee.platforms import SECRETS, read_secrets


@pytest.fixture(scope="module")
def ta_key() -> rsa.RSAPrivateKey:
    return generate_vendor_key()


@pytest.fixture(scope="module")
def ta_public(ta_key: rsa.RSAPrivateKey) -> str:
    return vendor_public_pem(ta_key).decode()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def init(directory: Path, tee: str, ta_public: str = "", force: bool = False) -> Path:
    config = NodeConfig(f"{tee}-node", tee, "127.0.0.1", 7300)
    return init_node_dir(directory, config, ta_vendor_public_pem=ta_public, force=force)


@pytest.mark.parametrize("tee", ["native", "sancus", "trustzone", "sgx"])
def test_init_creates_config_and_private_secrets(tmp_path: Path, tee: str, ta_public: str) -> None:
    directory = tmp_path / "node"
    path = init(directory, tee, ta_public)
    assert path == directory / CONFIG_NAME
    assert json.loads(path.read_text()) == {
        "name": f"{tee}-node",
        "tee": tee,
        "host": "127.0.0.1",
        "port": 7300,
    }
    assert load_node_dir(directory) == NodeConfig(f"{tee}-node", tee, "127.0.0.1", 7300)
    assert load_node_dir(directory).address == "127.0.0.1:7300"
    assert mode(directory) == 0o700
    assert (directory / "modules").is_dir()
    secrets = directory / SECRETS
    assert mode(secrets) == 0o600
    assert mode(secrets.parent) == 0o700
    assert not list(directory.glob("*.tmp")) and not list(secrets.parent.glob("*.tmp"))
    if tee == "native":
        assert read_secrets(directory) == {}
    else:
        assert read_secrets(directory)  # root secrets were generated


def test_trustzone_pins_the_given_ta_vendor_key(tmp_path: Path, ta_public: str) -> None:
    init(tmp_path / "gw", "trustzone", ta_public)
    secrets = read_secrets(tmp_path / "gw")
    assert secrets["ta_vendor_public"] == ta_public
    assert len(bytes.fromhex(secrets["huk"])) == 16


def test_trustzone_needs_a_ta_vendor_key(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="TA vendor public key"):
        init(tmp_path / "gw", "trustzone")
    assert not (tmp_path / "gw" / CONFIG_NAME).exists()


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    directory = tmp_path / "node"
    init(directory, "sancus")
    before = read_secrets(directory)
    with pytest.raises(AuthexError, match="already initialised") as caught:
        init(directory, "sancus")
    assert caught.value.where == str(directory / CONFIG_NAME)
    assert read_secrets(directory) == before  # nothing was replaced
    init(directory, "sancus", force=True)
    assert read_secrets(directory) != before  # a forced init creates fresh root secrets


@pytest.mark.parametrize("port", [0, -1, 65536, 100000])
def test_refuses_bad_port(tmp_path: Path, port: int) -> None:
    with pytest.raises(AuthexError, match=f"port {port} out of range 1..65535") as caught:
        init_node_dir(tmp_path / "n", NodeConfig("n", "native", "127.0.0.1", port))
    assert caught.value.where == str(tmp_path / "n")
    assert not (tmp_path / "n").exists()


def test_refuses_unknown_tee(tmp_path: Path) -> None:
    with pytest.raises(AuthexError, match="unsupported TEE 'sgz'") as caught:
        init_node_dir(tmp_path / "n", NodeConfig("n", "sgz", "127.0.0.1", 7000))
    assert "native" in str(caught.value) and "sancus" in str(caught.value)
    assert not (tmp_path / "n").exists()


def test_load_of_a_missing_or_malformed_node_dir(tmp_path: Path) -> None:
    with pytest.raises(AuthexError, match="not a node directory") as missing:
        load_node_dir(tmp_path)
    assert missing.value.where == str(tmp_path / CONFIG_NAME)
    (tmp_path / CONFIG_NAME).write_text('{"name": "n", "tee": "native", "host": "h"}')
    with pytest.raises(AuthexError, match="malformed node configuration"):
        load_node_dir(tmp_path)
    (tmp_path / CONFIG_NAME).write_text('{"name": "n", "tee": "native", "host": "h", "port": "x"}')
    with pytest.raises(AuthexError, match="malformed node configuration"):
        load_node_dir(tmp_path)


def pinned(entry: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The platform's part of an enrolment entry (other parts, such as a TLS identity, may be
    added beside it)."""
    return {key: entry[key] for key in keys}


def test_enrolment_native(tmp_path: Path) -> None:
    init(tmp_path, "native")
    entry = enrolment(tmp_path, [4660])
    assert pinned(entry, "tee", "emulated") == {"tee": "native", "emulated": False}
    assert "vendor_keys" not in entry and "root_ca" not in entry


def test_enrolment_sancus_gives_vendor_keys_for_requested_ids(tmp_path: Path) -> None:
    init(tmp_path, "sancus")
    entry = enrolment(tmp_path, [4660, 1])
    assert entry["tee"] == "sancus" and entry["emulated"] is True
    node_key = bytes.fromhex(read_secrets(tmp_path)["node_key"])
    assert entry["vendor_keys"] == {
        "4660": sancus_vendor_key(node_key, 4660).hex(),
        "1": sancus_vendor_key(node_key, 1).hex(),
    }
    assert entry["vendor_keys"]["4660"] != entry["vendor_keys"]["1"]
    assert enrolment(tmp_path, [])["vendor_keys"] == {}


def test_enrolment_trustzone_gives_vendor_keys_for_requested_ids(
    tmp_path: Path, ta_public: str
) -> None:
    init(tmp_path, "trustzone", ta_public)
    entry = enrolment(tmp_path, [4660])
    huk = bytes.fromhex(read_secrets(tmp_path)["huk"])
    assert pinned(entry, "tee", "emulated", "vendor_keys") == {
        "tee": "trustzone",
        "emulated": True,
        "vendor_keys": {"4660": tz_vendor_key(huk, 4660).hex()},
    }


def test_enrolment_sgx_gives_the_root_certificate(tmp_path: Path) -> None:
    init(tmp_path, "sgx")
    entry = enrolment(tmp_path, [4660])
    assert "vendor_keys" not in entry
    assert entry["tee"] == "sgx" and entry["emulated"] is True
    assert entry["root_ca"].startswith("-----BEGIN CERTIFICATE-----")
    root = x509.load_pem_x509_certificate(entry["root_ca"].encode())
    assert root.issuer == root.subject  # self-signed root
    assert enrolment(tmp_path, [])["root_ca"] == entry["root_ca"]  # stable


def test_enrolment_differs_between_nodes(tmp_path: Path) -> None:
    init(tmp_path / "x", "sancus")
    init(tmp_path / "y", "sancus")
    assert enrolment(tmp_path / "x", [1]) != enrolment(tmp_path / "y", [1])
