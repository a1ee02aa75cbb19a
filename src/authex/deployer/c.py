"""Edge: the C toolchain runner.  Compiles every ``.c`` file of a module's source folder with
the C SDK (``sdks/c``) using the system C compiler, the operator key compiled in, the module's
``cflags`` from the descriptor; reads the manifest the binary prints with ``--manifest``; the
binary is the artifact.  Modules for Sancus nodes (kinds registered with ``openssl=False``,
authex/kinds.py) are built without OpenSSL (``-DAUTHEX_NO_OPENSSL``), as a real MSP430 build
would be.  The contract is in docs/sdk-c.md."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from authex import kinds
from authex.deployer.binaries import read_manifest, tail
from authex.errors import BuildError
from authex.sdk.build import BuiltModule, contained

BUILD_TIMEOUT = 300.0
SDK_HEADER = Path("include") / "authex.h"
# Flags of every module build; the descriptor's cflags come after them.
BASE_FLAGS = ("-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra")
HOST_FLAGS = ("-O2",)
# Sancus: a microcontroller-sized image (the module text must fit the 16-bit address space, at
# most 48 KiB): optimised for size, unused code dropped, no unwind tables, stripped.
SANCUS_FLAGS = (
    "-Os",
    "-s",
    "-no-pie",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-Wl,--gc-sections",
    "-Wl,-z,noseparate-code",
    "-Wl,--build-id=none",
)


def c_sdk_dir() -> Path:
    """The C SDK: $AUTHEX_C_SDK, else ``sdks/c`` of the checkout authex runs from."""
    configured = os.environ.get("AUTHEX_C_SDK")
    if configured:
        path = Path(configured)
        if not (path / SDK_HEADER).is_file():
            raise BuildError(f"AUTHEX_C_SDK={configured} has no {SDK_HEADER}")
        return path.resolve()
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "sdks" / "c"
        if (candidate / SDK_HEADER).is_file():
            return candidate
    raise BuildError(
        "the C SDK (sdks/c) was not found next to this authex installation; "
        "set AUTHEX_C_SDK to its folder"
    )


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise BuildError("no C compiler (cc) is installed, needed for `language: c`")
    return cc


def compile_command(
    source: Path,
    sdk: Path,
    name: str,
    operator_public: bytes,
    tee: str,
    cflags: tuple[str, ...],
    output: Path,
) -> list[str]:
    """The compiler command for a module (pure; paths are mapped so builds are reproducible).

    The deployed name is compiled in, so two modules built from one source folder are two
    different binaries (different measurements, and on Sancus and TrustZone different K_m).
    Libraries in ``cflags`` (``-l...``) go after the sources, where the linker needs them."""
    module_sources = sorted(str(p) for p in source.glob("*.c") if contained(source, p))
    sdk_sources = sorted(str(p) for p in (sdk / "src").glob("*.c"))
    no_openssl = not kinds.kind(tee).openssl
    command = [
        compiler(),
        *BASE_FLAGS,
        *(SANCUS_FLAGS if no_openssl else HOST_FLAGS),
        f"-ffile-prefix-map={sdk}=authex-c-sdk",
        f"-ffile-prefix-map={source}=module",
        f"-I{sdk / 'include'}",
        f"-I{source}",
        f'-DAUTHEX_OPERATOR_KEY="{operator_public.hex()}"',
        f'-DAUTHEX_MODULE_NAME="{name}"',
    ]
    if no_openssl:
        command += ["-DAUTHEX_NO_OPENSSL", "-DAUTHEX_COMPACT"]
    libraries = [flag for flag in cflags if flag.startswith("-l")]
    options = [flag for flag in cflags if not flag.startswith("-l")]
    command += [*options, *module_sources, *sdk_sources, "-o", str(output), *libraries]
    if not no_openssl:
        command.append("-lcrypto")
    return command


def cache_dir() -> Path:
    """Where compiled modules are kept, keyed by everything that goes into them."""
    configured = os.environ.get("AUTHEX_CACHE_DIR")
    if configured:
        return Path(configured) / "c-builds"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "authex" / "c-builds"


@functools.cache
def _compiler_identity(cc: str) -> str:
    try:
        result = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return cc
    return f"{cc}\n{result.stdout}"


def build_key(command: list[str], output: Path, source: Path, sdk: Path) -> str:
    """SHA-256 of the compiler, the command and every input file, with the output, source and
    SDK paths left out (the build maps them away, so the binary does not depend on them): the
    same module copied elsewhere is found in the cache."""
    digest = hashlib.sha256()
    digest.update(_compiler_identity(command[0]).encode())
    arguments = [
        "OUTPUT"
        if arg == str(output)
        else arg.replace(str(source), "<source>").replace(str(sdk), "<sdk>")
        for arg in command[1:]
    ]
    digest.update(json.dumps(arguments).encode())
    folders = [(source, "<source>"), (sdk / "include", "<sdk>/include")]
    folders += [(sdk / "include" / "authex", "<sdk>/include/authex"), (sdk / "src", "<sdk>/src")]
    for folder, label in folders:
        for path in sorted(folder.glob("*.[ch]")):
            if folder == source:
                contained(source, path)  # a link out of the module folder is refused
            digest.update(f"{label}/{path.name}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_c_binary(
    source: Path,
    name: str,
    operator_public: bytes,
    tee: str,
    cflags: tuple[str, ...],
    *,
    where: str,
) -> bytes:
    if not source.is_dir():
        raise BuildError(f"module source folder {source} does not exist", where=where)
    if not any(source.glob("*.c")):
        raise BuildError(f"no .c files in the module source {source}", where=where)
    sdk = c_sdk_dir()
    with tempfile.TemporaryDirectory(prefix="authex-cc-") as folder:
        output = Path(folder) / "module"
        command = compile_command(source, sdk, name, operator_public, tee, cflags, output)
        cached = cache_dir() / build_key(command, output, source, sdk)
        if cached.is_file():
            return cached.read_bytes()
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"cc did not finish in {BUILD_TIMEOUT:.0f}s", where=where) from exc
        except OSError as exc:
            raise BuildError(f"cannot run the C compiler: {exc}", where=where) from exc
        if result.returncode != 0:
            raise BuildError(f"cc failed:\n{tail(result.stderr)}", where=where)
        binary = output.read_bytes()
        _store(cached, binary)
        return binary


def _store(path: Path, binary: bytes) -> None:
    """Keep a build for next time (best effort: a read-only cache only costs a rebuild)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(binary)
        partial.replace(path)
    except OSError:
        pass


def build_c_module(
    source: Path, name: str, operator_public: bytes, tee: str, cflags: tuple[str, ...] = ()
) -> BuiltModule:
    where = f"module {name}"
    binary = build_c_binary(source, name, operator_public, tee, cflags, where=where)
    manifest = read_manifest(binary, name, operator_public, "c", where=where)
    return BuiltModule(name, binary, manifest, hashlib.sha256(binary).digest())
