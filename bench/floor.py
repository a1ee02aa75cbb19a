"""The floor: a raw TCP echo over loopback with the payloads of the event hop.

Two variants, each against an echo server in its own process (``bench.echo_server``): blocking
sockets (``sendall`` + ``recv_into``) and asyncio streams (``write`` + ``readexactly``), both
with TCP_NODELAY.  One-way latency is half the round trip; the faster variant's p50 per payload
is the floor the other benchmarks are divided by.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.config import PAYLOAD_SIZES, REPO, Settings
from bench.report import Results, Row
from bench.stats import Summary, ns_to_us, summarize

VARIANTS = ("blocking", "asyncio")
SERVER_LIFETIME_S = 120.0


@contextmanager
def echo_server(variant: str) -> Iterator[int]:
    """Start ``bench.echo_server`` in a child process; yields its port."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.echo_server", variant, str(SERVER_LIFETIME_S)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip():
            raise RuntimeError(f"echo server ({variant}) did not start")
        yield int(line)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _blocking_rtts(port: int, size: int, count: int, warmup: int) -> list[int]:
    payload = bytes(size)
    buffer = bytearray(size)
    view = memoryview(buffer)
    samples: list[int] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        clock = time.perf_counter_ns
        for i in range(warmup + count):
            start = clock()
            sock.sendall(payload)
            got = 0
            while got < size:
                n = sock.recv_into(view[got:])
                if not n:
                    raise ConnectionError("echo server closed the connection")
                got += n
            end = clock()
            if i >= warmup:
                samples.append(end - start)
    return samples


async def _asyncio_rtts(port: int, size: int, count: int, warmup: int) -> list[int]:
    payload = bytes(size)
    samples: list[int] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        clock = time.perf_counter_ns
        for i in range(warmup + count):
            start = clock()
            writer.write(payload)
            await reader.readexactly(size)
            end = clock()
            if i >= warmup:
                samples.append(end - start)
    finally:
        writer.close()
        await writer.wait_closed()
    return samples


def measure_variant(variant: str, size: int, count: int, warmup: int) -> list[int]:
    """Round-trip times (ns) of ``count`` echoes of ``size`` bytes."""
    with echo_server(variant) as port:
        if variant == "blocking":
            return _blocking_rtts(port, size, count, warmup)
        return asyncio.run(_asyncio_rtts(port, size, count, warmup))


def one_way_us(samples: list[int]) -> Summary:
    return summarize(ns_to_us(samples)).scaled(0.5)


def run(settings: Settings, results: Results) -> dict[int, float]:
    """Measure both variants; returns the floor (one-way p50, µs) per payload size."""
    data: dict[str, Any] = {"variants": {}, "floor": {}}
    floor: dict[int, float] = {}
    for size in PAYLOAD_SIZES:
        best: tuple[str, Summary] | None = None
        for variant in VARIANTS:
            summary = one_way_us(
                measure_variant(variant, size, settings.floor_count, settings.floor_warmup)
            )
            data["variants"].setdefault(variant, {})[str(size)] = summary.to_dict()
            if best is None or summary.p50 < best[1].p50:
                best = (variant, summary)
        assert best is not None
        variant, summary = best
        floor[size] = summary.p50
        data["floor"][str(size)] = {"variant": variant, "one_way_us": summary.to_dict()}
        results.add(
            Row(
                "floor",
                f"TCP echo {size} B one-way p50 ({variant})",
                summary.p50,
                "µs",
                note=f"p99 {summary.p99:.1f} µs, n={summary.n}; the baseline of the hop"
                if size == PAYLOAD_SIZES[0]
                else f"p99 {summary.p99:.1f} µs, n={summary.n}",
            )
        )
    results.data["floor"] = data
    return floor
