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

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authex import kinds
from authex.agent.operators import ADMIN, Roster
from authex.agent.tls import IDENTITY_CERT, IDENTITY_KEY, OPERATORS
from authex.crypto.identity import make_certificate, private_key_pem
from authex.errors import AuthexError
from authex.tee.platforms import create_secrets, open_platform, read_secrets, write_secrets

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
    directory: Path,
    config: NodeConfig,
    *,
    force: bool = False,
    ta_vendor_public_pem: str = "",
    operator_certs: list[str] | None = None,
    admin_cert: str | None = None,
) -> Path:
    """Create the node directory: configuration, TLS identity, enrolled operators and the
    platform's root secrets."""
    if config.tee not in kinds.names():
        raise AuthexError(
            f"unsupported TEE {config.tee!r} for a node, expected one of: "
            + ", ".join(kinds.names()),
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
    key = Ed25519PrivateKey.generate()
    _write_private(directory / IDENTITY_KEY, private_key_pem(key))
    (directory / IDENTITY_CERT).write_bytes(make_certificate(key, f"authex node {config.name}"))
    (directory / OPERATORS).write_text("")
    (directory / ADMIN).unlink(missing_ok=True)
    roster = Roster(directory)
    if admin_cert is not None:
        roster.add(admin_cert, admin=True)
    for cert in operator_certs or []:
        roster.add(cert)  # the first one enrolled is the administrator unless one was named
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(config), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def enrol_operator(directory: Path, cert_pem: str) -> str:
    """Accept control commands from the operator holding this certificate's key (the first
    operator enrolled on a node becomes its administrator); its key id."""
    return Roster(directory).add(cert_pem)


def enrolment(directory: Path, vendor_ids: list[int]) -> dict[str, Any]:
    """What the operator must pin for this node in its trust file."""
    config = load_node_dir(directory)
    entry = open_platform(config.tee, read_secrets(directory)).enrolment(vendor_ids)
    entry["identity"] = (directory / IDENTITY_CERT).read_text()
    return entry


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


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
