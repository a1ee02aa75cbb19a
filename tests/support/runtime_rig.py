"""A module runtime driven in memory with the deployer's side of every exchange (operator key,
K_m, control counter, the peers' connection ends): shared by the SDK runtime tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.crypto.channel import ChannelEnd
from authex.crypto.control import Role, seal_call, wrap_key
from authex.crypto.native_exchange import DeployerExchange
from authex.crypto.secret import Secret
from authex.crypto.suites import SuiteId, get_suite
from authex.manifest import IoKind
from authex.sdk.loader import find_module, load_main
from authex.sdk.runtime import ModuleRuntime
from authex.wire.codec import Message
from authex.wire.messages import (
    HostAccepted,
    HostAttest,
    HostAttested,
    HostCall,
    HostDeliver,
    HostEmit,
    HostSetKey,
    HostSwapKey,
    Ok,
)

COUNTER = Path(__file__).resolve().parents[1] / "unit" / "sdk" / "fixtures" / "counter"
AES = get_suite("aes-gcm-128")
Waiter = Callable[[int, int, float], HostDeliver]


@dataclass
class Rig:
    """A runtime plus the deployer's knowledge: operator key, K_m, control counter, peers."""

    operator: Ed25519PrivateKey
    sent: list[tuple[Message, int]] = field(default_factory=list)
    waiter: Waiter | None = None
    module_key: Secret | None = None
    control: int = 0
    peers: dict[int, ChannelEnd] = field(default_factory=dict)
    accepted: list[HostAccepted] = field(default_factory=list)
    runtime: ModuleRuntime = field(init=False)

    def __post_init__(self) -> None:
        module = find_module(vars(load_main(COUNTER)), "counter")
        manifest = module.manifest(
            "counter", self.operator.public_key().public_bytes_raw().hex(), ("aes-gcm-128",)
        )

        def wait(conn_id: int, counter: int, timeout: float) -> HostDeliver:
            assert self.waiter is not None, "unexpected wait_response"
            return self.waiter(conn_id, counter, timeout)

        self.runtime = ModuleRuntime(
            manifest, module, lambda m, rid: self.sent.append((m, rid)), wait, log=lambda _: None
        )

    def io(self, kind: IoKind, name: str) -> int:
        endpoint = self.runtime.manifest.find(kind, name)
        assert endpoint is not None
        return endpoint.id

    def handle(self, message: Message, request_id: int = 7) -> list[tuple[Message, int]]:
        """What the runtime sent in answer, less the HostAccepted acknowledgements, which
        are collected in ``accepted``."""
        self.sent.clear()
        assert self.runtime.handle(message, request_id)
        self.accepted += [m for m, _ in self.sent if isinstance(m, HostAccepted)]
        return [(m, rid) for m, rid in self.sent if not isinstance(m, HostAccepted)]

    def attest(self) -> None:
        exchange = DeployerExchange.start("counter", self.operator)
        [(reply, rid)] = self.handle(HostAttest(exchange.challenge), 3)
        assert isinstance(reply, HostAttested) and rid == 3
        self.module_key = exchange.finish(reply.evidence)
        self.control = 0

    def set_key_message(
        self, conn_id: int, io_id: int, role: Role, *, key: Secret | None = None
    ) -> tuple[HostSetKey, Secret]:
        assert self.module_key is not None
        self.control += 1
        conn_key = key or Secret(bytes([conn_id % 256]) * 16)
        fields = dict(conn_id=conn_id, io_id=io_id, role=role, suite=SuiteId.AES_GCM_128)
        wrapped = wrap_key(AES, self.module_key, conn_key, counter=self.control, **fields)
        return HostSetKey(counter=self.control, wrapped=wrapped, **fields), conn_key

    def swap_key_message(
        self, conn_id: int, replaces: int, io_id: int, role: Role, *, key: Secret | None = None
    ) -> tuple[HostSwapKey, Secret]:
        """A swap-key (``conn_id`` 0: a retire, no key) with the next control counter."""
        assert self.module_key is not None
        self.control += 1
        conn_key = key or Secret(bytes([conn_id % 256]) * 16 if conn_id else b"")
        suite = SuiteId.AES_GCM_128 if conn_id else 0
        fields = dict(conn_id=conn_id, io_id=io_id, role=role, suite=suite)
        wrapped = wrap_key(
            AES, self.module_key, conn_key, counter=self.control, replaces=replaces, **fields
        )
        message = HostSwapKey(replaces=replaces, counter=self.control, wrapped=wrapped, **fields)
        return message, conn_key

    def connect(self, conn_id: int, kind: IoKind, name: str) -> ChannelEnd:
        """Key a connection end here; returns the peer's end of it."""
        role = Role.SENDER if kind in (IoKind.OUTPUT, IoKind.REQUEST) else Role.RECEIVER
        message, key = self.set_key_message(conn_id, self.io(kind, name), role)
        assert self.handle(message) == [(Ok(), 7)]
        self.peers[conn_id] = ChannelEnd(conn_id, AES, key)
        return self.peers[conn_id]

    def event(self, conn_id: int, data: bytes) -> HostDeliver:
        counter, sealed = self.peers[conn_id].seal(0, data)
        return HostDeliver(conn_id, 0, counter, sealed)

    def opened(self, sent: Sequence[tuple[Message, int]]) -> list[tuple[int, bytes]]:
        """Open every HostEmit with the peer's end: (conn id, plaintext)."""
        result = []
        for message, _ in sent:
            assert isinstance(message, HostEmit)
            peer = self.peers[message.conn_id]
            result.append(
                (message.conn_id, peer.open(message.direction, message.counter, message.ciphertext))
            )
        return result

    def call(
        self, entry: str, arg: bytes, *, key: Secret | None = None, counter: int | None = None
    ) -> HostCall:
        if counter is None:
            self.control += 1
            counter = self.control
        entry_id = self.io(IoKind.ENTRY, entry)
        sealed = seal_call(AES, key or self.module_key or Secret(bytes(16)), entry_id, counter, arg)
        return HostCall(entry_id, 1, counter, sealed)
