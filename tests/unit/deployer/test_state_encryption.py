"""Deployment state encrypted at rest with a passphrase: round trip, no plaintext key on disk,
wrong passphrase and tampering refused without losing the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authex.crypto.secret import Secret
from authex.deployer.sealing import PASSPHRASE_ENV
from authex.deployer.state import ConnectionState, DeploymentState, ModuleState, StateStore
from authex.errors import StateError

KEY = "00112233445566778899aabbccddeeff"


def sample() -> DeploymentState:
    state = DeploymentState(descriptor="/x/descriptor.yaml")
    state.modules["m"] = ModuleState(node="n", module_key=Secret(bytes.fromhex(KEY)), instance=7)
    key = Secret(bytes.fromhex(KEY[::-1]))
    state.connections["c"] = ConnectionState(id=1, key=key, suite="aes-gcm-128")
    return state


def test_encrypted_state_round_trips_and_hides_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    store = StateStore(tmp_path / ".authex")
    store.save(sample())
    text = store.path.read_text()
    assert KEY not in text and KEY[::-1] not in text
    assert json.loads(text)["encrypted"] == "scrypt-aes-gcm-v1"
    assert (store.path.stat().st_mode & 0o777) == 0o600
    loaded = StateStore(tmp_path / ".authex").load()  # a fresh store derives the key again
    assert loaded.modules["m"].module_key == Secret(bytes.fromhex(KEY))
    assert loaded.connections["c"].key == Secret(bytes.fromhex(KEY[::-1]))


def test_encrypted_state_without_passphrase_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    store = StateStore(tmp_path / ".authex")
    store.save(sample())
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(StateError, match=f"encrypted: set {PASSPHRASE_ENV}"):
        StateStore(tmp_path / ".authex").load()


def test_wrong_passphrase_or_tampering_is_refused_and_the_file_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    store = StateStore(tmp_path / ".authex")
    store.save(sample())
    original = store.path.read_bytes()
    monkeypatch.setenv(PASSPHRASE_ENV, "battery staple")
    with pytest.raises(StateError, match="wrong passphrase or a tampered file"):
        StateStore(tmp_path / ".authex").load()
    assert store.path.read_bytes() == original
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    envelope = json.loads(original)
    flipped = bytearray(envelope["ciphertext"].encode())
    flipped[10] ^= 0x01
    envelope["ciphertext"] = flipped.decode()
    store.path.write_text(json.dumps(envelope))
    with pytest.raises(StateError):
        StateStore(tmp_path / ".authex").load()


def test_plain_state_is_still_read_when_no_passphrase_is_set(tmp_path: Path) -> None:
    store = StateStore(tmp_path / ".authex")
    store.save(sample())
    assert KEY in store.path.read_text()  # documented: 0600 only, unless a passphrase is set
    assert store.load().modules["m"].instance == 7
