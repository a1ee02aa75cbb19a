"""Sealed module state on an emulated platform: a round trip, the monotonic version, and every
refusal with its reason — a tampered blob, another module's or another code version's blob, an
old blob put back (rollback), a blob ahead of the counter; a seal that wrote its blob but not
its counter is accepted once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from authex.tee.sealing import SealError, SealStore, open_blob, seal_blob, sealing_key

M1 = bytes(range(32))
M2 = bytes(32)


@pytest.fixture
def store(tmp_path: Path) -> SealStore:
    return SealStore(tmp_path / "platform", "sgx")


def test_round_trip_and_versions(store: SealStore) -> None:
    assert store.unseal("sensor", M1) == (0, b"")  # nothing sealed yet
    assert store.seal("sensor", M1, b"one") == 1
    assert store.seal("sensor", M1, b"two") == 2
    assert store.unseal("sensor", M1) == (2, b"two")
    assert store.seal("valve", M1, b"other") == 1  # one counter per module
    assert store.unseal("sensor", M1) == (2, b"two")
    assert (store.blob_path("sensor", M1)).stat().st_mode & 0o777 == 0o600


def test_tampered_blob_is_refused(store: SealStore) -> None:
    store.seal("sensor", M1, b"state")
    path = store.blob_path("sensor", M1)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(SealError, match="does not authenticate"):
        store.unseal("sensor", M1)


def test_another_code_version_cannot_unseal(store: SealStore) -> None:
    store.seal("sensor", M1, b"state")
    assert store.unseal("sensor", M2) == (0, b"")  # a new version starts with its own state
    assert store.seal("sensor", M2, b"new") == 1  # ... and never overwrites the old one's
    assert store.unseal("sensor", M1) == (1, b"state")
    shutil.copy(store.blob_path("sensor", M1), store.blob_path("sensor", M2))
    with pytest.raises(SealError, match="another version of its code"):
        store.unseal("sensor", M2)


def test_another_module_cannot_unseal(store: SealStore) -> None:
    store.seal("sensor", M1, b"state")
    shutil.copy(store.blob_path("sensor", M1), store.blob_path("valve", M1))
    with pytest.raises(SealError, match="does not authenticate"):
        store.unseal("valve", M1)


def test_the_same_module_of_two_deployments_seals_apart(store: SealStore) -> None:
    assert store.seal("shop/sensor", M1, b"shop's") == 1
    assert store.seal("blog/sensor", M1, b"blog's") == 1
    assert store.unseal("shop/sensor", M1) == (1, b"shop's")
    assert store.blob_path("shop/sensor", M1).parent == store.blob_path("sensor", M1).parent
    shutil.copy(store.blob_path("blog/sensor", M1), store.blob_path("shop/sensor", M1))
    with pytest.raises(SealError, match="does not authenticate"):  # an agent swapping them
        store.unseal("shop/sensor", M1)


def test_rollback_to_an_older_blob_is_refused(store: SealStore) -> None:
    store.seal("sensor", M1, b"v1")
    old = (store.blob_path("sensor", M1)).read_bytes()
    store.seal("sensor", M1, b"v2")
    (store.blob_path("sensor", M1)).write_bytes(old)  # the host puts the old one back
    with pytest.raises(SealError, match="version 1 is older than the platform's counter 2"):
        store.unseal("sensor", M1)


def test_a_seal_interrupted_before_its_counter_update_is_accepted_once(store: SealStore) -> None:
    store.seal("sensor", M1, b"v1")
    store.seal("sensor", M1, b"v2")
    slot = f"sensor.{M1.hex()[:16]}"
    counters = json.loads(store.counters_path.read_text())
    store.counters_path.write_text(json.dumps({**counters, slot: 1}))  # as if cut there
    assert store.unseal("sensor", M1) == (2, b"v2")
    assert store.counter("sensor", M1) == 2
    store.counters_path.write_text(json.dumps({slot: 0}))
    with pytest.raises(SealError, match="ahead of the counter"):
        store.unseal("sensor", M1)


def test_keys_are_bound_to_platform_tee_name_and_measurement(tmp_path: Path) -> None:
    root = bytes(32)
    key = sealing_key(root, "sgx", "sensor", M1)
    assert key != sealing_key(root, "trustzone", "sensor", M1)
    assert key != sealing_key(root, "sgx", "sensor2", M1)
    assert key != sealing_key(bytes([1]) * 32, "sgx", "sensor", M1)
    blob = seal_blob(key, "sensor", M1, 7, b"x")
    assert open_blob(key, "sensor", M1, blob) == (7, b"x")
    with pytest.raises(SealError, match="truncated"):
        open_blob(key, "sensor", M1, blob[:20])
    # each platform has its own seal root: another node cannot unseal
    other = SealStore(tmp_path / "other", "sgx")
    mine = SealStore(tmp_path / "mine", "sgx")
    mine.seal("sensor", M1, b"secret")
    shutil.copy(mine.blob_path("sensor", M1), other.blob_path("sensor", M1))
    with pytest.raises(SealError):
        other.unseal("sensor", M1)


def test_oversize_state_is_refused_and_nothing_changes(store: SealStore) -> None:
    store.seal("sensor", M1, b"ok")
    with pytest.raises(SealError, match="exceeds the limit"):
        store.seal("sensor", M1, bytes((1 << 20) + 1))
    assert store.unseal("sensor", M1) == (1, b"ok")
