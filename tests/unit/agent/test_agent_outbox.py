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


def test_clear_forgets_everything(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.add(PEER, Event(5, 0, 1, b"x"))
    outbox.add(OTHER, Event(6, 0, 1, b"y"))
    outbox.clear()
    assert outbox.peers() == [] and events(outbox, PEER) == []
    assert Outbox(tmp_path / "outbox.sqlite").peers() == []  # durable too
