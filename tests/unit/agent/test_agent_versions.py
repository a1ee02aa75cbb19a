"""An agent and a peer (deployer or agent) of another authex protocol version refuse each other,
naming both versions and the fix: a real agent server (stub platform) and fake peers."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest

import authex.agent.server as server_mod
import authex.deployer.client as client_mod
from authex import PROTOCOL_VERSION
from authex.agent.config import NodeConfig, init_node_dir, load_node_dir
from authex.agent.node import NodeAgent
from authex.agent.platform_client import PlatformClient
from authex.agent.server import AgentServer
from authex.agent.tls import data_client_context, server_context
from authex.deployer.client import AgentClient
from authex.errors import ProtocolError
from authex.wire.codec import FrameDecoder, Message, encode
from authex.wire.messages import DATA, Error, ErrorCode, Hello, LinkKind, Ok
from support.agent_rig import StubPlatform
from support.net import free_ports

FIX = "run the same authex version on both"


async def hello(port: int, link: LinkKind, version: int, peer: str) -> list[Message]:
    """Open a link as a peer of ``version`` would and read what the agent says until it closes
    the link (or answers Ok)."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=data_client_context(), server_hostname="n1"
    )
    writer.write(encode(Hello(link, version, peer)))
    decoder = FrameDecoder()
    said: list[Message] = []
    try:
        while not said or not isinstance(said[-1], Ok):
            chunk = await asyncio.wait_for(reader.read(1 << 16), 5)
            if not chunk:
                break
            said.extend(DATA.decode(frame) for frame in decoder.feed(chunk))
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
    return said


Body = Callable[[int], Awaitable[None]]


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    (port,) = free_ports(1)
    directory = tmp_path / "n1"
    init_node_dir(directory, NodeConfig("n1", "native", "127.0.0.1", port))
    return directory


@pytest.fixture
def run_agent(node_dir: Path) -> Callable[[Body], None]:
    """Run ``body(port)`` against a real agent server of node n1."""

    def run(body: Body) -> None:
        async def go() -> None:
            async with serving(node_dir) as port:
                await body(port)

        asyncio.run(go())

    return run


@contextlib.asynccontextmanager
async def serving(directory: Path) -> AsyncIterator[int]:
    """A real agent server for the node in ``directory`` (stub platform); yields its port."""
    config = load_node_dir(directory)
    agent = NodeAgent(config, directory, cast(PlatformClient, StubPlatform()))
    server = AgentServer(agent, server_context(directory))
    await server.start()
    try:
        yield config.port
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("link", "version", "peer", "who"),
    [
        (LinkKind.CONTROL, 1, "deployer", "deployer"),  # a deployer of protocol 1
        (LinkKind.CONTROL, PROTOCOL_VERSION + 1, "deployer", "deployer"),  # a newer one
        (LinkKind.DATA, 1, "n2", "n2"),  # another agent, of protocol 1
    ],
)
def test_agent_refuses_a_hello_of_another_version(
    run_agent: Callable[[Body], None], link: LinkKind, version: int, peer: str, who: str
) -> None:
    async def body(port: int) -> None:
        said = await hello(port, link, version, peer)
        assert said == [
            Error(
                ErrorCode.BAD_REQUEST,
                f"node n1 speaks authex protocol {PROTOCOL_VERSION}, {who} speaks {version}: "
                + FIX,
            )
        ]

    run_agent(body)


@pytest.mark.parametrize("peer", ["n2\nINFO forged log line", "../n2", "", "n2 n3", "é"])
def test_agent_refuses_a_hello_naming_no_valid_peer(
    run_agent: Callable[[Body], None], peer: str
) -> None:
    """The peer name goes into log lines and refusals: one that could forge a log line (or is
    no node name at all) is refused, shown escaped, before anything else is looked at."""

    async def body(port: int) -> None:
        said = await hello(port, LinkKind.DATA, PROTOCOL_VERSION, peer)
        assert said == [Error(ErrorCode.BAD_REQUEST, f"Hello names an invalid peer {peer!r}")]

    run_agent(body)


def test_agent_accepts_its_own_version(run_agent: Callable[[Body], None]) -> None:
    async def body(port: int) -> None:
        assert await hello(port, LinkKind.DATA, PROTOCOL_VERSION, "n2") == [Ok()]

    run_agent(body)


@pytest.mark.parametrize(
    ("side", "agent_version", "deployer_version"),
    [
        # the deployer's Hello says version 1: the agent refuses it, and the deployer shows
        # both versions as its own error (not the agent's wording)
        ("deployer", PROTOCOL_VERSION, 1),
        ("agent", PROTOCOL_VERSION + 1, PROTOCOL_VERSION),  # a newer agent
    ],
)
def test_a_deployer_and_an_agent_of_other_versions_refuse_each_other(
    run_agent: Callable[[Body], None],
    monkeypatch: pytest.MonkeyPatch,
    side: str,
    agent_version: int,
    deployer_version: int,
) -> None:
    if side == "deployer":
        monkeypatch.setattr(client_mod, "PROTOCOL_VERSION", deployer_version)
    else:
        monkeypatch.setattr(server_mod, "PROTOCOL_VERSION", agent_version)

    async def body(port: int) -> None:
        client = AgentClient("n1", "127.0.0.1", port, data_client_context())
        try:
            with pytest.raises(ProtocolError) as caught:
                await client.connect()
        finally:
            await client.close()
        assert str(caught.value) == (
            f"agent on node n1 speaks authex protocol {agent_version}, this deployer "
            f"speaks {deployer_version}: {FIX}"
        )

    run_agent(body)
