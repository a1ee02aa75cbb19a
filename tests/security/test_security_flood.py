"""Bounded agents (issue #14, items 1 and 2), against real agents on loopback.

- A flood of events for connection ids with no route, from anyone who reaches the data port,
  costs the agent no memory and no log line per event: it is counted node-wide (a total and a
  bounded list of sources), its status stays small and keeps answering, and the application
  keeps working.
- Data links that send nothing are closed after the idle timeout (shortened here through
  ``AUTHEX_DATA_IDLE_TIMEOUT``); a peer agent's own link survives it without losing an event.
- Neither idle data links filling the per-address budget nor connections that never finish
  their TLS handshake lock the operator out: the operator's links have a budget of their own.

No test asserts a duration: each waits, bounded, for a condition and asserts exact outcomes.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from authex.agent.server import MAX_DATA_LINKS_PER_HOST, MAX_HANDSHAKING
from authex.deployer.cluster import LocalCluster
from authex.wire.codec import encode
from authex.wire.messages import Error, ErrorCode, Event, LinkKind, Status, StatusResult
from authex.wire.status import DropSource, NodeStatus, PeerStatus
from support.harness import App, running_app
from support.net import free_ports
from support.raw import RawLink
from support.stream_app import copy_modules, processed, stats, stream_descriptor

FLOOD = 100_000  # events for connection ids without a route
CHUNK = 10_000  # events per write
FIRST_UNROUTED = 1_000_000  # far above any id the deployment uses
RSS_BOUND_KIB = 20 * 1024  # the flood may cost the agent at most this much more memory
LOG_LINES_BOUND = 20  # ... and at most this many log lines
STATUS_BYTES_BOUND = 64 * 1024  # the encoded status reply stays this small


@contextlib.contextmanager
def stream_app(folder: Path) -> Iterator[tuple[LocalCluster, App]]:
    """The stream app (producer on node a, consumer on node b), deployed on local agents that
    are stopped again whatever happens."""
    copy_modules(folder)
    port_a, port_b = free_ports(2)
    (folder / "descriptor.yaml").write_text(stream_descriptor(port_a, port_b))
    with running_app(folder) as app:
        app.deploy()
        yield LocalCluster(app.descriptor), app


def port(app: App, node: str) -> int:
    return app.descriptor.node(node).port


def agent_pid(cluster: LocalCluster, node: str) -> int:
    return int(json.loads(cluster.record.read_text())[node])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def agent_log(cluster: LocalCluster, node: str) -> Path:
    return cluster.nodes_dir / node / "agent.log"


def node_status(app: App, node: str) -> tuple[NodeStatus, int]:
    """The agent's status over a raw control link, and the size of its encoded reply."""
    link = RawLink(port(app, node), LinkKind.CONTROL, peer="deployer", tls=app.operator_tls(node))
    try:
        reply = link.request(Status())
    finally:
        link.close()
    assert isinstance(reply, StatusResult), reply
    return reply.status, len(encode(reply))


def peer_link(app: App, node: str, to: str) -> PeerStatus:
    status, _ = node_status(app, node)
    peer = status.peer(app.descriptor.node(to).address)
    assert peer is not None, status.peers
    return peer


def flood_chunk(start: int) -> bytes:
    return b"".join(
        encode(Event(conn_id, 0, 1, b"\x00" * 20)) for conn_id in range(start, start + CHUNK)
    )


def test_a_flood_of_unrouted_events_costs_no_state_or_log_line_per_event(tmp_path: Path) -> None:
    with stream_app(tmp_path) as (cluster, app):
        pid, log = agent_pid(cluster, "b"), agent_log(cluster, "b")
        node_status(app, "b")  # the control path warmed up before measuring
        rss_before, log_before = rss_kib(pid), log.read_bytes()
        flood = RawLink(port(app, "b"), LinkKind.DATA, peer="mallory")
        try:
            for start in range(FIRST_UNROUTED, FIRST_UNROUTED + FLOOD, CHUNK):
                flood.send_raw(flood_chunk(start))
                during, _ = node_status(app, "b")  # status keeps answering during the flood
                assert during.unrouted <= FLOOD
            app.wait_for("the flood counted", lambda: node_status(app, "b")[0].unrouted == FLOOD)
            status, size = node_status(app, "b")
            rss_after, log_after = rss_kib(pid), log.read_bytes()
        finally:
            flood.close()

        assert status.unrouted == FLOOD
        assert status.unrouted_sources == (DropSource("mallory@127.0.0.1", FLOOD),)
        assert {c.conn_id for c in status.connections} <= status.route_ids  # nothing per id
        assert size <= STATUS_BYTES_BOUND
        assert rss_after - rss_before <= RSS_BOUND_KIB
        assert log_after.startswith(log_before)
        added = log_after[len(log_before) :].decode()
        assert len(added.splitlines()) <= LOG_LINES_BOUND, added[-2000:]
        # the first in full; then (if the flood outlasted the interval) summaries only
        assert added.count("authex.agent: no route for connection ") == 1
        assert "no route for connection 1000000 (from mallory@127.0.0.1); dropped" in added

        # the application never noticed
        assert app.call("producer", "burst", b"5").payload == b"5"
        app.wait_for("five events processed", lambda: processed(app) == 5)
        assert stats(app) == {"count": 5, "last": 5, "out_of_order": 0, "duplicates": 0}


def test_idle_data_links_are_closed_and_a_peer_agents_link_survives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHEX_DATA_IDLE_TIMEOUT", "1")  # for the agents this test starts
    with stream_app(tmp_path) as (cluster, app):
        idle = RawLink(port(app, "b"), LinkKind.DATA, peer="idler")
        try:
            said = idle.closed_by_peer()  # TimeoutError (10 s) if the agent kept it open
        finally:
            idle.close()
        assert said == [Error(ErrorCode.TIMEOUT, "data link idle for 1s")]

        # node a's own data link to b: events before and after b closed it as idle
        assert app.call("producer", "burst", b"3").payload == b"3"
        app.wait_for("three events processed", lambda: processed(app) == 3)
        app.wait_for("the idle link closed", lambda: not peer_link(app, "a", "b").connected)
        assert app.call("producer", "burst", b"3").payload == b"6"
        app.wait_for("six events processed", lambda: processed(app) == 6)
        assert stats(app) == {"count": 6, "last": 6, "out_of_order": 0, "duplicates": 0}
        peer = peer_link(app, "a", "b")
        assert (peer.reconnects, peer.outbox, peer.refused) == (1, 0, 0)  # reopened once, on demand
        assert "data link from idler@127.0.0.1" in agent_log(cluster, "b").read_text()


def test_idle_data_links_filling_the_address_budget_never_lock_the_operator_out(
    tmp_path: Path,
) -> None:
    with stream_app(tmp_path) as (_, app):
        links: list[RawLink] = []
        try:
            for n in range(MAX_DATA_LINKS_PER_HOST):  # no peer agent link is open yet
                links.append(RawLink(port(app, "b"), LinkKind.DATA, peer=f"idle{n}"))
            with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
                RawLink(port(app, "b"), LinkKind.DATA, peer="one-too-many").close()
            # the operator's links have a budget of their own
            nodes = {n["name"]: n for n in app.status()["nodes"]}
            assert nodes["b"]["reachable"], nodes["b"]["error"]
            assert app.deploy().plan.empty
            status, _ = node_status(app, "b")
            assert {m.name for m in status.modules} == {"consumer"}
        finally:
            for link in links:
                link.close()


def test_connections_stuck_in_their_handshake_never_lock_the_operator_out(
    tmp_path: Path,
) -> None:
    extra = 8
    with stream_app(tmp_path) as (_, app):
        stuck: list[socket.socket] = []
        try:
            for _ in range(MAX_HANDSHAKING + extra):  # plain TCP: never starts TLS
                stuck.append(socket.create_connection(("127.0.0.1", port(app, "b")), timeout=10))
            for sock in stuck[:extra]:  # the oldest made room for the newest
                with contextlib.suppress(ConnectionResetError):
                    assert sock.recv(1) == b""
            nodes = {n["name"]: n for n in app.status()["nodes"]}
            assert nodes["b"]["reachable"], nodes["b"]["error"]
            assert app.deploy().plan.empty
        finally:
            for sock in stuck:
                sock.close()
