"""What an agent keeps in its node directory to come back after a restart: modules, routes and
timers survive a save/load round trip; artifacts are stored once and checked when read back;
unused ones are pruned; a damaged registry is reported with its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from authex.agent.registry import ModuleRecord, Registry, RegistryStore, TimerRecord
from authex.errors import StateError
from authex.wire.messages import AddRoute


def test_round_trip(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path)
    assert store.load() == Registry()
    digest = store.store_artifact(b"artifact bytes")
    assert store.store_artifact(b"artifact bytes") == digest  # stored once
    route = AddRoute(3, "a", "producer", "127.0.0.1:1", "b", "consumer", "127.0.0.1:2")
    registry = Registry(
        {"consumer": ModuleRecord("consumer", "sgx", 12345, "ab" * 32, digest, True)},
        {3: route},
        [TimerRecord("consumer", 0x3001, 250)],
    )
    store.save(registry)
    assert store.load() == registry
    assert store.artifact(digest) == b"artifact bytes"
    assert (tmp_path / "registry.json").stat().st_mode & 0o777 == 0o600


def test_a_corrupted_artifact_or_registry_is_reported(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path)
    digest = store.store_artifact(b"code")
    (tmp_path / "artifacts" / digest).write_bytes(b"other code")
    with pytest.raises(StateError, match="corrupted"):
        store.artifact(digest)
    (tmp_path / "registry.json").write_text("{not json")
    with pytest.raises(StateError, match="unreadable registry") as caught:
        store.load()
    assert caught.value.where == str(tmp_path / "registry.json")
    (tmp_path / "registry.json").write_text('{"format": 1, "modules": [{"name": "x"}]}')
    with pytest.raises(StateError, match="malformed registry"):
        store.load()


def test_prune_keeps_only_artifacts_in_use(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path)
    used = store.store_artifact(b"used")
    unused = store.store_artifact(b"unused")
    store.prune(Registry({"m": ModuleRecord("m", "native", 1, "", used)}))
    assert (tmp_path / "artifacts" / used).exists()
    assert not (tmp_path / "artifacts" / unused).exists()
