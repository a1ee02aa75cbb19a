"""Which cipher suites a connection can use, as far as the TEEs of its two ends allow.

Each kind of TEE runs a fixed set of suites (:data:`TEE_SUITES`); the operator supports every
suite.  A connection can only use a suite that both ends' TEEs run — and, once the modules are
built, that both ends' manifests list (see ``interfaces.py``).  Results are always in the
preference order of :data:`SUITES`: aes-gcm-128, ascon-aead128, spongewrap-128.
"""

from __future__ import annotations

from collections.abc import Iterable

from authex.descriptor.model import SUITES, TEE_SUITES, Connection, Descriptor, Endpoint, Node


def common_suites(*supported: Iterable[str]) -> tuple[str, ...]:
    """The suites present in every one of ``supported``, in preference order."""
    sets = [set(suites) for suites in supported]
    return tuple(suite for suite in SUITES if all(suite in s for s in sets))


def end_node(descriptor: Descriptor, endpoint: Endpoint) -> Node | None:
    """The node a module end runs on; None for the operator.  KeyError if it is not defined."""
    if endpoint.module is None:
        return None
    return descriptor.node(descriptor.module(endpoint.module).node)


def suites_for_connection(descriptor: Descriptor, connection: Connection) -> tuple[str, ...]:
    """The suites the TEEs of both ends of ``connection`` support, in preference order.

    The operator end supports every suite.  The modules' manifests are not consulted (see
    ``check_interfaces``).  Raises ``KeyError`` for an end whose module or node the descriptor
    lacks, or whose node's TEE is unknown.
    """
    supported: list[tuple[str, ...]] = []
    for endpoint in (connection.source, connection.target):
        node = end_node(descriptor, endpoint)
        supported.append(SUITES if node is None else TEE_SUITES[node.tee])
    return common_suites(*supported)
