"""Agent status records for tests that fake what agents report (authex.wire.status)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from authex.wire.status import (
    ConnectionCounters,
    ModuleStatus,
    NodeStatus,
    RejectedCount,
    Route,
    TimerStatus,
    reject_reason_code,
)


def module(
    name: str,
    instance: int,
    *,
    running: bool = True,
    pid: int = 0,
    persistent: bool = False,
    held: int = 0,
    tee: str = "native",
) -> ModuleStatus:
    state = "running" if running else "exited"
    return ModuleStatus(name, tee, instance, b"", pid, running, state, persistent, held)


def counters(
    conn_id: int,
    *,
    delivered: int = 0,
    forwarded: int = 0,
    to_operator: int = 0,
    dropped: int = 0,
    duplicates: int = 0,
    rejected: Mapping[str, int] | None = None,
    pending: int = 0,
    accepted_upto: int = 0,
) -> ConnectionCounters:
    """``rejected`` by reason name, as ``authex status`` shows them."""
    by_code = sorted((reject_reason_code(k), v) for k, v in (rejected or {}).items())
    return ConnectionCounters(
        conn_id,
        delivered,
        forwarded,
        to_operator,
        dropped,
        duplicates,
        tuple(RejectedCount(code, n) for code, n in by_code),
        pending,
        accepted_upto,
    )


def timer(module_name: str, entry_id: int, period_ms: int = 1000) -> TimerStatus:
    return TimerStatus(module_name, entry_id, period_ms, 0, 0)


def node(
    name: str = "n1",
    *,
    modules: Iterable[ModuleStatus] = (),
    routes: Iterable[int] = (),
    connections: Iterable[ConnectionCounters] = (),
    timers: Iterable[TimerStatus] = (),
) -> NodeStatus:
    return NodeStatus(
        node=name,
        tee="native",
        platform="",
        emulated=False,
        address="127.0.0.1:7000",
        uptime_ms=0,
        modules=tuple(modules),
        routes=tuple(Route(c) for c in sorted(routes)),
        connections=tuple(connections),
        timers=tuple(timers),
        peers=(),
    )
