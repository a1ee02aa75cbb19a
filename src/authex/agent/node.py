"""The node agent: a composition of parts that each own their state.

- ``ledger``    (agent/ledger.py)    routing and exactly-once bookkeeping, sans-I/O;
- ``modules``   (agent/modules.py)   loaded modules, their timers, restarts, the registry;
- ``forwarder`` (agent/forwarder.py) the outbox and the data links to other agents;
- ``operator``  (agent/operator.py)  watchers and responses for the operator;
- ``commands``  (agent/commands.py)  one handler per control command;
- ``tasks``     (agent/tasks.py)     the owner of every background task.

The agent is untrusted by design: it sees only ciphertext, connection ids and counters.  This
class wires the parts together and carries out the ledger's actions; sockets are in
agent/server.py, agent/peers.py and agent/process.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from authex.agent.batch import Batcher
from authex.agent.commands import Commands
from authex.agent.config import NodeConfig
from authex.agent.forwarder import Forwarder
from authex.agent.ledger import (
    Acknowledge,
    AckSink,
    Action,
    Deliver,
    DeliveryLedger,
    Forward,
    ToOperator,
    Warn,
)
from authex.agent.lograte import ThrottledLog
from authex.agent.modules import ModuleSupervisor
from authex.agent.operator import OperatorChannel
from authex.agent.outbox import Outbox
from authex.agent.platform_client import PlatformClient
from authex.agent.process import ModuleProcess
from authex.agent.registry import RegistryStore
from authex.agent.status import connection_counters, node_status
from authex.agent.tasks import TaskSupervisor
from authex.wire.codec import Message
from authex.wire.messages import Event, HostAccepted, HostEmit, HostRejected, StatusResult
from authex.wire.status import NodeStatus

log = logging.getLogger("authex.agent")
HIGH_WATER = 1 << 20  # unsent bytes towards one module before data links pause


class NodeAgent:
    def __init__(self, config: NodeConfig, directory: Path, platform: PlatformClient) -> None:
        self.config = config
        self.directory = directory
        self.platform = platform
        self.started_at = time.time()
        self.tasks = TaskSupervisor()
        self.batch = Batcher()
        # log lines that peers (or modules) can cause in bulk: at most two per kind and interval
        self.throttled = ThrottledLog()
        self.ledger = DeliveryLedger(config.name, running=lambda name: self.modules.running(name))
        self.modules = ModuleSupervisor(
            config.name,
            config.tee,
            RegistryStore(directory),
            platform,
            self.tasks,
            self.batch,
            self._from_module,
            self.ledger.module_gone,
        )
        self.outbox = Outbox(directory / "outbox.sqlite")
        self.forwarder = Forwarder(config.name, self.outbox, self.tasks, self.batch)
        self.operator = OperatorChannel()
        self.commands = Commands(
            config.name,
            self.modules,
            self.ledger,
            self.operator,
            self.outbox,
            self.apply,
            lambda: StatusResult(self.status()),
        )

    @property
    def stopping(self) -> asyncio.Event:
        return self.tasks.stopping

    async def command(self, message: Message) -> Message:
        return await self.commands(message)

    def on_data_event(self, event: Event, peer: str, sink: AckSink) -> None:
        """An event arrived from another agent; ``sink`` is acknowledged once it is taken."""
        self.apply(self.ledger.from_peer(event, peer, sink))

    def _from_module(self, process: ModuleProcess, message: Message) -> None:
        if isinstance(message, HostEmit | HostAccepted | HostRejected):
            self.apply(self.ledger.from_module(process.name, message))
        else:
            self.throttled.warning(
                log,
                "unexpected module message",
                f"module {process.name} sent unexpected {type(message).__name__}",
                f"module {process.name}",
            )

    def apply(self, actions: list[Action]) -> None:
        """Carry out what the ledger decided."""
        for action in actions:
            if isinstance(action, Deliver):
                self.modules.modules[action.module].process.send(action.message)
            elif isinstance(action, Forward):
                stats = self.ledger.stats[action.event.conn_id]
                if self.forwarder.forward(action.address, action.event):
                    stats.forwarded += 1
                else:
                    stats.dropped += 1
            elif isinstance(action, ToOperator):
                self.operator.hand_over(action.event, self.ledger.stats[action.event.conn_id])
            elif isinstance(action, Acknowledge):
                action.sink.acknowledge(action.conn_id, action.direction, action.counter)
            elif isinstance(action, Warn):  # peers can cause these in bulk: rate-limited
                self.throttled.warning(log, action.kind, action.text, action.source)

    async def backpressure(self) -> None:
        """Wait while any module's host link holds more than HIGH_WATER unsent bytes."""
        for module in self.modules.modules.values():
            if module.process.buffered > HIGH_WATER:
                await module.process.drain()

    def status(self) -> NodeStatus:
        return node_status(
            config=self.config,
            platform=self.platform.info,
            modules=self.modules.modules.values(),
            held=self.ledger.held,
            routes=self.ledger.routes.routes,
            connections=connection_counters(
                self.ledger.stats,
                self.outbox.per_connection(),
                self.ledger.inflight,
                self.ledger.delivered_upto,
            ),
            timers=self.modules.timers.values(),
            peers=self.forwarder.peers,
            outbox=self.outbox,
            uptime_s=time.time() - self.started_at,
            unrouted=self.ledger.unrouted.total,
            unrouted_sources=self.ledger.unrouted.top(),
        )

    def start(self) -> None:
        """Resume sending whatever the outbox kept from before a restart."""
        self.forwarder.start()

    async def restore(self) -> None:
        """Bring back what this node hosted before a restart: modules (agent/modules.py),
        then their routes."""
        for route in await self.modules.restore():
            self.ledger.add_route(route)
        for name in self.modules.modules:
            self.ledger.stage(name)

    async def close(self) -> None:
        await self.modules.close()
        await self.forwarder.close()  # peer links end for good first: none starts again
        await self.tasks.close()
        await self.platform.close()
        self.throttled.close()  # the summaries still owed
