"""Bounded accounting of what untrusted input makes an agent drop, and log lines that such input
can cause in bulk, rate-limited per kind.

Anyone who reaches a node's data port can send any number of events, and anyone can open and drop
any number of connections.  Nothing of that may cost the agent memory or log lines per event:

- ``BoundedCounts`` counts by source (a peer, an address, a module) with at most ``limit``
  sources kept; when a new one comes and there is no room, the one with the smallest count (the
  oldest of equals) is folded into ``others``, so the biggest sources stay, every count shown is
  exact and so is the total;
- ``LogLimiter`` (sans-I/O, the clock is passed in) lets through the first line of a kind, then
  only counts further lines of that kind until ``interval`` seconds have passed since it, and
  then gives one summary line: how many more there were, from which sources (bounded), and the
  last one.  So every kind costs at most two lines per interval, however much comes in;
- ``ThrottledLog`` carries a limiter's lines out to a logger and flushes its summaries when
  their interval is over (a timer on the running event loop; outside one, at the next line).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

SUMMARY_INTERVAL = 10.0  # seconds: at most one full line and one summary per kind in this time
SUMMARY_SOURCES = 8  # sources named in a summary line


class BoundedCounts:
    """Counts by source, with at most ``limit`` sources kept (the biggest; the rest in
    ``others``).  ``total`` is exact."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: Counter[str] = Counter()
        self.others = 0
        self.total = 0

    def add(self, source: str, count: int = 1) -> None:
        self.total += count
        if source in self.counts or len(self.counts) < self.limit:
            self.counts[source] += count
            return
        smallest, least = min(self.counts.items(), key=lambda item: item[1])  # oldest of equals
        del self.counts[smallest]
        self.others += least
        self.counts[source] = count

    def top(self) -> list[tuple[str, int]]:
        """The sources kept, by descending count (ties by name)."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))

    def clear(self) -> None:
        self.counts.clear()
        self.others = 0
        self.total = 0

    def describe(self) -> str:
        """``a (5), b (3), 2 more from other sources``."""
        named = [f"{source} ({count})" for source, count in self.top()]
        if self.others:
            named.append(f"{self.others} from other sources")
        return ", ".join(named)


@dataclass
class _Window:
    started: float
    level: int
    logger: logging.Logger
    suppressed: int = 0
    last: str = ""
    sources: BoundedCounts = field(default_factory=lambda: BoundedCounts(SUMMARY_SOURCES))


Line = tuple[logging.Logger, int, str]


class LogLimiter:
    """Per kind: the first line, then a count, then one summary line per ``interval``."""

    def __init__(self, interval: float = SUMMARY_INTERVAL) -> None:
        self.interval = interval
        self._windows: dict[str, _Window] = {}

    def note(
        self, logger: logging.Logger, level: int, kind: str, source: str, text: str, now: float
    ) -> list[Line]:
        """A line of ``kind`` caused by ``source``: the lines to log now (maybe none)."""
        lines: list[Line] = []
        window = self._windows.get(kind)
        if window is not None and now - window.started >= self.interval:
            lines += self._end(kind, window)
            window = None
        if window is None:
            self._windows[kind] = _Window(now, level, logger)
            lines.append((logger, level, text))
            return lines
        window.suppressed += 1
        window.last = text
        window.sources.add(source or "?")
        return lines

    def due(self) -> float | None:
        """When the next summary is due (a clock value), or None if none is owed."""
        owed = [w.started + self.interval for w in self._windows.values() if w.suppressed]
        return min(owed) if owed else None

    def flush(self, now: float, *, everything: bool = False) -> list[Line]:
        """The summaries whose interval is over (``everything``: all of them, now)."""
        lines: list[Line] = []
        for kind, window in list(self._windows.items()):
            if everything or now - window.started >= self.interval:
                lines += self._end(kind, window)
        return lines

    def _end(self, kind: str, window: _Window) -> list[Line]:
        del self._windows[kind]
        if not window.suppressed:
            return []
        text = (
            f"{window.suppressed} more like this ({kind}) in the last {self.interval:g}s, "
            f"from {window.sources.describe()}; the last: {window.last}"
        )
        return [(window.logger, window.level, text)]


class ThrottledLog:
    """A ``LogLimiter`` that logs: lines untrusted input can cause in bulk go through here."""

    def __init__(self, interval: float = SUMMARY_INTERVAL) -> None:
        self.limiter = LogLimiter(interval)
        self._timer: asyncio.TimerHandle | None = None

    def log(
        self,
        logger: logging.Logger,
        level: int,
        kind: str,
        text: str,
        source: str = "",
    ) -> None:
        self._emit(self.limiter.note(logger, level, kind, source, text, time.monotonic()))
        self._schedule()

    def warning(self, logger: logging.Logger, kind: str, text: str, source: str = "") -> None:
        self.log(logger, logging.WARNING, kind, text, source)

    def info(self, logger: logging.Logger, kind: str, text: str, source: str = "") -> None:
        self.log(logger, logging.INFO, kind, text, source)

    def close(self) -> None:
        """Log every summary still owed (the agent is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._emit(self.limiter.flush(time.monotonic(), everything=True))

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        due = self.limiter.due()
        if due is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a unit test): flushed at the next line
            return
        self._timer = loop.call_later(max(0.0, due - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._emit(self.limiter.flush(time.monotonic()))
        self._schedule()

    @staticmethod
    def _emit(lines: list[Line]) -> None:
        for logger, level, text in lines:
            logger.log(level, "%s", text)
