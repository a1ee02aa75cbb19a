"""Edge: the C toolchain runner.  Compiles every ``.c`` file of a module's source folder with
the C SDK (``sdks/c``) using the system C compiler, the operator key compiled in, the module's
``cflags`` from the descriptor; reads the manifest the binary prints with ``--manifest``; the
binary is the artifact.  Modules for Sancus nodes (kinds registered with ``openssl=False``,
authex/kinds.py) are built without OpenSSL (``-DAUTHEX_NO_OPENSSL``), as a real MSP430 build
would be.  The contract is in docs/sdk-c.md."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authex import kinds
from authex.crypto.secret import Secret
from authex.deployer.binaries import read_manifest, tail
from authex.errors import BuildError
from authex.scrub import build_env
from authex.sdk.build import BuiltModule, contained

log = logging.getLogger(__name__)

BUILD_TIMEOUT = 300.0
CACHE_FORMAT = "authex c-build-cache v2"
CACHE_MAC_LABEL = b"authex c build cache mac key v1"
ENTRY_SUFFIX = ".entry"
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


def cache_secret(operator: Ed25519PrivateKey) -> Secret:
    """The key that authenticates this operator's C build cache entries: HKDF-SHA256 of the
    operator's Ed25519 private key with a label of its own (the key serves nothing else, and
    the operator key itself never reaches the build)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CACHE_MAC_LABEL)
    return Secret(hkdf.derive(operator.private_bytes_raw()))


@functools.cache
def _compiler_identity(cc: str) -> str:
    try:
        result = subprocess.run(
            [cc, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            env=build_env(),
            cwd=tempfile.gettempdir(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return cc
    return f"{cc}\n{result.stdout}"


def build_key(command: list[str], output: Path, source: Path, sdk: Path) -> str:
    """SHA-256 of the cache format, the compiler, the command and the sources and headers at
    the top of the module folder and of the SDK, with the output, source and SDK paths left out
    (the build maps them away, so the binary does not depend on them): the same module copied
    elsewhere is found in the cache.  Every other file the compiler reads (headers in
    subfolders, system headers) is in the entry's dependency list, checked on lookup."""
    digest = hashlib.sha256()
    digest.update(CACHE_FORMAT.encode() + b"\0")
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


def parse_dependencies(text: str) -> list[str]:
    """The prerequisites of every rule of the compiler's ``-M`` output (make syntax: lines
    continued with a backslash, spaces escaped as ``\\ ``, ``#`` as ``\\#``, ``$`` as ``$$``)."""
    found: list[str] = []
    for line in text.replace("\\\n", " ").splitlines():
        _, colon, rest = line.partition(": ")
        if not colon:
            continue
        word: list[str] = []
        i = 0
        while i < len(rest):
            char = rest[i]
            if char == "\\" and i + 1 < len(rest) and rest[i + 1] in " #\\":
                word.append(rest[i + 1])
                i += 2
                continue
            if char == "$" and rest[i + 1 : i + 2] == "$":
                word.append("$")
                i += 2
                continue
            if char.isspace():
                if word:
                    found.append("".join(word))
                    word = []
            else:
                word.append(char)
            i += 1
        if word:
            found.append("".join(word))
    return found


def _label(path: Path, source: Path, sdk: Path) -> str:
    """A dependency's name in a cache entry: relative to the module or SDK folder when in one
    (so the entry still serves a copy of the module), else its absolute path."""
    for folder, label in ((source, "<source>"), (sdk, "<sdk>")):
        if path.is_relative_to(folder):
            return f"{label}/{path.relative_to(folder).as_posix()}"
    return str(path)


def _unlabel(label: str, source: Path, sdk: Path) -> Path:
    for folder, prefix in ((source, "<source>/"), (sdk, "<sdk>/")):
        if label.startswith(prefix):
            return folder / label[len(prefix) :]
    return Path(label)


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _run_compiler(command: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    """Run the compiler as every build-time child runs: scrubbed environment, in ``folder``."""
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
        env=build_env(),
        cwd=folder,
    )


def dependencies(
    command: list[str], output: Path, source: Path, sdk: Path, folder: Path
) -> list[str] | None:
    """Every file the compiler reads for ``command`` (sources and headers, system headers
    included), from its own dependency output (``-M``, the same flags); labelled as in cache
    entries, sorted.  A file reached through a link that leaves the module folder is refused.
    None when the compiler gives no usable list (the build is then not cached)."""
    at = command.index("-o")
    if command[at + 1] != str(output):
        return None
    try:
        result = _run_compiler([*command[:at], *command[at + 2 :], "-M"], folder)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = parse_dependencies(result.stdout) if result.returncode == 0 else []
    labels = set()
    for word in found:
        path = Path(os.path.normpath(folder / word))
        if path.is_relative_to(source):
            contained(source, path)
        labels.add(_label(path, source, sdk))
    sources = {arg for arg in command[at + 2 :] if arg.endswith(".c")}
    if not labels or not all(_label(Path(s), source, sdk) in labels for s in sources):
        return None  # not the compiler's dependency output (a flag in cflags changed it?)
    return sorted(labels)


def _mac(secret: Secret, key: str, deps: list[list[str]], binary: bytes) -> str:
    message = b"\0".join([CACHE_FORMAT.encode(), key.encode(), json.dumps(deps).encode(), binary])
    return hmac.new(secret.reveal(), message, hashlib.sha256).hexdigest()


def _lookup(
    entry: Path, key: str, secret: Secret, source: Path, sdk: Path, where: str
) -> bytes | None:
    """The binary cached in ``entry``, if the entry is authenticated under ``secret`` and every
    file it was compiled from is unchanged; None otherwise (a planted, altered or foreign entry
    is refused with a warning, never used)."""
    try:
        data = entry.read_bytes()
    except OSError:
        return None
    header, _, binary = data.partition(b"\n")
    try:
        meta = json.loads(header)
        deps = [[str(label), str(digest)] for label, digest in meta["deps"]]
        mac = str(meta["mac"])
        valid = meta["format"] == CACHE_FORMAT and hmac.compare_digest(
            mac, _mac(secret, key, deps, binary)
        )
    except (ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        log.warning(
            "%s: C build cache entry %s is not authenticated by this operator's key "
            "(planted, altered, or written under another operator key): not used, rebuilding",
            where,
            entry,
        )
        return None
    for label, digest in deps:
        if _file_digest(_unlabel(label, source, sdk)) != digest:
            log.debug("%s: %s changed since the cached build; rebuilding", where, label)
            return None
    return binary


def _store(
    entry: Path, key: str, secret: Secret, source: Path, sdk: Path, labels: list[str], binary: bytes
) -> None:
    """Keep a build for next time, authenticated under ``secret``, in a folder only this user
    can open (best effort: a read-only cache only costs a rebuild)."""
    deps = []
    for label in labels:
        digest = _file_digest(_unlabel(label, source, sdk))
        if digest is None:
            return
        deps.append([label, digest])
    header = {"format": CACHE_FORMAT, "deps": deps, "mac": _mac(secret, key, deps, binary)}
    partial = entry.with_name(f"{entry.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if entry.parent.stat().st_mode & 0o077:
            entry.parent.chmod(0o700)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(json.dumps(header).encode() + b"\n" + binary)
        partial.replace(entry)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()


def build_c_binary(
    source: Path,
    name: str,
    operator_public: bytes,
    tee: str,
    cflags: tuple[str, ...],
    *,
    where: str,
    cache: Secret | None = None,
) -> bytes:
    """Compile the module; with ``cache`` (the operator's :func:`cache_secret`) a build is kept
    in, and taken from, the build cache."""
    if not source.is_dir():
        raise BuildError(f"module source folder {source} does not exist", where=where)
    if not any(source.glob("*.c")):
        raise BuildError(f"no .c files in the module source {source}", where=where)
    source = source.resolve()
    sdk = c_sdk_dir()
    with tempfile.TemporaryDirectory(prefix="authex-cc-") as tmp:
        folder = Path(tmp)
        output = folder / "module"
        command = compile_command(source, sdk, name, operator_public, tee, cflags, output)
        key = build_key(command, output, source, sdk)
        entry = cache_dir() / f"{key}{ENTRY_SUFFIX}"
        if cache is not None:
            cached = _lookup(entry, key, cache, source, sdk, where)
            if cached is not None:
                return cached
        labels = dependencies(command, output, source, sdk, folder)
        try:
            result = _run_compiler(command, folder)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"cc did not finish in {BUILD_TIMEOUT:.0f}s", where=where) from exc
        except OSError as exc:
            raise BuildError(f"cannot run the C compiler: {exc}", where=where) from exc
        if result.returncode != 0:
            raise BuildError(f"cc failed:\n{tail(result.stderr)}", where=where)
        binary = output.read_bytes()
        if cache is not None and labels is not None:
            _store(entry, key, cache, source, sdk, labels, binary)
        return binary


def build_c_module(
    source: Path,
    name: str,
    operator_public: bytes,
    tee: str,
    cflags: tuple[str, ...] = (),
    cache: Secret | None = None,
) -> BuiltModule:
    """Build a C module; ``cache``: the operator's :func:`cache_secret`, to use the build cache
    (without it every build compiles)."""
    where = f"module {name}"
    binary = build_c_binary(source, name, operator_public, tee, cflags, where=where, cache=cache)
    manifest = read_manifest(binary, name, operator_public, "c", where=where)
    return BuiltModule(name, binary, manifest, hashlib.sha256(binary).digest())
