"""The agent's module supervisor: the modules this node hosts, their timers, and what is kept
of them in the node directory (agent/registry.py) so a restarted agent brings them back.

Loads a module through the platform (which starts its process and hands over its host link),
stops and removes it, promotes a staged one, restores everything after an agent restart, and
restarts a persistent module that exited on its own (with a backoff and a limit), which resumes
from its sealed state.  Module processes' frames go to ``on_message``; ``on_gone`` is told when a
module's undelivered copies must be forgotten (it stopped or exited); ``hold`` is awaited after
each chunk a module process sent, before its next one is read (agent/node.py pauses a module
there while one it feeds does not read).  A module is started with the memory limit its
``Load`` named (the platform enforces it); stopping one that does not read ends in a SIGKILL
(agent/process.py ``STOP_DEADLINE``), which is logged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass, field

from authex.agent.batch import Batcher
from authex.agent.errors import CommandError
from authex.agent.platform_client import PlatformClient
from authex.agent.process import ModuleProcess
from authex.agent.registry import ModuleRecord, Registry, RegistryStore, TimerRecord
from authex.agent.tasks import TaskSupervisor
from authex.agent.timers import PeriodicTimer
from authex.errors import AuthexError, RemoteError
from authex.wire.codec import Message
from authex.wire.messages import AddRoute, ErrorCode, HostCall, HostCallResult, Load, Loaded
from authex.wire.names import base_name, is_staged, split_qualified, valid_name

log = logging.getLogger("authex.agent")
MIN_TIMER_MS = 10
RESUME_TIMEOUT = 10.0  # how long a restored persistent module may take to announce itself
RESTART_DELAY = 0.2  # seconds, times the number of recent restarts
MAX_RESTARTS = 5  # restarts of one module within RESTART_WINDOW before giving up
RESTART_WINDOW = 60.0


@dataclass
class LoadedModule:
    name: str
    tee: str
    instance: int
    process: ModuleProcess
    loaded_at: float
    artifact: str = ""  # sha256 hex of the stored artifact (registry)
    restarts: deque[float] = field(default_factory=deque)  # when it was restarted after exits


class ModuleSupervisor:
    def __init__(
        self,
        node: str,
        tee: str,
        store: RegistryStore,
        platform: PlatformClient,
        tasks: TaskSupervisor,
        batch: Batcher,
        on_message: Callable[[ModuleProcess, Message], None],
        on_gone: Callable[[str], None],
        hold: Callable[[ModuleProcess], Awaitable[None]] | None = None,
    ) -> None:
        self.node = node
        self.tee = tee
        self.store = store
        self.platform = platform
        self.tasks = tasks
        self.batch = batch
        self.on_message = on_message
        self.on_gone = on_gone
        self.hold = hold
        self.modules: dict[str, LoadedModule] = {}
        self.timers: dict[tuple[str, int], PeriodicTimer] = {}
        self.registry = Registry()
        self._restarting: set[str] = set()
        self._restart_tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # --- queries --------------------------------------------------------------------------

    def running(self, name: str) -> bool:
        module = self.modules.get(name)
        return module is not None and module.process.running

    def busy(self, name: str) -> bool:
        """The module holds more than the high water of what it was sent and did not read."""
        module = self.modules.get(name)
        return module is not None and module.process.over_high_water

    def get(self, name: str) -> LoadedModule:
        """A module that runs, or the command's error."""
        module = self.modules.get(name)
        if module is None:
            raise CommandError(ErrorCode.UNKNOWN_MODULE, f"no module {name!r} on node {self.node}")
        if not module.process.running:
            raise CommandError(
                ErrorCode.MODULE_FAILED,
                f"module {name!r} is not running ({module.process.exit_reason})",
            )
        return module

    async def request(self, name: str, message: Message) -> Message:
        """A host request to a running module; its failures as command errors."""
        module = self.get(name)
        try:
            return await module.process.request(message)
        except RemoteError as exc:
            raise CommandError(ErrorCode.REJECTED, str(exc)) from exc
        except AuthexError as exc:
            raise CommandError(ErrorCode.MODULE_FAILED, str(exc)) from exc

    # --- lifecycle ------------------------------------------------------------------------

    async def load(self, msg: Load) -> Loaded:
        if msg.tee != self.tee:
            raise CommandError(
                ErrorCode.BACKEND, f"node {self.node} runs {self.tee} modules, not {msg.tee}"
            )
        if not valid_name(msg.module):
            raise CommandError(ErrorCode.BAD_REQUEST, f"invalid module name {msg.module!r}")
        old = self.modules.pop(msg.module, None)
        if old is not None:
            await self._stop(old)
        process = await self._start_process(msg.module, msg.artifact, msg.memory)
        instance = secrets.randbits(63)
        digest = self.store.store_artifact(msg.artifact)
        self.modules[msg.module] = LoadedModule(
            msg.module, msg.tee, instance, process, time.time(), digest
        )
        self.registry.modules[msg.module] = ModuleRecord(
            msg.module,
            msg.tee,
            instance,
            process.measurement.hex(),
            digest,
            process.persistent,
            msg.memory,
        )
        self.save()
        log.info("loaded module %s (instance %x, pid %s)", msg.module, instance, process.pid)
        return Loaded(instance, process.measurement)

    async def remove(self, name: str) -> None:
        module = self.modules.pop(name, None)
        if module is None:
            raise CommandError(ErrorCode.UNKNOWN_MODULE, f"no module {name!r}")
        await self._stop(module)
        self.registry.modules.pop(name, None)
        self.registry.timers = [t for t in self.registry.timers if t.module != name]
        self.save()
        self.store.prune(self.registry)

    async def promote(self, staged: str) -> LoadedModule:
        """A staged module ``NAME~TAG`` becomes ``NAME``: the old instance stops, the staged
        one takes its name and its registry record (its routes: ``remember_routes``)."""
        module = self.modules.get(staged)
        if module is None or not is_staged(staged):
            raise CommandError(
                ErrorCode.UNKNOWN_MODULE, f"no staged module {staged!r} on {self.node}"
            )
        name = base_name(staged)
        old = self.modules.pop(name, None)
        if old is not None:
            await self._stop(old)
        del self.modules[staged]
        module.name = name
        module.process.name = name
        self.modules[name] = module
        record = self.registry.modules.pop(staged, None)
        if record is not None:
            record.name = name
            self.registry.modules[name] = record
        self.registry.timers = [t for t in self.registry.timers if t.module != name]
        self.save()
        self.store.prune(self.registry)
        return module

    async def reset(self, deployment: str, conn_ids: list[int]) -> None:
        """Stop ``deployment``'s modules and forget them, their timers and the routes of its
        connections ``conn_ids``; other deployments' stay."""
        mine = [m for m in self.modules.values() if split_qualified(m.name)[0] == deployment]
        await self._stop_all(mine)
        for module in mine:
            self.modules.pop(module.name, None)
        self.registry.modules = {
            n: r for n, r in self.registry.modules.items() if split_qualified(n)[0] != deployment
        }
        self.registry.timers = [
            t for t in self.registry.timers if split_qualified(t.module)[0] != deployment
        ]
        for conn_id in conn_ids:
            self.registry.routes.pop(conn_id, None)
        self.save()
        self.store.prune(self.registry)

    async def close(self) -> None:
        self._closing = True  # modules that exit now are not restarted
        for task in list(self._restart_tasks):
            task.cancel()
        for timer in list(self.timers.values()):
            await timer.stop()
        self.timers.clear()
        await self._stop_all(list(self.modules.values()))
        self.modules.clear()

    # --- routes and timers, as kept in the registry ---------------------------------------

    def remember_route(self, route: AddRoute) -> None:
        self.remember_routes([route])

    def remember_routes(self, routes: list[AddRoute]) -> None:
        for route in routes:
            self.registry.routes[route.conn_id] = route
        if routes:
            self.save()

    def forget_route(self, conn_id: int) -> None:
        if self.registry.routes.pop(conn_id, None) is not None:
            self.save()

    async def set_timer(self, name: str, entry_id: int, period_ms: int) -> None:
        """Call a public entry every ``period_ms`` (0 cancels)."""
        module = self.get(name)
        old = self.timers.pop((name, entry_id), None)
        if old is not None:
            await old.stop()
        self._record_timer(name, entry_id, 0)
        if period_ms == 0:
            return
        if period_ms < MIN_TIMER_MS:
            raise CommandError(ErrorCode.BAD_REQUEST, f"timer period below {MIN_TIMER_MS} ms")
        self._record_timer(name, entry_id, period_ms)
        self._start_timer(module, entry_id, period_ms)

    def _record_timer(self, module: str, entry_id: int, period_ms: int) -> None:
        timers = [t for t in self.registry.timers if (t.module, t.entry_id) != (module, entry_id)]
        if period_ms:
            timers.append(TimerRecord(module, entry_id, period_ms))
        self.registry.timers = timers
        self.save()

    def _start_timer(self, module: LoadedModule, entry_id: int, period_ms: int) -> None:
        async def fire() -> None:
            reply = await module.process.request(HostCall(entry_id, 0, 0, b""))
            if isinstance(reply, HostCallResult) and reply.status != 0:
                raise RemoteError(reply.payload.decode(errors="replace"))

        timer = PeriodicTimer(module.name, entry_id, period_ms, fire)
        self.timers[(module.name, entry_id)] = timer
        timer.start(self.tasks)

    # --- restore after an agent restart ---------------------------------------------------

    async def restore(self, routed: Container[int]) -> list[AddRoute]:
        """Bring back what this node hosted before a restart (spec/protocol.md §7.5): every
        module is started again by the platform; one that resumes from its sealed state keeps
        its instance (the deployer has nothing to redo), any other gets a new one (so the next
        deploy attests and keys it again).  Then its timers.  Returns the kept routes: those of
        the connection ids in ``routed`` (the deployments' own).

        A registry of an earlier version names modules without their deployment: those are not
        brought back (the next ``authex deploy`` of their application loads them again, under
        its deployment), nor are routes no deployment owns; a warning says so."""
        self.registry = self.store.load()
        legacy = sorted(n for n in self.registry.modules if not split_qualified(n)[0])
        stale = sorted(c for c in self.registry.routes if c not in routed)
        if legacy or stale:
            log.warning(
                "node %s: %d modules (%s) and %d routes of an earlier authex are not restored: "
                "modules now belong to deployments; run `authex deploy` for their application "
                "to load them again (persistent ones start without their sealed state)",
                self.node,
                len(legacy),
                ", ".join(legacy[:8]) + (", ..." if len(legacy) > 8 else ""),
                len(stale),
            )
            for name in legacy:
                del self.registry.modules[name]
            for conn_id in stale:
                del self.registry.routes[conn_id]
            self.registry.timers = [t for t in self.registry.timers if t.module not in legacy]
        for record in list(self.registry.modules.values()):
            try:
                process, version = await self._revive(record)
            except AuthexError as exc:
                log.error("module %s was not restored: %s", record.name, exc)
                del self.registry.modules[record.name]
                continue
            record.measurement = process.measurement.hex()
            self.modules[record.name] = LoadedModule(
                record.name, record.tee, record.instance, process, time.time(), record.artifact
            )
            log.info(
                "restored module %s (instance %x, %s)",
                record.name,
                record.instance,
                f"resumed from sealed state version {version}" if version else "not resumed",
            )
        for timer in self.registry.timers:
            if timer.module in self.modules:
                self._start_timer(self.modules[timer.module], timer.entry_id, timer.period_ms)
        self.save()
        return list(self.registry.routes.values())

    def save(self) -> None:
        try:
            self.store.save(self.registry)
        except OSError as exc:  # the node keeps working; a restart would not bring this back
            log.error("cannot save the registry: %s", exc)

    # --- processes ------------------------------------------------------------------------

    async def _start_process(self, name: str, artifact: bytes, memory: int) -> ModuleProcess:
        """Have the platform start a module process (``memory``: its limit in bytes, 0 for the
        platform's default) and wait until it is ready."""

        async def stop_hook() -> bool:
            return await self.platform.stop(name)

        process = ModuleProcess(
            name, self.on_message, stop_hook, self.tasks, self.batch, self._on_exit
        )
        if self.hold is not None:
            process.hold = self.hold
        try:
            loaded, link = await self.platform.load(name, artifact, memory)
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
            self.save()

    async def _stop_all(self, modules: list[LoadedModule]) -> None:
        """Stop these modules at once: each stop may wait for its deadline (agent/process.py)."""
        await asyncio.gather(*(self._stop(module) for module in modules))

    async def _stop(self, module: LoadedModule) -> None:
        for key in [k for k in self.timers if k[0] == module.name]:
            await self.timers.pop(key).stop()
        if await module.process.stop():
            log.warning("module %s %s", module.name, module.process.exit_reason)
        self.on_gone(module.name)
        log.info("stopped module %s", module.name)

    async def _revive(self, record: ModuleRecord) -> tuple[ModuleProcess, int]:
        """Start a recorded module again from its stored artifact: its process and the
        sealed-state version it resumed from; when 0 (not persistent, or nothing to resume)
        the record gets a new instance, so the next deploy attests and keys it again."""
        artifact = self.store.artifact(record.artifact)
        process = await self._start_process(record.name, artifact, record.memory)
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
        if module is None or module.process is not process or self._closing:
            return
        self.on_gone(module.name)  # unacknowledged: the senders offer them again
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
        task = self.tasks.spawn(f"restart-{module.name}", lambda: self._restart(module, record))
        self._restart_tasks.add(task)
        task.add_done_callback(self._restart_tasks.discard)

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
                self.save()
            log.info(
                "restarted module %s (%s)",
                module.name,
                f"resumed from sealed state version {version}" if version else "not resumed",
            )
        except AuthexError as exc:
            log.error("module %s could not be restarted: %s", module.name, exc)
        finally:
            self._restarting.discard(module.name)
