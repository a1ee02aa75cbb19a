"""Generated applications on real local agents, driven in-process like the deployer CLI does.

A ``LocalApp`` writes a descriptor (JSON, which is valid YAML) into a temporary folder, starts
one agent per node with ``LocalCluster`` on free loopback ports, and opens deployer sessions
(``allow_emulated``, as ``authex up`` does).  Leaving the ``with`` block stops every agent, and
with them their platform and module processes.  Progress lines are kept with a timestamp, which
is how deployment phases are timed.

A benchmark run gives every app the same operator key (``new_operator_key``), so Rust modules,
whose binaries have the operator key compiled in, are built once per run (``prebuild_rust``)
and every deploy's own ``cargo build`` finds them up to date.  C modules have the operator key
and their deployed name compiled in; ``prebuild_c`` compiles each one a run deploys (in
parallel, about a second each) into the deployer's build cache, where every deploy finds it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex.deployer.c import build_c_binary
from authex.deployer.cluster import LocalCluster, free_ports
from authex.deployer.rust import build_rust_binary
from authex.deployer.session import Session
from authex.deployer.state import StateStore
from authex.descriptor import Descriptor, load_descriptor

T = TypeVar("T")


def native_nodes(names: list[str], tees: list[str] | None = None) -> list[dict[str, Any]]:
    tees = tees or ["native"] * len(names)
    ports = free_ports(len(names))
    return [
        {"name": n, "tee": t, "host": "127.0.0.1", "port": p}
        for n, t, p in zip(names, tees, ports, strict=True)
    ]


@dataclass
class Progress:
    """Deployer progress lines with the ``time.perf_counter()`` at which each arrived."""

    lines: list[tuple[float, str]] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append((time.perf_counter(), line))

    def mark(self) -> int:
        return len(self.lines)

    def since(self, mark: int) -> list[tuple[float, str]]:
        return self.lines[mark:]


def phase_times(lines: list[tuple[float, str]], start: float, end: float) -> dict[str, float]:
    """Split a deploy into build, load + attest and key + route, from its progress lines.

    ``deploy`` reports "building", then "contacting" once every module is built, then one
    "attested" per module and one "keyed" per connection; routes and timers finish by ``end``.
    """

    def first(prefix: str) -> float | None:
        return next((t for t, line in lines if line.startswith(prefix)), None)

    def last(word: str) -> float | None:
        found = [t for t, line in lines if word in line]
        return found[-1] if found else None

    built = first("contacting") or start
    attested = last("] attested ") or built
    return {
        "build_s": built - start,
        "load_attest_s": attested - built,
        "key_route_s": end - attested,
        "deploy_s": end - built,  # everything after the build: load, attest, key, route
        "total_s": end - start,
    }


def new_operator_key() -> Ed25519PrivateKey:
    """The operator key of one benchmark run, shared by its apps."""
    return Ed25519PrivateKey.generate()


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def prebuild_rust(crates: list[Path], operator: Ed25519PrivateKey) -> dict[str, float]:
    """Build each Rust module crate (in sequence: they share cargo's target folder) for
    ``operator``, as a deploy would; seconds per crate."""
    times: dict[str, float] = {}
    for crate in crates:
        begin = time.perf_counter()
        build_rust_binary(crate, public_bytes(operator), where=f"crate {crate.name}")
        times[crate.name] = round(time.perf_counter() - begin, 2)
    return times


def prebuild_c(
    modules: Iterable[tuple[str, Path, str]], operator: Ed25519PrivateKey
) -> dict[str, float]:
    """Compile each C module ``(deployed name, source folder, tee)`` for ``operator`` exactly as
    a deploy would (so the deploy finds it in the build cache); seconds per module."""

    def one(module: tuple[str, Path, str]) -> tuple[str, float]:
        name, source, tee = module
        begin = time.perf_counter()
        build_c_binary(source, name, public_bytes(operator), tee, (), where=f"module {name}")
        return name, round(time.perf_counter() - begin, 2)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(pool.map(one, list(modules)))


def _write_operator_key(store: StateStore, operator: Ed25519PrivateKey) -> None:
    """Give a fresh deployment this operator key (the state store's file format: hex, 0600)."""
    store.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(store.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(operator.private_bytes_raw().hex() + "\n")


class LocalApp:
    def __init__(
        self,
        folder: Path,
        descriptor: dict[str, Any],
        operator: Ed25519PrivateKey | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / "descriptor.yaml"
        self.path.write_text(json.dumps(descriptor, indent=1) + "\n")
        self.descriptor: Descriptor = load_descriptor(self.path)
        if operator is not None:
            _write_operator_key(StateStore.of(self.descriptor), operator)
        self.cluster = LocalCluster(self.descriptor)
        self.progress = Progress()
        self.start_s = 0.0

    def __enter__(self) -> LocalApp:
        begin = time.perf_counter()
        try:
            self.cluster.start(self.progress)
        except BaseException:
            self.cluster.stop()
            raise
        self.start_s = time.perf_counter() - begin
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cluster.stop()

    def session(self) -> Session:
        return Session(
            self.descriptor,
            StateStore.of(self.descriptor),
            self.progress,
            allow_emulated=True,
        )

    async def in_session(self, body: Callable[[Session], Awaitable[T]]) -> T:
        async with self.session() as session:
            return await body(session)

    def agent_pids(self) -> dict[str, int]:
        """Node name -> pid of its agent (what ``LocalCluster`` recorded)."""
        try:
            raw = json.loads(self.cluster.record.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): int(v) for k, v in raw.items()}
