"""A node directory: ``node.json`` (name, TEE kind, listen address) plus per-module folders.

Created by ``authex node init DIR``; read by ``authex node run DIR``.  This file is the agent's
only configuration I/O edge.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from authex.errors import AuthexError

CONFIG_NAME = "node.json"
SUPPORTED_TEES = ("native",)


@dataclass(frozen=True)
class NodeConfig:
    name: str
    tee: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def init_node_dir(directory: Path, config: NodeConfig, *, force: bool = False) -> Path:
    if config.tee not in SUPPORTED_TEES:
        raise AuthexError(
            f"unsupported TEE {config.tee!r} for a node, expected one of: "
            + ", ".join(SUPPORTED_TEES),
            where=str(directory),
        )
    if not 0 < config.port < 65536:
        raise AuthexError(f"port {config.port} out of range 1..65535", where=str(directory))
    path = directory / CONFIG_NAME
    if path.exists() and not force:
        raise AuthexError("node directory already initialised (use --force)", where=str(path))
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    (directory / "modules").mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(config), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def load_node_dir(directory: Path) -> NodeConfig:
    path = directory / CONFIG_NAME
    try:
        raw = json.loads(path.read_text())
        return NodeConfig(str(raw["name"]), str(raw["tee"]), str(raw["host"]), int(raw["port"]))
    except FileNotFoundError as exc:
        raise AuthexError(
            "not a node directory (run `authex node init` first)", where=str(path)
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthexError(f"malformed node configuration: {exc}", where=str(path)) from exc
