"""The agent's status records (authex.wire.status, ``StatusResult``): round trips, lookups, and
what a status refuses that its field kinds allow."""

from __future__ import annotations

from dataclasses import replace

import pytest

from authex.errors import ProtocolError
from authex.wire import codec
from authex.wire.codec import (
    decode_payload,
    encode,
    encode_payload,
)
from authex.wire.messages import CONTROL_REPLIES, StatusResult
from authex.wire.status import (
    ConnectionCounters,
    DropSource,
    ModuleStatus,
    NodeStatus,
    PeerStatus,
    RejectedCount,
    Route,
    TimerStatus,
    reject_reason_code,
    reject_reason_name,
)


def module(name: str = "sensor", **changes: object) -> ModuleStatus:
    base = ModuleStatus("sensor", "native", 7, b"\x01" * 32, 4242, True, "running", False, 0)
    return replace(base, name=name, **changes)  # type: ignore[arg-type]


def status(**changes: object) -> NodeStatus:
    base = NodeStatus(
        node="n1",
        tee="native",
        platform="native (no TEE)",
        emulated=False,
        address="127.0.0.1:7001",
        uptime_ms=1500,
        modules=(module(), module("sensor~u1", held=2)),
        routes=(Route(1), Route(2)),
        connections=(
            ConnectionCounters(1, 5, 0, 0, 1, 2, (RejectedCount(2, 1),), 3),
            ConnectionCounters(2, 0, 4, 0, 0, 0, (), 0),
        ),
        timers=(TimerStatus("sensor", 0x3001, 1000, 4, 0),),
        peers=(PeerStatus("127.0.0.1:7002", True, 4, 0, 1, 0, 0),),
        unrouted=12,
        unrouted_sources=(DropSource("mallory@10.0.0.9", 11), DropSource("module a", 1)),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def payload_of(node: NodeStatus) -> bytes:
    return encode_payload(StatusResult(node))


# --- status records --------------------------------------------------------------------------


def test_minimum_sizes() -> None:
    assert Route.min_size() == 4 and RejectedCount.min_size() == 9
    assert ModuleStatus.min_size() == 2 + 2 + 8 + 4 + 4 + 1 + 2 + 1 + 8 + 2
    assert DropSource.min_size() == 2 + 8
    assert NodeStatus.min_size() == 2 + 2 + 2 + 1 + 2 + 8 + 5 * 4 + 8 + 4
    assert StatusResult.min_size() == NodeStatus.min_size()
    assert codec._layout(StatusResult) is None  # the general path (the event path is untouched)


def test_values_outside_their_kind_are_refused_naming_the_field() -> None:
    with pytest.raises(ProtocolError, match=r"ModuleStatus\.pid: -5 is not a u32"):
        module(pid=-5)
    with pytest.raises(ProtocolError, match=r"ModuleStatus\.measurement: str is not bytes"):
        module(measurement="ab")
    with pytest.raises(ProtocolError, match=r"NodeStatus\.uptime_ms: 1.5 is not a u64"):
        status(uptime_ms=1.5)
    with pytest.raises(ProtocolError, match=r"NodeStatus\.routes: 3 is not a Route"):
        status(routes=(3,))
    with pytest.raises(ProtocolError, match=r"NodeStatus\.routes: 3 is not a list of records"):
        status(routes=3)
    with pytest.raises(ProtocolError, match=r"TimerStatus\.entry_id: 65536 is not a u16"):
        TimerStatus("a", 1 << 16, 10, 0, 0)


def test_a_list_is_stored_as_a_tuple() -> None:
    node = status(routes=[Route(1)])
    assert node.routes == (Route(1),)
    assert hash(node) == hash(status(routes=(Route(1),)))


def test_status_round_trip_through_the_control_reply_link() -> None:
    node = status()
    frame = encode(StatusResult(node), 12)
    (decoded_frame,) = codec.FrameDecoder(codec.CONTROL_MAX_FRAME).feed(frame)
    message = CONTROL_REPLIES.decode(decoded_frame)
    assert isinstance(message, StatusResult)
    assert message.status == node
    assert message.status.emulated is False and message.status.modules[0].running is True


def test_flags_read_back_as_bools() -> None:
    node = status(emulated=1)
    assert node.emulated is True
    decoded = decode_payload(StatusResult, payload_of(node))
    assert isinstance(decoded, StatusResult)
    assert decoded.status.emulated is True
    assert decoded.status.peers[0].connected is True
    assert decoded.status.modules[0].persistent is False


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"emulated": 2}, r"NodeStatus\.emulated: 2 is not a flag"),
        ({"modules": (module(), module())}, r"NodeStatus\.modules: 'sensor' is listed twice"),
        ({"routes": (Route(1), Route(1))}, r"NodeStatus\.routes: 1 is listed twice"),
        (
            {"timers": (TimerStatus("a", 1, 10, 0, 0), TimerStatus("a", 1, 20, 0, 0))},
            r"NodeStatus\.timers: \('a', 1\) is listed twice",
        ),
        (
            {"peers": (PeerStatus("h:1", 0, 0, 0, 0, 0, 0), PeerStatus("h:1", 1, 0, 0, 0, 0, 0))},
            r"NodeStatus\.peers: 'h:1' is listed twice",
        ),
        (
            {"unrouted_sources": (DropSource("m@h", 1), DropSource("m@h", 2))},
            r"NodeStatus\.unrouted_sources: 'm@h' is listed twice",
        ),
    ],
)
def test_status_refuses_what_its_kinds_allow(change: dict[str, object], refusal: str) -> None:
    with pytest.raises(ProtocolError, match=refusal):
        status(**change)


def test_records_refuse_bad_flags_and_repeated_reasons() -> None:
    with pytest.raises(ProtocolError, match=r"ModuleStatus\.running: 3 is not a flag"):
        module(running=3)
    with pytest.raises(ProtocolError, match=r"PeerStatus\.connected: 255 is not a flag"):
        PeerStatus("h:1", 255, 0, 0, 0, 0, 0)
    with pytest.raises(ProtocolError, match=r"ConnectionCounters\.rejected: 2 is listed twice"):
        ConnectionCounters(1, 0, 0, 0, 0, 0, (RejectedCount(2, 1), RejectedCount(2, 3)), 0)


def test_decoder_refuses_a_flag_of_two_from_the_wire() -> None:
    payload = bytearray(payload_of(status()))
    offset = 2 + len("n1") + 2 + len("native") + 2 + len("native (no TEE)")
    assert payload[offset] == 0  # NodeStatus.emulated
    payload[offset] = 2
    with pytest.raises(ProtocolError, match=r"NodeStatus\.emulated: 2 is not a flag"):
        decode_payload(StatusResult, bytes(payload))


def test_unknown_reject_reasons_are_carried_and_named() -> None:
    counters = ConnectionCounters(1, 0, 0, 0, 0, 0, (RejectedCount(200, 1),), 0)
    node = status(connections=(counters,))
    decoded = decode_payload(StatusResult, payload_of(node))
    assert isinstance(decoded, StatusResult)
    assert decoded.status.connections[0].rejected_by_name() == {"reason-200": 1}
    assert reject_reason_name(2) == "replay" and reject_reason_code("replay") == 2
    assert reject_reason_name(99) == "reason-99" and reject_reason_code("reason-99") == 99
    with pytest.raises(KeyError):
        reject_reason_code("bogus")


def test_lookups() -> None:
    node = status()
    assert node.module("sensor~u1") == module("sensor~u1", held=2)
    assert node.module("nope") is None
    assert node.route_ids == {1, 2}
    first = node.connection(1)
    assert first is not None and first.rejected_by_name() == {"replay": 1}
    assert node.connection(3) is None
    assert node.pending(1) == 3 and node.pending(3) == 0
    peer = node.peer("127.0.0.1:7002")
    assert peer is not None and peer.sent == 4
    assert node.timers[0].key == ("sensor", 0x3001)


def test_rejections_by_name_come_in_name_order() -> None:
    counts = (RejectedCount(2, 1), RejectedCount(3, 4), RejectedCount(99, 1))
    counters = ConnectionCounters(1, 0, 0, 0, 0, 0, counts, 0)
    assert list(counters.rejected_by_name().items()) == [
        ("forged", 4),
        ("reason-99", 1),
        ("replay", 1),
    ]
