"""What the deployer resolves before a backend attests (deployer/deploy.py): the node's trust
entry under the descriptor's policy, and the exchange through the node's agent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from authex.deployer.client import AgentClient
from authex.deployer.deploy import agent_exchange, enrolled
from authex.deployer.trust import NodeTrust, TrustStore
from authex.descriptor import ModuleSpec, Node, Policy
from authex.errors import AttestationError, ProtocolError
from authex.wire.codec import Message
from authex.wire.messages import Attest, Attested, Ok

SPEC = ModuleSpec("sensor", "mcu1", "python", Path("."))
NODE = Node("mcu1", "sancus", "127.0.0.1", 7000)
ENTRY = NodeTrust("mcu1", "sancus", True, {4660: bytes(16)})
STORE = TrustStore(Path("trust.yaml"), {"mcu1": ENTRY})


def test_enrolled_returns_the_pinned_entry_when_the_policy_allows_emulation() -> None:
    assert enrolled(STORE, Policy(allow_emulated=True), SPEC, NODE) is ENTRY


def test_an_emulated_node_is_refused_without_the_policys_opt_in() -> None:
    with pytest.raises(AttestationError) as caught:
        enrolled(STORE, Policy(), SPEC, NODE)
    assert caught.value.message == (
        "node mcu1 is an emulated sancus platform and the descriptor's policy does not accept "
        "emulated TEEs (policy: {allow_emulated: true} for development)"
    )
    assert caught.value.where == "module sensor"


def test_a_real_platform_needs_no_opt_in() -> None:
    store = TrustStore(None, {"mcu1": NodeTrust("mcu1", "sancus", False)})
    assert not enrolled(store, Policy(), SPEC, NODE).emulated


def test_an_unenrolled_node_is_refused() -> None:
    with pytest.raises(AttestationError, match=r"node mcu1 \(sancus\) is not enrolled"):
        enrolled(TrustStore(None, {}), Policy(allow_emulated=True), SPEC, NODE)


class StubClient:
    where = "node mcu1 (127.0.0.1:7000)"

    def __init__(self, reply: Message) -> None:
        self.reply = reply
        self.sent: list[Message] = []

    async def request(self, message: Message) -> Message:
        self.sent.append(message)
        return self.reply


async def evidence(client: StubClient, module: str, challenge: bytes) -> bytes:
    return await agent_exchange(cast(AgentClient, client))(module, challenge)


def test_the_exchange_sends_attest_and_returns_the_evidence() -> None:
    client = StubClient(Attested(b"evidence"))
    assert asyncio.run(evidence(client, "sensor~2", b"challenge")) == b"evidence"
    assert client.sent == [Attest("sensor~2", b"challenge")]


def test_an_answer_without_evidence_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="agent answered attest without evidence") as caught:
        asyncio.run(evidence(StubClient(Ok()), "sensor", b"challenge"))
    assert caught.value.where == "node mcu1 (127.0.0.1:7000)"
