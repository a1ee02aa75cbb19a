"""Rate-limited log lines and bounded counts by source (agent/lograte.py), with a clock passed
in: every kind costs at most two lines per interval however many come, and the counts by
source keep the biggest sources, exactly, within a fixed size."""

from __future__ import annotations

import logging

import pytest

from authex.agent.lograte import BoundedCounts, LogLimiter, ThrottledLog

LOG = logging.getLogger("test.lograte")


def texts(lines: list[tuple[logging.Logger, int, str]]) -> list[str]:
    return [text for _, _, text in lines]


def test_bounded_counts_keep_the_biggest_sources_exactly() -> None:
    counts = BoundedCounts(3)
    for source, n in (("a", 5), ("b", 1), ("c", 2)):
        counts.add(source, n)
    counts.add("d")  # no room: the smallest (b, 1) makes room
    counts.add("d")
    assert counts.top() == [("a", 5), ("c", 2), ("d", 2)]
    assert (counts.others, counts.total) == (1, 10)
    for n in range(1000):  # many one-off sources: the big ones stay, nothing grows
        counts.add(f"x{n}")
    assert [s for s, _ in counts.top()][:1] == ["a"] and len(counts.counts) == 3
    assert counts.total == 1010 and sum(n for _, n in counts.top()) + counts.others == 1010
    assert counts.describe().startswith("a (5), ")
    counts.clear()
    assert (counts.top(), counts.others, counts.total) == ([], 0, 0)


def test_the_first_line_of_a_kind_then_one_summary_per_interval() -> None:
    limiter = LogLimiter(interval=10.0)
    assert texts(limiter.note(LOG, logging.WARNING, "no route", "p@h", "first", 0.0)) == ["first"]
    for n in range(100_000):
        assert limiter.note(LOG, logging.WARNING, "no route", "p@h", f"line {n}", 1.0) == []
    assert limiter.due() == 10.0
    assert limiter.flush(9.9) == []
    (summary,) = texts(limiter.flush(10.0))
    assert summary == (
        "100000 more like this (no route) in the last 10s, from p@h (100000); the last: line 99999"
    )
    assert limiter.due() is None
    assert texts(limiter.note(LOG, logging.WARNING, "no route", "p@h", "again", 11.0)) == ["again"]


def test_kinds_are_limited_separately_and_a_quiet_window_ends_without_a_line() -> None:
    limiter = LogLimiter(interval=10.0)
    assert texts(limiter.note(LOG, logging.INFO, "idle", "h", "idle 1", 0.0)) == ["idle 1"]
    assert texts(limiter.note(LOG, logging.WARNING, "tls", "h", "tls 1", 0.0)) == ["tls 1"]
    assert limiter.note(LOG, logging.WARNING, "tls", "h", "tls 2", 5.0) == []
    assert limiter.due() == 10.0  # only the kind that held a line back owes a summary
    lines = limiter.flush(10.0)
    assert [(level, text.split(" in ")[0]) for _, level, text in lines] == [
        (logging.WARNING, "1 more like this (tls)")
    ]
    # a line after the interval, with no flush in between: the summary comes first
    limiter.note(LOG, logging.WARNING, "x", "h", "x 1", 20.0)
    limiter.note(LOG, logging.WARNING, "x", "h", "x 2", 21.0)
    assert [t.split(" (")[0] for t in texts(limiter.note(LOG, 30, "x", "h", "x 3", 31.0))] == [
        "1 more like this",
        "x 3",
    ]


def test_summaries_name_a_bounded_number_of_sources() -> None:
    limiter = LogLimiter(interval=10.0)
    limiter.note(LOG, logging.WARNING, "k", "s0", "t", 0.0)
    for n in range(10_000):
        limiter.note(LOG, logging.WARNING, "k", f"s{n}", "t", 1.0)
    (summary,) = texts(limiter.flush(10.0))
    assert summary.count("(1)") <= 8 and "from other sources" in summary
    assert len(summary) < 400


def test_throttled_log_without_an_event_loop_flushes_at_the_next_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([0.0, 1.0, 2.0, 20.0, 21.0])
    monkeypatch.setattr("authex.agent.lograte.time.monotonic", lambda: next(clock))
    throttled = ThrottledLog(interval=10.0)
    with caplog.at_level(logging.INFO, logger="test.lograte"):
        for n in range(3):
            throttled.warning(LOG, "k", f"line {n}", "p")
        throttled.info(LOG, "k", "line 3", "p")  # after the interval: summary, then this one
        throttled.close()  # nothing more held back
    assert [r.getMessage().split(" in the")[0] for r in caplog.records] == [
        "line 0",
        "2 more like this (k)",
        "line 3",
    ]
