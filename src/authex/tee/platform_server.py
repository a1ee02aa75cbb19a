"""Edge: the platform process (``authex platform run DIR --fd N``), started by the node agent.

Its caller (the CLI, which reads the node's ``node.json``) gives it the node's TEE kind.  It
holds the node's root secrets (read from ``DIR/platform/secrets.json``), admits artifacts,
starts each module process with two private links:

- the host link, a socket pair whose far end is passed to the agent with SCM_RIGHTS (the module
  sees it as stdin/stdout), and
- the platform link (``--platform-fd`` in the module), on which the platform first sends
  ModuleIdentity (measurement, payload and, for Sancus/TrustZone, K_m) and then answers SGX
  quote requests.

The agent link is the inherited socket ``--fd``.  Blocking I/O with one thread per module link:
loads are rare, and quoting is CPU-bound anyway.  When the agent goes away, modules are stopped.

The platform writes no core file and cannot be traced by the agent's user (tee/hardening.py);
each module process runs in its own folder ``DIR/modules/NAME`` (its working directory and its
``module.log``), without core dumps and with the memory limit its load named (``RLIMIT_DATA``),
both set before it is sent its identity.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from authex.errors import AuthexError, BackendError, ProtocolError
from authex.scrub import node_env
from authex.tee.hardening import limit_module, no_core_dumps
from authex.tee.platform_base import Admission, Platform
from authex.tee.platforms import open_platform, read_secrets
from authex.tee.sealing import SealStore
from authex.wire.codec import (
    CONTROL_MAX_FRAME,
    DEFAULT_MAX_FRAME,
    Frame,
    FrameDecoder,
    Message,
    encode,
)
from authex.wire.messages import Error, ErrorCode, Ok
from authex.wire.names import base_name, run_as, valid_name
from authex.wire.platform import (
    AGENT_TO_PLATFORM,
    DEFAULT_MEMORY,
    KILLED,
    MODULE_TO_PLATFORM,
    ModuleIdentity,
    PlatformInfo,
    PlatformLoad,
    PlatformLoaded,
    PlatformStop,
    QuoteReply,
    QuoteRequest,
    SealReply,
    SealRequest,
    UnsealReply,
    UnsealRequest,
)

log = logging.getLogger("authex.platform")
ELF_MAGIC = b"\x7fELF"
STOP_TIMEOUT = 5.0


def read_frames(sock: socket.socket, decoder: FrameDecoder) -> list[Frame]:
    """Block until at least one frame arrives; [] at end of input."""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return []
        frames = decoder.feed(chunk)
        if frames:
            return frames


@dataclass
class RunningModule:
    name: str  # the agent's name for it: [DEPLOYMENT/]NAME, or [DEPLOYMENT/]NAME~TAG when staged
    process: subprocess.Popen[bytes]
    link: socket.socket
    admission: Admission

    @property
    def identity(self) -> str:
        """Its sealing identity and folder: a staged ``DEP/NAME~TAG`` (spec/protocol.md §5.2)
        is ``DEP/NAME`` — the same module of another deployment seals apart."""
        return base_name(self.name)


class PlatformServer:
    def __init__(self, directory: Path, platform: Platform, agent: socket.socket) -> None:
        self.directory = directory.resolve()  # modules run in their own folders below it
        self.platform = platform
        self.agent = agent
        self.modules: dict[str, RunningModule] = {}
        self._send_lock = threading.Lock()
        self.sealed = SealStore(directory / "platform", platform.tee)
        self._seal_lock = threading.Lock()

    def reply(self, message: Message, request_id: int, fds: list[int] | None = None) -> None:
        frame = encode(message, request_id)
        with self._send_lock:
            if fds:
                socket.send_fds(self.agent, [frame], fds)
            else:
                self.agent.sendall(frame)

    def serve(self) -> None:
        self.reply(
            PlatformInfo(self.platform.tee, int(self.platform.emulated), self.platform.description),
            0,
        )
        decoder = FrameDecoder(CONTROL_MAX_FRAME)
        try:
            while frames := read_frames(self.agent, decoder):
                for frame in frames:
                    self.handle(AGENT_TO_PLATFORM.decode(frame), frame.request_id)
        except (ProtocolError, ConnectionError) as exc:
            log.warning("agent link failed: %s", exc)
        finally:
            for name in list(self.modules):
                self.stop(name)

    def handle(self, message: Message, request_id: int) -> None:
        try:
            if isinstance(message, PlatformLoad):
                self.load(message, request_id)
            elif isinstance(message, PlatformStop):
                killed = self.stop(message.name)
                self.reply(Ok(KILLED if killed else b""), request_id)
        except AuthexError as exc:
            log.warning("refused %s: %s", type(message).__name__, exc)
            self.reply(Error(ErrorCode.BACKEND, str(exc)), request_id)
        except Exception as exc:  # a bug must be reported, not kill the platform
            log.exception("platform failure")
            self.reply(Error(ErrorCode.INTERNAL, f"platform failure: {exc}"), request_id)

    def load(self, message: PlatformLoad, request_id: int) -> None:
        # the agent is untrusted: a name becomes a file name and a folder here (../ must not)
        if not valid_name(message.name):
            raise BackendError(
                f"invalid module name {message.name!r}: letters, digits, '-' and '_', "
                "optionally ~TAG (letters and digits), optionally after DEPLOYMENT/"
            )
        self.stop(message.name)
        identity = base_name(message.name)  # DEP/NAME: its folder and sealing identity
        plain = run_as(message.name)  # NAME: what it runs as (the artifact's own name)
        admission = self.platform.admit(plain, message.artifact)
        host_agent, host_module = socket.socketpair()
        plat_ours, plat_module = socket.socketpair()
        folder = self.directory / "modules" / identity
        folder.mkdir(parents=True, exist_ok=True)
        program = self._program(plain, admission.payload)
        with open(folder / "module.log", "ab") as log_file:
            process = subprocess.Popen(
                [*program, "-", "--name", plain, "--platform-fd", str(plat_module.fileno())],
                stdin=host_module.fileno(),
                stdout=host_module.fileno(),
                stderr=log_file,
                pass_fds=(plat_module.fileno(),),
                env=node_env(),  # no deployer-only variable reaches a module
                cwd=folder,  # not wherever the agent was started: a file it writes stays here
            )
        host_module.close()
        plat_module.close()
        module = RunningModule(message.name, process, plat_ours, admission)
        self.modules[message.name] = module
        memory = message.memory or DEFAULT_MEMORY
        try:  # before it gets its identity (and, on Sancus and TrustZone, its key)
            limit_module(process.pid, memory)
        except OSError as exc:  # it already exited: the agent learns that from its host link
            log.warning("module %s: cannot set its limits: %s", message.name, exc)
        plat_ours.sendall(
            encode(
                ModuleIdentity(
                    self.platform.tee,
                    int(self.platform.emulated),
                    admission.measurement,
                    admission.module_key,
                    admission.payload,
                )
            )
        )
        threading.Thread(target=self._serve_module, args=(module,), daemon=True).start()
        self.reply(
            PlatformLoaded(admission.measurement, process.pid), request_id, [host_agent.fileno()]
        )
        host_agent.close()
        log.info(
            "admitted %s (%s, pid %d, memory limit %d MiB)",
            message.name,
            self.platform.tee,
            process.pid,
            memory >> 20,
        )

    def _program(self, name: str, payload: bytes) -> list[str]:
        """How to start the module: its own executable (Rust, C) or the Python runner."""
        if not payload.startswith(ELF_MAGIC):
            return [sys.executable, "-m", "authex.sdk.runner"]
        folder = self.directory / "platform" / "bin"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{name}-{hashlib.sha256(payload).hexdigest()[:16]}"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(payload)
            tmp.chmod(0o700)
            os.replace(tmp, path)
        return [str(path)]

    def _serve_module(self, module: RunningModule) -> None:
        decoder = FrameDecoder(DEFAULT_MAX_FRAME)
        try:
            while frames := read_frames(module.link, decoder):
                for frame in frames:
                    request = MODULE_TO_PLATFORM.decode(frame)
                    try:
                        reply = self._module_request(module, request)
                    except AuthexError as exc:
                        log.warning("module %s: %s", module.name, exc)
                        reply = Error(ErrorCode.BACKEND, str(exc))
                    module.link.sendall(encode(reply, frame.request_id))
        except (ProtocolError, OSError) as exc:
            log.info("module %s platform link closed: %s", module.name, exc)

    def _module_request(self, module: RunningModule, request: Message) -> Message:
        measurement = module.admission.measurement
        if isinstance(request, QuoteRequest):
            return QuoteReply(self.platform.quote(module.admission, request.report_data))
        with self._seal_lock:  # one writer of the counters file
            if isinstance(request, SealRequest):
                return SealReply(self.sealed.seal(module.identity, measurement, request.data))
            assert isinstance(request, UnsealRequest)
            version, state = self.sealed.unseal(module.identity, measurement)
            return UnsealReply(version, state)

    def stop(self, name: str) -> bool:
        """Stop a module: SIGTERM, then SIGKILL after STOP_TIMEOUT; whether it was killed."""
        module = self.modules.pop(name, None)
        if module is None:
            return False
        with contextlib.suppress(OSError):
            module.link.close()
        if module.process.poll() is not None:
            return False
        module.process.terminate()
        try:
            module.process.wait(STOP_TIMEOUT)
            return False
        except subprocess.TimeoutExpired:
            pass
        module.process.kill()
        module.process.wait()
        log.warning("module %s (pid %d) killed", name, module.process.pid)
        return True


def run_platform(directory: Path, tee: str, agent_fd: int) -> None:
    """Serve the agent on ``agent_fd`` as the ``tee`` platform of the node in ``directory``."""
    no_core_dumps()  # before the root secrets are read
    platform = open_platform(tee, read_secrets(directory))
    agent = socket.socket(fileno=agent_fd)
    PlatformServer(directory, platform, agent).serve()
