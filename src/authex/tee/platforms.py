"""Platform lookup by TEE kind (the registry, authex/kinds.py), and the platform's secret file in
a node directory (edge)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

from authex import kinds
from authex.errors import BackendError
from authex.tee.platform_base import Platform, PlatformClass

SECRETS = "platform/secrets.json"


def platform_class(tee: str) -> PlatformClass:
    """The platform class of TEE kind ``tee``, imported on first use."""
    return cast(PlatformClass, kinds.load(kinds.kind(tee).platform))


def create_secrets(tee: str, node: str, *, ta_vendor_public_pem: str = "") -> dict[str, Any]:
    """A new node's root secrets, made once at ``authex node init``."""
    kind = kinds.kind(tee)
    if kind.ta_vendor_key and not ta_vendor_public_pem:
        raise BackendError(
            f"a {tee} node needs the TA vendor public key it will trust (--ta-vendor-key)"
        )
    return platform_class(tee).create_secrets(node, ta_vendor_public_pem)


def open_platform(tee: str, secrets: dict[str, Any]) -> Platform:
    return platform_class(tee)(secrets)


def write_secrets(directory: Path, secrets: dict[str, Any]) -> Path:
    path = directory / SECRETS
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(secrets, handle)
    os.replace(tmp, path)
    return path


def read_secrets(directory: Path) -> dict[str, Any]:
    path = directory / SECRETS
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise BackendError(f"corrupt platform secrets: {exc}", where=str(path)) from exc
    return data
