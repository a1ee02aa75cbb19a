"""pong: the echo end of the ping-pong example, used by ``python -m bench``.

- ``ping`` events are sent straight back on ``pong`` (the ping module times the round trip);
- ``ask`` requests are answered with their own data;
- ``stream`` events are counted and their sequence numbers checked: gaps (lost events),
  repeats or reordering are counted separately.  After every ``window`` events one ``credit``
  event goes back to the sender.  The end marker makes this module report to the operator on
  ``report``: ``STREAM_REPORT`` = run, received, gaps, out of order, sent (from the marker), the
  sender's start and stop time and the time the first and last event arrived here (ns,
  ``time.perf_counter_ns``; CLOCK_MONOTONIC, so comparable with the sender's on one machine).
"""

from __future__ import annotations

import struct
import time

from authex.sdk import Context, Module

module = Module()
module.outputs("pong", "credit", "report")

HEAD = struct.Struct("<III")  # run, seq, window
END = 0xFFFFFFFF
END_INFO = struct.Struct("<QQQ")  # sent, start ns, stop ns
STREAM_REPORT = struct.Struct("<IQQQQQQQQ")


class _Stream:
    def __init__(self) -> None:
        self.run = -1
        self.expected = 0
        self.received = 0
        self.gaps = 0
        self.out_of_order = 0
        self.first = 0
        self.last = 0

    def restart(self, run: int, now: int) -> None:
        self.run, self.expected, self.received = run, 0, 0
        self.gaps = self.out_of_order = 0
        self.first = self.last = now


_stream = _Stream()


@module.input()
def ping(ctx: Context, data: bytes) -> None:
    ctx.emit("pong", data)


@module.handler()
def ask(ctx: Context, data: bytes) -> bytes:
    return data


@module.input()
def stream(ctx: Context, data: bytes) -> None:
    now = time.perf_counter_ns()
    run, seq, window = HEAD.unpack_from(data)
    state = _stream
    if run != state.run:
        state.restart(run, now)
    if seq == END:
        sent, start, stop = END_INFO.unpack_from(data, HEAD.size)
        ctx.emit(
            "report",
            STREAM_REPORT.pack(
                run,
                state.received,
                state.gaps,
                state.out_of_order,
                sent,
                start,
                stop,
                state.first,
                state.last,
            ),
        )
        return
    if seq == state.expected:
        state.expected = seq + 1
    elif seq > state.expected:
        state.gaps += seq - state.expected
        state.expected = seq + 1
    else:
        state.out_of_order += 1
    state.received += 1
    state.last = now
    if window and state.received % window == 0:
        ctx.emit("credit", HEAD.pack(run, state.received, window))
