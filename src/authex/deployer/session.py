"""A deployer session: descriptor, state store, operator key and open agent clients.

Every command (deploy, status, call, send, ...) runs inside one session so the lock is held,
clients are closed and state is saved whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.deployer.client import AgentClient, operator_context
from authex.deployer.state import DeploymentState, StateStore
from authex.deployer.trust import TrustStore, load_trust
from authex.descriptor import Descriptor, Policy
from authex.errors import AuthexError, RemoteError, StateError
from authex.tee.base import OperatorKeys
from authex.wire.messages import Status, StatusResult
from authex.wire.status import NodeStatus


def _quiet(_: str) -> None:
    pass


@dataclass
class Session:
    descriptor: Descriptor
    store: StateStore
    progress: Callable[[str], None] = _quiet
    allow_emulated: bool = False  # `authex up` accepts emulated TEEs for local development
    exclusive: bool = True  # False: read-only (status, watch), runs beside other commands
    state: DeploymentState = field(init=False)
    operator: Ed25519PrivateKey = field(init=False)
    clients: dict[str, AgentClient] = field(default_factory=dict, init=False)
    _lock: contextlib.AbstractAsyncContextManager[None] | None = field(default=None, init=False)
    _trust: TrustStore | None = field(default=None, init=False)

    async def __aenter__(self) -> Session:
        if self.exclusive:
            lock = self.store.locked_async()
            await lock.__aenter__()
            self._lock = lock
        try:
            self.state = self.store.load()
            self.state.descriptor = str(self.descriptor.path)
            self.operator = self.store.operator_key()
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            for client in self.clients.values():
                await client.close()
        finally:
            if self._lock is not None:
                lock, self._lock = self._lock, None
                await lock.__aexit__(et, e, tb)

    @property
    def policy(self) -> Policy:
        policy = self.descriptor.policy
        if self.allow_emulated and not policy.allow_emulated:
            policy = replace(policy, allow_emulated=True)
        return policy

    def trust(self) -> TrustStore:
        if self._trust is None:
            path = self.descriptor.trust
            if path is None:
                path = self.store.folder / "trust.yaml"
            self._trust = load_trust(path)
        return self._trust

    def keys(self) -> OperatorKeys:
        return OperatorKeys(self.operator, self.store.ta_vendor_key)

    def save(self) -> None:
        if not self.exclusive:
            raise StateError("a read-only session cannot change the deployment state")
        self.store.save(self.state)

    @property
    def operator_public(self) -> bytes:
        return self.operator.public_key().public_bytes_raw()

    async def client(self, node: str) -> AgentClient:
        client = self.clients.get(node)
        if client is None:
            spec = self.descriptor.node(node)
            identity = self.trust().node(node, spec.tee).identity
            if not identity:
                raise StateError(
                    f"the trust file pins no TLS identity for node {node}; add the `identity` "
                    "printed by `authex node init` (or `authex node enrolment`) on that node"
                )
            cert, key = self.store.operator_tls()
            context = operator_context(identity, cert, key)
            client = AgentClient(node, spec.host, spec.port, context, self.descriptor.name)
            await client.connect()
            self.clients[node] = client
        return client

    async def node_status(self, node: str) -> NodeStatus:
        reply = await (await self.client(node)).request(Status())
        if not isinstance(reply, StatusResult):
            raise RemoteError("agent answered status without a result", where=f"node {node}")
        return reply.status

    async def all_status(
        self, nodes: Iterable[str] | None = None
    ) -> dict[str, NodeStatus | AuthexError]:
        """Every node's status (or those of ``nodes``), or the error that kept us from it."""

        async def one(node: str) -> tuple[str, NodeStatus | AuthexError]:
            try:
                return node, await self.node_status(node)
            except AuthexError as exc:
                return node, exc

        names = [n.name for n in self.descriptor.nodes] if nodes is None else list(nodes)
        results = await asyncio.gather(*(one(node) for node in names))
        return dict(results)
