"""Pure routing: where does a message on (connection, direction) go from this node?

Direction 0 (events, requests) goes to the connection's target; direction 1 (responses) goes
back to its source.  An empty module name is the operator, served over control links.
"""

from __future__ import annotations

from dataclasses import dataclass

from authex.wire.messages import AddRoute, Direction


@dataclass(frozen=True)
class LocalModule:
    module: str


@dataclass(frozen=True)
class RemoteNode:
    node: str
    address: str


@dataclass(frozen=True)
class Operator:
    pass


Target = LocalModule | RemoteNode | Operator


class UnknownRoute(LookupError):
    pass


class RouteTable:
    def __init__(self, node: str) -> None:
        self.node = node
        self.routes: dict[int, AddRoute] = {}

    def add(self, route: AddRoute) -> None:
        self.routes[route.conn_id] = route

    def clear(self) -> None:
        self.routes.clear()

    def target(self, conn_id: int, direction: int) -> Target:
        route = self.routes.get(conn_id)
        if route is None:
            raise UnknownRoute(f"no route for connection {conn_id}")
        if direction == Direction.FORWARD:
            node, module, address = route.to_node, route.to_module, route.to_address
        else:
            node, module, address = route.from_node, route.from_module, route.from_address
        if module == "":
            # The operator is reached through the node of the other end, by a control link.
            return Operator()
        if node == self.node:
            return LocalModule(module)
        return RemoteNode(node, address)

    def source_module(self, conn_id: int, direction: int) -> str | None:
        """The module that may emit on (conn, direction) from this node, or None."""
        route = self.routes.get(conn_id)
        if route is None:
            return None
        if direction == Direction.FORWARD:
            return route.from_module if route.from_node == self.node else None
        return route.to_module if route.to_node == self.node else None
