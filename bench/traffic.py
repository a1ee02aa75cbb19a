"""Event hop, request round trip and throughput, with the ping-pong example on two local nodes.

One deployment serves all three: pairs ``ping<i>`` (node a) and ``pong<i>`` (node b) built
from examples/ping-pong.  Pair i's hop and request connections use ``SUITES[i]`` (the first
three pairs cover every suite; the others use aes-gcm-128); every stream uses aes-gcm-128.
With Rust modules, the same agents also run pairs ``rust-ping<i>`` / ``rust-pong<i>`` (one
per suite; sdks/rust/examples/{ping,pong}, same interface and byte formats), whose
connections are named like the Python ones with the ``rust-`` prefix; with C modules, pairs
``c-ping<i>`` / ``c-pong<i>`` (sdks/c/examples/{ping,pong}) with the ``c-`` prefix.

- hop: the ping module times each round trip (ping -> agent a -> agent b -> pong -> agent b ->
  agent a -> ping) with ``perf_counter_ns`` (CLOCK_MONOTONIC in Rust) and sends the samples
  to the operator, which watches ``hop-report<i>``; one-way = round trip / 2, compared with
  the TCP floor.  (The C ping reads CLOCK_MONOTONIC too.)
- request: ``request_rtt`` on the ping module makes timed ``ctx.request`` calls to the pong
  module's handler and returns the samples as its entry result.
- throughput: credit-controlled streams of 16-byte events for a fixed time; the pong module
  checks every sequence number and reports received, gaps and reordering to the operator.
  Events/s = received / (last arrival - sender's start), both CLOCK_MONOTONIC.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.deployer import operations
from authex.deployer.deploy import deploy
from authex.deployer.session import Session
from authex.wire.messages import CallStatus
from bench.apps import LocalApp, native_nodes
from bench.config import (
    C_NOT_SELECTED,
    HOP_TARGET,
    LANGUAGES,
    PAYLOAD_SIZES,
    PROBE_SOURCES,
    RUST_NOT_SELECTED,
    SUITES,
    THROUGHPUT_TARGET,
    Settings,
)
from bench.report import Results, Row
from bench.stats import Summary, ns_to_us, ratio, summarize

# The wire formats of examples/ping-pong/modules/{ping,pong}/main.py (and the Rust and C ones).
HOP_ARG = struct.Struct("<IIIII")  # run, count, warmup, size, budget (ms)
REQUEST_ARG = struct.Struct("<IIII")  # count, warmup, size, budget (ms)
BLAST_ARG = struct.Struct("<IdII")  # run, seconds, size, window
REPORT_HEAD = struct.Struct("<IIII")  # run, samples, errors, reserved
STREAM_REPORT = struct.Struct("<IQQQQQQQQ")
STREAM_EVENT_SIZE = 16
# Module and connection names of each language's pairs: "<prefix>ping<i>", "<prefix>hop<i>", ...
PREFIX = {"python": "", "rust": "rust-", "c": "c-"}
# Why a language was not measured, per language (None: it was); Python always is.
Skips = dict[str, str | None]


class BenchError(Exception):
    """A benchmark could not produce its figure."""


def _pair(language: str, i: int, suite: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The modules and connections of one ping-pong pair."""
    p = PREFIX[language]
    ping, pong = f"{p}ping{i}", f"{p}pong{i}"
    ping_source, pong_source = PROBE_SOURCES[language]
    aes = SUITES[0]
    modules = [
        {"name": ping, "node": "a", "language": language, "source": str(ping_source)},
        {"name": pong, "node": "b", "language": language, "source": str(pong_source)},
    ]
    connections = [
        {"name": f"{p}hop{i}", "from": f"{ping}.ping", "to": f"{pong}.ping", "suite": suite},
        {"name": f"{p}hop-back{i}", "from": f"{pong}.pong", "to": f"{ping}.pong", "suite": suite},
        {"name": f"{p}hop-report{i}", "from": f"{ping}.report", "to": "operator"},
        {"name": f"{p}ask{i}", "from": f"{ping}.ask", "to": f"{pong}.ask", "suite": suite},
        {"name": f"{p}stream{i}", "from": f"{ping}.stream", "to": f"{pong}.stream", "suite": aes},
        {"name": f"{p}credit{i}", "from": f"{pong}.credit", "to": f"{ping}.credit", "suite": aes},
        {"name": f"{p}stream-report{i}", "from": f"{pong}.report", "to": "operator"},
    ]
    return modules, connections


def traffic_descriptor(pairs: int, rust_pairs: int = 0, c_pairs: int = 0) -> dict[str, Any]:
    """``pairs`` Python ping-pong pairs, ``rust_pairs`` Rust and ``c_pairs`` C ones, on nodes
    a and b."""
    modules: list[dict[str, Any]] = []
    connections: list[dict[str, Any]] = []
    for language, count in (("python", pairs), ("rust", rust_pairs), ("c", c_pairs)):
        for i in range(count):
            more_modules, more_connections = _pair(
                language, i, SUITES[i] if i < len(SUITES) else SUITES[0]
            )
            modules += more_modules
            connections += more_connections
    return {
        "name": "bench-traffic",
        "nodes": native_nodes(["a", "b"]),
        "modules": modules,
        "connections": connections,
    }


def c_modules(c_pairs: int = len(SUITES)) -> list[tuple[str, Path, str]]:
    """The C modules of ``traffic_descriptor(..., c_pairs=c_pairs)``: (name, source, tee), for
    ``bench.apps.prebuild_c`` (both nodes are native)."""
    ping, pong = PROBE_SOURCES["c"]
    p = PREFIX["c"]
    return [
        module
        for i in range(c_pairs)
        for module in ((f"{p}ping{i}", ping, "native"), (f"{p}pong{i}", pong, "native"))
    ]


async def call_ok(session: Session, module: str, entry: str, arg: bytes) -> bytes:
    outcome = await operations.call(session, module, entry, arg)
    if outcome.status != CallStatus.OK:
        text = outcome.payload[:300].decode(errors="replace")
        raise BenchError(f"{module}.{entry} answered {CallStatus(outcome.status).name}: {text}")
    return outcome.payload


@contextlib.asynccontextmanager
async def within(seconds: float, what: str) -> AsyncIterator[None]:
    """Bound a wait: past ``seconds``, a BenchError "``what`` within N s"."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise BenchError(f"{what} within {seconds:.0f} s") from exc


class Reports:
    """Follows operator connections with ``operations.watch``; hands out reports by run id."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.found: dict[tuple[str, int], bytes] = {}
        self.waiting: dict[tuple[str, int], asyncio.Future[bytes]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def follow(self, connection: str) -> None:
        if connection in self.tasks:
            return

        async def loop() -> None:
            async for _, plaintext in operations.watch(self.session, connection):
                (run,) = struct.unpack_from("<I", plaintext)
                key = (connection, run)
                future = self.waiting.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(plaintext)
                else:
                    self.found[key] = plaintext

        self.tasks[connection] = asyncio.create_task(loop(), name=f"watch-{connection}")

    async def get(self, connection: str, run: int) -> bytes:
        """The report of ``run`` on ``connection`` (a BenchError if the watch stops); bound the
        wait with :func:`within`."""
        self.follow(connection)
        key = (connection, run)
        if key in self.found:
            return self.found.pop(key)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        task = self.tasks[connection]
        waits: set[asyncio.Future[Any]] = {future, task}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not future.done():
                self.waiting.pop(key, None)
        if future.done():
            return future.result()
        raise BenchError(f"watching {connection} stopped: {task.exception()!r}")

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def decode_samples(payload: bytes) -> tuple[int, list[int], int]:
    run, n, errors, _ = REPORT_HEAD.unpack_from(payload)
    samples = list(struct.unpack_from(f"<{n}Q", payload, REPORT_HEAD.size))
    return run, samples, errors


@dataclass
class StreamReport:
    run: int
    received: int
    gaps: int
    out_of_order: int
    sent: int
    start_ns: int
    stop_ns: int
    first_ns: int
    last_ns: int

    @property
    def lossless(self) -> bool:
        return self.received == self.sent and self.gaps == 0 and self.out_of_order == 0

    @property
    def rate(self) -> float:
        elapsed = (self.last_ns - self.start_ns) / 1e9
        return self.received / elapsed if elapsed > 0 else 0.0


class Traffic:
    """The running traffic app: one session, report watchers, fresh run ids."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.reports = Reports(session)
        self.next_run = 1

    def run_id(self) -> int:
        self.next_run += 1
        return self.next_run

    async def hop(
        self,
        pair: int,
        size: int,
        count: int,
        warmup: int,
        budget_s: float,
        language: str = "python",
    ) -> tuple[list[int], int]:
        p = PREFIX[language]
        run = self.run_id()
        connection = f"{p}hop-report{pair}"
        self.reports.follow(connection)
        budget_ms = max(1, int(budget_s * 1000))
        await call_ok(
            self.session, f"{p}ping{pair}", "hop", HOP_ARG.pack(run, count, warmup, size, budget_ms)
        )
        async with within(4 * budget_s + 30, f"no report of run {run} on {connection}"):
            payload = await self.reports.get(connection, run)
        _, samples, errors = decode_samples(payload)
        return samples, errors

    async def request(
        self,
        pair: int,
        size: int,
        count: int,
        warmup: int,
        budget_s: float,
        language: str = "python",
    ) -> tuple[list[int], int]:
        arg = REQUEST_ARG.pack(count, warmup, size, max(1, int(budget_s * 1000)))
        payload = await call_ok(self.session, f"{PREFIX[language]}ping{pair}", "request_rtt", arg)
        _, samples, errors = decode_samples(payload)
        return samples, errors

    async def blast(
        self, pairs: list[int], seconds: float, window: int, language: str = "python"
    ) -> list[StreamReport]:
        p = PREFIX[language]
        run = self.run_id()
        for i in pairs:
            self.reports.follow(f"{p}stream-report{i}")
        arg = BLAST_ARG.pack(run, seconds, STREAM_EVENT_SIZE, window)
        await asyncio.gather(*(call_ok(self.session, f"{p}ping{i}", "blast", arg) for i in pairs))

        async def report(connection: str) -> bytes:
            async with within(seconds + 60, f"no report of run {run} on {connection}"):
                return await self.reports.get(connection, run)

        raw = await asyncio.gather(*(report(f"{p}stream-report{i}") for i in pairs))
        return [StreamReport(*STREAM_REPORT.unpack(r)) for r in raw]


def _one_way(samples: list[int]) -> Summary:
    return summarize(ns_to_us(samples)).scaled(0.5)


def _ms_or_us(value_us: float) -> str:
    return f"{value_us / 1000:.2f} ms" if value_us >= 1000 else f"{value_us:.1f} µs"


def _measured(skips: Skips) -> list[str]:
    """The languages whose modules run: Python always, the others unless ``skips`` says why
    not."""
    return [language for language in LANGUAGES if skips.get(language) is None]


def _unmeasured(skips: Skips) -> dict[str, str]:
    """Languages without figures, each with the reason (the note of its "n/a" row)."""
    return {language: why for language in LANGUAGES if (why := skips.get(language)) is not None}


async def _hop_bench(
    traffic: Traffic,
    settings: Settings,
    floor: dict[int, float],
    results: Results,
    skips: Skips,
) -> None:
    data: dict[str, Any] = {}
    for language in _measured(skips):
        data[language] = {}
        target = HOP_TARGET[language]
        for pair, suite in enumerate(SUITES):
            for size in PAYLOAD_SIZES:
                samples, errors = await traffic.hop(
                    pair,
                    size,
                    settings.hop_count,
                    settings.hop_warmup,
                    settings.hop_budget_s,
                    language,
                )
                if not samples:
                    raise BenchError(f"hop {language} {suite} {size} B: no samples")
                one_way = _one_way(samples)
                base = floor.get(size)
                r = ratio(one_way.p50, base)
                data[language].setdefault(suite, {})[str(size)] = {
                    "one_way_us": one_way.to_dict(),
                    "rtt_us": summarize(ns_to_us(samples)).to_dict(),
                    "errors": errors,
                    "floor_one_way_us": base,
                    "ratio_p50": None if r is None else round(r, 2),
                }
                results.add(
                    Row(
                        "hop",
                        f"{language} {suite} {size} B one-way p50",
                        one_way.p50,
                        "µs",
                        baseline=f"floor {_ms_or_us(base)}" if base else "no floor",
                        ratio=r,
                        target=f"≤ {target:g}x floor",
                        met=None if r is None else r <= target,
                        note=f"p99 {_ms_or_us(one_way.p99)}, n={one_way.n}"
                        + (f", {errors} errors" if errors else ""),
                    )
                )
    for language, why in _unmeasured(skips).items():
        data[language] = why
        results.add(
            Row(
                "hop",
                f"{language} (every suite and size)",
                None,
                "µs",
                target=f"≤ {HOP_TARGET[language]:g}x floor",
                note=why,
            )
        )
    results.data["hop"] = data


async def _request_bench(
    traffic: Traffic,
    settings: Settings,
    floor: dict[int, float],
    results: Results,
    skips: Skips,
) -> None:
    data: dict[str, Any] = {}
    for language in _measured(skips):
        data[language] = {SUITES[0]: {}}
        for size in PAYLOAD_SIZES:
            samples, errors = await traffic.request(
                0,
                size,
                settings.request_count,
                settings.request_warmup,
                settings.request_budget_s,
                language,
            )
            if not samples:
                raise BenchError(f"request {language} {size} B: no samples")
            rtt = summarize(ns_to_us(samples))
            base = 2 * floor[size] if size in floor else None  # the floor's round trip
            data[language][SUITES[0]][str(size)] = {
                "rtt_us": rtt.to_dict(),
                "errors": errors,
                "floor_rtt_us": base,
            }
            results.add(
                Row(
                    "request",
                    f"{language} {SUITES[0]} {size} B round trip p50",
                    rtt.p50,
                    "µs",
                    baseline=f"floor RTT {_ms_or_us(base)}" if base else "",
                    ratio=ratio(rtt.p50, base),
                    note=f"p99 {_ms_or_us(rtt.p99)}, n={rtt.n}"
                    + (f", {errors} errors" if errors else ""),
                )
            )
    results.data["request"] = data


def _stream_summary(reports: list[StreamReport]) -> dict[str, Any]:
    received = sum(r.received for r in reports)
    sent = sum(r.sent for r in reports)
    start = min(r.start_ns for r in reports)
    last = max(r.last_ns for r in reports)
    elapsed = (last - start) / 1e9
    return {
        "connections": len(reports),
        "sent": sent,
        "received": received,
        "gaps": sum(r.gaps for r in reports),
        "out_of_order": sum(r.out_of_order for r in reports),
        "lossless": all(r.lossless for r in reports),
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(received / elapsed if elapsed > 0 else 0.0, 1),
        "per_connection_events_per_s": [round(r.rate, 1) for r in reports],
    }


def _stream_row(
    results: Results,
    language: str,
    label: str,
    summary: dict[str, Any],
    one: dict[str, Any] | None,
) -> None:
    """One throughput row: with the language's target (one connection, ``one`` is None), or
    compared with the one-connection stream ``one``."""
    target = THROUGHPUT_TARGET[language]
    loss = "no loss" if summary["lossless"] else "LOSS"
    results.add(
        Row(
            "throughput",
            f"{language} {label}, {STREAM_EVENT_SIZE} B events",
            summary["events_per_s"],
            "events/s",
            baseline="" if one is None else f"1 connection {one['events_per_s']:,.0f}/s",
            target=f"≥ {target:,} events/s, no loss" if one is None else "",
            ratio=ratio(summary["events_per_s"], target if one is None else one["events_per_s"]),
            met=(summary["events_per_s"] >= target and summary["lossless"])
            if one is None
            else None,
            note=f"{summary['received']:,}/{summary['sent']:,} received in "
            f"{summary['elapsed_s']:.1f} s, {loss}",
        )
    )
    if not summary["lossless"]:
        results.errors[f"throughput {language} {label}"] = (
            f"lost or reordered events: {summary['sent'] - summary['received']} missing, "
            f"{summary['gaps']} gaps, {summary['out_of_order']} out of order"
        )


async def _throughput_bench(
    traffic: Traffic, settings: Settings, results: Results, skips: Skips
) -> None:
    seconds, window = settings.throughput_s, settings.throughput_window
    common = {"event_size": STREAM_EVENT_SIZE, "window": window, "seconds": seconds}
    data: dict[str, Any] = {}
    for language in _measured(skips):
        one = _stream_summary(await traffic.blast([0], seconds, window, language))
        data[language] = common | {"one_connection": one}
        _stream_row(results, language, "one connection", one, None)
        if language == "python":  # the issue asks for one node only with Python modules
            many_pairs = list(range(settings.throughput_connections))
            many = _stream_summary(await traffic.blast(many_pairs, seconds, window, language))
            data[language]["one_node"] = many
            _stream_row(results, language, f"one node, {len(many_pairs)} connections", many, one)
    for language, why in _unmeasured(skips).items():
        data[language] = why
        if language in THROUGHPUT_TARGET:
            results.add(
                Row(
                    "throughput",
                    f"{language} one connection",
                    None,
                    "events/s",
                    target=f"≥ {THROUGHPUT_TARGET[language]:,} events/s, no loss",
                    note=why,
                )
            )
    results.data["throughput"] = data


async def _run_all(
    app: LocalApp,
    selected: set[str],
    settings: Settings,
    floor: dict[int, float],
    results: Results,
    skips: Skips,
) -> None:
    async with app.session() as session:
        began = asyncio.get_running_loop().time()
        await deploy(session)
        results.data.setdefault("traffic_app", {})["deploy_s"] = round(
            asyncio.get_running_loop().time() - began, 3
        )
        traffic = Traffic(session)
        try:
            # a short chain first: connects the agents' data links, warms every path
            for language in _measured(skips):
                await traffic.hop(0, 16, 20, 5, 2.0, language)
            steps: dict[str, Callable[[], Awaitable[None]]] = {
                "hop": lambda: _hop_bench(traffic, settings, floor, results, skips),
                "request": lambda: _request_bench(traffic, settings, floor, results, skips),
                "throughput": lambda: _throughput_bench(traffic, settings, results, skips),
            }
            for name, step in steps.items():
                if name not in selected:
                    continue
                try:
                    await step()
                except (BenchError, TimeoutError) as exc:
                    results.errors[name] = str(exc)
        finally:
            await traffic.reports.close()


def run(
    selected: set[str],
    settings: Settings,
    floor: dict[int, float],
    results: Results,
    folder: Path,
    operator: Ed25519PrivateKey | None = None,
    rust_skip: str | None = RUST_NOT_SELECTED,
    c_skip: str | None = C_NOT_SELECTED,
) -> None:
    """Hop, request and throughput on one two-node app; Rust pairs too unless ``rust_skip``,
    C pairs too unless ``c_skip`` (the reason, printed in their rows) is given."""
    pairs = settings.throughput_connections if "throughput" in selected else len(SUITES)
    pairs = max(pairs, len(SUITES))
    rust_pairs = len(SUITES) if rust_skip is None else 0
    c_pairs = len(SUITES) if c_skip is None else 0
    skips: Skips = {"rust": rust_skip, "c": c_skip}
    descriptor = traffic_descriptor(pairs, rust_pairs, c_pairs)
    with LocalApp(folder, descriptor, operator) as app:
        results.data.setdefault("traffic_app", {}).update(
            {
                "pairs": pairs,
                "rust_pairs": rust_pairs,
                "c_pairs": c_pairs,
                "modules": 2 * (pairs + rust_pairs + c_pairs),
                "agents_start_s": round(app.start_s, 3),
            }
        )
        asyncio.run(_run_all(app, selected, settings, floor, results, skips))
