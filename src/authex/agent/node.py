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

Back-pressure is per module, never node-wide.  A module whose host link holds more than
``HIGH_WATER`` unsent bytes is *busy*:

- events for it from other agents are not handed to it (the ledger refuses them, so they are not
  acknowledged and their senders offer them again later); data links keep being read, and events
  for every other module go on;
- a local module that emits towards it is not read any more (``_hold``: its reader waits after the
  chunk it was reading) until it drains — only that module, only until then.  What one chunk
  carried is delivered first, so a busy module's link holds at most ``HIGH_WATER`` plus a chunk
  per module that feeds it; nothing an emitting module sent is dropped for lack of room;
- the operator's ``Send`` and ``Request`` to it are refused with an error saying why
  (agent/commands.py), and calls wait for it within their reply timeout (agent/process.py).

Deadlock: a module waits for the modules it fed (recorded in ``_waiting_for``), and a wait that
would close a cycle (A waits for B, which waits for A, directly or through others) is not
started: the last module of the cycle goes on being read and its deliveries go beyond the high
water.  So modules that feed each other (requests and their responses, say) always make
progress; only in such a cycle can a link hold more than the bound above — what the modules of
the cycle emit while the others wait.
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
from authex.agent.process import HIGH_WATER, ModuleProcess
from authex.agent.registry import RegistryStore
from authex.agent.status import connection_counters, node_status
from authex.agent.tasks import TaskSupervisor
from authex.agent.tenancy import Scope, TenancyStore
from authex.wire.codec import Message
from authex.wire.messages import Event, HostAccepted, HostEmit, HostRejected
from authex.wire.status import NodeStatus

log = logging.getLogger("authex.agent")
__all__ = ["HIGH_WATER", "NodeAgent"]


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
        self.ledger = DeliveryLedger(
            config.name,
            running=lambda name: self.modules.running(name),
            busy=lambda name: self.modules.busy(name),
        )
        # per module process, the local modules it delivered to in the chunk being read
        self._fed: dict[ModuleProcess, set[str]] = {}
        # a module whose reader waits, and the module it waits for (see the docstring)
        self._waiting_for: dict[str, str] = {}
        self.modules = ModuleSupervisor(
            config.name,
            config.tee,
            RegistryStore(directory),
            platform,
            self.tasks,
            self.batch,
            self._from_module,
            self.ledger.module_gone,
            self._hold,
        )
        self.outbox = Outbox(directory / "outbox.sqlite")
        self.forwarder = Forwarder(config.name, self.outbox, self.tasks, self.batch)
        self.operator = OperatorChannel()
        self.tenancy_store = TenancyStore(directory)
        self.tenancy = self.tenancy_store.load()
        self.commands = Commands(
            config.name,
            self.modules,
            self.ledger,
            self.operator,
            self.outbox,
            self.apply,
            self.status,
            self.tenancy,
            lambda: self.tenancy_store.save(self.tenancy),
        )

    @property
    def stopping(self) -> asyncio.Event:
        return self.tasks.stopping

    async def command(self, message: Message, scope: Scope) -> Message:
        return await self.commands(message, scope)

    def on_data_event(self, event: Event, peer: str, sink: AckSink) -> None:
        """An event arrived from another agent; ``sink`` is acknowledged once it is taken."""
        self.apply(self.ledger.from_peer(event, peer, sink))

    def _from_module(self, process: ModuleProcess, message: Message) -> None:
        if isinstance(message, HostEmit | HostAccepted | HostRejected):
            actions = self.ledger.from_module(process.name, message)
            for action in actions:
                if isinstance(action, Deliver):
                    self._fed.setdefault(process, set()).add(action.module)
            self.apply(actions)
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

    async def _hold(self, source: ModuleProcess) -> None:
        """After a chunk from ``source``: wait, before reading it again, while a local module it
        delivered to is busy — unless that module (directly or through others) waits for
        ``source``, which would be a deadlock (see the docstring)."""
        for name in sorted(self._fed.pop(source, ())):
            while True:
                module = self.modules.modules.get(name)
                if module is None or not module.process.over_high_water:
                    break
                if self._waits_for(name, source.name):
                    log.debug(
                        "module %s feeds busy module %s, which waits for it: not paused",
                        source.name,
                        name,
                    )
                    break
                self._waiting_for[source.name] = name
                try:
                    await module.process.drain()
                    # always yield: frames sent outside a batch are written at the next turn
                    # of the loop, and until then its link is not paused, nor drain a wait
                    await asyncio.sleep(0)
                finally:
                    self._waiting_for.pop(source.name, None)

    def _waits_for(self, name: str, other: str) -> bool:
        """Does module ``name`` wait, directly or through others, for module ``other``?"""
        seen: set[str] = set()
        while name in self._waiting_for and name not in seen:
            seen.add(name)
            name = self._waiting_for[name]
            if name == other:
                return True
        return name == other

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
        for route in await self.modules.restore(self.tenancy.connections):
            self.ledger.add_route(route)
        for name in self.modules.modules:
            self.ledger.stage(name)

    async def close(self) -> None:
        await self.modules.close()
        await self.forwarder.close()  # peer links end for good first: none starts again
        await self.tasks.close()
        await self.platform.close()
        self.throttled.close()  # the summaries still owed
