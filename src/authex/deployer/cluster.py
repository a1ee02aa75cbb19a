"""Edge: a local development cluster — one agent process per descriptor node on this machine.

``authex up`` initialises a node directory per local node under ``.authex/apps/NAME/nodes/``,
starts ``authex node run`` for it in its own session (logs in the node directory), waits until
it listens, and records the pids in ``.authex/apps/NAME/cluster.json``; ``authex down`` stops
them (only this deployment's).  Nothing the user wrote is touched.  A start that fails stops
every agent it started (with the platform and module processes each agent started in its
session) before it raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from authex import kinds
from authex.agent.config import (
    NodeConfig,
    enrol_operator,
    enrolment,
    init_node_dir,
    load_node_dir,
)
from authex.agent.tls import IDENTITY_CERT
from authex.attestation.trustzone import vendor_public_pem
from authex.deployer.state import StateStore
from authex.deployer.trust import write_trust
from authex.descriptor import Descriptor, Node
from authex.errors import AuthexError, AuthexTimeoutError
from authex.scrub import node_env

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
POLL = 0.05  # seconds between checks while agents start or stop


def free_ports(count: int) -> list[int]:
    """Loopback ports the kernel reports free right now (bound together, so all distinct);
    for local clusters made on the fly (tests, benchmarks)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def is_local(node: Node) -> bool:
    return node.host in LOCAL_HOSTS or node.host.startswith("127.")


def _listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


async def _accepting(host: str, port: int) -> bool:
    """:func:`_listening` without blocking the event loop."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_started(agents: Iterable[subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT) -> None:
    """Stop agents this process started, with everything in their sessions (the platform and
    module processes each agent started): SIGTERM to each session, then SIGKILL to whatever is
    left of it after ``timeout``, and reap the agents (our children).  A session's id is not
    reused while any process of it lives, so the SIGKILL reaches only what the agent left."""
    agents = list(agents)
    for agent in agents:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for agent in agents:
        with contextlib.suppress(subprocess.TimeoutExpired):
            agent.wait(max(0.0, deadline - time.monotonic()))
    for agent in agents:  # an agent killed before it stopped its platform leaves it behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGKILL)
        agent.wait()


class LocalCluster:
    def __init__(self, descriptor: Descriptor) -> None:
        self.descriptor = descriptor
        self.store = StateStore.of(descriptor)
        self.nodes_dir = self.store.folder / "nodes"
        self.record = self.store.folder / "cluster.json"

    def _pids(self) -> dict[str, int]:
        try:
            raw = json.loads(self.record.read_text())
            return {str(k): int(v) for k, v in raw.items()}
        except (FileNotFoundError, ValueError):
            return {}

    def _save_pids(self, pids: dict[str, int]) -> None:
        self.store.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids, indent=1))
        os.replace(tmp, self.record)

    def node_dir(self, node: Node) -> Path:
        directory = self.nodes_dir / node.name
        config = NodeConfig(node.name, node.tee, node.host, node.port)
        operator_cert, _ = self.store.operator_tls()
        if (
            (directory / "node.json").exists()
            and (directory / IDENTITY_CERT).exists()
            and load_node_dir(directory) == config
        ):
            enrol_operator(directory, operator_cert.read_text())
            return directory
        ta_vendor = ""
        if kinds.kind(node.tee).ta_vendor_key:
            ta_vendor = vendor_public_pem(self.store.ta_vendor_key()).decode()
        init_node_dir(
            directory,
            config,
            force=True,
            ta_vendor_public_pem=ta_vendor,
            operator_certs=[operator_cert.read_text()],
        )
        return directory

    def enrol(self) -> Path:
        """Write the local nodes' enrolment into ``.authex/apps/NAME/trust.yaml`` (the operator
        and the nodes share this machine, so this is the whole enrolment ceremony)."""
        entries = {}
        for node in self.descriptor.nodes:
            if not is_local(node):
                continue
            vendor_ids = sorted({m.vendor_id for m in self.descriptor.modules_on(node.name)})
            entries[node.name] = enrolment(self.node_dir(node), vendor_ids)
        path = self.descriptor.trust or self.store.folder / "trust.yaml"
        write_trust(path, entries)
        return path

    def start(self, progress: Callable[[str], None] = print) -> list[str]:
        """:meth:`start_async` for synchronous callers (tests, benchmarks): it runs in an event
        loop of its own, so it must not be called from one."""
        return asyncio.run(self.start_async(progress))

    async def start_async(self, progress: Callable[[str], None] = print) -> list[str]:
        """Start an agent for every local node not already running and wait until each listens;
        returns the started names.  If it fails (or is cancelled), the agents it started are
        stopped again, and forgotten, before the error propagates."""
        pids = self._pids()
        started: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for node in self.descriptor.nodes:
                if not is_local(node):
                    progress(f"node {node.name} is remote ({node.host}); start its agent there")
                    continue
                pid = pids.get(node.name)
                if pid and _alive(pid) and await _accepting(node.host, node.port):
                    continue
                if await _accepting(node.host, node.port):
                    raise AuthexError(
                        f"port {node.port} is already in use by another program",
                        where=f"node {node.name}",
                    )
                started[node.name] = agent = self._spawn(node)
                pids[node.name] = agent.pid
                self._save_pids(pids)
            self.enrol()
            deadline = time.monotonic() + START_TIMEOUT
            for name, agent in started.items():
                node = self.descriptor.node(name)
                while not await _accepting(node.host, node.port):
                    if agent.poll() is not None or time.monotonic() > deadline:
                        log_path = self.nodes_dir / node.name / "agent.log"
                        raise AuthexTimeoutError(
                            f"agent did not start listening on {node.address}; see {log_path}",
                            where=f"node {node.name}",
                        )
                    await asyncio.sleep(POLL)
                progress(f"started agent for node {node.name} ({node.tee}) on {node.address}")
        except BaseException:
            if started:
                await asyncio.shield(asyncio.to_thread(_stop_started, started.values()))
                self._save_pids({n: p for n, p in pids.items() if n not in started})
            raise
        return list(started)

    def _spawn(self, node: Node) -> subprocess.Popen[bytes]:
        """``authex node run`` for ``node``, in a session of its own (its process group holds
        the agent and the platform and module processes it starts)."""
        directory = self.node_dir(node)
        with open(directory / "agent.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "authex", "node", "run", str(directory)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=node_env(),  # never the state passphrase, nor any deployer-only variable
            )

    async def stop_async(self) -> list[str]:
        """:meth:`stop` for async code (it waits for the agents in a worker thread)."""
        return await asyncio.to_thread(self.stop)

    def stop(self, timeout: float = STOP_TIMEOUT) -> list[str]:
        pids = self._pids()
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        stopped = []
        for name, pid in pids.items():
            while _alive(pid) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG) != (0, 0):
                        break
                time.sleep(POLL)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        with contextlib.suppress(FileNotFoundError):
            self.record.unlink()
        return stopped
