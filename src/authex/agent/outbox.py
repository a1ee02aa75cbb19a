"""Edge: the agent's durable outbox of sealed events bound for other agents (SQLite, WAL).

Every event routed to another node is stored before it is sent and deleted only when the
receiving agent acknowledges that its module took it (EventAck).  After a reconnection, or a
restart of this agent, everything still stored for a peer is sent again, in order; the
receiver drops what it already delivered.  Each peer's outbox is bounded: when full, new events
for that peer are refused (dropped and counted, with a log line) — the modules sending them are
slowed down first (see NodeAgent.outbox_room).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from authex.wire.messages import Event

log = logging.getLogger("authex.agent.outbox")
DEFAULT_LIMIT = 100_000  # events per peer
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    peer TEXT NOT NULL,
    conn_id INTEGER NOT NULL,
    direction INTEGER NOT NULL,
    counter INTEGER NOT NULL,
    ciphertext BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_peer ON outbox (peer, id);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_event ON outbox (peer, conn_id, direction, counter);
"""


TAIL_BYTES = 4 << 20  # ciphertext kept in memory per peer besides the database


class _Tail:
    """Every stored event of one peer with a row id above ``start``, in order."""

    __slots__ = ("bytes", "rows", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.rows: deque[tuple[int, Event]] = deque()
        self.bytes = 0


class Outbox:
    def __init__(self, path: Path | None, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.db = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.sizes: dict[str, int] = dict(
            self.db.execute("SELECT peer, COUNT(*) FROM outbox GROUP BY peer").fetchall()
        )
        self.refused: dict[str, int] = {}
        self._in_transaction = False
        # per peer, the stored events newer than what its link last read: kept in memory while
        # the link keeps up, so sending them needs no query (dropped when too big)
        self._tails: dict[str, _Tail] = {}

    def peers(self) -> list[str]:
        return [peer for peer, size in self.sizes.items() if size]

    def size(self, peer: str) -> int:
        return self.sizes.get(peer, 0)

    def full(self, peer: str) -> bool:
        return self.size(peer) >= self.limit

    def _begin(self) -> None:
        if not self._in_transaction:
            self.db.execute("BEGIN")
            self._in_transaction = True

    def commit(self) -> None:
        """Make what was added or acknowledged so far durable (called once per batch)."""
        if self._in_transaction:
            self.db.execute("COMMIT")
            self._in_transaction = False

    def add(self, peer: str, event: Event) -> int | None:
        """Store an event for ``peer``; its row id, or None if refused (full or duplicate)."""
        if self.full(peer):
            self.refused[peer] = self.refused.get(peer, 0) + 1
            if self.refused[peer] == 1 or self.refused[peer] % 1000 == 0:
                log.warning(
                    "outbox for %s full (%d events): refusing new events (%d so far)",
                    peer,
                    self.limit,
                    self.refused[peer],
                )
            return None
        self._begin()
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO outbox (peer, conn_id, direction, counter, ciphertext)"
            " VALUES (?, ?, ?, ?, ?)",
            (peer, event.conn_id, event.direction, event.counter, event.ciphertext),
        )
        if cursor.rowcount == 0:
            return None
        self.sizes[peer] = self.size(peer) + 1
        row_id = cursor.lastrowid
        tail = self._tails.get(peer)
        if tail is not None and row_id is not None:
            tail.rows.append((row_id, event))
            tail.bytes += len(event.ciphertext)
            if tail.bytes > TAIL_BYTES:  # the link does not keep up: read from the database
                del self._tails[peer]
        return row_id

    def acknowledge(self, peer: str, conn_id: int, direction: int, counter: int) -> bool:
        self._begin()
        cursor = self.db.execute(
            "DELETE FROM outbox WHERE peer = ? AND conn_id = ? AND direction = ? AND counter = ?",
            (peer, conn_id, direction, counter),
        )
        if cursor.rowcount:
            self.sizes[peer] = self.size(peer) - 1
            return True
        return False

    def pending(self, peer: str, after: int = 0, batch: int = 1000) -> Iterator[tuple[int, Event]]:
        """Stored events for ``peer`` with row id > ``after``, oldest first."""
        tail = self._tails.get(peer)
        if tail is not None and after >= tail.start:
            kept = tail.rows
            while kept and kept[0][0] <= after:  # read before: the link has them
                tail.bytes -= len(kept.popleft()[1].ciphertext)
            tail.start = after
            if len(kept) <= batch:
                return iter(list(kept))
            return iter([kept[i] for i in range(batch)])
        return self._query(peer, after, batch)

    def _query(self, peer: str, after: int, batch: int) -> Iterator[tuple[int, Event]]:
        rows = self.db.execute(
            "SELECT id, conn_id, direction, counter, ciphertext FROM outbox"
            " WHERE peer = ? AND id > ? ORDER BY id LIMIT ?",
            (peer, after, batch),
        ).fetchall()
        if len(rows) < batch:  # read to the end: what is added from now on is kept in memory
            self._tails[peer] = _Tail(rows[-1][0] if rows else after)
        for row_id, conn_id, direction, counter, ciphertext in rows:
            yield row_id, Event(conn_id, direction, counter, ciphertext)

    def forget_connection(self, conn_id: int) -> int:
        """Drop every stored event of a connection (it was re-keyed: no module can open them
        any more); how many were dropped."""
        self._tails.clear()
        self._begin()
        dropped = self.db.execute("DELETE FROM outbox WHERE conn_id = ?", (conn_id,)).rowcount
        self.commit()
        if dropped:
            self.sizes = dict(
                self.db.execute("SELECT peer, COUNT(*) FROM outbox GROUP BY peer").fetchall()
            )
        return int(dropped)

    def clear(self) -> None:
        """Forget every stored event (the deployment was reset: their connections are gone)."""
        self._tails.clear()
        self._begin()
        self.db.execute("DELETE FROM outbox")
        self.commit()
        self.sizes.clear()

    def close(self) -> None:
        self.commit()
        self.db.close()
