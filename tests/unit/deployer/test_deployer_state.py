"""The deployment state store: private files, atomic saves, clear errors, one command at a time,
and the operator's keys created once."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from authex.crypto.secret import Secret
from authex.deployer import state as state_module
from authex.deployer.roles import EndRole
from authex.deployer.state import (
    NO_KEY,
    STATE_VERSION,
    ConnectionState,
    DeploymentState,
    ModuleState,
    Phase,
    StateStore,
    TimerState,
    UpdateState,
)
from authex.descriptor import Descriptor, ModuleSpec, Node
from authex.errors import StateError

MODULE_KEY = "5e" * 16
CONN_KEY = "c0" * 16


def descriptor_named(path: Path, name: str, nodes: tuple[str, ...] = ("edge",)) -> Descriptor:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"name: {name}\n")  # only the path and the name matter here
    return Descriptor(
        name,
        path,
        tuple(Node(n, "native", "127.0.0.1", 7000 + i) for i, n in enumerate(nodes)),
        tuple(ModuleSpec(f"m{i}", n, "python", path.parent) for i, n in enumerate(nodes)),
        (),
        (),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sample_state() -> DeploymentState:
    state = DeploymentState(descriptor="/x/descriptor.yaml")
    state.modules["a"] = ModuleState(
        node="n1",
        measurement="ab" * 32,
        instance=42,
        module_key=Secret(bytes.fromhex(MODULE_KEY)),
        control_counter=3,
        evidence="sancus-mac",
        emulated=True,
        control_suite="spongewrap-128",
        manifest={"name": "a", "endpoints": []},
    )
    cs = state.connection_id("ab")
    cs.suite = "aes-gcm-128"
    cs.key = Secret(bytes.fromhex(CONN_KEY))
    cs.epoch = 2
    cs.keyed = {EndRole.SOURCE: 2, EndRole.TARGET: 2}
    cs.keyed_instance = {EndRole.SOURCE: 42, EndRole.TARGET: 7}
    cs.routes = {"n1": "0123456789abcdef"}
    cs.operator_send = 5
    state.timers["a.tick"] = TimerState("a", "tick", 300, 42)
    state.updates["a"] = UpdateState("a", "a~u01", "cd" * 32, Phase.SWITCHED, swapped=["ab"])
    return state


@pytest.fixture(autouse=True)
def plaintext_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests cover the default, unencrypted state file (no passphrase set)."""
    monkeypatch.delenv("AUTHEX_STATE_PASSPHRASE", raising=False)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "deploy" / ".authex")


def test_each_descriptor_has_its_folder_and_the_operator_keys_are_shared(tmp_path: Path) -> None:
    one = StateStore.of(descriptor_named(tmp_path / "app" / "one.yaml", "one"))
    two = StateStore.of(descriptor_named(tmp_path / "app" / "two.yaml", "two"))
    root = (tmp_path / "app" / ".authex").resolve()
    assert one.folder == root / "apps" / "one" and two.folder == root / "apps" / "two"
    assert one.path.name == "state.json"
    assert one.key_path == two.key_path == root / "operator.key"
    assert one.operator_key().private_bytes_raw() == two.operator_key().private_bytes_raw()


def test_load_without_a_state_file_is_an_empty_state(store: StateStore) -> None:
    assert not store.exists()
    state = store.load()
    assert state == DeploymentState()
    assert not store.folder.exists()  # reading creates nothing


def test_save_is_private_and_round_trips(store: StateStore) -> None:
    state = sample_state()
    store.save(state)
    assert store.exists()
    assert mode(store.folder) == 0o700
    assert mode(store.path) == 0o600
    assert store.load() == state
    assert [p.name for p in store.folder.iterdir()] == ["state.json"]  # no .tmp left behind


def test_save_replaces_an_existing_state_keeping_it_private(store: StateStore) -> None:
    store.save(sample_state())
    store.path.chmod(0o644)  # even if someone loosened it
    state = store.load()
    state.modules["a"].control_counter = 9
    store.save(state)
    assert mode(store.path) == 0o600
    assert store.load().modules["a"].control_counter == 9
    assert not any(p.name.endswith(".tmp") for p in store.folder.iterdir())


def test_without_a_passphrase_keys_are_in_the_state_file(store: StateStore) -> None:
    store.save(sample_state())
    text = store.path.read_text()
    assert MODULE_KEY in text  # the state file is the one place keys are kept
    assert CONN_KEY in text
    raw = json.loads(text)
    assert raw["version"] == STATE_VERSION
    assert raw["modules"]["a"]["module_key"] == MODULE_KEY
    assert raw["connections"]["ab"]["key"] == CONN_KEY
    assert raw["connections"]["ab"]["keyed"] == {"source": 2, "target": 2}
    assert raw["updates"]["a"]["phase"] == "switched"


def test_keys_are_secrets_in_memory(store: StateStore) -> None:
    store.save(sample_state())
    state = store.load()
    assert state.modules["a"].module_key == Secret(bytes.fromhex(MODULE_KEY))
    assert state.connections["ab"].key == Secret(bytes.fromhex(CONN_KEY))
    assert ModuleState("n").module_key == NO_KEY and not ModuleState("n").module_key


# What the version before typed roles, phases and in-memory secrets wrote (an update of
# consumer stopped after keying its new connection): the format did not change.
OLD_FORMAT: dict[str, Any] = {
    "connections": {
        "stream": {
            "epoch": 1,
            "id": 1,
            "key": "c0" * 16,
            "keyed": {"source": 1, "target": 1},
            "keyed_instance": {"source": 3, "target": 4},
            "operator_receive": 0,
            "operator_send": 0,
            "routes": {"a": "0123456789abcdef", "b": "fedcba9876543210"},
            "suite": "aes-gcm-128",
        },
        "stream~u0badc0de": {
            "epoch": 1,
            "id": 2,
            "key": "d1" * 16,
            "keyed": {"target": 1},
            "keyed_instance": {"target": 9},
            "operator_receive": 0,
            "operator_send": 0,
            "routes": {},
            "suite": "aes-gcm-128",
        },
    },
    "descriptor": "/app/descriptor.yaml",
    "modules": {
        "consumer": {
            "control_counter": 7,
            "control_suite": "aes-gcm-128",
            "emulated": True,
            "evidence": "SGX DCAP quote v3 (emulated)",
            "instance": 4,
            "manifest": {"name": "consumer"},
            "measurement": "ab" * 32,
            "module_key": "5e" * 16,
            "node": "b",
        },
        "consumer~u0badc0de": {
            "control_counter": 2,
            "control_suite": "aes-gcm-128",
            "emulated": True,
            "evidence": "SGX DCAP quote v3 (emulated)",
            "instance": 9,
            "manifest": {},
            "measurement": "cd" * 32,
            "module_key": "",
            "node": "b",
        },
    },
    "next_connection_id": 3,
    "timers": {
        "producer.tick": {"entry": "tick", "instance": 3, "module": "producer", "period_ms": 10}
    },
    "updates": {
        "consumer": {
            "held": 0,
            "measurement": "cd" * 32,
            "module": "consumer",
            "phase": "keyed",
            "released_at": 0.0,
            "retired": {},
            "staged": "consumer~u0badc0de",
            "swapped": [],
            "switched_at": 0.0,
            "transfer": "",
        }
    },
    "version": 1,
}


def test_a_state_file_of_the_previous_version_loads_typed_and_saves_the_same(
    store: StateStore,
) -> None:
    text = json.dumps(OLD_FORMAT, sort_keys=True, separators=(",", ":"))
    store.save(DeploymentState())
    store.path.write_text(text)
    state = store.load()
    stream = state.connections["stream"]
    assert stream.key == Secret(bytes.fromhex("c0" * 16))
    assert stream.keyed == {EndRole.SOURCE: 1, EndRole.TARGET: 1}
    assert stream.keyed_instance == {EndRole.SOURCE: 3, EndRole.TARGET: 4}
    assert state.connections["stream~u0badc0de"].keyed == {EndRole.TARGET: 1}
    assert state.modules["consumer"].module_key == Secret(bytes.fromhex("5e" * 16))
    assert state.modules["consumer~u0badc0de"].module_key == NO_KEY  # not attested
    assert state.updates["consumer"].phase is Phase.KEYED
    assert state.to_json() == text  # saved again, byte for byte what it was


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("updates", "consumer", "phase"), "halfway"),
        (("connections", "stream", "keyed"), {"sender": 1}),
        (("connections", "stream", "key"), "not hex"),
        (("modules", "consumer", "module_key"), 42),
    ],
    ids=["unknown-phase", "unknown-role", "key-not-hex", "key-not-text"],
)
def test_unreadable_phase_role_or_key_is_a_corrupt_state(
    store: StateStore, where: tuple[str, str, str], value: object
) -> None:
    raw = json.loads(json.dumps(OLD_FORMAT))
    section, name, field = where
    raw[section][name][field] = value
    store.save(DeploymentState())
    store.path.write_text(json.dumps(raw))
    with pytest.raises(StateError, match="corrupt deployment state"):
        store.load()


def test_reprs_do_not_show_keys() -> None:
    state = sample_state()
    assert MODULE_KEY not in repr(state.modules["a"])
    assert CONN_KEY not in repr(state.connections["ab"])
    assert MODULE_KEY not in repr(state)


def test_remove_deletes_the_state_file(store: StateStore) -> None:
    store.save(sample_state())
    store.remove()
    assert not store.exists()
    store.remove()  # twice is fine


def test_corrupt_json_names_the_file(store: StateStore) -> None:
    store.save(sample_state())
    store.path.write_text('{"version": 1, "modules": ')
    with pytest.raises(StateError) as caught:
        store.load()
    assert caught.value.where == str(store.path)
    assert str(store.path) in str(caught.value)
    assert "corrupt deployment state" in str(caught.value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw.pop("modules"),
        lambda raw: raw["modules"]["a"].pop("node"),
        lambda raw: raw["modules"]["a"].update(surprise=1),
        lambda raw: raw["connections"].update(x="not an object"),
    ],
    ids=["no-modules", "module-without-node", "unknown-field", "connection-not-object"],
)
def test_inconsistent_state_names_the_file(store: StateStore, mutate: object) -> None:
    raw = json.loads(sample_state().to_json())
    assert callable(mutate)
    mutate(raw)
    store.save(DeploymentState())
    store.path.write_text(json.dumps(raw))
    with pytest.raises(StateError, match="corrupt deployment state") as caught:
        store.load()
    assert caught.value.where == str(store.path)


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "null",
        '{"version": 1, "descriptor": "", '
        '"next_connection_id": 1, "modules": [], "connections": {}, '
        '"timers": {}}',
    ],
)
def test_state_of_the_wrong_shape_is_a_state_error(store: StateStore, text: str) -> None:
    store.save(DeploymentState())
    store.path.write_text(text)
    with pytest.raises(StateError):
        store.load()


def test_wrong_version_is_refused(store: StateStore) -> None:
    raw = json.loads(sample_state().to_json())
    raw["version"] = STATE_VERSION + 1
    store.save(DeploymentState())
    store.path.write_text(json.dumps(raw))
    with pytest.raises(StateError, match=f"unsupported state version {STATE_VERSION + 1}"):
        store.load()


def test_wrong_version_names_the_file(store: StateStore) -> None:
    store.save(DeploymentState())
    store.path.write_text(json.dumps({"version": 99}))
    with pytest.raises(StateError) as caught:
        store.load()
    assert caught.value.where == str(store.path)


def test_lock_is_exclusive(store: StateStore) -> None:
    with store.locked():
        assert mode(store.folder) == 0o700
        with (
            pytest.raises(StateError, match="another authex command") as caught,
            store.locked(timeout=0.2),
        ):
            pass
        assert caught.value.where == str(store.lock_path)
    with store.locked():  # released after the first block
        pass


def test_lock_is_released_when_the_body_fails(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.locked():
        raise RuntimeError("boom")
    with store.locked():
        pass


def test_lock_of_another_store_on_the_same_folder_is_refused(store: StateStore) -> None:
    other = StateStore(store.folder)
    with (
        store.locked(),
        pytest.raises(StateError, match="another authex command"),
        other.locked(timeout=0.2),
    ):
        pass


def test_a_waiting_command_gets_the_lock_when_the_other_finishes(store: StateStore) -> None:
    import threading

    held = threading.Event()
    release = threading.Event()

    def first() -> None:
        with store.locked():
            held.set()
            release.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    threading.Timer(0.2, release.set).start()
    with StateStore(store.folder).locked(timeout=10):  # waits for the first, then proceeds
        assert release.is_set()
    thread.join(5)


def test_async_lock_and_lock_exclude_each_other(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "LOCK_TIMEOUT", 0.2)

    async def take() -> None:
        async with StateStore(store.folder).locked_async():
            assert mode(store.folder) == 0o700

    def take_sync() -> None:
        with store.locked(timeout=0.2):
            pass

    async def hold_and_try_sync() -> None:
        async with store.locked_async():
            await asyncio.to_thread(take_sync)

    with store.locked():
        with pytest.raises(StateError, match=r"another authex command .*waited 0.2s") as caught:
            asyncio.run(take())
        assert caught.value.where == str(store.lock_path)
    with pytest.raises(StateError, match="another authex command"):
        asyncio.run(hold_and_try_sync())
    asyncio.run(take())  # both released


def test_async_lock_waits_without_blocking_the_event_loop(store: StateStore) -> None:
    async def body() -> None:
        ticks = 0
        holder_in = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with store.locked_async():
                holder_in.set()
                await release.wait()

        async def ticker() -> None:
            nonlocal ticks
            while not release.is_set():
                ticks += 1
                if ticks == 5:  # the loop kept running while the waiter polled the lock
                    release.set()
                await asyncio.sleep(0.01)

        first = asyncio.create_task(holder())
        await holder_in.wait()
        tick = asyncio.create_task(ticker())
        async with StateStore(store.folder).locked_async():  # waits up to LOCK_TIMEOUT
            assert release.is_set() and ticks >= 5
        await asyncio.gather(first, tick)

    asyncio.run(body())


def test_operator_key_is_created_once_and_private(store: StateStore) -> None:
    assert not store.key_path.exists()
    first = store.operator_key()
    assert mode(store.key_path) == 0o600
    assert mode(store.folder) == 0o700
    second = store.operator_key()
    assert first.private_bytes_raw() == second.private_bytes_raw()
    again = StateStore(store.folder).operator_key()
    assert again.public_key().public_bytes_raw() == first.public_key().public_bytes_raw()


def test_corrupt_operator_key_names_the_file(store: StateStore) -> None:
    store.operator_key()
    store.key_path.write_text("not hex\n")
    with pytest.raises(StateError, match="corrupt operator key") as caught:
        store.operator_key()
    assert caught.value.where == str(store.key_path)
    assert "not hex" not in str(caught.value)


def test_ta_vendor_key_is_created_once_and_private(store: StateStore) -> None:
    first = store.ta_vendor_key()
    path = store.folder / "ta-vendor.pem"
    assert mode(path) == 0o600
    assert first.key_size == 2048
    second = store.ta_vendor_key()
    assert first.private_numbers() == second.private_numbers()


def test_connection_id_assigns_fresh_random_ids_stably(monkeypatch: pytest.MonkeyPatch) -> None:
    # several deployments share a node: ids are picked at random in 1 .. 2^31 - 1, never one
    # this deployment has (or retired in an update) already
    picks = iter([7, 7, 9, 12, 5])
    monkeypatch.setattr("authex.deployer.state.secrets.randbelow", lambda n: next(picks) - 1)
    state = DeploymentState()
    first = state.connection_id("x")
    second = state.connection_id("y")  # 7 is taken: picked again
    assert (first.id, second.id) == (7, 9)
    assert state.connection_id("x") is first
    state.updates["m"] = UpdateState("m", "m~u1", "00", retired={"old": 12})
    assert state.connection_id("z").id == 5  # 12 is retired
    assert state.next_connection_id == 4  # how many were handed out, and one to come
    assert isinstance(first, ConnectionState) and not first.key and first.epoch == 0


def test_fresh_connection_ids_spread_over_31_bits() -> None:
    state = DeploymentState()
    ids = [state.connection_id(f"c{i}").id for i in range(200)]
    assert len(set(ids)) == 200 and all(0 < i < 1 << 31 for i in ids)
    assert max(ids) > 1 << 20  # not 1, 2, 3...: two deployments would collide on a node


def test_connection_ids_survive_a_round_trip(store: StateStore) -> None:
    state = DeploymentState()
    for name in ("x", "y"):
        state.connection_id(name)
    store.save(state)
    loaded = store.load()
    assert loaded.connection_id("y").id == state.connections["y"].id
    assert loaded.connection_id("new").id not in (
        state.connections["x"].id,
        state.connections["y"].id,
    )


# --- the earlier layout (.authex/state.json beside the operator key) ---------------------------


def legacy_folder(app: Path, descriptor: Path, modules: tuple[str, ...] = ("m0",)) -> Path:
    root = app / ".authex"
    legacy = StateStore(root)
    state = DeploymentState(descriptor=str(descriptor))
    for name in modules:
        state.modules[name] = ModuleState(node="edge", module_key=Secret(bytes(16)))
    legacy.save(state)
    (root / "nodes" / "edge").mkdir(parents=True)
    (root / "trust.yaml").write_text("nodes: {}\n")
    (root / "cluster.json").write_text("{}")
    legacy.operator_key()
    return root


def test_an_earlier_layout_moves_to_the_descriptor_it_belongs_to(tmp_path: Path) -> None:
    app = tmp_path / "app"
    one = descriptor_named(app / "one.yaml", "one")
    root = legacy_folder(app, app / "one.yaml")
    key = StateStore(root).operator_key().private_bytes_raw()
    other = StateStore.of(descriptor_named(app / "two.yaml", "two"))  # not its own: untouched
    assert (root / "state.json").exists() and not other.folder.exists()
    store = StateStore.of(one)
    assert store.folder == (root / "apps" / "one").resolve()
    assert sorted(p.name for p in store.folder.iterdir()) == [
        "cluster.json",
        "nodes",
        "state.json",
        "trust.yaml",
    ]
    assert not (root / "state.json").exists() and not (root / "nodes").exists()
    assert list(store.load().modules) == ["m0"]
    assert store.operator_key().private_bytes_raw() == key  # the operator stays who it was


def test_an_earlier_layout_whose_descriptor_moved_goes_to_one_that_covers_it(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    root = legacy_folder(app, tmp_path / "gone" / "descriptor.yaml", modules=("m0", "m1"))
    StateStore.of(descriptor_named(app / "one.yaml", "one"))  # has no module m1: not its own
    assert (root / "state.json").exists()
    store = StateStore.of(descriptor_named(app / "two.yaml", "two", nodes=("edge", "edge2")))
    assert not (root / "state.json").exists()
    assert sorted(store.load().modules) == ["m0", "m1"]


def test_an_earlier_layout_with_running_agents_is_not_moved(tmp_path: Path) -> None:
    app = tmp_path / "app"
    root = legacy_folder(app, app / "one.yaml")
    (root / "cluster.json").write_text(json.dumps({"edge": os.getpid()}))  # alive
    with pytest.raises(StateError, match=r"its agents still run: edge \(pid \d+\); stop them"):
        StateStore.of(descriptor_named(app / "one.yaml", "one"))
    assert (root / "state.json").exists() and not (root / "apps").exists()
