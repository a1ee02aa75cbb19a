"""The agent's status builder (authex.agent.status) as plain calls: plain inputs in, a NodeStatus
out, with nothing running."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from authex.agent.config import NodeConfig
from authex.agent.stats import ConnectionStats
from authex.agent.status import connection_counters, node_status
from authex.errors import ProtocolError
from authex.wire.codec import decode_payload, encode_payload
from authex.wire.messages import StatusResult
from authex.wire.platform import PlatformInfo
from authex.wire.status import (
    ConnectionCounters,
    ModuleStatus,
    PeerStatus,
    RejectedCount,
    Route,
    TimerStatus,
)

CONFIG = NodeConfig("n1", "sgx", "127.0.0.1", 7001)


@dataclass
class Process:
    measurement: bytes = b"\xaa" * 32
    pid: int | None = 4242
    running: bool = True
    exit_reason: str = ""
    persistent: bool = False


@dataclass
class Module:
    name: str
    tee: str = "sgx"
    instance: int = 7
    process: Process = field(default_factory=Process)


@dataclass
class Held:
    messages: list[bytes]


@dataclass
class Timer:
    module: str
    entry_id: int
    period_ms: int
    fired: int = 0
    failed: int = 0


@dataclass
class Peer:
    connected: bool = False
    sent: int = 0
    resent: int = 0
    reconnects: int = 0


@dataclass
class Outbox:
    sizes: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    def size(self, peer: str) -> int:
        return self.sizes.get(peer, 0)


def build(**changes: object) -> StatusResult:
    inputs: dict[str, object] = {
        "config": CONFIG,
        "platform": None,
        "modules": [],
        "held": {},
        "routes": [],
        "connections": [],
        "timers": [],
        "peers": {},
        "outbox": Outbox(),
        "uptime_s": 0.0,
    } | changes
    status = node_status(**inputs)  # type: ignore[arg-type]
    message = StatusResult(status)
    assert decode_payload(StatusResult, encode_payload(message)) == message
    return message


def test_a_fresh_agent() -> None:
    status = build().status
    assert (status.node, status.tee, status.address) == ("n1", "sgx", "127.0.0.1:7001")
    assert status.platform == "" and status.emulated is False and status.uptime_ms == 0
    assert status.modules == () and status.routes == () and status.connections == ()
    assert status.timers == () and status.peers == ()


def test_platform_and_uptime() -> None:
    info = PlatformInfo("sgx", 1, "SGX emulation")
    status = build(platform=info, uptime_s=12.3456).status
    assert status.platform == "SGX emulation" and status.emulated is True
    assert status.uptime_ms == 12346
    assert build(uptime_s=-0.5).status.uptime_ms == 0  # the clock went back


def test_modules_with_their_process_state_and_what_a_staged_one_holds() -> None:
    stopped = Process(b"", None, False, "exited", True)
    modules = [Module("a"), Module("b~u1", instance=9), Module("c", process=stopped)]
    status = build(modules=modules, held={"b~u1": Held([b"1", b"2"])}).status
    assert status.modules == (
        ModuleStatus("a", "sgx", 7, b"\xaa" * 32, 4242, True, "running", False, 0),
        ModuleStatus("b~u1", "sgx", 9, b"\xaa" * 32, 4242, True, "running", False, 2),
        ModuleStatus("c", "sgx", 7, b"", 0, False, "exited", True, 0),
    )


def test_routes_timers_and_peers() -> None:
    peers = {"10.0.0.2:7002": Peer(True, 5, 1, 2), "10.0.0.3:7003": Peer()}
    outbox = Outbox({"10.0.0.3:7003": 4}, {"10.0.0.3:7003": 1})
    status = build(
        routes={9: None, 2: None, 5: None},
        timers=[Timer("a", 0x3001, 500, 3, 1)],
        peers=peers,
        outbox=outbox,
    ).status
    assert status.routes == (Route(2), Route(5), Route(9))
    assert status.timers == (TimerStatus("a", 0x3001, 500, 3, 1),)
    assert status.peers == (
        PeerStatus("10.0.0.2:7002", True, 5, 1, 2, 0, 0),
        PeerStatus("10.0.0.3:7003", False, 0, 0, 0, 4, 1),
    )


def test_connection_counters_with_pending_events() -> None:
    stats = {
        1: ConnectionStats(delivered=3, duplicates=1, rejected=Counter({"forged": 2})),
        4: ConnectionStats(dropped=1, rejected=Counter({"reason-99": 1, "replay": 1})),
    }
    counters = connection_counters(stats, stored={2: 5}, inflight={1: 2, 3: 0})
    assert counters == (
        ConnectionCounters(1, 3, 0, 0, 0, 1, (RejectedCount(3, 2),), 2),
        ConnectionCounters(2, 0, 0, 0, 0, 0, (), 5),  # only in the outbox
        ConnectionCounters(4, 0, 0, 0, 1, 0, (RejectedCount(2, 1), RejectedCount(99, 1)), 0),
    )  # connection 3 counted nothing and has nothing pending
    assert stats.keys() == {1, 4}  # nothing added to the agent's stats
    status = build(connections=counters).status
    assert status.pending(1) == 2 and status.pending(2) == 5 and status.pending(3) == 0


def test_stats_as_counters() -> None:
    stats = ConnectionStats(1, 2, 3, 4, 5, Counter({"replay": 6, "no_handler": 7}))
    assert stats.counters(12, pending=8) == ConnectionCounters(
        12, 1, 2, 3, 4, 5, (RejectedCount(2, 6), RejectedCount(4, 7)), 8
    )


def test_values_a_status_cannot_carry_are_refused() -> None:
    with pytest.raises(ProtocolError, match=r"ModuleStatus\.instance: -1 is not a u64"):
        build(modules=[Module("a", instance=-1)])
