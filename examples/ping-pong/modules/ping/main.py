"""ping: the probe end of the ping-pong example, used by ``python -m bench``.

Three experiments, each started by the operator with an authenticated entry and each bounded in
count and in time (``budget_ms``; a run out of time still reports ``MIN_SAMPLES``):

- ``hop``: a chain of round trips, ``warmup`` untimed ones then up to ``count`` timed ones.  Every
  ping goes out on ``ping``; the pong module echoes it on its own output back into ``pong`` here,
  which records the round-trip time (``time.perf_counter_ns``) and sends the next ping.  Only one
  ping is in flight.  When the chain is done the round-trip times go to the operator on
  ``report``.
- ``request_rtt``: blocking ``ctx.request("ask", ...)`` calls to the pong module's handler,
  ``warmup`` untimed then up to ``count`` timed; the entry returns the round-trip times.
- ``blast``: a stream of sequence-numbered events on ``stream`` for a given time, with credit
  flow control: two windows are sent at once, then one more window for every ``credit`` event
  the receiver sends back.  After the deadline an end marker carries the number sent and the
  start time; the receiver reports its counts to the operator.

Every message starts with ``HEAD`` = run id, sequence number, window (u32 each, little-endian),
padded with zeros to the requested payload size.
"""

from __future__ import annotations

import struct
import time

from authex.sdk import Context, Module

module = Module()
module.outputs("ping", "stream", "report")
module.requests("ask")

HEAD = struct.Struct("<III")  # run, seq, window
END = 0xFFFFFFFF  # the sequence number of a stream's end marker
END_INFO = struct.Struct("<QQQ")  # after HEAD in the end marker: sent, start ns, stop ns
HOP_ARG = struct.Struct("<IIIII")  # run, count, warmup, size, budget (ms)
REQUEST_ARG = struct.Struct("<IIII")  # count, warmup, size, budget (ms)
MIN_SAMPLES = 5  # a run out of time still reports at least this many round trips
BLAST_ARG = struct.Struct("<IdII")  # run, seconds, size, window
REPORT_HEAD = struct.Struct("<IIII")  # run, samples, errors, reserved


def _padded(head: bytes, size: int) -> bytes:
    return head + bytes(max(0, size - len(head)))


def _samples(run: int, samples: list[int], errors: int) -> bytes:
    return REPORT_HEAD.pack(run, len(samples), errors, 0) + struct.pack(
        f"<{len(samples)}Q", *samples
    )


class _Hop:
    """The ping-pong chain in progress (one at a time)."""

    def __init__(self) -> None:
        self.run = 0
        self.count = 0
        self.warmup = 0
        self.size = 16
        self.seq = 0
        self.sent_at = 0
        self.errors = 0
        self.measuring = False
        self.warm_until = 0
        self.deadline = 0
        self.active = False
        self.samples: list[int] = []

    def start(self, run: int, count: int, warmup: int, size: int, budget_ms: int) -> None:
        now = time.perf_counter_ns()
        self.run, self.count, self.warmup, self.size = run, count, warmup, size
        self.seq = self.errors = 0
        self.samples = []
        self.measuring = warmup == 0
        self.warm_until = now + budget_ms * 250_000  # a quarter of the budget at most
        self.deadline = now + budget_ms * 1_000_000
        self.active = True

    def done(self, now: int) -> bool:
        """Enough samples, or out of time (with a few samples, or far out of time)."""
        n = len(self.samples)
        if n >= self.count:
            return True
        if now < self.deadline:
            return False
        return n >= MIN_SAMPLES or now >= self.deadline + 2 * (self.deadline - self.warm_until)

    def send(self, ctx: Context) -> None:
        payload = _padded(HEAD.pack(self.run, self.seq, 0), self.size)
        self.sent_at = time.perf_counter_ns()
        ctx.emit("ping", payload)


class _Blast:
    """The credit-controlled stream in progress (one at a time)."""

    def __init__(self) -> None:
        self.run = 0
        self.size = 16
        self.window = 256
        self.seq = 0
        self.start_ns = 0
        self.deadline = 0
        self.active = False

    def start(self, run: int, seconds: float, size: int, window: int) -> None:
        self.run, self.size, self.window, self.seq = run, size, window, 0
        self.start_ns = time.perf_counter_ns()
        self.deadline = self.start_ns + int(seconds * 1e9)
        self.active = True

    def send_window(self, ctx: Context) -> None:
        size, run, window = self.size, self.run, self.window
        pad = bytes(max(0, size - HEAD.size))
        emit = ctx.emit
        for seq in range(self.seq, self.seq + window):
            emit("stream", HEAD.pack(run, seq, window) + pad)
        self.seq += window

    def finish(self, ctx: Context) -> None:
        self.active = False
        stop = time.perf_counter_ns()
        info = END_INFO.pack(self.seq, self.start_ns, stop)
        ctx.emit("stream", HEAD.pack(self.run, END, self.window) + info)


_hop = _Hop()
_blast = _Blast()


@module.entry()
def hop(ctx: Context, arg: bytes) -> bytes:
    """Start a ping-pong chain: arg = HOP_ARG(run, count, warmup, size, budget_ms)."""
    run, count, warmup, size, budget_ms = HOP_ARG.unpack(arg)
    if count < 1 or size < HEAD.size or budget_ms < 1:
        raise ValueError(f"need count >= 1, size >= {HEAD.size} and budget_ms >= 1")
    _hop.start(run, count, warmup, size, budget_ms)
    _hop.send(ctx)
    return b"started"


@module.input()
def pong(ctx: Context, data: bytes) -> None:
    now = time.perf_counter_ns()
    run, seq, _ = HEAD.unpack_from(data)
    hop = _hop
    if not hop.active or run != hop.run or seq != hop.seq or len(data) != hop.size:
        hop.errors += 1
        return
    if hop.measuring:
        hop.samples.append(now - hop.sent_at)
    elif seq + 1 >= hop.warmup or now >= hop.warm_until:
        hop.measuring = True
    hop.seq += 1
    if not hop.done(now):
        hop.send(ctx)
        return
    hop.active = False
    ctx.emit("report", _samples(hop.run, hop.samples, hop.errors))


@module.entry()
def request_rtt(ctx: Context, arg: bytes) -> bytes:
    """Timed requests to the connected handler: arg = REQUEST_ARG(count, warmup, size,
    budget_ms); returns REPORT_HEAD and the round-trip times (ns)."""
    count, warmup, size, budget_ms = REQUEST_ARG.unpack(arg)
    begin = time.perf_counter_ns()
    warm_until = begin + budget_ms * 250_000
    deadline = begin + budget_ms * 1_000_000
    samples: list[int] = []
    errors = 0
    i = 0
    while len(samples) < count:
        payload = _padded(HEAD.pack(0, i, 0), size)
        start = time.perf_counter_ns()
        reply = ctx.request("ask", payload, timeout=10.0)
        end = time.perf_counter_ns()
        if reply != payload:
            errors += 1
        if i >= warmup or start >= warm_until:
            samples.append(end - start)
        i += 1
        if end >= deadline and len(samples) >= MIN_SAMPLES:
            break
    return _samples(0, samples, errors)


@module.entry()
def blast(ctx: Context, arg: bytes) -> bytes:
    """Start a stream: arg = BLAST_ARG(run, seconds, size, window)."""
    run, seconds, size, window = BLAST_ARG.unpack(arg)
    if size < HEAD.size or window < 1 or not 0 < seconds <= 120:
        raise ValueError(f"need size >= {HEAD.size}, window >= 1 and 0 < seconds <= 120")
    _blast.start(run, seconds, size, window)
    _blast.send_window(ctx)
    _blast.send_window(ctx)
    return b"started"


@module.input()
def credit(ctx: Context, data: bytes) -> None:
    run, _, _ = HEAD.unpack_from(data)
    if not _blast.active or run != _blast.run:
        return
    if time.perf_counter_ns() >= _blast.deadline:
        _blast.finish(ctx)
    else:
        _blast.send_window(ctx)
