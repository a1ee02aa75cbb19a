"""Installing a route: telling the agents of a connection's nodes where its events go (add-route),
for a deploy and for every step of an update."""

from __future__ import annotations

from collections.abc import Iterable

from authex.deployer.plan import RouteSpec
from authex.deployer.session import Session
from authex.deployer.state import ConnectionState
from authex.wire.messages import AddRoute


async def install_route(
    session: Session,
    spec: RouteSpec,
    nodes: Iterable[str] | None = None,
    *,
    record: ConnectionState | None = None,
) -> None:
    """Send the route ``spec`` to the agents of ``nodes`` (by default both nodes of the route),
    in name order.  With ``record`` (the connection's state) each node's installed route is
    recorded there, and the state saved, as soon as that agent has it."""
    addresses = {n.name: n.address for n in session.descriptor.nodes}
    route = AddRoute(
        spec.conn_id,
        spec.from_node,
        spec.from_module,
        addresses[spec.from_node],
        spec.to_node,
        spec.to_module,
        addresses[spec.to_node],
    )
    targets = {spec.from_node, spec.to_node} if nodes is None else set(nodes)
    for node in sorted(targets):
        await (await session.client(node)).request(route)
        if record is not None:
            record.routes[node] = spec.digest(addresses)
            session.save()
