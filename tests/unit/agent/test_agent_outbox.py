"""The durable outbox: ordered per peer, bounded with a refusal policy, acknowledged events
deleted, and everything unacknowledged still there after a restart (reopening the file)."""

from __future__ import annotations

from pathlib import Path

from authex.agent.outbox import Outbox
from authex.wire.messages import Event

PEER, OTHER = "127.0.0.1:7001", "127.0.0.1:7002"


def events(outbox: Outbox, peer: str, after: int = 0) -> list[Event]:
    return [e for _, e in outbox.pending(peer, after)]


def test_events_come_back_in_order_per_peer_and_acks_delete_them(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    for counter in (1, 2, 3):
        assert outbox.add(PEER, Event(5, 0, counter, b"c%d" % counter)) is not None
    outbox.add(OTHER, Event(6, 0, 1, b"other"))
    assert [e.counter for e in events(outbox, PEER)] == [1, 2, 3]
    assert outbox.acknowledge(PEER, 5, 0, 2)
    assert not outbox.acknowledge(PEER, 5, 0, 2)  # a second ack changes nothing
    assert [e.counter for e in events(outbox, PEER)] == [1, 3]
    assert (outbox.size(PEER), outbox.size(OTHER)) == (2, 1)
    first_id = next(iter(outbox.pending(PEER)))[0]
    assert [e.counter for e in events(outbox, PEER, after=first_id)] == [3]


def test_unacknowledged_events_survive_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(PEER, Event(5, 0, 1, b"kept"))
    outbox.add(PEER, Event(5, 0, 2, b"acked"))
    outbox.acknowledge(PEER, 5, 0, 2)
    outbox.commit()
    outbox.db.close()  # as if the agent was killed after the commit
    reopened = Outbox(tmp_path / "outbox.sqlite")
    assert events(reopened, PEER) == [Event(5, 0, 1, b"kept")]
    assert reopened.peers() == [PEER] and reopened.size(PEER) == 1


def test_a_full_outbox_refuses_and_counts_without_growing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", limit=3)
    for counter in range(1, 6):
        outbox.add(PEER, Event(5, 0, counter, b"x"))
    assert outbox.size(PEER) == 3 and outbox.full(PEER)
    assert outbox.refused[PEER] == 2
    assert [e.counter for e in events(outbox, PEER)] == [1, 2, 3]  # the oldest are kept
    outbox.acknowledge(PEER, 5, 0, 1)
    assert not outbox.full(PEER)
    assert outbox.add(OTHER, Event(6, 0, 1, b"y")) is not None  # other peers are unaffected


def test_the_same_event_is_stored_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    assert outbox.add(PEER, Event(5, 0, 1, b"x")) is not None
    assert outbox.add(PEER, Event(5, 0, 1, b"x")) is None
    assert outbox.size(PEER) == 1


def test_forgetting_every_connection_forgets_everything(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(PEER, Event(5, 0, 1, b"x"))
    outbox.add(OTHER, Event(6, 0, 1, b"y"))
    assert outbox.forget_connections([5, 6]) == 2
    assert outbox.peers() == [] and events(outbox, PEER) == []
    assert Outbox(tmp_path / "outbox.sqlite").peers() == []  # durable too


def test_row_ids_keep_increasing_when_the_outbox_empties(tmp_path: Path) -> None:
    """A link's cursor is the last row id it wrote: an emptied outbox must not start again at
    1, or the next events would sit behind the cursor."""
    outbox = Outbox(tmp_path / "outbox.sqlite")
    first = outbox.add(PEER, Event(5, 0, 1, b"a"))
    assert first is not None and outbox.acknowledge(PEER, 5, 0, 1)
    outbox.commit()
    second = outbox.add(PEER, Event(5, 0, 2, b"b"))
    assert second is not None and second > first
    assert events(outbox, PEER, after=first) == [Event(5, 0, 2, b"b")]


def test_an_outbox_of_the_previous_format_is_taken_over(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "outbox.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL,"
        " conn_id INTEGER NOT NULL, direction INTEGER NOT NULL, counter INTEGER NOT NULL,"
        " ciphertext BLOB NOT NULL);"
        "CREATE UNIQUE INDEX outbox_event ON outbox (peer, conn_id, direction, counter);"
    )
    old.executemany(
        "INSERT INTO outbox (peer, conn_id, direction, counter, ciphertext) VALUES (?,?,?,?,?)",
        [(PEER, 5, 0, 1, b"one"), (PEER, 5, 0, 2, b"two")],
    )
    old.commit()
    old.close()
    outbox = Outbox(path)
    assert events(outbox, PEER) == [Event(5, 0, 1, b"one"), Event(5, 0, 2, b"two")]
    assert outbox.add(PEER, Event(5, 0, 3, b"three")) == 3
    names = {row[0] for row in outbox.db.execute("SELECT name FROM sqlite_master")}
    assert "outbox" not in names
