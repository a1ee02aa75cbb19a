#!/usr/bin/env python3
"""Measure what a flood of unrouted events costs an agent (issue #14, item 1).

Starts the fault tests' stream app (two native nodes) in a temporary folder, then sends N
events for connection ids without a route to node b over one raw data link, in chunks, while
another thread asks b for its status over a control link again and again.  Prints b's VmRSS and
log size before and after, and the status latency during and after the flood.  Nothing here is
asserted (tests/security/test_security_flood.py asserts the bounds).

    .venv/bin/python scripts/measure_flood.py [--events N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from authex.deployer.cluster import LocalCluster  # noqa: E402
from authex.wire.codec import encode  # noqa: E402
from authex.wire.messages import Event, LinkKind, Status, StatusResult  # noqa: E402
from support.harness import App, running_app  # noqa: E402
from support.net import free_ports  # noqa: E402
from support.raw import RawLink  # noqa: E402
from support.stream_app import copy_modules, stream_descriptor  # noqa: E402

CHUNK = 10_000
FIRST = 1_000_000


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def status_once(app: App, port: int) -> tuple[float, int, int]:
    """(seconds, encoded bytes, events counted as unrouted) of one Status over a fresh control
    link."""
    started = time.perf_counter()
    link = RawLink(port, LinkKind.CONTROL, peer="deployer", tls=app.operator_tls("b"))
    try:
        reply = link.request(Status())
    finally:
        link.close()
    elapsed = time.perf_counter() - started
    assert isinstance(reply, StatusResult)
    # agents before #14 counted each unknown id as a connection of its own
    unrouted = getattr(reply.status, "unrouted", None)
    if unrouted is None:
        unrouted = sum(c.dropped for c in reply.status.connections if c.conn_id >= FIRST)
    return elapsed, len(encode(reply)), unrouted


def summary(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"n={len(ms)} median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        copy_modules(folder)
        port_a, port_b = free_ports(2)
        (folder / "descriptor.yaml").write_text(stream_descriptor(port_a, port_b))
        with running_app(folder) as app:
            app.deploy()
            cluster = LocalCluster(app.descriptor)
            pid = int(json.loads(cluster.record.read_text())["b"])
            log = cluster.nodes_dir / "b" / "agent.log"
            for _ in range(5):
                status_once(app, port_b)
            idle = [status_once(app, port_b)[0] for _ in range(20)]
            rss_before, log_before = rss_mib(pid), log.stat().st_size
            lines_before = log.read_bytes().count(b"\n")

            during: list[float] = []
            flooding = threading.Event()
            flooding.set()

            def poll() -> None:
                while flooding.is_set():
                    during.append(status_once(app, port_b)[0])

            chunks = [  # encoded before: the poller thread must not wait for the encoder
                b"".join(
                    encode(Event(c, 0, 1, b"\x00" * 20))
                    for c in range(start, min(start + CHUNK, FIRST + args.events))
                )
                for start in range(FIRST, FIRST + args.events, CHUNK)
            ]
            poller = threading.Thread(target=poll)
            poller.start()
            started = time.perf_counter()
            flood = RawLink(port_b, LinkKind.DATA, peer="mallory")
            try:
                for chunk in chunks:
                    flood.send_raw(chunk)
                sent = time.perf_counter() - started
                deadline = time.monotonic() + 120
                unrouted = -1
                while time.monotonic() < deadline:
                    _, size, unrouted = status_once(app, port_b)
                    if unrouted == args.events:
                        break
                    time.sleep(0.05)
                counted = time.perf_counter() - started
            finally:
                flooding.clear()
                poller.join()
                flood.close()
            after = [status_once(app, port_b)[0] for _ in range(20)]
            _, size, unrouted = status_once(app, port_b)
            rss_after, log_after = rss_mib(pid), log.stat().st_size
            lines_after = log.read_bytes().count(b"\n")

    print(f"events sent: {args.events} in {sent:.2f}s (counted by the agent after {counted:.2f}s)")
    print(f"agent b VmRSS: {rss_before:.1f} MiB before, {rss_after:.1f} MiB after")
    print(
        f"agent b log: {log_before} bytes before, {log_after} after "
        f"(+{log_after - log_before} bytes, +{lines_after - lines_before} lines)"
    )
    print(f"status reply: {size} bytes encoded; unrouted={unrouted}")
    print(f"status latency idle:   {summary(idle)}")
    print(f"status latency during: {summary(during)}")
    print(f"status latency after:  {summary(after)}")


if __name__ == "__main__":
    main()
