"""No key material in logs or command output: after a full run of the heterogeneous example
(deploy, events, requests, calls, watch, status), every key the deployer or a platform holds is
searched for, in hex, base64 and raw form, in every log file and in what the CLI printed."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import yaml

from authex.deployer.state import StateStore
from support.harness import running_app


def key_material(folder: Path, root: Path) -> dict[str, bytes]:
    """Every secret of the deployment: module and connection keys, operator and vendor keys,
    and each platform's root secrets."""
    keys: dict[str, bytes] = {}
    state = json.loads((folder / "state.json").read_text())
    for name, module in state["modules"].items():
        keys[f"module key of {name}"] = bytes.fromhex(module["module_key"])
    for name, conn in state["connections"].items():
        keys[f"connection key of {name}"] = bytes.fromhex(conn["key"])
    keys["operator key"] = bytes.fromhex((root / "operator.key").read_text().strip())
    trust = yaml.safe_load((folder / "trust.yaml").read_text())
    for node, entry in trust["nodes"].items():
        for vendor, key in (entry.get("vendor_keys") or {}).items():
            keys[f"vendor key {vendor} of {node}"] = bytes.fromhex(key)
    for secrets in (folder / "nodes").glob("*/platform/secrets.json"):
        node = secrets.parent.parent.name
        for field, value in json.loads(secrets.read_text()).items():
            if "BEGIN" in value:
                if "PRIVATE" in value:
                    body = "".join(value.strip().splitlines()[1:-1])
                    keys[f"{field} of {node}"] = base64.b64decode(body)
            elif field in ("node_key", "huk"):
                keys[f"{field} of {node}"] = bytes.fromhex(value)
    return keys


def forms(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
    ]


def test_no_key_appears_in_any_log_or_command_output(irrigation_dir: Path) -> None:
    outputs: list[bytes] = []
    with running_app(irrigation_dir) as app:
        app.deploy()
        app.send("threshold", b"45")
        for _ in range(5):
            app.call("sensor1", "sample")
        app.watch("alerts", count=2)
        app.request("forecast-query", b"field1")
        descriptor = str(app.descriptor.path)
        for args in (
            ["status", "-f", descriptor],
            ["status", "--json", "-f", descriptor],
            ["call", "-f", descriptor, "valve", "status"],
            ["watch", "-f", descriptor, "valve-state", "--count", "1", "--timeout", "20"],
            ["deploy", descriptor],
        ):
            result = subprocess.run(
                [sys.executable, "-m", "authex", *args],
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            outputs += [result.stdout, result.stderr]
        store = StateStore.of(app.descriptor)
        folder = store.folder
        keys = key_material(folder, store.root)
    assert len(keys) >= 20  # 6 modules, 9 connections, operator, vendor and platform keys
    logs = {str(p): p.read_bytes() for p in folder.glob("nodes/**/*.log")}
    assert any("module.log" in p for p in logs) and any("platform.log" in p for p in logs)
    logs["CLI output"] = b"\n".join(outputs)
    leaks = [
        f"{what} in {where}"
        for what, secret in keys.items()
        for where, text in logs.items()
        if any(form in text for form in forms(secret))
    ]
    assert leaks == []
