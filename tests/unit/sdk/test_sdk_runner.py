"""The module process: a real ``python -m authex.sdk.runner`` on pipes, every read bounded."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.crypto.channel import ChannelEnd
from authex.crypto.control import Role, wrap_key
from authex.crypto.native_exchange import DeployerExchange
from authex.crypto.secret import Secret
from authex.crypto.suites import SuiteId, get_suite
from authex.manifest import IoKind, Manifest
from authex.sdk.build import BuiltModule, build_python_module, child_env, pack_artifact
from authex.wire.codec import FrameDecoder, Message, encode
from authex.wire.messages import (
    MODULE_TO_HOST,
    CallStatus,
    HostAccepted,
    HostAttest,
    HostAttested,
    HostCall,
    HostCallResult,
    HostDeliver,
    HostEmit,
    HostReady,
    HostSetKey,
    HostStop,
    Ok,
)

FIXTURES = Path(__file__).parent / "fixtures"
AES = get_suite("aes-gcm-128")
OPERATOR = Ed25519PrivateKey.generate()
DEADLINE = 10.0


class Runner:
    """One module process and the agent's side of its host link."""

    def __init__(self, built: BuiltModule, tmp_path: Path, *extra: str) -> None:
        self.built = built
        path = tmp_path / f"{built.name}.zip"
        path.write_bytes(built.artifact)
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.stderr_path = tmp_path / "stderr.txt"
        env = {**child_env(), "TMPDIR": str(self.tmp)}
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "authex.sdk.runner", str(path), *extra],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        self.decoder = FrameDecoder()
        self.frames: deque[tuple[Message, int]] = deque()
        self.control = 0
        self.module_key: Secret | None = None
        self.peers: dict[int, ChannelEnd] = {}

    def send(self, message: Message, request_id: int = 0) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(encode(message, request_id))
        self.proc.stdin.flush()

    def read(self, timeout: float = DEADLINE) -> tuple[Message, int]:
        """The next frame from the module, skipping HostAccepted acknowledgements."""
        while True:
            message, rid = self.read_any(timeout)
            if not isinstance(message, HostAccepted):
                return message, rid

    def read_any(self, timeout: float = DEADLINE) -> tuple[Message, int]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not self.frames:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([fd], [], [], max(remaining, 0))
            if not readable:
                raise AssertionError(f"no frame within {timeout} s; stderr: {self.stderr()}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"module closed its output; stderr: {self.stderr()}")
            for frame in self.decoder.feed(chunk):
                self.frames.append((MODULE_TO_HOST.decode(frame), frame.request_id))
        return self.frames.popleft()

    def quiet(self, seconds: float = 0.3) -> bool:
        """True if the module sends nothing for a little while."""
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout.fileno()], [], [], seconds)
        return not readable and not self.frames

    def wait(self) -> int:
        return self.proc.wait(timeout=DEADLINE)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()

    # --- the deployer's side ------------------------------------------------------------------

    def ready_and_attest(self) -> None:
        ready, rid = self.read()
        assert ready == HostReady(self.built.name, self.built.measurement) and rid == 0
        exchange = DeployerExchange.start(self.built.name, OPERATOR)
        self.send(HostAttest(exchange.challenge), 1)
        attested, rid = self.read()
        assert isinstance(attested, HostAttested) and rid == 1
        self.module_key = exchange.finish(attested.evidence)

    def connect(self, conn_id: int, kind: IoKind, name: str) -> None:
        assert self.module_key is not None
        endpoint = self.built.manifest.find(kind, name)
        assert endpoint is not None
        role = Role.SENDER if kind in (IoKind.OUTPUT, IoKind.REQUEST) else Role.RECEIVER
        self.control += 1
        key = Secret(os.urandom(16))
        fields = dict(conn_id=conn_id, io_id=endpoint.id, role=role, suite=SuiteId.AES_GCM_128)
        wrapped = wrap_key(AES, self.module_key, key, counter=self.control, **fields)
        self.send(HostSetKey(counter=self.control, wrapped=wrapped, **fields), 100 + conn_id)
        assert self.read() == (Ok(), 100 + conn_id)
        self.peers[conn_id] = ChannelEnd(conn_id, AES, key)

    def deliver(self, conn_id: int, data: bytes) -> None:
        counter, sealed = self.peers[conn_id].seal(0, data)
        self.send(HostDeliver(conn_id, 0, counter, sealed))

    def read_emit(self) -> tuple[HostEmit, bytes]:
        emit, rid = self.read()
        assert isinstance(emit, HostEmit) and rid == 0, emit
        peer = self.peers[emit.conn_id]
        return emit, peer.open(emit.direction, emit.counter, emit.ciphertext)


@pytest.fixture(scope="module")
def counter() -> BuiltModule:
    operator = OPERATOR.public_key().public_bytes_raw()
    return build_python_module(FIXTURES / "counter", "counter", operator)


@pytest.fixture
def runner(counter: BuiltModule, tmp_path: Path) -> Iterator[Runner]:
    process = Runner(counter, tmp_path)
    yield process
    process.close()


def test_ready_attest_set_key_event_emit_stop(runner: Runner) -> None:
    runner.ready_and_attest()
    runner.connect(1, IoKind.INPUT, "reading")
    runner.connect(10, IoKind.OUTPUT, "echo")
    runner.deliver(1, b"12")
    emit, data = runner.read_emit()
    assert (emit.conn_id, emit.direction, data) == (10, 0, b"12")
    runner.send(HostStop())
    assert runner.wait() == 0
    assert list(runner.tmp.iterdir()) == []  # the extracted sources are gone


def test_frames_arriving_during_a_request_wait_are_handled_afterwards(runner: Runner) -> None:
    runner.ready_and_attest()
    runner.connect(2, IoKind.INPUT, "ask")
    runner.connect(10, IoKind.OUTPUT, "echo")
    runner.connect(30, IoKind.REQUEST, "forecast")
    runner.deliver(2, b"monday")
    request, question = runner.read_emit()
    assert (request.conn_id, request.direction, question) == (30, 0, b"monday")
    sample = runner.built.manifest.find(IoKind.ENTRY, "sample")
    assert sample is not None
    runner.send(HostCall(sample.id, 0, 0, b""), 9)  # queued: the input is still running
    assert runner.quiet()
    _, sealed = runner.peers[30].seal(1, b"sunny", counter=request.counter)
    runner.send(HostDeliver(30, 1, request.counter, sealed))
    echo, data = runner.read_emit()
    assert (echo.conn_id, data) == (10, b"forecast:sunny")
    assert runner.read() == (HostCallResult(CallStatus.OK, b"0"), 9)
    runner.proc.stdin.close()  # type: ignore[union-attr]
    assert runner.wait() == 0


def test_printing_module_does_not_corrupt_the_protocol(tmp_path: Path) -> None:
    operator = OPERATOR.public_key().public_bytes_raw()
    built = build_python_module(FIXTURES / "chatty", "chatty", operator)
    process = Runner(built, tmp_path, "--name", "chatty")
    try:
        process.ready_and_attest()
        process.connect(1, IoKind.INPUT, "ping")
        process.connect(2, IoKind.OUTPUT, "pong")
        process.deliver(1, b"hello")
        emit, data = process.read_emit()
        assert (emit.conn_id, data) == (2, b"HELLO")
        process.send(HostStop())
        assert process.wait() == 0
        err = process.stderr()
        assert "chatty: hello from import time" in err
        assert "raw bytes on fd 1" in err
        assert "[chatty] answering" in err
    finally:
        process.close()


def test_malformed_input_exits_3(runner: Runner) -> None:
    runner.read()  # HostReady
    assert runner.proc.stdin is not None
    runner.proc.stdin.write(b"\x00\x00\x00\x05\x7f\x00\x00\x00\x00")  # unknown type 0x7f
    runner.proc.stdin.flush()
    assert runner.wait() == 3
    assert "unknown host message type 0x7f" in runner.stderr()


def test_wrong_name_and_broken_import_exit_2(counter: BuiltModule, tmp_path: Path) -> None:
    process = Runner(counter, tmp_path, "--name", "other")
    try:
        assert process.wait() == 2
        assert "built for module 'counter', not 'other'" in process.stderr()
    finally:
        process.close()
    manifest = Manifest("bad", "python", ("aes-gcm-128",), (), "00" * 32)
    artifact = pack_artifact(manifest, [("src/main.py", b"raise OSError('no sensor')\n")])
    broken = BuiltModule("bad", artifact, manifest, bytes(32))
    process = Runner(broken, tmp_path)
    try:
        assert process.wait() == 2
        assert "OSError: no sensor" in process.stderr()
    finally:
        process.close()
