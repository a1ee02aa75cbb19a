"""The agent's pure routing table: where a message on (connection, direction) goes from here,
and which module may emit it."""

from __future__ import annotations

import pytest

from authex.agent.router import LocalModule, Operator, RemoteNode, RouteTable, UnknownRoute
from authex.wire.messages import AddRoute, Direction

FWD, RSP = Direction.FORWARD, Direction.RESPONSE


def route(conn_id: int, from_node: str, from_module: str, to_node: str, to_module: str) -> AddRoute:
    return AddRoute(
        conn_id, from_node, from_module, f"{from_node}:1", to_node, to_module, f"{to_node}:2"
    )


@pytest.fixture
def table() -> RouteTable:
    t = RouteTable("n1")
    t.add(route(1, "n1", "a", "n1", "b"))  # local to local
    t.add(route(2, "n1", "a", "n2", "c"))  # local to remote
    t.add(route(3, "n2", "c", "n1", "a"))  # remote to local
    t.add(route(4, "n1", "", "n1", "a"))  # operator to local
    t.add(route(5, "n1", "a", "n1", ""))  # local to operator
    return t


def test_local_to_local(table: RouteTable) -> None:
    assert table.target(1, FWD) == LocalModule("b")
    assert table.target(1, RSP) == LocalModule("a")


def test_local_to_remote(table: RouteTable) -> None:
    assert table.target(2, FWD) == RemoteNode("n2", "n2:2")
    assert table.target(2, RSP) == LocalModule("a")


def test_remote_to_local(table: RouteTable) -> None:
    assert table.target(3, FWD) == LocalModule("a")
    assert table.target(3, RSP) == RemoteNode("n2", "n2:1")


def test_operator_ends(table: RouteTable) -> None:
    assert table.target(4, FWD) == LocalModule("a")
    assert table.target(4, RSP) == Operator()  # responses to operator requests
    assert table.target(5, FWD) == Operator()
    assert table.target(5, RSP) == LocalModule("a")


def test_unknown_route(table: RouteTable) -> None:
    with pytest.raises(UnknownRoute, match="no route for connection 99"):
        table.target(99, FWD)
    assert table.source_module(99, FWD) is None


def test_source_module(table: RouteTable) -> None:
    assert table.source_module(1, FWD) == "a"
    assert table.source_module(1, RSP) == "b"
    assert table.source_module(2, FWD) == "a"
    assert table.source_module(2, RSP) is None  # c answers on n2, not here
    assert table.source_module(3, FWD) is None  # c emits on n2
    assert table.source_module(3, RSP) == "a"
    assert table.source_module(5, FWD) == "a"


def test_add_replaces_and_clear_empties(table: RouteTable) -> None:
    table.add(route(1, "n1", "a", "n3", "z"))
    assert table.target(1, FWD) == RemoteNode("n3", "n3:2")
    table.clear()
    assert table.routes == {}
    with pytest.raises(UnknownRoute):
        table.target(1, FWD)
