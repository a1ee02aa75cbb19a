"""Platform lookup by TEE kind, and the platform's secret file in a node directory (edge)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from authex.errors import BackendError
from authex.tee.platform_base import Platform

TEES = ("native", "sancus", "trustzone", "sgx")
SECRETS = "platform/secrets.json"


def create_secrets(tee: str, node: str, *, ta_vendor_public_pem: str = "") -> dict[str, Any]:
    if tee == "native":
        return {}
    if tee == "sancus":
        from authex.tee.sancus.platform import SancusPlatform

        return SancusPlatform.create_secrets(node)
    if tee == "trustzone":
        from authex.tee.trustzone.platform import TrustZonePlatform

        if not ta_vendor_public_pem:
            raise BackendError(
                "a trustzone node needs the TA vendor public key it will trust (--ta-vendor-key)"
            )
        return TrustZonePlatform.create_secrets(node, ta_vendor_public_pem)
    if tee == "sgx":
        from authex.tee.sgx.platform import SgxPlatform

        return SgxPlatform.create_secrets(node)
    raise BackendError(f"unknown TEE {tee!r}, expected one of: " + ", ".join(TEES))


def open_platform(tee: str, secrets: dict[str, Any]) -> Platform:
    if tee == "native":
        from authex.tee.native.platform import NativePlatform

        return NativePlatform()
    if tee == "sancus":
        from authex.tee.sancus.platform import SancusPlatform

        return SancusPlatform(secrets)
    if tee == "trustzone":
        from authex.tee.trustzone.platform import TrustZonePlatform

        return TrustZonePlatform(secrets)
    if tee == "sgx":
        from authex.tee.sgx.platform import SgxPlatform

        return SgxPlatform(secrets)
    raise BackendError(f"unknown TEE {tee!r}, expected one of: " + ", ".join(TEES))


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
