"""The control plane accepts commands only from enrolled operators (mutual TLS with pinned
certificates), the deployer talks only to the node identity it pinned, and refused attempts
are logged with the peer's address and change nothing."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.crypto.identity import make_certificate, private_key_pem
from authex.deployer.state import StateStore
from authex.errors import AuthexError
from authex.wire.codec import encode
from authex.wire.messages import Error, ErrorCode, LinkKind, Reset
from support.harness import App, running_app
from support.raw import RawLink


@pytest.fixture
def app(irrigation_dir: Path) -> Iterator[App]:
    with running_app(irrigation_dir) as app:
        app.deploy()
        yield app


def agent_log(app: App, node: str) -> str:
    path = StateStore.of(app.descriptor).folder / "nodes" / node / "agent.log"
    return path.read_text()


def all_running(app: App) -> bool:
    return all(m["running"] and m["attested"] for m in app.status()["modules"])


def test_plain_tcp_control_attempt_is_refused_and_logged(app: App) -> None:
    port = app.descriptor.node("cloud").port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(encode(Reset(), 1))  # an unauthenticated reset, as the predecessor took
        sock.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1 << 16) == b""  # closed without an answer
    app.wait_for("refusal logged", lambda: "TLS handshake failed" in agent_log(app, "cloud"))
    assert "link from 127.0.0.1:" in agent_log(app, "cloud")
    assert all_running(app)


def test_tls_without_operator_certificate_cannot_open_a_control_link(app: App) -> None:
    link = RawLink(app.descriptor.node("cloud").port, LinkKind.CONTROL, expect_ok=False)
    reply = link.hello_reply
    assert isinstance(reply, Error) and reply.code == ErrorCode.REJECTED
    assert "only from enrolled operators" in reply.message
    assert link.closed_by_peer() == []
    app.wait_for(
        "refusal logged",
        lambda: "no enrolled operator certificate" in agent_log(app, "cloud"),
    )
    assert all_running(app)


def test_unenrolled_operator_certificate_is_refused(app: App, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    (tmp_path / "cert.pem").write_bytes(make_certificate(key, "mallory"))
    (tmp_path / "key.pem").write_bytes(private_key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
        link = RawLink(app.descriptor.node("cloud").port, LinkKind.CONTROL, tls=context)
        link.request(Reset())
    app.wait_for("refusal logged", lambda: "TLS handshake failed" in agent_log(app, "cloud"))
    assert all_running(app)


def test_deployer_refuses_an_agent_with_another_identity(app: App) -> None:
    store = StateStore.of(app.descriptor)
    trust_path = store.folder / "trust.yaml"
    trust = yaml.safe_load(trust_path.read_text())
    impostor = make_certificate(Ed25519PrivateKey.generate(), "authex node cloud").decode()
    trust["nodes"]["cloud"]["identity"] = impostor
    trust_path.write_text(yaml.safe_dump(trust))
    cloud = next(n for n in app.status()["nodes"] if n["name"] == "cloud")
    assert not cloud["reachable"]
    assert "does not hold the node identity pinned in the trust file" in cloud["error"]
    with pytest.raises(AuthexError, match="node identity pinned"):
        app.call("controller", "get_threshold")
