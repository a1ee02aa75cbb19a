"""The agent's node logic: loaded modules, routes, timers, watchers, and every control command.

The agent is untrusted by design: it sees only ciphertext, connection ids and counters.  It
loads artifacts through the node's TEE backend launcher, forwards sealed messages by routing
table, and answers status.  Socket handling lives in agent/server.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from authex.agent.batch import BATCH
from authex.agent.config import NodeConfig
from authex.agent.outbox import Outbox
from authex.agent.peers import PeerLink
from authex.agent.platform_client import PlatformClient
from authex.agent.process import ModuleProcess
from authex.agent.registry import ModuleRecord, Registry, RegistryStore, TimerRecord
from authex.agent.router import LocalModule, Operator, RemoteNode, RouteTable, UnknownRoute
from authex.agent.staging import Held
from authex.agent.stats import ConnectionStats, reason_name
from authex.agent.status import connection_counters, node_status
from authex.agent.timers import PeriodicTimer
from authex.errors import AuthexError, RemoteError
from authex.wire.codec import Message
from authex.wire.messages import (
    AddRoute,
    Attest,
    Attested,
    Call,
    CallResult,
    Direction,
    ErrorCode,
    Event,
    EventAck,
    HostAccepted,
    HostAttest,
    HostAttested,
    HostCall,
    HostCallResult,
    HostDeliver,
    HostEmit,
    HostRejected,
    HostSetKey,
    HostSwapKey,
    Load,
    Loaded,
    Ok,
    Promote,
    Remove,
    RemoveRoute,
    Request,
    Reset,
    Response,
    Send,
    SetKey,
    Status,
    StatusResult,
    SwapKey,
    Timer,
    WatchEvent,
)
from authex.wire.names import base_name, is_staged, valid_name
from authex.wire.status import ConnectionCounters, NodeStatus

log = logging.getLogger("authex.agent")
RETAINED_PER_CONNECTION = 1000
WATCH_QUEUE = 10_000  # events buffered for one watcher
OPERATOR_REQUEST_TIMEOUT = 30.0
MIN_TIMER_MS = 10
HIGH_WATER = 1 << 20  # unsent bytes towards one module before data links pause
RESUME_TIMEOUT = 10.0  # how long a restored persistent module may take to announce itself
RESTART_DELAY = 0.2  # seconds, times the number of recent restarts
MAX_RESTARTS = 5  # restarts of one module within RESTART_WINDOW before giving up
RESTART_WINDOW = 60.0
DELETE_DELAY = 0.05  # seconds: acknowledged events are deleted from the database in batches


class CommandError(AuthexError):
    """A control command that cannot be carried out; answered with an Error frame."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class InFlight:
    """One copy of an event handed to a local module, and the acknowledgements it owes."""

    ciphertext: bytes
    acks: list[Callable[[], None]]


@dataclass
class LoadedModule:
    name: str
    tee: str
    instance: int
    process: ModuleProcess
    loaded_at: float
    artifact: str = ""  # sha256 hex of the stored artifact (registry)
    restarts: deque[float] = field(default_factory=deque)  # when it was restarted after exits


class NodeAgent:
    def __init__(self, config: NodeConfig, directory: Path, platform: PlatformClient) -> None:
        self.config = config
        self.directory = directory
        self.platform = platform
        self.modules: dict[str, LoadedModule] = {}
        self.routes = RouteTable(config.name)
        self.peers: dict[str, PeerLink] = {}
        self.timers: dict[tuple[str, int], PeriodicTimer] = {}
        self.stats: defaultdict[int, ConnectionStats] = defaultdict(ConnectionStats)
        self.watchers: defaultdict[int, set[asyncio.Queue[WatchEvent]]] = defaultdict(set)
        self.retained: defaultdict[int, deque[WatchEvent]] = defaultdict(
            lambda: deque(maxlen=RETAINED_PER_CONNECTION)
        )
        self.operator_requests: dict[tuple[int, int], asyncio.Future[HostEmit]] = {}
        self.outbox = Outbox(directory / "outbox.sqlite")
        self.store = RegistryStore(directory)
        self.registry = Registry()
        self._restarting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # events delivered to a local module, waiting for it to take them: who to acknowledge
        # copies in delivery order, each with the acknowledgements it owes
        self.awaiting: dict[tuple[int, int, int], deque[InFlight]] = {}
        # highest counter a local module took, per (connection, direction): resends at or
        # below it are acknowledged again without delivering them twice
        self.delivered_upto: dict[tuple[int, int], int] = {}
        # deliveries handed to (or held for) a local module and not yet taken, per connection
        self.inflight: Counter[int] = Counter()
        # staged modules (updates): what is delivered to them until they are promoted
        self.held: dict[str, Held] = {}
        self._commit_scheduled = False
        self._delete_timer: asyncio.TimerHandle | None = None
        self.started_at = time.time()
        self.stopping = asyncio.Event()

    # --- control commands -----------------------------------------------------------------

    async def command(self, message: Message) -> Message:
        match message:
            case Load():
                return await self._load(message)
            case Attest():
                return await self._attest(message)
            case SetKey():
                return await self._set_key(message)
            case SwapKey():
                return await self._swap_key(message)
            case Promote():
                return await self._promote(message)
            case RemoveRoute():
                return await self._remove_route(message)
            case AddRoute():
                return await self._add_route(message)
            case Call():
                return await self._call(message)
            case Timer():
                return await self._timer(message)
            case Status():
                return StatusResult(self.status())
            case Remove():
                return await self._remove(message)
            case Reset():
                return await self._reset(message)
            case Send():
                return await self._send(message)
            case Request():
                return await self._request(message)
        raise CommandError(ErrorCode.BAD_REQUEST, f"{type(message).__name__} is not a command")

    def _module(self, name: str) -> LoadedModule:
        module = self.modules.get(name)
        if module is None:
            raise CommandError(
                ErrorCode.UNKNOWN_MODULE, f"no module {name!r} on node {self.config.name}"
            )
        if not module.process.running:
            raise CommandError(
                ErrorCode.MODULE_FAILED,
                f"module {name!r} is not running ({module.process.exit_reason})",
            )
        return module

    async def _load(self, msg: Load) -> Message:
        if msg.tee != self.config.tee:
            raise CommandError(
                ErrorCode.BACKEND,
                f"node {self.config.name} runs {self.config.tee} modules, not {msg.tee}",
            )
        if not valid_name(msg.module):
            raise CommandError(ErrorCode.BAD_REQUEST, f"invalid module name {msg.module!r}")
        old = self.modules.pop(msg.module, None)
        if old is not None:
            await self._stop_module(old)
        name = msg.module
        process = await self._start_process(name, msg.artifact)
        instance = secrets.randbits(63)
        digest = self.store.store_artifact(msg.artifact)
        self._install(LoadedModule(name, msg.tee, instance, process, time.time(), digest))
        self.registry.modules[name] = ModuleRecord(
            name, msg.tee, instance, process.measurement.hex(), digest, process.persistent
        )
        self._save_registry()
        log.info("loaded module %s (instance %x, pid %s)", name, instance, process.pid)
        return Loaded(instance, process.measurement)

    def _install(self, module: LoadedModule) -> None:
        self.modules[module.name] = module
        if is_staged(module.name):
            self.held[module.name] = Held()

    async def _start_process(self, name: str, artifact: bytes) -> ModuleProcess:
        """Have the platform start a module process and wait until it is ready."""

        async def stop_hook() -> None:
            await self.platform.stop(name)

        process = ModuleProcess(name, self._on_module, stop_hook, self._on_exit)
        try:
            loaded, link = await self.platform.load(name, artifact)
        except AuthexError as exc:
            raise CommandError(ErrorCode.BACKEND, f"platform refused the module: {exc}") from exc
        try:
            ready = await process.attach(link, loaded.pid)
        except AuthexError as exc:
            await process.stop()
            raise CommandError(ErrorCode.MODULE_FAILED, str(exc)) from exc
        if ready.measurement != loaded.measurement:
            await process.stop()
            raise CommandError(ErrorCode.BACKEND, "module reported a different measurement")
        if process.resumed is not None:
            process.resumed.add_done_callback(lambda _: self._note_persistent(process))
        return process

    def _note_persistent(self, process: ModuleProcess) -> None:
        record = self.registry.modules.get(process.name)
        module = self.modules.get(process.name)
        mine = record and module and module.process is process
        if mine and record and process.persistent and not record.persistent:
            record.persistent = True
            self._save_registry()

    def _save_registry(self) -> None:
        try:
            self.store.save(self.registry)
        except OSError as exc:  # the node keeps working; a restart would not bring this back
            log.error("cannot save the registry: %s", exc)

    async def _attest(self, msg: Attest) -> Message:
        module = self._module(msg.module)
        reply = await self._module_request(module, HostAttest(msg.challenge))
        if not isinstance(reply, HostAttested):
            raise CommandError(ErrorCode.MODULE_FAILED, "module answered attest with no evidence")
        return Attested(reply.evidence)

    async def _set_key(self, msg: SetKey) -> Message:
        module = self._module(msg.module)
        host = HostSetKey(msg.conn_id, msg.io_id, msg.role, msg.suite, msg.counter, msg.wrapped)
        await self._module_request(module, host)
        self._rekeyed(msg.conn_id)
        return Ok()

    async def _swap_key(self, msg: SwapKey) -> Message:
        """Key a new connection on a module and forget the one it replaces, in one step: what
        the module sent before its answer went on the old connection, what it sends after on
        the new one.  What this agent still has of the old connection stays (it drains)."""
        module = self._module(msg.module)
        host = HostSwapKey(
            msg.conn_id, msg.replaces, msg.io_id, msg.role, msg.suite, msg.counter, msg.wrapped
        )
        await self._module_request(module, host)
        if msg.conn_id:
            self._rekeyed(msg.conn_id)
        return Ok()

    async def _promote(self, msg: Promote) -> Message:
        """A staged module becomes the module it replaces (spec/protocol.md §7.6)."""
        staged = self.modules.get(msg.staged)
        if staged is None or not is_staged(msg.staged):
            raise CommandError(
                ErrorCode.UNKNOWN_MODULE, f"no staged module {msg.staged!r} on {self.config.name}"
            )
        name = base_name(msg.staged)
        old = self.modules.pop(name, None)
        if old is not None:
            await self._stop_module(old)
        del self.modules[msg.staged]
        staged.name = name
        staged.process.name = name
        self.modules[name] = staged
        for conn_id, route in list(self.routes.routes.items()):
            renamed = route
            if route.from_module == msg.staged:
                renamed = replace(renamed, from_module=name)
            if route.to_module == msg.staged:
                renamed = replace(renamed, to_module=name)
            if renamed is not route:
                self.routes.add(renamed)
                self.registry.routes[conn_id] = renamed
        record = self.registry.modules.pop(msg.staged, None)
        if record is not None:
            record.name = name
            self.registry.modules[name] = record
        self.registry.timers = [t for t in self.registry.timers if t.module != name]
        self._save_registry()
        self.store.prune(self.registry)
        held = self.held.pop(msg.staged, Held()).release()
        for message in held:
            staged.process.send(message)
        log.info("promoted %s to %s; released %d held deliveries", msg.staged, name, len(held))
        return Ok()

    async def _remove_route(self, msg: RemoveRoute) -> Message:
        """Forget a retired connection: its route and whatever is still kept for it."""
        self.routes.routes.pop(msg.conn_id, None)
        if self.registry.routes.pop(msg.conn_id, None) is not None:
            self._save_registry()
        self._rekeyed(msg.conn_id)
        self.inflight.pop(msg.conn_id, None)
        return Ok()

    def _rekeyed(self, conn_id: int) -> None:
        """A connection got a new key here: its counters start again at 1, so what this agent
        remembers of the old key's counters would drop the new messages as resends, and what it
        still holds sealed under the old key can never be opened again."""
        for direction in (Direction.FORWARD, Direction.RESPONSE):
            self.delivered_upto.pop((conn_id, direction), None)
        for key in [k for k in self.awaiting if k[0] == conn_id]:
            del self.awaiting[key]
        dropped = self.outbox.forget_connection(conn_id)
        if dropped:
            self.stats[conn_id].dropped += dropped
            log.info(
                "connection %d re-keyed: dropped %d events sealed under its old key",
                conn_id,
                dropped,
            )

    async def _add_route(self, msg: AddRoute) -> Message:
        self.routes.add(msg)
        self.registry.routes[msg.conn_id] = msg
        self._save_registry()
        return Ok()

    async def _call(self, msg: Call) -> Message:
        module = self._module(msg.module)
        host = HostCall(msg.entry_id, msg.authenticated, msg.counter, msg.payload)
        reply = await self._module_request(module, host)
        if not isinstance(reply, HostCallResult):
            raise CommandError(ErrorCode.MODULE_FAILED, "module answered call with no result")
        return CallResult(reply.status, reply.payload)

    async def _timer(self, msg: Timer) -> Message:
        module = self._module(msg.module)
        key = (msg.module, msg.entry_id)
        old = self.timers.pop(key, None)
        if old is not None:
            await old.stop()
        self._record_timer(msg.module, msg.entry_id, 0)
        if msg.period_ms == 0:  # cancels the timer
            return Ok()
        if msg.period_ms < MIN_TIMER_MS:
            raise CommandError(ErrorCode.BAD_REQUEST, f"timer period below {MIN_TIMER_MS} ms")
        self._record_timer(msg.module, msg.entry_id, msg.period_ms)
        self._start_timer(module, msg.entry_id, msg.period_ms)
        return Ok()

    def _record_timer(self, module: str, entry_id: int, period_ms: int) -> None:
        timers = [t for t in self.registry.timers if (t.module, t.entry_id) != (module, entry_id)]
        if period_ms:
            timers.append(TimerRecord(module, entry_id, period_ms))
        self.registry.timers = timers
        self._save_registry()

    def _start_timer(self, module: LoadedModule, entry_id: int, period_ms: int) -> None:
        key = (module.name, entry_id)

        async def fire() -> None:
            reply = await module.process.request(HostCall(entry_id, 0, 0, b""))
            if isinstance(reply, HostCallResult) and reply.status != 0:
                raise RemoteError(reply.payload.decode(errors="replace"))

        timer = PeriodicTimer(module.name, entry_id, period_ms, fire)
        self.timers[key] = timer
        timer.start()

    def status(self) -> NodeStatus:
        return node_status(
            config=self.config,
            platform=self.platform.info,
            modules=self.modules.values(),
            held=self.held,
            routes=self.routes.routes,
            connections=self._connection_status(),
            timers=self.timers.values(),
            peers=self.peers,
            outbox=self.outbox,
            uptime_s=time.time() - self.started_at,
        )

    def _connection_status(self) -> tuple[ConnectionCounters, ...]:
        """Counts per connection, with ``pending``: events of it still in this agent's outbox
        or handed to (or held for) a local module and not yet taken."""
        return connection_counters(self.stats, self.outbox.per_connection(), self.inflight)

    async def _remove(self, msg: Remove) -> Message:
        module = self.modules.pop(msg.module, None)
        if module is None:
            raise CommandError(ErrorCode.UNKNOWN_MODULE, f"no module {msg.module!r}")
        await self._stop_module(module)
        self.registry.modules.pop(msg.module, None)
        self.registry.timers = [t for t in self.registry.timers if t.module != msg.module]
        self._save_registry()
        self.store.prune(self.registry)
        return Ok()

    async def _reset(self, msg: Reset) -> Message:
        for module in list(self.modules.values()):
            await self._stop_module(module)
        self.modules.clear()
        self.routes.clear()
        self.stats.clear()
        self.retained.clear()
        self.outbox.clear()  # their connections are gone: never resend those events
        self.awaiting.clear()
        self.delivered_upto.clear()
        self.inflight.clear()
        self.held.clear()
        self.registry = Registry()
        self._save_registry()
        self.store.prune(self.registry)
        return Ok()

    async def _send(self, msg: Send) -> Message:
        target = self._target(msg.conn_id, Direction.FORWARD)
        if not isinstance(target, LocalModule):
            raise CommandError(ErrorCode.UNKNOWN_CONNECTION, "operator events enter at the target")
        self._deliver(target.module, HostDeliver(msg.conn_id, 0, msg.counter, msg.ciphertext))
        return Ok()

    async def _request(self, msg: Request) -> Message:
        target = self._target(msg.conn_id, Direction.FORWARD)
        if not isinstance(target, LocalModule):
            raise CommandError(
                ErrorCode.UNKNOWN_CONNECTION, "operator requests enter at the target"
            )
        key = (msg.conn_id, msg.counter)
        future: asyncio.Future[HostEmit] = asyncio.get_running_loop().create_future()
        self.operator_requests[key] = future
        try:
            self._deliver(target.module, HostDeliver(msg.conn_id, 0, msg.counter, msg.ciphertext))
            reply = await asyncio.wait_for(future, OPERATOR_REQUEST_TIMEOUT)
        except TimeoutError as exc:
            raise CommandError(ErrorCode.TIMEOUT, "handler did not respond in time") from exc
        finally:
            self.operator_requests.pop(key, None)
        return Response(reply.conn_id, reply.counter, reply.ciphertext)

    def _target(self, conn_id: int, direction: int) -> LocalModule | RemoteNode | Operator:
        try:
            return self.routes.target(conn_id, direction)
        except UnknownRoute as exc:
            raise CommandError(ErrorCode.UNKNOWN_CONNECTION, str(exc)) from exc

    async def _module_request(self, module: LoadedModule, message: Message) -> Message:
        try:
            return await module.process.request(message)
        except RemoteError as exc:
            raise CommandError(ErrorCode.REJECTED, str(exc)) from exc
        except AuthexError as exc:
            raise CommandError(ErrorCode.MODULE_FAILED, str(exc)) from exc

    async def _stop_module(self, module: LoadedModule) -> None:
        for key in [k for k in self.timers if k[0] == module.name]:
            await self.timers.pop(key).stop()
        await module.process.stop()
        self._forget_deliveries(module.name)
        log.info("stopped module %s", module.name)

    def _forget_deliveries(self, name: str) -> None:
        """Copies a module never answered stay unacknowledged: their senders offer them again."""
        gone = LocalModule(name)
        for pending in [k for k in self.awaiting if self._target_or_none(k[0], k[1]) == gone]:
            del self.awaiting[pending]
        for conn_id in list(self.inflight):
            ends = (
                self._target_or_none(conn_id, d) for d in (Direction.FORWARD, Direction.RESPONSE)
            )
            if gone in ends:
                del self.inflight[conn_id]

    def start(self) -> None:
        """Resume sending whatever the outbox kept from before a restart."""
        for address in self.outbox.peers():
            self._peer(address).notify()

    async def restore(self) -> None:
        """Bring back what this node hosted before a restart (DESIGN §7): every module is
        started again by the platform; one that resumes from its sealed state keeps its
        instance (the deployer has nothing to redo), any other gets a new one (so the next
        deploy attests and keys it again).  Then routes and timers."""
        self.registry = self.store.load()
        for record in list(self.registry.modules.values()):
            try:
                process, version = await self._revive(record)
            except AuthexError as exc:
                log.error("module %s was not restored: %s", record.name, exc)
                del self.registry.modules[record.name]
                continue
            record.measurement = process.measurement.hex()
            module = LoadedModule(
                record.name, record.tee, record.instance, process, time.time(), record.artifact
            )
            self._install(module)
            log.info(
                "restored module %s (instance %x, %s)",
                record.name,
                record.instance,
                f"resumed from sealed state version {version}" if version else "not resumed",
            )
        for route in self.registry.routes.values():
            self.routes.add(route)
        for timer in self.registry.timers:
            if timer.module in self.modules:
                self._start_timer(self.modules[timer.module], timer.entry_id, timer.period_ms)
        self._save_registry()

    async def _revive(self, record: ModuleRecord) -> tuple[ModuleProcess, int]:
        """Start a recorded module again from its stored artifact: its process and the
        sealed-state version it resumed from; when 0 (not persistent, or nothing to resume)
        the record gets a new instance, so the next deploy attests and keys it again."""
        process = await self._start_process(record.name, self.store.artifact(record.artifact))
        version = await self._resumed_version(process) if record.persistent else 0
        if version == 0:
            record.instance = secrets.randbits(63)
        return process, version

    async def _resumed_version(self, process: ModuleProcess) -> int:
        if process.resumed is None:
            return 0
        try:
            return await asyncio.wait_for(asyncio.shield(process.resumed), RESUME_TIMEOUT)
        except (TimeoutError, asyncio.CancelledError):
            return 0

    def _on_exit(self, process: ModuleProcess) -> None:
        """A module process went away on its own: restart a persistent one (it resumes from its
        sealed state); others wait for the next deploy."""
        module = self.modules.get(process.name)
        if module is None or module.process is not process:
            return
        self._forget_deliveries(module.name)  # unacknowledged: the senders offer them again
        record = self.registry.modules.get(process.name)
        if record is None or not record.persistent or process.name in self._restarting:
            log.warning("module %s %s", process.name, process.exit_reason)
            return
        now = time.monotonic()
        while module.restarts and now - module.restarts[0] > RESTART_WINDOW:
            module.restarts.popleft()
        if len(module.restarts) >= MAX_RESTARTS:
            log.error(
                "module %s %s; not restarted: %d restarts within %.0fs",
                process.name,
                process.exit_reason,
                len(module.restarts),
                RESTART_WINDOW,
            )
            return
        module.restarts.append(now)
        log.warning("module %s %s; restarting it", process.name, process.exit_reason)
        self._restarting.add(process.name)
        task = asyncio.get_running_loop().create_task(self._restart(module, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, module: LoadedModule, record: ModuleRecord) -> None:
        try:
            await asyncio.sleep(RESTART_DELAY * len(module.restarts))
            process, version = await self._revive(record)
            if self.modules.get(module.name) is not module:  # removed or reloaded meanwhile
                await process.stop()
                return
            module.process = process
            if version == 0:  # nothing to resume: the deployer must attest it again
                module.instance = record.instance
                self._save_registry()
            log.info(
                "restarted module %s (%s)",
                module.name,
                f"resumed from sealed state version {version}" if version else "not resumed",
            )
        except AuthexError as exc:
            log.error("module %s could not be restarted: %s", module.name, exc)
        finally:
            self._restarting.discard(module.name)

    # --- event routing ----------------------------------------------------------------------

    def _on_module(self, process: ModuleProcess, message: Message) -> None:
        if isinstance(message, HostEmit):
            if self.routes.source_module(message.conn_id, message.direction) != process.name:
                self.stats[message.conn_id].dropped += 1
                log.warning(
                    "module %s emitted on connection %d it is not the source of",
                    process.name,
                    message.conn_id,
                )
                return
            self.route(
                Event(message.conn_id, message.direction, message.counter, message.ciphertext)
            )
        elif isinstance(message, HostAccepted):
            self._taken(message.conn_id, message.direction, message.counter, accepted=True)
        elif isinstance(message, HostRejected):
            self._taken(message.conn_id, message.direction, message.counter, accepted=False)
            self.stats[message.conn_id].rejected[reason_name(message.reason)] += 1
            log.warning(
                "module %s rejected a message on connection %d (counter %d): %s",
                process.name,
                message.conn_id,
                message.counter,
                reason_name(message.reason),
            )
        else:
            log.warning("module %s sent unexpected %s", process.name, type(message).__name__)

    def route(self, event: Event) -> None:
        """Send one sealed message on towards its destination."""
        stats = self.stats[event.conn_id]
        try:
            target = self.routes.target(event.conn_id, event.direction)
        except UnknownRoute:
            stats.dropped += 1
            log.warning("no route for connection %d; dropped", event.conn_id)
            return
        if isinstance(target, LocalModule):
            self._deliver(
                target.module,
                HostDeliver(event.conn_id, event.direction, event.counter, event.ciphertext),
            )
        elif isinstance(target, RemoteNode):
            if self.outbox.add(target.address, event) is None:
                stats.dropped += 1  # outbox full (logged there) or already queued
                return
            self._schedule_commit()
            self._peer(target.address).notify()
            stats.forwarded += 1
        else:
            self._to_operator(event)

    def on_data_event(self, event: Event, peer: str, ack: Callable[[], None]) -> None:
        """An event arrived from another agent: it must be for a module (or the operator) on
        this node.  ``ack`` acknowledges it to the sender once the destination took it."""
        target = self._target_or_none(event.conn_id, event.direction)
        if not isinstance(target, LocalModule | Operator):
            self.stats[event.conn_id].dropped += 1
            log.warning("event for connection %d from %s not for this node", event.conn_id, peer)
            return
        if isinstance(target, Operator):
            self.route(event)
            ack()
            return
        key = (event.conn_id, event.direction)
        if event.counter <= self.delivered_upto.get(key, 0):
            self.stats[event.conn_id].duplicates += 1  # a resend of what the module took
            ack()
            return
        copies = self.awaiting.setdefault((event.conn_id, event.direction, event.counter), deque())
        for copy in copies:
            if copy.ciphertext == event.ciphertext:  # the same bytes are already with the module
                self.stats[event.conn_id].duplicates += 1
                copy.acks.append(ack)
                return
        # A copy with other bytes (a forgery, or the genuine one after a forgery) goes to the
        # module too: only the module can tell which one is authentic.
        message = HostDeliver(event.conn_id, event.direction, event.counter, event.ciphertext)
        if self._deliver(target.module, message):
            copies.append(InFlight(event.ciphertext, [ack]))
        elif not copies:
            del self.awaiting[(event.conn_id, event.direction, event.counter)]
        # not delivered: not acknowledged, so the sender offers it again

    def _taken(self, conn_id: int, direction: int, counter: int, *, accepted: bool) -> None:
        """A local module took (or refused for good) a message: acknowledge it upstream."""
        if self.inflight[conn_id] > 1:
            self.inflight[conn_id] -= 1
        else:
            self.inflight.pop(conn_id, None)
        if accepted:
            key = (conn_id, direction)
            self.delivered_upto[key] = max(self.delivered_upto.get(key, 0), counter)
        copies = self.awaiting.get((conn_id, direction, counter))
        if not copies:
            return
        copy = copies.popleft()  # modules answer in delivery order
        if not copies:
            del self.awaiting[(conn_id, direction, counter)]
        for ack in copy.acks:
            ack()

    def _on_ack(self, address: str, ack: EventAck) -> None:
        if self.outbox.acknowledge(address, ack.conn_id, ack.direction, ack.counter):
            self._schedule_deletes()
            self._peer(address).acknowledged()

    def _schedule_deletes(self) -> None:
        """Delete acknowledged events from the database a little later, many at once: they
        already left the outbox (never sent again); after a kill -9 before the delete they are
        sent again once and dropped by the receiver as resends."""
        if self._delete_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop (tests): delete now
            self.outbox.commit()
            return
        self._delete_timer = loop.call_later(DELETE_DELAY, self._commit_deletes)

    def _commit_deletes(self) -> None:
        self._delete_timer = None
        self.outbox.commit()

    def _schedule_commit(self) -> None:
        """Commit the outbox once per batch of events (when this batch of input is done,
        before anything of it is sent; see agent/batch.py)."""
        if self._commit_scheduled:
            return
        self._commit_scheduled = True
        BATCH.defer(self._commit, first=True)

    def _commit(self) -> None:
        self._commit_scheduled = False
        self.outbox.commit_stored()

    def _target_or_none(self, conn_id: int, direction: int) -> object:
        try:
            return self.routes.target(conn_id, direction)
        except UnknownRoute:
            return None

    def _deliver(self, module_name: str, message: HostDeliver) -> bool:
        stats = self.stats[message.conn_id]
        module = self.modules.get(module_name)
        if module is None or not module.process.running:
            stats.dropped += 1
            log.warning(
                "module %s not running; dropped connection %d", module_name, message.conn_id
            )
            return False
        held = self.held.get(module_name)
        if held is not None and not self._state_transfer(module_name, message.conn_id):
            if not held.add(message):
                stats.dropped += 1
                log.warning("staged module %s holds too much; refused a delivery", module_name)
                return False
        else:
            module.process.send(message)
        self.inflight[message.conn_id] += 1
        stats.delivered += 1
        return True

    def _state_transfer(self, staged: str, conn_id: int) -> bool:
        """Is this connection the state transfer into a staged module, from the instance it
        replaces?  (Delivered at once; everything else waits for the promotion.)"""
        route = self.routes.routes.get(conn_id)
        return route is not None and route.from_module == base_name(staged)

    def _to_operator(self, event: Event) -> None:
        stats = self.stats[event.conn_id]
        if event.direction == Direction.RESPONSE:
            future = self.operator_requests.get((event.conn_id, event.counter))
            if future is None or future.done():
                stats.dropped += 1  # late or unsolicited response: nobody is waiting
                return
            stats.to_operator += 1
            future.set_result(
                HostEmit(event.conn_id, event.direction, event.counter, event.ciphertext)
            )
            return
        stats.to_operator += 1
        watch_event = WatchEvent(event.conn_id, event.counter, event.ciphertext)
        self.retained[event.conn_id].append(watch_event)
        for queue in self.watchers[event.conn_id]:
            try:
                queue.put_nowait(watch_event)
            except asyncio.QueueFull:  # a watcher that does not read loses events, not memory
                self.stats[event.conn_id].dropped += 1

    async def backpressure(self) -> None:
        """Wait while any module's host link holds more than HIGH_WATER unsent bytes."""
        for module in self.modules.values():
            if module.process.buffered > HIGH_WATER:
                await module.process.drain()

    def subscribe(self, conn_id: int) -> tuple[list[WatchEvent], asyncio.Queue[WatchEvent]]:
        queue: asyncio.Queue[WatchEvent] = asyncio.Queue(WATCH_QUEUE)
        self.watchers[conn_id].add(queue)
        return list(self.retained[conn_id]), queue

    def unsubscribe(self, conn_id: int, queue: asyncio.Queue[WatchEvent]) -> None:
        self.watchers[conn_id].discard(queue)

    def _peer(self, address: str) -> PeerLink:
        link = self.peers.get(address)
        if link is None:
            link = self.peers[address] = PeerLink(
                self.config.name, address, self.outbox, self._on_ack
            )
        return link

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for timer in list(self.timers.values()):
            await timer.stop()
        self.timers.clear()
        for module in list(self.modules.values()):
            await self._stop_module(module)
        self.modules.clear()
        for peer in self.peers.values():
            await peer.close()
        if self._delete_timer is not None:
            self._delete_timer.cancel()
            self._delete_timer = None
        self.outbox.close()
        await self.platform.close()
