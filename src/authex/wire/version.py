"""What two ends of a link say when their authex protocol versions differ (spec/protocol.md §4).

The accepting agent answers a ``Hello`` of another version with ``Error(BAD_REQUEST, refusal)``
and closes the link; the deployer recognises that answer (and the one version 1 agents gave) and
shows both versions and the fix.
"""

from __future__ import annotations

import re

FIX = "run the same authex version on both"
_REFUSAL = re.compile(r"^node \S+ speaks authex protocol (\d+), ")
_VERSION_1_REFUSAL = re.compile(r"^protocol version \d+ unsupported$")  # what version 1 agents say


def refusal(node: str, own: int, peer: str, peer_version: int) -> str:
    """Agent ``node``, speaking version ``own``, answers a ``Hello`` of ``peer_version`` from
    ``peer`` (its ``Hello.peer``, shown only when it is a short printable name: it ends up in a
    log line)."""
    who = peer if peer and len(peer) <= 64 and peer.isprintable() else "its peer"
    return f"node {node} speaks authex protocol {own}, {who} speaks {peer_version}: {FIX}"


def refused_by(message: str) -> int | None:
    """The agent's own protocol version, if ``message`` is its refusal of our ``Hello``."""
    found = _REFUSAL.match(message)
    if found:
        return int(found.group(1))
    if _VERSION_1_REFUSAL.match(message):
        return 1
    return None


def mismatch(node: str, agent_version: int, own: int) -> str:
    """What a deployer speaking version ``own`` says of the agent on ``node``."""
    return (
        f"agent on node {node} speaks authex protocol {agent_version}, this deployer speaks "
        f"{own}: {FIX}"
    )
