"""The agent's control commands: one handler per message type (spec/protocol.md §5).

Each handler works on the agent's parts — the module supervisor, the delivery ledger, the
operator channel, the outbox — and answers with a reply message or raises CommandError, which
the server turns into an Error frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from authex.agent.errors import CommandError
from authex.agent.ledger import Action, DeliveryLedger
from authex.agent.modules import ModuleSupervisor
from authex.agent.operator import OperatorChannel
from authex.agent.outbox import Outbox
from authex.agent.process import HIGH_WATER
from authex.agent.router import LocalModule, UnknownRoute
from authex.agent.tenancy import Scope, Tenancy, scoped_status
from authex.wire.codec import Message
from authex.wire.messages import (
    AddRoute,
    Attest,
    Attested,
    Bind,
    Call,
    CallResult,
    Direction,
    ErrorCode,
    HostAttest,
    HostAttested,
    HostCall,
    HostCallResult,
    HostDeliver,
    HostSetKey,
    HostSwapKey,
    Load,
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
)
from authex.wire.status import NodeStatus

log = logging.getLogger("authex.agent")
OPERATOR_REQUEST_TIMEOUT = 30.0

Handler = Callable[[Any, Scope], Awaitable[Message]]


class Commands:
    def __init__(
        self,
        node: str,
        modules: ModuleSupervisor,
        ledger: DeliveryLedger,
        operator: OperatorChannel,
        outbox: Outbox,
        apply: Callable[[list[Action]], None],
        status: Callable[[], NodeStatus],
        tenancy: Tenancy,
        save_tenancy: Callable[[], None],
    ) -> None:
        self.node = node
        self.modules = modules
        self.ledger = ledger
        self.operator = operator
        self.outbox = outbox
        self.apply = apply
        self.status = status
        self.tenancy = tenancy
        self.save_tenancy = save_tenancy
        self.handlers: dict[type[Message], Handler] = {
            Bind: self.bind,
            Load: self.load,
            Attest: self.attest,
            SetKey: self.set_key,
            SwapKey: self.swap_key,
            Promote: self.promote,
            AddRoute: self.add_route,
            RemoveRoute: self.remove_route,
            Call: self.call,
            Timer: self.timer,
            Status: self.report,
            Remove: self.remove,
            Reset: self.reset,
            Send: self.send,
            Request: self.request,
        }

    async def __call__(self, message: Message, scope: Scope) -> Message:
        handler = self.handlers.get(type(message))
        if handler is None:
            raise CommandError(ErrorCode.BAD_REQUEST, f"{type(message).__name__} is not a command")
        return await handler(message, scope)

    # --- deployments ----------------------------------------------------------------------

    async def bind(self, msg: Bind, scope: Scope) -> Message:
        if self.tenancy.bind(scope, msg.deployment, self.node):
            self.save_tenancy()
            log.info("deployment %s created by operator %s", msg.deployment, scope.operator)
        return Ok()

    def _claim(self, scope: Scope, conn_id: int) -> None:
        if self.tenancy.claim(scope.bound(), conn_id, self.node):
            self.save_tenancy()

    def own(self, scope: Scope, conn_id: int) -> None:
        """``conn_id`` must be the bound deployment's."""
        deployment = scope.bound()
        holder = self.tenancy.connections.get(conn_id)
        if holder is None:
            raise CommandError(
                ErrorCode.UNKNOWN_CONNECTION, f"no route for connection {conn_id} on {self.node}"
            )
        if holder != deployment:
            raise CommandError(
                ErrorCode.UNKNOWN_CONNECTION,
                f"connection {conn_id} on node {self.node} is not deployment {deployment!r}'s",
            )

    # --- modules --------------------------------------------------------------------------

    async def load(self, msg: Load, scope: Scope) -> Message:
        msg = replace(msg, module=scope.module(msg.module))
        loaded = await self.modules.load(msg)
        self.ledger.stage(msg.module)
        return loaded

    async def attest(self, msg: Attest, scope: Scope) -> Message:
        reply = await self.modules.request(scope.module(msg.module), HostAttest(msg.challenge))
        if not isinstance(reply, HostAttested):
            raise CommandError(ErrorCode.MODULE_FAILED, "module answered attest with no evidence")
        return Attested(reply.evidence)

    async def call(self, msg: Call, scope: Scope) -> Message:
        host = HostCall(msg.entry_id, msg.authenticated, msg.counter, msg.payload)
        reply = await self.modules.request(scope.module(msg.module), host)
        if not isinstance(reply, HostCallResult):
            raise CommandError(ErrorCode.MODULE_FAILED, "module answered call with no result")
        return CallResult(reply.status, reply.payload)

    async def timer(self, msg: Timer, scope: Scope) -> Message:
        await self.modules.set_timer(scope.module(msg.module), msg.entry_id, msg.period_ms)
        return Ok()

    async def remove(self, msg: Remove, scope: Scope) -> Message:
        await self.modules.remove(scope.module(msg.module))
        return Ok()

    async def promote(self, msg: Promote, scope: Scope) -> Message:
        """A staged module becomes the module it replaces (spec/protocol.md §7.6): the old
        instance stops first (what it still owed is forgotten under the old routes), then the
        routes are renamed and what was held for the staged one is released, in order."""
        staged = scope.module(msg.staged)
        module = await self.modules.promote(staged)
        renamed, released = self.ledger.promote(staged)
        self.modules.remember_routes(renamed)
        self.apply(released)
        log.info(
            "promoted %s to %s; released %d held deliveries", staged, module.name, len(released)
        )
        return Ok()

    async def reset(self, msg: Reset, scope: Scope) -> Message:
        """Stop the bound deployment's modules and forget its routes, timers, counts, retained
        events and stored events; other deployments on the node go on."""
        deployment = scope.bound()
        conn_ids = self.tenancy.release(deployment)
        self.save_tenancy()
        await self.modules.reset(deployment, conn_ids)
        self.ledger.reset_deployment(deployment, conn_ids)
        self.operator.forget_connections(conn_ids)
        self.outbox.forget_connections(conn_ids)  # gone: never resend those events
        log.info("deployment %s reset by operator %s", deployment, scope.operator)
        return Ok()

    async def report(self, msg: Status, scope: Scope) -> Message:
        return StatusResult(scoped_status(self.status(), scope, self.tenancy))

    # --- keys and routes ------------------------------------------------------------------

    async def set_key(self, msg: SetKey, scope: Scope) -> Message:
        self._claim(scope, msg.conn_id)
        host = HostSetKey(msg.conn_id, msg.io_id, msg.role, msg.suite, msg.counter, msg.wrapped)
        await self.modules.request(scope.module(msg.module), host)
        self._rekeyed(msg.conn_id)
        return Ok()

    async def swap_key(self, msg: SwapKey, scope: Scope) -> Message:
        """Key a new connection on a module and forget the one it replaces, in one step: what
        the module sent before its answer went on the old connection, what it sends after on
        the new one.  What this agent still has of the old connection stays (it drains)."""
        if msg.conn_id:
            self._claim(scope, msg.conn_id)
        host = HostSwapKey(
            msg.conn_id, msg.replaces, msg.io_id, msg.role, msg.suite, msg.counter, msg.wrapped
        )
        await self.modules.request(scope.module(msg.module), host)
        if msg.conn_id:
            self._rekeyed(msg.conn_id)
        return Ok()

    async def add_route(self, msg: AddRoute, scope: Scope) -> Message:
        self._claim(scope, msg.conn_id)
        msg = replace(
            msg, from_module=scope.module(msg.from_module), to_module=scope.module(msg.to_module)
        )
        self.ledger.add_route(msg)
        self.modules.remember_route(msg)
        return Ok()

    async def remove_route(self, msg: RemoveRoute, scope: Scope) -> Message:
        """Forget a retired connection: its route and whatever is still kept for it."""
        if self.tenancy.connections.get(msg.conn_id) is None:
            return Ok()  # nothing here (any more): nothing to do
        self.own(scope, msg.conn_id)
        self.tenancy.forget_connection(msg.conn_id)
        self.save_tenancy()
        self.ledger.remove_route(msg.conn_id)
        self.modules.forget_route(msg.conn_id)
        self._forget_outbox(msg.conn_id)
        return Ok()

    def _rekeyed(self, conn_id: int) -> None:
        """A connection got a new key here: its counters start again at 1, and what this agent
        still holds sealed under the old key can never be opened again."""
        self.ledger.rekeyed(conn_id)
        self._forget_outbox(conn_id)

    def _forget_outbox(self, conn_id: int) -> None:
        dropped = self.outbox.forget_connection(conn_id)
        if dropped:
            self.ledger.stats[conn_id].dropped += dropped
            log.info(
                "connection %d re-keyed: dropped %d events sealed under its old key",
                conn_id,
                dropped,
            )

    # --- the operator's events ------------------------------------------------------------

    async def send(self, msg: Send, scope: Scope) -> Message:
        self.own(scope, msg.conn_id)
        module = self._operator_target(msg.conn_id, "operator events enter at the target")
        self._not_busy(module)
        self.apply(
            self.ledger.deliver(module, HostDeliver(msg.conn_id, 0, msg.counter, msg.ciphertext))
        )
        return Ok()

    async def request(self, msg: Request, scope: Scope) -> Message:
        self.own(scope, msg.conn_id)
        module = self._operator_target(msg.conn_id, "operator requests enter at the target")
        self._not_busy(module)
        delivery = HostDeliver(msg.conn_id, 0, msg.counter, msg.ciphertext)
        future = self.operator.expect(msg.conn_id, msg.counter)
        try:
            self.apply(self.ledger.deliver(module, delivery))
            reply = await asyncio.wait_for(future, OPERATOR_REQUEST_TIMEOUT)
        except TimeoutError as exc:
            raise CommandError(ErrorCode.TIMEOUT, "handler did not respond in time") from exc
        finally:
            self.operator.forget(msg.conn_id, msg.counter)
        return Response(reply.conn_id, reply.counter, reply.ciphertext)

    def _not_busy(self, module: str) -> None:
        """The operator's events are not queued without bound for a module that does not read
        what it is sent: refused while it is over its high water (agent/process.py)."""
        if self.modules.busy(module):
            raise CommandError(
                ErrorCode.REJECTED,
                f"module {module!r} on node {self.node} is not reading what it is sent "
                f"(more than {HIGH_WATER >> 20} MiB waits for it): refused; send again once it "
                "catches up, or remove it if it is stuck",
            )

    def _operator_target(self, conn_id: int, elsewhere: str) -> str:
        try:
            target = self.ledger.routes.target(conn_id, Direction.FORWARD)
        except UnknownRoute as exc:
            raise CommandError(ErrorCode.UNKNOWN_CONNECTION, str(exc)) from exc
        if not isinstance(target, LocalModule):
            raise CommandError(ErrorCode.UNKNOWN_CONNECTION, elsewhere)
        return target.module
