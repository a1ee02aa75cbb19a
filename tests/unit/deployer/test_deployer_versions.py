"""The deployer refuses an agent of another authex protocol version, naming both versions and the
fix: fake agents that answer the deployer's Hello as agents of other versions do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from authex import PROTOCOL_VERSION
from authex.agent.config import NodeConfig, init_node_dir
from authex.agent.tls import data_client_context, server_context
from authex.deployer.client import AgentClient
from authex.errors import AuthexError, ProtocolError, RemoteError
from authex.wire.codec import Frame, FrameDecoder, Message, encode
from authex.wire.messages import DATA, Error, ErrorCode, Hello, LinkKind, Ok
from authex.wire.version import mismatch, refusal, refused_by

FIX = "run the same authex version on both"


def fake_agent_says(node_dir: Path, reply: Message) -> tuple[AuthexError | None, list[Hello]]:
    """Connect a deployer client to a fake agent that answers its Hello with ``reply`` (and
    closes the link unless it is Ok): what ``connect`` raised, and the Hellos the agent got."""
    hellos: list[Hello] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder(256)
        frames: list[Frame] = []
        while not frames:
            chunk = await reader.read(4096)
            if not chunk:
                return
            frames = decoder.feed(chunk)
        message = DATA.decode(frames[0])
        assert isinstance(message, Hello)
        hellos.append(message)
        writer.write(encode(reply))
        await writer.drain()
        if not isinstance(reply, Ok):
            writer.close()

    async def go() -> AuthexError | None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context(node_dir))
        port = server.sockets[0].getsockname()[1]
        client = AgentClient("n1", "127.0.0.1", port, data_client_context())
        try:
            await client.connect()
        except AuthexError as exc:
            return exc
        finally:
            await client.close()
            server.close()
        return None

    return asyncio.run(go()), hellos


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "n1"
    init_node_dir(directory, NodeConfig("n1", "native", "127.0.0.1", 7001))
    return directory


def test_an_agent_of_protocol_1_is_refused(node_dir: Path) -> None:
    # what version 1 agents answered a Hello of any other version
    said = Error(ErrorCode.BAD_REQUEST, f"protocol version {PROTOCOL_VERSION} unsupported")
    error, hellos = fake_agent_says(node_dir, said)
    assert hellos == [Hello(LinkKind.CONTROL, PROTOCOL_VERSION, "deployer")]
    assert isinstance(error, ProtocolError)
    assert str(error) == (
        f"agent on node n1 speaks authex protocol 1, this deployer speaks {PROTOCOL_VERSION}: "
        + FIX
    )


def test_an_agent_of_a_newer_protocol_is_refused(node_dir: Path) -> None:
    newer = PROTOCOL_VERSION + 5
    said = Error(ErrorCode.BAD_REQUEST, refusal("n1", newer, "deployer", PROTOCOL_VERSION))
    error, _ = fake_agent_says(node_dir, said)
    assert isinstance(error, ProtocolError)
    assert str(error) == (
        f"agent on node n1 speaks authex protocol {newer}, this deployer speaks "
        f"{PROTOCOL_VERSION}: {FIX}"
    )


@pytest.mark.parametrize(
    "message",
    [
        "node n1 accepts control commands only from enrolled operators (mutual TLS)",
        f"node n1 speaks authex protocol {PROTOCOL_VERSION}, deployer speaks 7: {FIX}",  # odd
        "protocol version unsupported, says nobody",
    ],
)
def test_other_refusals_are_shown_as_the_agent_said_them(node_dir: Path, message: str) -> None:
    error, _ = fake_agent_says(node_dir, Error(ErrorCode.REJECTED, message))
    assert isinstance(error, RemoteError)
    assert error.message == message and error.code == ErrorCode.REJECTED


def test_an_agent_of_this_version_opens_the_link(node_dir: Path) -> None:
    error, hellos = fake_agent_says(node_dir, Ok())
    assert error is None and len(hellos) == 1


def test_version_wording() -> None:
    assert refusal("n1", 2, "deployer", 1) == (
        "node n1 speaks authex protocol 2, deployer speaks 1: run the same authex version on both"
    )
    assert refusal("n1", 2, "x" * 65, 1).startswith("node n1 speaks authex protocol 2, its peer ")
    assert refusal("n1", 2, "", 1).startswith("node n1 speaks authex protocol 2, its peer ")
    assert refused_by(refusal("n1", 3, "deployer", 2)) == 3
    assert refused_by("protocol version 2 unsupported") == 1
    assert refused_by("node n1 accepts control commands only from enrolled operators") is None
    assert mismatch("n1", 1, 2) == (
        "agent on node n1 speaks authex protocol 1, this deployer speaks 2: "
        "run the same authex version on both"
    )
