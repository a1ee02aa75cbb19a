"""A malicious node agent for adversarial tests: the real ``NodeAgent`` code, run in-process in a
background thread, that tampers with what it routes and loads.

``evil_node(app, "gateway")`` stops the agent process ``LocalCluster`` started for that node and
serves the same node directory (identity, platform secrets, port) with an ``EvilAgent`` instead,
exactly as ``authex node run`` would, except that it obeys a ``Policy``:

* on a connection *into* this node (receiver side) it acknowledges every event to the sending
  agent at once, then hands the modules here whatever the policy says instead: replays, old
  events after newer ones, truncated or bit-flipped ciphertext, altered counters, events moved to
  another connection, fabricated events, or nothing;
* on a connection *out of* this node (sender side) it sends what the policy says, in that order,
  on a data link of its own to the receiving agent (bypassing the outbox, which would refuse a
  second copy of an event);
* for the modules in ``substitute`` it loads an altered artifact (``support.mitm.TAMPER``) and
  tells the deployer it loaded the genuine one (its measurement).

Nothing here reads a key or a platform secret: the evil agent sees what any agent sees.  It
records everything it saw (``Record``) so tests can check that no payload ever appeared in it.
Its status counters are the inherited, honest ones: they report what the modules here said.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import itertools
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from authex import PROTOCOL_VERSION
from authex.agent.config import load_node_dir
from authex.agent.ledger import AckSink, Action
from authex.agent.ledger import Forward as ForwardAction
from authex.agent.node import NodeAgent
from authex.agent.peers import split_address
from authex.agent.platform_client import PlatformClient
from authex.agent.process import ModuleProcess
from authex.agent.router import LocalModule, RemoteNode
from authex.agent.server import AgentServer
from authex.agent.stats import reason_name
from authex.agent.tenancy import Scope
from authex.agent.tls import data_client_context, server_context
from authex.deployer.state import StateStore
from authex.errors import ProtocolError
from authex.wire.codec import Frame, FrameDecoder, Message, encode
from authex.wire.messages import (
    DATA,
    Event,
    EventAck,
    Hello,
    HostAccepted,
    HostDeliver,
    HostEmit,
    HostRejected,
    LinkKind,
    Load,
    Loaded,
    Ok,
)
from support.harness import App
from support.mitm import TAMPER, measure

log = logging.getLogger("tests.evil_agent")
T = TypeVar("T")
Key = tuple[int, int, int]  # (connection id, direction, counter)
SETTLE_TIMEOUT = 10.0  # how long to wait for the far end to take an event before going on
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
COUNTER_BIT = 1 << 40  # FLIP_COUNTER makes the counter larger, so only the tag can refuse it


# --- what to do (pure) --------------------------------------------------------------------------


class Mode(enum.Enum):
    DROP = "drop"  # forward nothing
    REPLAY = "replay"  # forward, wait until the far end took it, forward the same bytes again
    REORDER = "reorder"  # hold back; forward after the next event was taken
    TRUNCATE = "truncate"  # forward the first half of the ciphertext
    FLIP_CIPHERTEXT = "flip-ciphertext"  # flip one bit in the middle of the ciphertext
    FLIP_COUNTER = "flip-counter"  # flip bit 40 of the counter
    REDIRECT = "redirect"  # forward on another connection id
    INJECT = "inject"  # forward random bytes of the same length under the same counter


@dataclass(frozen=True)
class Tamper:
    mode: Mode
    then_genuine: bool = False  # for forging modes: forward the genuine event after the forgery
    redirect_to: int = 0  # for REDIRECT: the connection id to use


@dataclass(frozen=True)
class Policy:
    """Tamper with events on ``conn_id``: ``at`` maps the ordinal of an event (1 = the first
    new event on the connection after the policy was set) to what to do with it; every other
    event is forwarded unaltered."""

    conn_id: int
    at: Mapping[int, Tamper] = field(default_factory=dict)

    def __post_init__(self) -> None:
        held = sorted(n for n, t in self.at.items() if t.mode is Mode.REORDER)
        if any(b == a + 1 for a, b in itertools.pairwise(held)):
            raise ValueError("REORDER holds an event until the next one: not two in a row")
        for tamper in self.at.values():
            if tamper.mode is Mode.REDIRECT and not tamper.redirect_to:
                raise ValueError("REDIRECT needs redirect_to")


def forge(event: Event, tamper: Tamper) -> Event:
    """The altered copy of ``event`` a forging mode forwards."""
    ct = event.ciphertext
    match tamper.mode:
        case Mode.TRUNCATE:
            return dataclasses.replace(event, ciphertext=ct[: len(ct) // 2])
        case Mode.FLIP_CIPHERTEXT:
            middle = len(ct) // 2
            flipped = ct[:middle] + bytes([ct[middle] ^ 0x01]) + ct[middle + 1 :]
            return dataclasses.replace(event, ciphertext=flipped)
        case Mode.FLIP_COUNTER:
            return dataclasses.replace(event, counter=event.counter ^ COUNTER_BIT)
        case Mode.REDIRECT:
            return dataclasses.replace(event, conn_id=tamper.redirect_to)
        case Mode.INJECT:
            return dataclasses.replace(event, ciphertext=os.urandom(len(ct)))
    raise ValueError(f"{tamper.mode} does not forge")


@dataclass(frozen=True)
class Forward:
    event: Event


@dataclass(frozen=True)
class Settle:
    """Wait until the far end took every copy of this event forwarded so far."""

    event: Event


Step = Forward | Settle


class Tamperer:
    """Applies one policy, event by event: what to forward instead of each genuine event."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.genuine: list[Event] = []  # the policy's events in arrival order (ordinal - 1)
        self.held: Event | None = None

    def steps(self, event: Event) -> list[Step]:
        self.genuine.append(event)
        tamper = self.policy.at.get(len(self.genuine))
        if tamper is not None and tamper.mode is Mode.REORDER:
            self.held = event
            return []
        own = self._own(event, tamper)
        held, self.held = self.held, None
        if held is None:
            return own
        forwarded = [s.event for s in own if isinstance(s, Forward)]
        return own + [Settle(e) for e in forwarded[-1:]] + [Forward(held)]

    @staticmethod
    def _own(event: Event, tamper: Tamper | None) -> list[Step]:
        if tamper is None:
            return [Forward(event)]
        if tamper.mode is Mode.DROP:
            return []
        if tamper.mode is Mode.REPLAY:
            return [Forward(event), Settle(event), Forward(event)]
        steps: list[Step] = [Forward(forge(event, tamper))]
        if tamper.then_genuine:
            steps.append(Forward(event))
        return steps


# --- what the evil agent saw and did ------------------------------------------------------------


@dataclass
class Record:
    blobs: list[bytes] = field(default_factory=list)  # every frame it received or sent
    incoming: list[Event] = field(default_factory=list)  # events from other agents
    emitted: list[Event] = field(default_factory=list)  # events its modules emitted
    forwarded: list[Event] = field(default_factory=list)  # what it passed on for a policy
    verdicts: list[tuple[Key, str]] = field(default_factory=list)  # modules' accepted/<reason>
    acks: list[Key] = field(default_factory=list)  # acknowledgements on its injection links
    commands: list[Message] = field(default_factory=list)  # control commands it received
    substituted: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # (module,
    # measurement the platform reported, measurement the agent claimed)
    problems: list[str] = field(default_factory=list)  # harness trouble (settle timeouts, ...)

    def saw(self, data: bytes) -> bool:
        """Did ``data`` occur in anything this agent received or sent?"""
        return any(data in blob for blob in list(self.blobs))


def _key(event: Event) -> Key:
    return (event.conn_id, event.direction, event.counter)


class InjectionLink:
    """The evil agent's own data link to another agent: frames in exactly the order written."""

    def __init__(self, local_node: str, address: str, on_ack: Callable[[EventAck], None]) -> None:
        self.local_node = local_node
        self.address = address
        self.on_ack = on_ack
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    async def send(self, events: list[Event]) -> None:
        if self._writer is None or self._writer.is_closing():
            await self._open()
        assert self._writer is not None
        self._writer.write(b"".join(encode(event) for event in events))
        await self._writer.drain()

    async def _open(self) -> None:
        host, port = split_address(self.address)
        reader, writer = await asyncio.open_connection(
            host, port, ssl=data_client_context(), server_hostname=host
        )
        writer.write(encode(Hello(LinkKind.DATA, PROTOCOL_VERSION, self.local_node)))
        decoder = FrameDecoder()
        frames: list[Frame] = []
        while not frames:
            chunk = await reader.read(4096)
            if not chunk:
                raise ProtocolError(f"{self.address} closed the link during hello")
            frames = decoder.feed(chunk)
        if not isinstance(DATA.decode(frames[0]), Ok):
            raise ProtocolError(f"{self.address} refused the data link")
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read_acks(reader, decoder))

    async def _read_acks(self, reader: asyncio.StreamReader, decoder: FrameDecoder) -> None:
        while chunk := await reader.read(1 << 16):
            for frame in decoder.feed(chunk):
                message = DATA.decode(frame)
                if isinstance(message, EventAck):
                    self.on_ack(message)

    async def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()


class EvilAgent(NodeAgent):
    """A node agent that applies a tamper ``policy`` to one connection and can substitute the
    artifacts of the modules in ``substitute`` (reporting the genuine measurement)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record = Record()
        self.substitute: set[str] = set()
        self.tamperer: Tamperer | None = None
        self._queue: asyncio.Queue[tuple[Event, Tamperer, bool]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._links: dict[str, InjectionLink] = {}
        self._queued: set[Key] = set()  # receiver side: genuine events already queued
        self._sent: Counter[Key] = Counter()  # copies forwarded per event
        self._answered: Counter[Key] = Counter()  # copies the far end took per event
        self._progress = asyncio.Event()
        self._busy = False

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        super().start()
        self._worker = asyncio.create_task(self._work(), name="evil-worker")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for link in self._links.values():
            await link.close()
        await super().close()

    def set_policy(self, policy: Policy | None) -> None:
        self.tamperer = None if policy is None else Tamperer(policy)

    def seen(self) -> list[Event]:
        """The genuine events the current policy has had so far, in order (ordinal - 1)."""
        return list(self.tamperer.genuine) if self.tamperer is not None else []

    def quiet(self) -> bool:
        """Nothing left to do, and the far end took every copy forwarded so far."""
        return (
            self._queue.empty()
            and not self._busy
            and all(self._answered[key] >= sent for key, sent in self._sent.items())
        )

    def replay(self, events: list[Event]) -> None:
        """Forward these (earlier) events again, unaltered, in this order."""
        for event in events:
            tamperer = Tamperer(Policy(event.conn_id))
            self._queue.put_nowait((event, tamperer, self._receiving(event)))

    def _receiving(self, event: Event) -> bool:
        return isinstance(self.ledger.target(event.conn_id, event.direction), LocalModule)

    # --- control ----------------------------------------------------------------------------

    async def command(self, message: Message, scope: Scope) -> Message:
        self.record.commands.append(message)
        self.record.blobs.append(encode(message))
        if isinstance(message, Load) and message.module in self.substitute:
            reply = await self._substitute(message, scope)
        else:
            reply = await super().command(message, scope)
        self.record.blobs.append(encode(reply))
        return reply

    async def _substitute(self, msg: Load, scope: Scope) -> Message:
        altered = Load(msg.module, msg.tee, TAMPER[msg.tee](msg.artifact), msg.memory)
        reply = await super().command(altered, scope)  # a CommandError if the platform refuses it
        assert isinstance(reply, Loaded)
        claimed = measure(msg.tee, msg.artifact)
        self.record.substituted.append((msg.module, reply.measurement, claimed))
        return Loaded(reply.instance, claimed)  # the lie: "I loaded what you sent"

    # --- events -----------------------------------------------------------------------------

    def _policy_for(self, event: Event) -> Tamperer | None:
        tamperer = self.tamperer
        if tamperer is not None and event.conn_id == tamperer.policy.conn_id:
            return tamperer
        return None

    def on_data_event(self, event: Event, peer: str, sink: AckSink) -> None:
        self.record.blobs.append(encode(event))
        self.record.incoming.append(event)
        tamperer = self._policy_for(event)
        if tamperer is None or not self._receiving(event):
            super().on_data_event(event, peer, sink)
            return
        # "taken": the sender forgets it, whatever happens to it here
        sink.acknowledge(event.conn_id, event.direction, event.counter)
        if _key(event) in self._queued:
            return  # a resend of an event the policy already had
        self._queued.add(_key(event))
        self._queue.put_nowait((event, tamperer, True))

    def apply(self, actions: list[Action]) -> None:
        """Events this node's modules send to another node under the policy are queued for
        the policy instead of the outbox."""
        kept: list[Action] = []
        for action in actions:
            tamperer = self._policy_for(action.event) if isinstance(action, ForwardAction) else None
            if isinstance(action, ForwardAction) and tamperer is not None:
                self._queue.put_nowait((action.event, tamperer, False))
            else:
                kept.append(action)
        super().apply(kept)

    def _from_module(self, process: ModuleProcess, message: Message) -> None:
        self.record.blobs.append(encode(message))
        if isinstance(message, HostEmit):
            self.record.emitted.append(
                Event(message.conn_id, message.direction, message.counter, message.ciphertext)
            )
        elif isinstance(message, HostAccepted | HostRejected):
            key = (message.conn_id, message.direction, message.counter)
            verdict = (
                "accepted" if isinstance(message, HostAccepted) else reason_name(message.reason)
            )
            self.record.verdicts.append((key, verdict))
            self._answered[key] += 1
            self._progress.set()
        super()._from_module(process, message)

    def _on_injection_ack(self, ack: EventAck) -> None:
        key = (ack.conn_id, ack.direction, ack.counter)
        self.record.acks.append(key)
        self._answered[key] += 1
        self._progress.set()

    async def _work(self) -> None:
        while True:
            event, tamperer, receiving = await self._queue.get()
            self._busy = True
            try:
                await self._carry_out(event, tamperer, receiving)
            except Exception as exc:  # keep serving; the fixture looks at problems
                log.exception("evil agent failed on %s", event)
                self.record.problems.append(f"{_key(event)}: {exc!r}")
            finally:
                self._busy = False

    async def _carry_out(self, event: Event, tamperer: Tamperer, receiving: bool) -> None:
        target = self.ledger.target(event.conn_id, event.direction)
        address = target.address if isinstance(target, RemoteNode) else ""
        batch: list[Event] = []  # sender side: consecutive forwards go out in one write
        for step in [*tamperer.steps(event), None]:
            if isinstance(step, Forward) and not receiving:
                batch.append(step.event)
                continue
            if batch:
                await self._send_to(address, batch)
                batch = []
            if isinstance(step, Settle):
                await self._settle(step.event)
            elif isinstance(step, Forward):
                self._deliver_here(step.event)

    def _deliver_here(self, event: Event) -> None:
        target = self.ledger.target(event.conn_id, event.direction)
        self.record.forwarded.append(event)
        if not isinstance(target, LocalModule):
            self.record.problems.append(f"no local module for {_key(event)}")
            return
        message = HostDeliver(event.conn_id, event.direction, event.counter, event.ciphertext)
        delivered, actions = self.ledger.try_deliver(target.module, message)
        self.apply(actions)
        if delivered:
            self._sent[_key(event)] += 1

    async def _send_to(self, address: str, events: list[Event]) -> None:
        if not address:
            raise ProtocolError(f"no remote node for {[_key(e) for e in events]}")
        link = self._links.get(address)
        if link is None:
            link = self._links[address] = InjectionLink(
                self.config.name, address, self._on_injection_ack
            )
        for event in events:
            self.record.forwarded.append(event)
            self.record.blobs.append(encode(event))
            self._sent[_key(event)] += 1
        await link.send(events)

    async def _settle(self, event: Event) -> None:
        key = _key(event)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while self._answered[key] < self._sent[key]:
            self._progress.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.record.problems.append(f"far end never took {key}")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)


# --- running it in a thread ---------------------------------------------------------------------


def _quiet_cancelled_links(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Python 3.11's start_server callback raises CancelledError for a link task cancelled by
    ``AgentServer.close``; that is shutdown, not a failure."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


class EvilNode:
    """An ``EvilAgent`` serving a node directory from a background thread with its own loop."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._agent: EvilAgent | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="evil-agent", daemon=True)

    @property
    def agent(self) -> EvilAgent:
        assert self._agent is not None, "evil agent not running"
        return self._agent

    @property
    def record(self) -> Record:
        return self.agent.record

    def start(self) -> EvilNode:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TimeoutError("evil agent did not start")
        if self._error is not None:
            self._thread.join(STOP_TIMEOUT)
            raise RuntimeError("evil agent failed to start") from self._error
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(), or logged once running
            if not self._ready.is_set():
                self._error = exc
            else:
                log.exception("evil agent crashed")
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_quiet_cancelled_links)
        config = load_node_dir(self.directory)
        platform = PlatformClient(self.directory)
        try:
            await platform.start()
        except BaseException:
            await platform.close()
            raise
        agent = EvilAgent(config, self.directory, platform)
        agent.start()
        server = AgentServer(agent, server_context(self.directory))
        try:
            await server.start()
        except BaseException:
            await agent.close()
            raise
        self._agent = agent
        self._ready.set()
        try:
            await agent.stopping.wait()
        finally:
            await server.close()  # closes the agent: modules, peers, platform process

    def run(self, body: Callable[[EvilAgent], T], timeout: float = 10.0) -> T:
        """Run ``body`` on the agent's loop (the agent is not thread-safe) and return its
        result."""

        async def call() -> T:
            return body(self.agent)

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    def set_policy(self, policy: Policy | None) -> None:
        self.run(lambda agent: agent.set_policy(policy))

    def set_substitute(self, modules: set[str]) -> None:
        self.run(lambda agent: setattr(agent, "substitute", set(modules)))

    def replay(self, events: list[Event]) -> None:
        self.run(lambda agent: agent.replay(events))

    def seen(self) -> list[Event]:
        return self.run(lambda agent: agent.seen())

    def quiet(self) -> bool:
        return self.run(lambda agent: agent.quiet())

    def stop(self) -> None:
        if self._loop is not None and self._agent is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._agent.stopping.set)
        if self._thread.ident is not None:
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():
                raise RuntimeError("evil agent thread did not stop")


# --- taking a node over -------------------------------------------------------------------------


def _gone(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
    except ChildProcessError:  # not our child, or reaped already
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_agent_process(app: App, node: str, timeout: float = 15.0) -> Path:
    """Stop the agent ``LocalCluster`` started for ``node`` (and forget its pid, so the
    cluster's teardown does not signal it again); returns the node directory."""
    folder = StateStore.of(app.descriptor).folder
    record = folder / "cluster.json"
    pids: dict[str, int] = json.loads(record.read_text())
    pid = pids.pop(node)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)  # the agent stops its modules and platform, then exits
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.02)
    record.write_text(json.dumps(pids, indent=1))
    return folder / "nodes" / node


@contextmanager
def evil_node(app: App, node: str) -> Iterator[EvilNode]:
    """Replace ``node``'s agent by an ``EvilAgent`` on the same directory and port, for the
    duration of the block (modules loaded on the old agent are gone: deploy again)."""
    directory = stop_agent_process(app, node)
    evil = EvilNode(directory).start()
    try:
        yield evil
    finally:
        evil.stop()
