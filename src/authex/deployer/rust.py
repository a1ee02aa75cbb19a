"""Edge: the Rust toolchain runner.  Builds a module crate with
``cargo build --release --locked`` (the operator key compiled in through AUTHEX_OPERATOR_KEY),
reads the manifest the binary prints with ``--manifest``, and returns the binary as the artifact.
The contract is in docs/sdk-rust.md."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from authex.deployer.binaries import read_manifest, tail
from authex.errors import BuildError
from authex.sdk.build import BuiltModule

BUILD_TIMEOUT = 900.0


def _cargo() -> str:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        raise BuildError("cargo is not installed (rustup.rs), needed for `language: rust`")
    return cargo


def build_rust_binary(source: Path, operator_public: bytes, *, where: str) -> bytes:
    """Build the crate in ``source``; the bytes of its executable."""
    manifest_path = source / "Cargo.toml"
    if not manifest_path.is_file():
        raise BuildError(f"no Cargo.toml in the module source {source}", where=where)
    env = dict(os.environ, AUTHEX_OPERATOR_KEY=operator_public.hex())
    command = [
        _cargo(),
        "build",
        "--release",
        "--locked",
        "--message-format=json-render-diagnostics",
        "--manifest-path",
        str(manifest_path),
    ]
    try:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(
            f"cargo build did not finish in {BUILD_TIMEOUT:.0f}s", where=where
        ) from exc
    if result.returncode != 0:
        raise BuildError(f"cargo build failed:\n{tail(result.stderr)}", where=where)
    executable = None
    for line in result.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if (
            message.get("reason") == "compiler-artifact"
            and message.get("executable")
            and Path(message.get("manifest_path", "")).resolve() == manifest_path.resolve()
        ):
            executable = message["executable"]
    if executable is None:
        raise BuildError("cargo built no executable for this crate", where=where)
    return Path(executable).read_bytes()


def build_rust_module(source: Path, name: str, operator_public: bytes) -> BuiltModule:
    where = f"module {name}"
    binary = build_rust_binary(source, operator_public, where=where)
    manifest = read_manifest(binary, name, operator_public, "rust", where=where)
    return BuiltModule(name, binary, manifest, hashlib.sha256(binary).digest())
