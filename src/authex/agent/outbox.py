"""Edge: the agent's durable outbox of sealed events bound for other agents (SQLite, WAL).

Every event routed to another node is stored before it is sent and deleted only when the
receiving agent acknowledges that its module took it (EventAck).  After a reconnection, or a
restart of this agent, everything still stored for a peer is sent again, in order; the
receiver drops what it already delivered.  Each peer's outbox is bounded: when full, new events
for that peer are refused (dropped and counted in the connection's ``dropped``, with a log line).
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
# One table, no secondary index: every insert dirties one B-tree only, which halves the cost of
# the commit each batch waits for.  Row ids are given by the outbox (increasing within a run, so
# a link's cursor never skips a row); duplicates are kept out by the in-memory key map, and rows
# are deleted by id.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    peer TEXT NOT NULL,
    conn_id INTEGER NOT NULL,
    direction INTEGER NOT NULL,
    counter INTEGER NOT NULL,
    ciphertext BLOB NOT NULL
);
"""
# what an agent before this format kept: taken over once, in order, then dropped
_OLD_TABLE = "outbox"


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
        self._migrate()
        self.refused: dict[str, int] = {}
        self._in_transaction = False
        # per peer, the stored events newer than what its link last read: kept in memory while
        # the link keeps up, so sending them needs no query (dropped when too big)
        self._tails: dict[str, _Tail] = {}
        # row ids of acknowledged events not yet deleted from the database (see acknowledge)
        self._deleting: list[int] = []
        self._next_id = 1  # the row id of the next event stored (see _load_keys)
        self._load_keys()

    def _migrate(self) -> None:
        old = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (_OLD_TABLE,)
        ).fetchone()
        if old is None:
            return
        self.db.execute("BEGIN")
        self.db.execute(
            "INSERT INTO events (id, peer, conn_id, direction, counter, ciphertext)"
            f" SELECT id, peer, conn_id, direction, counter, ciphertext FROM {_OLD_TABLE}"
        )
        self.db.execute(f"DROP TABLE {_OLD_TABLE}")
        self.db.execute("COMMIT")

    def _load_keys(self) -> None:
        """What is stored, per peer: the row id of every (conn_id, direction, counter)."""
        self._keys: dict[str, dict[tuple[int, int, int], int]] = {}
        last = 0
        for row_id, peer, conn_id, direction, counter in self.db.execute(
            "SELECT id, peer, conn_id, direction, counter FROM events"
        ):
            self._keys.setdefault(peer, {})[(conn_id, direction, counter)] = row_id
            last = max(last, row_id)
        self._next_id = max(self._next_id, last + 1)  # never back: a link's cursor is an id
        self.sizes: dict[str, int] = {peer: len(keys) for peer, keys in self._keys.items()}

    def peers(self) -> list[str]:
        return [peer for peer, size in self.sizes.items() if size]

    def size(self, peer: str) -> int:
        return self.sizes.get(peer, 0)

    def per_connection(self) -> dict[int, int]:
        """How many stored events each connection has, over every peer (for status)."""
        counts: dict[int, int] = {}
        for keys in self._keys.values():
            for conn_id, _, _ in keys:
                counts[conn_id] = counts.get(conn_id, 0) + 1
        return counts

    def oldest(self, peer: str) -> int | None:
        """The row id of the oldest event still stored for ``peer``; None if there is none."""
        keys = self._keys.get(peer)
        return min(keys.values()) if keys else None

    def full(self, peer: str) -> bool:
        return self.size(peer) >= self.limit

    def _begin(self) -> None:
        if not self._in_transaction:
            self.db.execute("BEGIN")
            self._in_transaction = True

    def commit_stored(self) -> None:
        """Make what was added so far durable (called once per batch, before it is sent);
        acknowledged events are deleted later (see acknowledge)."""
        if self._in_transaction:
            self.db.execute("COMMIT")
            self._in_transaction = False

    def commit(self) -> None:
        """Make everything added or acknowledged so far durable."""
        self._delete_acknowledged()
        self.commit_stored()

    @property
    def deleting(self) -> int:
        """Acknowledged events still in the database (until the next commit)."""
        return len(self._deleting)

    def _delete_acknowledged(self) -> None:
        if self._deleting:
            self._begin()
            self.db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in self._deleting])
            self._deleting = []

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
        key = (event.conn_id, event.direction, event.counter)
        keys = self._keys.get(peer)
        if keys is None:
            keys = self._keys[peer] = {}
        elif key in keys:
            return None  # already queued
        self._begin()
        row_id = self._next_id
        self.db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
            (row_id, peer, event.conn_id, event.direction, event.counter, event.ciphertext),
        )
        self._next_id = row_id + 1
        keys[key] = row_id
        self.sizes[peer] = self.size(peer) + 1
        tail = self._tails.get(peer)
        if tail is not None:
            tail.rows.append((row_id, event))
            tail.bytes += len(event.ciphertext)
            if tail.bytes > TAIL_BYTES:  # the link does not keep up: read from the database
                del self._tails[peer]
        return row_id

    def acknowledge(self, peer: str, conn_id: int, direction: int, counter: int) -> bool:
        """The peer took this event: it leaves the outbox now (it is never sent again), and the
        database at the next commit.  An agent killed before that commit sends it again after
        its restart, and the receiver drops it as a resend."""
        keys = self._keys.get(peer)
        row_id = keys.pop((conn_id, direction, counter), None) if keys is not None else None
        if row_id is None:
            return False
        self._deleting.append(row_id)
        self.sizes[peer] = self.size(peer) - 1
        return True

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
        self._delete_acknowledged()
        rows = self.db.execute(
            "SELECT id, conn_id, direction, counter, ciphertext FROM events"
            " WHERE peer = ? AND id > ? ORDER BY id LIMIT ?",
            (peer, after, batch),
        ).fetchall()
        if len(rows) < batch:  # read to the end: what is added from now on is kept in memory
            self._tails[peer] = _Tail(rows[-1][0] if rows else after)
        return iter(
            [
                (row_id, Event(conn_id, direction, counter, ciphertext))
                for row_id, conn_id, direction, counter, ciphertext in rows
            ]
        )

    def forget_connection(self, conn_id: int) -> int:
        """Drop every stored event of a connection (it was re-keyed: no module can open them
        any more); how many were dropped."""
        return self.forget_connections([conn_id])

    def forget_connections(self, conn_ids: list[int]) -> int:
        """Drop every stored event of these connections (re-keyed, or their deployment was
        reset), in one transaction; how many were dropped."""
        self._tails.clear()
        self._delete_acknowledged()
        self._begin()
        dropped = sum(
            self.db.execute("DELETE FROM events WHERE conn_id = ?", (c,)).rowcount for c in conn_ids
        )
        self.commit()
        if dropped:
            self._load_keys()
        return int(dropped)

    def close(self) -> None:
        self.commit()
        self.db.close()
