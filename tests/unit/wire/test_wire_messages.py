"""The message catalogue (authex.wire.messages): type codes, registries and enumerations."""

from __future__ import annotations

import pytest

from authex.wire import messages as m
from authex.wire.codec import Message, Registry

CLASSES: list[type[Message]] = [
    obj
    for obj in vars(m).values()
    if isinstance(obj, type) and issubclass(obj, Message) and obj is not Message
]
REGISTRIES: list[Registry] = [
    m.CONTROL_REQUESTS,
    m.CONTROL_REPLIES,
    m.DATA,
    m.HOST_TO_MODULE,
    m.MODULE_TO_HOST,
]


def test_type_codes_are_globally_unique() -> None:
    codes = [cls.TYPE for cls in CLASSES]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_type_code_in_its_range(cls: type[Message]) -> None:
    common = {m.Hello, m.Ok, m.Error}
    if cls in common:
        assert 0x01 <= cls.TYPE <= 0x0F
    elif cls in (m.Event, m.EventAck):
        assert 0x40 <= cls.TYPE <= 0x4F
    elif cls.__name__.startswith("Host"):
        assert 0x80 <= cls.TYPE <= 0x9F
    else:
        assert 0x10 <= cls.TYPE <= 0x3F


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_every_class_is_accepted_somewhere(cls: type[Message]) -> None:
    assert any(r.by_type.get(cls.TYPE) is cls for r in REGISTRIES)


def test_registry_contents() -> None:
    def names(registry: Registry) -> set[str]:
        return {cls.__name__ for cls in registry.by_type.values()}

    assert names(m.DATA) == {"Hello", "Ok", "Error", "Event", "EventAck"}
    assert names(m.HOST_TO_MODULE) == {
        "HostAttest",
        "HostSetKey",
        "HostDeliver",
        "HostCall",
        "HostStop",
        "HostSwapKey",
    }
    assert names(m.MODULE_TO_HOST) == {
        "Ok",
        "Error",
        "HostReady",
        "HostAttested",
        "HostCallResult",
        "HostEmit",
        "HostRejected",
        "HostAccepted",
        "HostResumed",
    }
    assert "Hello" in names(m.CONTROL_REQUESTS)
    assert not names(m.CONTROL_REQUESTS) & names(m.CONTROL_REPLIES)
    assert {"Response", "WatchEvent", "Ok", "Error"} <= names(m.CONTROL_REPLIES)


def test_host_messages_never_on_network_links() -> None:
    host = {cls for cls in CLASSES if cls.__name__.startswith("Host")}
    for registry in (m.CONTROL_REQUESTS, m.CONTROL_REPLIES, m.DATA):
        assert not host & set(registry.by_type.values())


def test_enumerations_are_pinned() -> None:
    assert {e.name: e.value for e in m.LinkKind} == {"CONTROL": 1, "DATA": 2}
    assert {e.name: e.value for e in m.Direction} == {"FORWARD": 0, "RESPONSE": 1}
    assert [e.value for e in m.ErrorCode] == list(range(1, 9))
    assert {e.name: e.value for e in m.CallStatus} == {
        "OK": 0,
        "UNKNOWN_ENTRY": 1,
        "AUTH_FAILED": 2,
        "NOT_PUBLIC": 3,
        "ENTRY_FAILED": 4,
    }
    assert {e.name: e.value for e in m.RejectReason} == {
        "UNKNOWN_CONNECTION": 1,
        "REPLAY": 2,
        "FORGED": 3,
        "NO_HANDLER": 4,
    }


def test_set_key_messages_share_fields() -> None:
    control = [f for f in m.SetKey.schema() if f[0] != "module"]
    assert control == list(m.HostSetKey.schema())


def test_routed_messages_share_fields() -> None:
    assert m.Event.schema() == m.HostEmit.schema() == m.HostDeliver.schema()
    assert m.Send.schema() == m.Request.schema() == m.Response.schema() == m.WatchEvent.schema()
