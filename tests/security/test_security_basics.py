"""Adversarial basics against real agents: forged, replayed and reordered events are rejected
and counted; a replayed set-key and calls under a wrong key or a replayed counter are refused;
malformed input closes only the offending link.  The application keeps working throughout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authex.crypto.channel import seal_event
from authex.crypto.control import seal_call
from authex.crypto.secret import Secret
from authex.crypto.suites import get_suite
from authex.deployer.client import AgentClient
from authex.deployer.state import StateStore
from authex.wire.codec import Message
from authex.wire.messages import (
    Call,
    CallResult,
    CallStatus,
    Error,
    ErrorCode,
    Event,
    LinkKind,
    Ok,
    Send,
    SetKey,
    Status,
    StatusResult,
)
from support.harness import App, running_app
from support.raw import RawLink


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Message]]:
    """Every control message the deployer sends, as an eavesdropper on the link would see it."""
    seen: list[tuple[str, Message]] = []
    original = AgentClient.request

    async def spy(self: AgentClient, message: Message) -> Message:
        seen.append((self.node, message))
        return await original(self, message)

    monkeypatch.setattr(AgentClient, "request", spy)
    return seen


@pytest.fixture
def app(irrigation_dir: Path, captured: list[tuple[str, Message]]) -> Iterator[App]:
    with running_app(irrigation_dir) as app:
        app.deploy()
        yield app


def port(app: App, node: str) -> int:
    return app.descriptor.node(node).port


def connection_state(app: App, name: str) -> Any:
    return StateStore.of(app.descriptor).load().connections[name]


def test_forged_event_is_rejected_and_counted(app: App) -> None:
    cs = connection_state(app, "valve-command")
    link = RawLink(port(app, "field2"), LinkKind.DATA)
    link.send(Event(cs.id, 0, 1, os.urandom(4 + 16)))  # "open" under a key we do not have
    app.wait_for("rejection", lambda: app.connection("valve-command")["rejected"] != {})
    assert app.connection("valve-command")["rejected"] == {"forged": 1}
    assert app.call("valve", "status").payload == b"closed"


def test_replayed_and_reordered_events_are_rejected_and_counted(app: App) -> None:
    cs = connection_state(app, "valve-command")
    key = cs.key
    suite = get_suite(cs.suite)
    genuine = {c: seal_event(suite, key, cs.id, 0, c, b"open") for c in (1, 2, 3)}
    link = RawLink(port(app, "field2"), LinkKind.DATA)
    link.send(Event(cs.id, 0, 1, genuine[1]))
    link.send(Event(cs.id, 0, 1, genuine[1]))  # replay
    link.send(Event(cs.id, 0, 3, genuine[3]))
    link.send(Event(cs.id, 0, 2, genuine[2]))  # reordered: older than 3

    def refused() -> int:
        # The receiving agent drops copies of what its module already took (or is taking) as
        # duplicates; whatever it lets through the module rejects as a replay.  Either way
        # the module's code sees each counter at most once.
        conn = app.connection("valve-command")
        return int(conn["duplicates"]) + int(conn["rejected"].get("replay", 0))

    app.wait_for("two refusals", lambda: refused() == 2)
    assert set(app.connection("valve-command")["rejected"]) <= {"replay"}
    assert app.watch("valve-state", count=1) == [b"open"]  # the genuine event took effect once


def test_captured_operator_event_replayed_is_rejected(
    app: App, captured: list[tuple[str, Message]]
) -> None:
    app.send("threshold", b"44")
    assert app.watch("alerts", count=1) == [b"threshold set to 44.0%"]
    node, send = next((n, m) for n, m in captured if isinstance(m, Send))
    link = RawLink(
        port(app, node), LinkKind.CONTROL, tls=app.operator_tls(node), bind=app.descriptor.name
    )
    assert isinstance(link.request(send), Ok)  # the agent cannot tell; the module can
    app.wait_for("rejection", lambda: app.connection("threshold")["rejected"] != {})
    assert app.connection("threshold")["rejected"] == {"replay": 1}
    assert app.call("controller", "get_threshold").payload == b"44.0"


def test_replayed_set_key_is_refused(app: App, captured: list[tuple[str, Message]]) -> None:
    node, set_key = next((n, m) for n, m in captured if isinstance(m, SetKey))
    link = RawLink(
        port(app, node), LinkKind.CONTROL, tls=app.operator_tls(node), bind=app.descriptor.name
    )
    reply = link.request(set_key)
    assert isinstance(reply, Error) and reply.code == ErrorCode.REJECTED
    assert "counter" in reply.message
    forged = SetKey(
        set_key.module,
        set_key.conn_id,
        set_key.io_id,
        set_key.role,
        set_key.suite,
        set_key.counter + 1000,
        set_key.wrapped,
    )
    reply = link.request(forged, request_id=2)
    assert isinstance(reply, Error) and reply.code == ErrorCode.REJECTED
    app.send("threshold", b"42")  # the connections still use the deployer's keys
    assert app.watch("alerts", count=1) == [b"threshold set to 42.0%"]


def test_call_with_wrong_key_or_replayed_counter_is_refused(
    app: App, captured: list[tuple[str, Message]]
) -> None:
    assert app.call("controller", "get_threshold").payload == b"30.0"
    node, genuine = next((n, m) for n, m in captured if isinstance(m, Call))
    link = RawLink(
        port(app, node), LinkKind.CONTROL, tls=app.operator_tls(node), bind=app.descriptor.name
    )
    replayed = link.request(genuine)
    assert isinstance(replayed, CallResult) and replayed.status == CallStatus.AUTH_FAILED
    wrong = seal_call(
        get_suite("aes-gcm-128"), Secret(os.urandom(16)), genuine.entry_id, genuine.counter + 1, b""
    )
    reply = link.request(Call(genuine.module, genuine.entry_id, 1, genuine.counter + 1, wrong), 2)
    assert isinstance(reply, CallResult) and reply.status == CallStatus.AUTH_FAILED
    unauthenticated = link.request(Call(genuine.module, genuine.entry_id, 0, 0, b""), 3)
    assert isinstance(unauthenticated, CallResult)
    assert unauthenticated.status == CallStatus.NOT_PUBLIC
    assert app.call("controller", "get_threshold").payload == b"30.0"


def test_malformed_input_closes_only_that_link(app: App) -> None:
    bystander = RawLink(
        port(app, "cloud"), LinkKind.CONTROL, peer="bystander", tls=app.operator_tls("cloud")
    )
    garbage = RawLink(port(app, "cloud"), LinkKind.DATA)
    garbage.send_raw(b"\x00\x00\x00\x05\xee\x00\x00\x00\x00")  # unknown message type
    [said] = garbage.closed_by_peer()
    assert isinstance(said, Error) and "unknown data message type 0xee" in said.message
    oversize = RawLink(port(app, "cloud"), LinkKind.DATA)
    oversize.send_raw(b"\x7f\xff\xff\xff\x40\x00\x00\x00\x00")  # 2 GiB frame announced
    [said] = oversize.closed_by_peer()
    assert isinstance(said, Error) and "exceeds the limit" in said.message
    assert isinstance(bystander.request(Status()), StatusResult)
    assert app.call("controller", "get_threshold").payload == b"30.0"
