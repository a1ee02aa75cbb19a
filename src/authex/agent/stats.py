"""Per-connection counters the agent can observe without any key: what it routed where."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from authex.wire.messages import RejectReason


@dataclass
class ConnectionStats:
    delivered: int = 0  # handed to a local module
    forwarded: int = 0  # sent on to a remote agent
    to_operator: int = 0  # handed to watchers / pending operator requests
    dropped: int = 0  # no route, wrong source, module not running, or outbox full
    duplicates: int = 0  # resends of events the module had already taken (acknowledged again)
    rejected: Counter[str] = field(default_factory=Counter)  # reported by the receiving module

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "forwarded": self.forwarded,
            "to_operator": self.to_operator,
            "dropped": self.dropped,
            "duplicates": self.duplicates,
            "rejected": dict(self.rejected),
        }


def reason_name(code: int) -> str:
    try:
        return RejectReason(code).name.lower()
    except ValueError:
        return f"reason-{code}"
