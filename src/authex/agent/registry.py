"""Edge: what an agent hosts, kept in its node directory so a restarted agent (after a crash,
``kill -9`` or a reboot) can bring it all back: the modules (artifact, instance, measurement,
whether they keep sealed state), the routes and the timers.  Written atomically after every
change; artifacts are stored once each under ``artifacts/<sha256>``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from authex.errors import StateError
from authex.wire.messages import AddRoute

FORMAT = 1


@dataclass
class ModuleRecord:
    name: str
    tee: str
    instance: int
    measurement: str  # hex
    artifact: str  # sha256 hex of the artifact file
    persistent: bool = False
    memory: int = 0  # the process's memory limit (bytes) its Load named; 0: the platform's


@dataclass
class TimerRecord:
    module: str
    entry_id: int
    period_ms: int


@dataclass
class Registry:
    modules: dict[str, ModuleRecord] = field(default_factory=dict)
    routes: dict[int, AddRoute] = field(default_factory=dict)
    timers: list[TimerRecord] = field(default_factory=list)


class RegistryStore:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "registry.json"
        self.artifacts = directory / "artifacts"

    def store_artifact(self, artifact: bytes) -> str:
        digest = hashlib.sha256(artifact).hexdigest()
        path = self.artifacts / digest
        if not path.exists():
            self.artifacts.mkdir(mode=0o700, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(artifact)
            tmp.chmod(0o600)
            os.replace(tmp, path)
        return digest

    def artifact(self, digest: str) -> bytes:
        data = (self.artifacts / digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise StateError(f"stored artifact {digest[:12]} is corrupted", where=str(self.path))
        return data

    def prune(self, registry: Registry) -> None:
        """Delete stored artifacts no module uses any more."""
        used = {m.artifact for m in registry.modules.values()}
        if self.artifacts.is_dir():
            for path in self.artifacts.iterdir():
                if path.name not in used:
                    with contextlib.suppress(OSError):
                        path.unlink()

    def load(self) -> Registry:
        try:
            raw: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Registry()
        except ValueError as exc:
            raise StateError(f"unreadable registry: {exc}", where=str(self.path)) from exc
        if raw.get("format") != FORMAT:
            raise StateError(f"registry format {raw.get('format')!r} unknown", where=str(self.path))
        try:
            modules = {m["name"]: ModuleRecord(**m) for m in raw["modules"]}
            routes = {r["conn_id"]: AddRoute(**r) for r in raw["routes"]}
            timers = [TimerRecord(**t) for t in raw["timers"]]
        except (KeyError, TypeError) as exc:
            raise StateError(f"malformed registry: {exc}", where=str(self.path)) from exc
        return Registry(modules, routes, timers)

    def save(self, registry: Registry) -> None:
        data = {
            "format": FORMAT,
            "modules": [asdict(m) for m in registry.modules.values()],
            "routes": [asdict(r) for r in registry.routes.values()],
            "timers": [asdict(t) for t in registry.timers],
        }
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump(data, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
