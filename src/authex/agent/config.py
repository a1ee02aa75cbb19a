"""A node directory: ``node.json`` (name, TEE kind, listen address), the platform's secrets
(``platform/secrets.json``, mode 0600 in a 0700 folder) and per-module folders.

Created by ``authex node init DIR``; read by ``authex node run DIR``.  This file is the agent's
only configuration I/O edge.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from authex.errors import AuthexError
from authex.tee.platforms import TEES, create_secrets, open_platform, read_secrets, write_secrets

CONFIG_NAME = "node.json"


@dataclass(frozen=True)
class NodeConfig:
    name: str
    tee: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def init_node_dir(
    directory: Path, config: NodeConfig, *, force: bool = False, ta_vendor_public_pem: str = ""
) -> Path:
    """Create the node directory: its configuration and its platform's root secrets."""
    if config.tee not in TEES:
        raise AuthexError(
            f"unsupported TEE {config.tee!r} for a node, expected one of: " + ", ".join(TEES),
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
    secrets = create_secrets(config.tee, config.name, ta_vendor_public_pem=ta_vendor_public_pem)
    write_secrets(directory, secrets)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(config), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def enrolment(directory: Path, vendor_ids: list[int]) -> dict[str, Any]:
    """What the operator must pin for this node in its trust file."""
    config = load_node_dir(directory)
    return open_platform(config.tee, read_secrets(directory)).enrolment(vendor_ids)


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
