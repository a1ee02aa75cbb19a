"""The module runtime core, driven in memory by a fake deployer/agent holding the real crypto."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.crypto.control import Role, open_result
from authex.crypto.native_exchange import DeployerExchange
from authex.crypto.secret import Secret
from authex.crypto.suites import get_suite
from authex.errors import AuthexTimeoutError, CryptoError, ManifestError
from authex.manifest import IoKind
from authex.sdk import Module, RequestError
from authex.sdk.runtime import ModuleRuntime
from authex.wire.messages import (
    CallStatus,
    Error,
    ErrorCode,
    HostAccepted,
    HostAttest,
    HostCall,
    HostCallResult,
    HostDeliver,
    HostEmit,
    HostRejected,
    HostSetKey,
    HostStop,
    Ok,
    RejectReason,
)
from support.runtime_rig import Rig

COUNTER = Path(__file__).parent / "fixtures" / "counter"
AES = get_suite("aes-gcm-128")


@pytest.fixture
def rig() -> Rig:
    rig = Rig(Ed25519PrivateKey.generate())
    rig.attest()
    return rig


def test_attest_answers_with_evidence_and_keeps_no_key_in_repr(rig: Rig) -> None:
    assert rig.runtime.attested
    assert rig.module_key is not None
    assert rig.module_key.reveal().hex() not in repr(rig.runtime)


def test_attest_with_a_foreign_operator_is_rejected() -> None:
    rig = Rig(Ed25519PrivateKey.generate())
    exchange = DeployerExchange.start("counter", Ed25519PrivateKey.generate())
    [(reply, rid)] = rig.handle(HostAttest(exchange.challenge), 5)
    assert isinstance(reply, Error) and reply.code == ErrorCode.REJECTED and rid == 5
    assert "operator" in reply.message
    assert not rig.runtime.attested


def test_set_key_needs_attestation() -> None:
    rig = Rig(Ed25519PrivateKey.generate())
    message = HostSetKey(1, rig.io(IoKind.INPUT, "reading"), Role.RECEIVER, 1, 1, bytes(32))
    [(reply, _)] = rig.handle(message)
    assert isinstance(reply, Error) and reply.code == ErrorCode.REJECTED
    assert "not attested" in reply.message


def test_set_key_replayed_counter_is_rejected(rig: Rig) -> None:
    message, _ = rig.set_key_message(1, rig.io(IoKind.INPUT, "reading"), Role.RECEIVER)
    assert rig.handle(message) == [(Ok(), 7)]
    [(reply, _)] = rig.handle(message)
    assert isinstance(reply, Error) and reply.code == ErrorCode.REJECTED
    assert "stale control counter" in reply.message


def test_set_key_wrapped_under_a_wrong_key_is_rejected(rig: Rig) -> None:
    good = rig.module_key
    rig.module_key = Secret(bytes(16))
    message, conn_key = rig.set_key_message(1, rig.io(IoKind.INPUT, "reading"), Role.RECEIVER)
    [(reply, _)] = rig.handle(message)
    assert isinstance(reply, Error) and reply.code == ErrorCode.REJECTED
    assert conn_key.reveal().hex() not in reply.message
    rig.module_key = good
    rig.control -= 1  # the failed counter was not consumed: the same counter still works
    retry, _ = rig.set_key_message(1, rig.io(IoKind.INPUT, "reading"), Role.RECEIVER)
    assert retry.counter == message.counter
    assert rig.handle(retry) == [(Ok(), 7)]


@pytest.mark.parametrize(
    ("kind", "name", "role"),
    [
        (IoKind.OUTPUT, "echo", Role.RECEIVER),
        (IoKind.INPUT, "reading", Role.SENDER),
        (IoKind.ENTRY, "sample", Role.RECEIVER),
    ],
)
def test_set_key_for_a_wrong_endpoint_or_role_is_a_bad_request(
    rig: Rig, kind: IoKind, name: str, role: Role
) -> None:
    message, _ = rig.set_key_message(1, rig.io(kind, name), role)
    [(reply, _)] = rig.handle(message)
    assert isinstance(reply, Error) and reply.code == ErrorCode.BAD_REQUEST
    message, _ = rig.set_key_message(2, 0x1FFF, Role.RECEIVER)
    [(reply, _)] = rig.handle(message)
    assert isinstance(reply, Error) and reply.code == ErrorCode.BAD_REQUEST


def test_event_runs_the_input_and_emits_on_every_connection_of_the_output(rig: Rig) -> None:
    rig.connect(1, IoKind.INPUT, "reading")
    rig.connect(10, IoKind.OUTPUT, "echo")
    rig.connect(11, IoKind.OUTPUT, "echo")
    rig.connect(12, IoKind.OUTPUT, "alert")
    sent = rig.handle(rig.event(1, b"5"))
    assert all(rid == 0 for _, rid in sent)
    assert rig.opened(sent) == [(10, b"5"), (11, b"5")]
    sent = rig.handle(rig.event(1, b"500"))
    assert rig.opened(sent) == [(10, b"500"), (11, b"500"), (12, b"500")]
    assert rig.runtime.stats()[1].delivered == 2
    assert rig.runtime.stats()[10].emitted == 2
    [(result, _)] = rig.handle(HostCall(rig.io(IoKind.ENTRY, "sample"), 0, 0, b""))
    assert result == HostCallResult(CallStatus.OK, b"2")


def test_replayed_forged_and_unknown_deliveries_are_rejected(rig: Rig) -> None:
    rig.connect(1, IoKind.INPUT, "reading")
    event = rig.event(1, b"1")
    assert rig.handle(event) == []
    assert rig.handle(event) == [(HostRejected(1, 0, event.counter, RejectReason.REPLAY), 0)]
    later = rig.event(1, b"2")
    flipped = bytes([later.ciphertext[0] ^ 1]) + later.ciphertext[1:]
    forged = HostDeliver(1, 0, later.counter, flipped)
    assert rig.handle(forged) == [(HostRejected(1, 0, later.counter, RejectReason.FORGED), 0)]
    assert rig.handle(later) == []  # the genuine one still gets through
    # only messages that reached the module's code are acknowledged, each once
    assert rig.accepted == [
        HostAccepted(1, 0, event.counter),
        HostAccepted(1, 0, later.counter),
    ]
    unknown = HostDeliver(99, 0, 1, bytes(20))
    assert rig.handle(unknown) == [(HostRejected(99, 0, 1, RejectReason.UNKNOWN_CONNECTION), 0)]
    assert rig.runtime.stats()[1].rejected == 2 and rig.runtime.unknown_rejected == 1
    unsolicited = HostDeliver(1, 1, 9, bytes(20))
    assert rig.handle(unsolicited) == [(HostRejected(1, 1, 9, RejectReason.REPLAY), 0)]


def test_rekeying_replaces_the_connection_with_fresh_counters(rig: Rig) -> None:
    rig.connect(1, IoKind.INPUT, "reading")
    old = rig.event(1, b"1")
    assert rig.handle(old) == []
    rig.connect(1, IoKind.INPUT, "reading")  # new key, counters from 1 again
    fresh = rig.event(1, b"3")
    assert fresh.counter == 1
    assert rig.handle(fresh) == []
    assert rig.runtime.stats()[1].delivered == 1


def test_input_that_raises_is_logged_and_the_module_continues(rig: Rig) -> None:
    lines: list[str] = []
    rig.runtime._log = lines.append
    rig.connect(1, IoKind.INPUT, "reading")
    assert rig.handle(rig.event(1, b"not a number")) == []
    assert "ValueError" in lines[0] and "Traceback" in lines[0]
    assert rig.runtime.stats()[1].failed == 1
    assert rig.handle(rig.event(1, b"3")) == []
    assert rig.runtime.stats()[1].delivered == 2


def test_handler_answers_with_direction_1_and_the_request_counter(rig: Rig) -> None:
    peer = rig.connect(20, IoKind.HANDLER, "double")
    for data in (b"ab", b"cd"):
        request = rig.event(20, data)
        [(emit, rid)] = rig.handle(request)
        assert isinstance(emit, HostEmit) and rid == 0
        assert (emit.conn_id, emit.direction, emit.counter) == (20, 1, request.counter)
        assert peer.open(1, emit.counter, emit.ciphertext) == data * 2
    assert request.counter == 2


def test_request_round_trip_through_wait_response(rig: Rig) -> None:
    handler_side = rig.connect(30, IoKind.REQUEST, "forecast")
    rig.connect(2, IoKind.INPUT, "ask")
    rig.connect(10, IoKind.OUTPUT, "echo")
    calls: list[tuple[int, int, float]] = []

    def answer(conn_id: int, counter: int, timeout: float) -> HostDeliver:
        calls.append((conn_id, counter, timeout))
        [(emit, _)] = [(m, r) for m, r in rig.sent if isinstance(m, HostEmit) and m.conn_id == 30]
        request = handler_side.open(0, emit.counter, emit.ciphertext)
        _, sealed = handler_side.seal(1, b"rain " + request, counter=emit.counter)
        return HostDeliver(30, 1, emit.counter, sealed)

    rig.waiter = answer
    sent = rig.handle(rig.event(2, b"tomorrow"))
    assert calls[0][:2] == (30, 1) and 0 < calls[0][2] <= 2.0
    emits = [(m, r) for m, r in sent if isinstance(m, HostEmit) and m.conn_id == 10]
    assert rig.opened(emits) == [(10, b"forecast:rain tomorrow")]
    assert rig.runtime.stats()[30].delivered == 1


def test_forged_response_is_rejected_and_the_genuine_one_still_accepted(rig: Rig) -> None:
    handler_side = rig.connect(30, IoKind.REQUEST, "forecast")
    answers: list[HostDeliver] = []

    def answer(conn_id: int, counter: int, timeout: float) -> HostDeliver:
        _, sealed = handler_side.seal(1, b"sun", counter=counter)
        if not answers:
            answers.append(HostDeliver(conn_id, 1, counter, bytes(len(sealed))))
        else:
            answers.append(HostDeliver(conn_id, 1, counter, sealed))
        return answers[-1]

    rig.waiter = answer
    rig.sent.clear()
    assert rig.runtime.context.request("forecast", b"?") == b"sun"
    assert (HostRejected(30, 1, 1, RejectReason.FORGED), 0) in rig.sent


def test_request_errors_are_clear(rig: Rig) -> None:
    with pytest.raises(RequestError, match="'forecast' is not connected"):
        rig.runtime.context.request("forecast", b"?")
    rig.connect(30, IoKind.REQUEST, "forecast")

    def never(conn_id: int, counter: int, timeout: float) -> HostDeliver:
        raise AuthexTimeoutError("nothing came")

    rig.waiter = never
    with pytest.raises(AuthexTimeoutError, match=r"request 'forecast': no response within 0\.5 s"):
        rig.runtime.context.request("forecast", b"?", timeout=0.5)


def test_public_entry_runs_unauthenticated_in_plaintext(rig: Rig) -> None:
    [(result, rid)] = rig.handle(HostCall(rig.io(IoKind.ENTRY, "sample"), 0, 0, b""), 42)
    assert result == HostCallResult(CallStatus.OK, b"0") and rid == 42


def test_authenticated_entry_with_the_right_key_returns_a_sealed_result(rig: Rig) -> None:
    assert rig.module_key is not None
    call = rig.call("reset", b"7")
    [(result, _)] = rig.handle(call)
    assert isinstance(result, HostCallResult) and result.status == CallStatus.OK
    plain = open_result(
        AES, rig.module_key, call.entry_id, call.counter, CallStatus.OK, result.payload
    )
    assert plain == b"0"
    [(sampled, _)] = rig.handle(HostCall(rig.io(IoKind.ENTRY, "sample"), 0, 0, b""))
    assert sampled == HostCallResult(CallStatus.OK, b"7")


def test_authenticated_entry_rejects_wrong_key_replay_and_plaintext(rig: Rig) -> None:
    [(wrong, _)] = rig.handle(rig.call("reset", b"1", key=Secret(bytes(16))))
    assert isinstance(wrong, HostCallResult) and wrong.status == CallStatus.AUTH_FAILED
    good = rig.call("reset", b"2", counter=rig.control)  # the failed counter was not consumed
    [(ok, _)] = rig.handle(good)
    assert isinstance(ok, HostCallResult) and ok.status == CallStatus.OK
    [(replayed, _)] = rig.handle(good)
    assert isinstance(replayed, HostCallResult) and replayed.status == CallStatus.AUTH_FAILED
    [(plain, _)] = rig.handle(HostCall(good.entry_id, 0, 0, b"3"))
    assert isinstance(plain, HostCallResult) and plain.status == CallStatus.NOT_PUBLIC


def test_authenticated_call_before_attestation_fails() -> None:
    rig = Rig(Ed25519PrivateKey.generate())
    [(result, _)] = rig.handle(rig.call("reset", b"1", key=Secret(bytes(16))))
    assert isinstance(result, HostCallResult) and result.status == CallStatus.AUTH_FAILED


def test_entry_raising_reports_entry_failed_sealed_when_authenticated(rig: Rig) -> None:
    assert rig.module_key is not None
    boom = rig.io(IoKind.ENTRY, "boom")
    [(plain, _)] = rig.handle(HostCall(boom, 0, 0, b"x"))
    assert plain == HostCallResult(CallStatus.ENTRY_FAILED, b"RuntimeError: boom: x")
    call = rig.call("boom", b"y")
    [(sealed, _)] = rig.handle(call)
    assert isinstance(sealed, HostCallResult) and sealed.status == CallStatus.ENTRY_FAILED
    text = open_result(
        AES, rig.module_key, boom, call.counter, CallStatus.ENTRY_FAILED, sealed.payload
    )
    assert text == b"RuntimeError: boom: y"
    with pytest.raises(CryptoError):  # the status is bound into the seal
        open_result(AES, rig.module_key, boom, call.counter, CallStatus.OK, sealed.payload)


def test_unknown_entry_and_stop(rig: Rig) -> None:
    [(result, _)] = rig.handle(HostCall(0x3FFF, 0, 0, b""))
    assert isinstance(result, HostCallResult) and result.status == CallStatus.UNKNOWN_ENTRY
    assert result.payload.startswith(b"unknown entry")
    [(result, _)] = rig.handle(HostCall(rig.io(IoKind.INPUT, "reading"), 0, 0, b""))
    assert isinstance(result, HostCallResult) and result.status == CallStatus.UNKNOWN_ENTRY
    assert rig.runtime.handle(HostStop(), 1) is False


def test_runtime_refuses_a_manifest_the_module_cannot_serve() -> None:
    rig = Rig(Ed25519PrivateKey.generate())

    def wait(conn_id: int, counter: int, timeout: float) -> HostDeliver:
        raise AssertionError

    with pytest.raises(ManifestError, match="no function for input 'ask'"):
        ModuleRuntime(rig.runtime.manifest, Module(), lambda m, r: None, wait)


def test_handler_failing_sends_no_reply_and_is_logged(rig: Rig) -> None:
    lines: list[str] = []
    rig.runtime._log = lines.append
    rig.connect(20, IoKind.HANDLER, "double")
    assert rig.handle(rig.event(20, bytes(600_000))) == []  # the doubled reply is too large
    assert "exceeds" in lines[0]
    assert rig.runtime.stats()[20].failed == 1
