"""The module side of an update (spec/protocol.md §5.4, §7.6), driven in memory.

Swap-key: keys the new connection and forgets the one it replaces in one step (what the module
sends afterwards goes on the new one only); sent again after a lost answer it changes nothing;
it never mixes endpoints; a retire (conn_id 0) only forgets.  A set-key's wrapped key is never
taken for a swap-key, and stale control counters are refused.  State transfer: keying the
reserved state-out end of a persistent module sends its ctx.seal data at once; an event on the
reserved state-in end replaces it; non-persistent modules refuse both; a malformed transfer is
rejected."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.crypto.channel import ChannelEnd
from authex.crypto.control import Role
from authex.crypto.secret import Secret
from authex.manifest import STATE_IN_ID, STATE_OUT_ID, IoKind
from authex.sdk.runtime import ModuleRuntime
from authex.wire.codec import Message
from authex.wire.messages import (
    Error,
    ErrorCode,
    HostDeliver,
    HostEmit,
    HostRejected,
    HostSwapKey,
    Ok,
    RejectReason,
)
from support.runtime_rig import AES, Rig

OUT = Role.SENDER


def no_wait(conn_id: int, counter: int, timeout: float) -> HostDeliver:
    raise AssertionError("no request is made in these tests")


def attested(persistent: bool = False) -> Rig:
    rig = Rig(Ed25519PrivateKey.generate())
    if persistent:
        rig.runtime.module.persistent = True
        old = rig.runtime
        rig.runtime = ModuleRuntime(
            old.manifest, old.module, lambda m, rid: rig.sent.append((m, rid)), no_wait
        )
    rig.attest()
    rig.connect(1, IoKind.INPUT, "reading")
    return rig


def swap(
    rig: Rig, conn_id: int, replaces: int, io_id: int, role: Role = OUT
) -> list[tuple[Message, int]]:
    message, key = rig.swap_key_message(conn_id, replaces, io_id, role)
    reply = rig.handle(message)
    if conn_id and reply == [(Ok(), 7)]:
        rig.peers[conn_id] = ChannelEnd(conn_id, AES, key)
    return reply


def refused(reply: list[tuple[Message, int]], code: ErrorCode, text: str) -> bool:
    [(error, _)] = reply
    return isinstance(error, Error) and error.code == code and text in error.message


def test_swap_moves_an_output_to_the_new_connection() -> None:
    rig = attested()
    rig.connect(2, IoKind.OUTPUT, "echo")
    assert rig.opened(rig.handle(rig.event(1, b"5"))) == [(2, b"5")]
    assert swap(rig, 3, 2, rig.io(IoKind.OUTPUT, "echo")) == [(Ok(), 7)]
    assert rig.opened(rig.handle(rig.event(1, b"6"))) == [(3, b"6")]  # only the new one
    assert 2 not in rig.runtime.stats()


def test_swap_without_the_old_connection_installs_the_new_one() -> None:
    rig = attested()
    assert swap(rig, 3, 2, rig.io(IoKind.OUTPUT, "echo")) == [(Ok(), 7)]
    assert rig.opened(rig.handle(rig.event(1, b"6"))) == [(3, b"6")]


def test_a_swap_sent_again_changes_nothing_and_counters_go_on() -> None:
    rig = attested()
    echo = rig.io(IoKind.OUTPUT, "echo")
    rig.connect(2, IoKind.OUTPUT, "echo")
    swap(rig, 3, 2, echo)
    [(first, _)] = rig.handle(rig.event(1, b"6"))
    message, _ = rig.swap_key_message(3, 2, echo, OUT)  # the deployer lost the answer
    assert rig.handle(message) == [(Ok(), 7)]
    [(second, _)] = rig.handle(rig.event(1, b"7"))
    assert isinstance(first, HostEmit) and isinstance(second, HostEmit)
    assert (first.counter, second.counter) == (1, 2)  # not reset to 1: no nonce reuse


def test_a_swap_between_different_endpoints_is_refused_and_changes_nothing() -> None:
    rig = attested()
    rig.connect(2, IoKind.OUTPUT, "echo")
    reply = swap(rig, 3, 2, rig.io(IoKind.OUTPUT, "alert"))
    assert refused(reply, ErrorCode.BAD_REQUEST, "connection 2 is not a output 'alert'")
    assert rig.opened(rig.handle(rig.event(1, b"6"))) == [(2, b"6")]
    assert 3 not in rig.runtime.stats()


def test_a_retire_forgets_a_connection_and_carries_no_key() -> None:
    rig = attested()
    rig.connect(2, IoKind.OUTPUT, "echo")
    assert swap(rig, 0, 2, 0, Role.SENDER) == [(Ok(), 7)]
    assert rig.handle(rig.event(1, b"6")) == []  # nothing to send it on any more
    message, _ = rig.swap_key_message(0, 1, 0, OUT, key=Secret(bytes(16)))
    assert refused(rig.handle(message), ErrorCode.BAD_REQUEST, "a retire carries no key")
    assert 1 in rig.runtime.stats()


def test_a_set_key_is_never_taken_for_a_swap_key_nor_a_stale_counter() -> None:
    rig = attested()
    echo = rig.io(IoKind.OUTPUT, "echo")
    set_key, _ = rig.set_key_message(3, echo, OUT)
    message, _ = rig.swap_key_message(3, 2, echo, OUT)
    forged = HostSwapKey(3, 2, echo, OUT, message.suite, set_key.counter, set_key.wrapped)
    assert refused(rig.handle(forged), ErrorCode.REJECTED, "does not authenticate")
    assert rig.handle(message) == [(Ok(), 7)]
    assert refused(rig.handle(message), ErrorCode.REJECTED, "stale control counter")


def test_state_out_sends_the_sealed_data_at_once_and_forgets_the_connection() -> None:
    rig = attested(persistent=True)
    rig.runtime.context.seal(b"counts=41")
    message, key = rig.set_key_message(9, STATE_OUT_ID, OUT)
    sent = rig.handle(message)
    assert sent[-1] == (Ok(), 7)
    rig.peers[9] = ChannelEnd(9, AES, key)
    assert rig.opened(sent[:-1]) == [(9, b"\x01counts=41")]
    assert 9 not in rig.runtime.stats()


def test_state_in_takes_the_old_versions_data() -> None:
    old = attested(persistent=True)
    new = attested(persistent=True)
    old.runtime.context.seal(b"counts=41")
    key = Secret(bytes([7]) * 16)
    message, _ = new.set_key_message(9, STATE_IN_ID, Role.RECEIVER, key=key)
    assert new.handle(message) == [(Ok(), 7)]
    out, _ = old.set_key_message(9, STATE_OUT_ID, OUT, key=key)
    [(emitted, _), _] = old.handle(out)
    assert isinstance(emitted, HostEmit)
    new.runtime.dirty = False
    deliver = HostDeliver(9, 0, emitted.counter, emitted.ciphertext)
    assert new.handle(deliver) == [] and len(new.accepted) == 1
    assert new.runtime.context.unseal() == b"counts=41" and new.runtime.dirty
    assert 9 not in new.runtime.stats()


def test_an_empty_state_transfer_clears_the_data() -> None:
    rig = attested(persistent=True)
    rig.runtime.context.seal(b"stale")
    message, key = rig.set_key_message(9, STATE_IN_ID, Role.RECEIVER)
    rig.handle(message)
    rig.peers[9] = ChannelEnd(9, AES, key)
    assert rig.handle(rig.event(9, b"\x00")) == []
    assert rig.runtime.context.unseal() is None


def test_a_malformed_state_transfer_is_rejected() -> None:
    rig = attested(persistent=True)
    message, key = rig.set_key_message(9, STATE_IN_ID, Role.RECEIVER)
    rig.handle(message)
    rig.peers[9] = ChannelEnd(9, AES, key)
    delivery = rig.event(9, b"\x07junk")
    assert rig.handle(delivery) == [(HostRejected(9, 0, delivery.counter, RejectReason.FORGED), 0)]
    assert rig.runtime.context.unseal() is None


def test_a_module_that_is_not_persistent_refuses_both_state_ends() -> None:
    rig = attested()
    for io_id, role in ((STATE_OUT_ID, OUT), (STATE_IN_ID, Role.RECEIVER)):
        message, _ = rig.set_key_message(9, io_id, role)
        assert refused(rig.handle(message), ErrorCode.BAD_REQUEST, "keeps no sealed state")
    persistent = attested(persistent=True)
    message, _ = persistent.set_key_message(9, STATE_OUT_ID, Role.RECEIVER)  # wrong role
    assert refused(persistent.handle(message), ErrorCode.BAD_REQUEST, "is not a input or handler")
