"""Edge: the Rust toolchain runner.  Builds a module crate with
``cargo build --release --locked`` (the operator key compiled in through AUTHEX_OPERATOR_KEY),
reads the manifest the binary prints with ``--manifest``, and returns the binary as the artifact.
The contract is in docs/sdk-rust.md.

Before cargo runs, the crate folder is checked for links that lead outside it (refused, as for
Python and C sources).  cargo, and so the crate's build scripts and procedural macros, runs in the
crate folder with the scrubbed build environment (authex.scrub.build_env) plus what the build
needs: the operator's public key, ``CARGO_HOME`` and ``RUSTUP_HOME``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from authex.deployer.binaries import read_manifest, tail
from authex.errors import BuildError
from authex.scrub import build_env
from authex.sdk.build import BuiltModule, contained

BUILD_TIMEOUT = 900.0
TARGET_FOLDER = "target"  # cargo's output, left out of the link check


def _cargo() -> str:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        raise BuildError("cargo is not installed (rustup.rs), needed for `language: rust`")
    return cargo


def check_links(source: Path) -> None:
    """Refuse a crate holding a link (to a file or a folder) that leads outside the crate folder:
    cargo follows links, so the build would read, and could compile in, a file from elsewhere —
    the operator's key, say.  ``target/`` (cargo's output) is not looked at."""
    for directory, subdirs, files in os.walk(source):
        if Path(directory) == source:
            subdirs[:] = [d for d in subdirs if d != TARGET_FOLDER]
        for entry in sorted([*subdirs, *files]):
            path = Path(directory) / entry
            if path.is_symlink():
                contained(source, path)


def cargo_env(operator_public: bytes) -> dict[str, str]:
    """The environment of ``cargo build``: the scrubbed build environment, the operator's public
    key, and the cargo and rustup homes named (``HOME`` is not passed on)."""
    home = Path.home()
    return {
        **build_env(),
        "CARGO_HOME": os.environ.get("CARGO_HOME") or str(home / ".cargo"),
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME") or str(home / ".rustup"),
        "AUTHEX_OPERATOR_KEY": operator_public.hex(),
    }


def build_rust_binary(source: Path, operator_public: bytes, *, where: str) -> bytes:
    """Build the crate in ``source``; the bytes of its executable."""
    source = source.resolve()
    manifest_path = source / "Cargo.toml"
    if not manifest_path.is_file():
        raise BuildError(f"no Cargo.toml in the module source {source}", where=where)
    check_links(source)
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
            command,
            env=cargo_env(operator_public),
            cwd=source,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
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
