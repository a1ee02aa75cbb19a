"""Persistent modules: the runtime exports everything a restarted module needs (control key and
window, connection keys and counters, ctx.seal data) and a fresh runtime restored from it carries
on: it opens the next event, refuses the old ones as replays, continues its send counters.
State changes mark the runtime dirty (so the runner seals before output leaves); a state that
does not fit the module is refused and changes nothing; ctx.seal needs Module(persistent=True)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.manifest import IoKind
from authex.sdk import Context, Module
from authex.sdk.runtime import ModuleRuntime
from authex.wire.messages import HostCallResult, HostEmit, HostRejected, RejectReason
from support.runtime_rig import Rig

SEEN: list[bytes] = []


def persistent_runtime(rig: Rig) -> ModuleRuntime:
    """A second runtime for the same module (as after a restart), marked persistent."""
    rig.runtime.module.persistent = True
    return ModuleRuntime(
        rig.runtime.manifest,
        rig.runtime.module,
        lambda m, rid: rig.sent.append((m, rid)),
        lambda *_: (_ for _ in ()).throw(AssertionError("no wait")),
        log=lambda _: None,
    )


def test_export_and_restore_carry_keys_counters_and_data() -> None:
    rig = Rig(Ed25519PrivateKey.generate())
    rig.attest()
    rig.connect(1, IoKind.INPUT, "reading")
    rig.connect(2, IoKind.OUTPUT, "echo")
    assert rig.runtime.dirty
    rig.handle(rig.event(1, b"5"))
    rig.handle(rig.event(1, b"6"))
    state = rig.runtime.export_state()
    restored = persistent_runtime(rig)
    restored.restore_state(state)
    assert not restored.dirty
    rig.runtime = restored
    sent = rig.handle(rig.event(1, b"7"))
    assert rig.opened(sent) == [(2, b"7")]  # the peer's end accepts counter 3: continued
    assert isinstance(sent[0][0], HostEmit) and sent[0][0].counter == 3
    assert restored.dirty
    old = rig.peers[1]
    replay = rig.event(1, b"8")
    rig.handle(replay)
    assert rig.handle(replay) == [(HostRejected(1, 0, replay.counter, RejectReason.REPLAY), 0)]
    assert old.receive.last == 0  # (the peer end only sends)
    # an authenticated call still works with the restored control key and window
    [(result, _)] = rig.handle(rig.call("reset", b""))
    assert isinstance(result, HostCallResult) and result.status == 0


def test_state_holds_no_key_in_clear_outside_the_blob_and_names_the_module() -> None:
    rig = Rig(Ed25519PrivateKey.generate())
    rig.attest()
    state = json.loads(rig.runtime.export_state())
    assert state["name"] == "counter" and state["format"] == 1
    assert "key" not in repr(rig.runtime) and "control_key" not in repr(rig.runtime)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s | {"name": "other"},
        lambda s: s | {"format": 2},
        lambda s: s | {"connections": [{"conn_id": 1, "io_id": 0x7777, "role": 1}]},
        lambda s: s | {"control_key": "zz"},
    ],
)
def test_a_state_that_does_not_fit_is_refused_and_changes_nothing(change: object) -> None:
    rig = Rig(Ed25519PrivateKey.generate())
    rig.attest()
    rig.connect(1, IoKind.INPUT, "reading")
    state = json.loads(rig.runtime.export_state())
    target = persistent_runtime(rig)
    before = target.export_state()
    with pytest.raises(ValueError, match="cannot be restored"):
        target.restore_state(json.dumps(change(state)).encode())  # type: ignore[operator]
    assert target.export_state() == before


def test_ctx_seal_needs_a_persistent_module() -> None:
    module = Module()
    ctx = Context("m", module, emit=lambda *_: 0, request=lambda *_: b"")
    with pytest.raises(ValueError, match="not persistent"):
        ctx.seal(b"x")
    with pytest.raises(ValueError, match="not persistent"):
        ctx.unseal()


def test_ctx_seal_data_is_kept_and_marks_the_state_dirty() -> None:
    rig = Rig(Ed25519PrivateKey.generate())
    runtime = persistent_runtime(rig)
    runtime.dirty = False
    runtime.context.seal(b"my counts")
    assert runtime.dirty and runtime.context.unseal() == b"my counts"
    restored = persistent_runtime(rig)
    restored.restore_state(runtime.export_state())
    assert restored.context.unseal() == b"my counts"
