"""Per-connection counters the agent can observe without any key: what it routed where."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from authex.wire.status import ConnectionCounters, RejectedCount, reject_reason_code
from authex.wire.status import reject_reason_name as reason_name


@dataclass
class ConnectionStats:
    delivered: int = 0  # handed to a local module
    forwarded: int = 0  # sent on to a remote agent
    to_operator: int = 0  # handed to watchers / pending operator requests
    dropped: int = 0  # no route, wrong source, module not running, or outbox full
    duplicates: int = 0  # resends of events the module had already taken (acknowledged again)
    rejected: Counter[str] = field(default_factory=Counter)  # reported by the receiving module

    def counters(self, conn_id: int, pending: int, accepted_upto: int = 0) -> ConnectionCounters:
        """These counts as the status record of connection ``conn_id``."""
        rejected = sorted((reject_reason_code(name), n) for name, n in self.rejected.items() if n)
        return ConnectionCounters(
            conn_id=conn_id,
            delivered=self.delivered,
            forwarded=self.forwarded,
            to_operator=self.to_operator,
            dropped=self.dropped,
            duplicates=self.duplicates,
            rejected=tuple(RejectedCount(code, n) for code, n in rejected),
            pending=pending,
            accepted_upto=accepted_upto,
        )


__all__ = ["ConnectionStats", "reason_name"]
