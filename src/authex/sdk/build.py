"""Building a Python module: introspect its interface, then pack a byte-deterministic artifact.

The interface is read by importing ``main.py`` in a fresh child process
(``python -m authex.sdk.inspect``), so user code never runs inside the deployer's process.  That
child runs with the operator's rights but a scrubbed environment (authex.scrub.build_env: none of
the deployer's ``AUTHEX_*`` secrets) in the module folder.  The artifact is a ZIP archive that
depends only on the sources, the deployed name and the operator key:

- entries sorted by name, no compression (ZIP_STORED, so no zlib version can change a byte),
  a fixed date (1980-01-01 00:00:00), fixed permissions (0644) and a fixed creator system;
- ``manifest.json`` (the canonical ``Manifest.to_json()``) and every ``*.py`` file of the source
  folder as ``src/<relative path>``, skipping ``__pycache__`` and anything starting with a dot.

The measurement is SHA-256 over the artifact bytes.  This is the build's edge file: the only SDK
module that starts a subprocess.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import authex
from authex.crypto.digest import sha256
from authex.crypto.suites import available_suites
from authex.errors import BuildError
from authex.manifest import IoKind, Manifest, assign_ids
from authex.scrub import build_env
from authex.sdk.inspect import parse_result
from authex.sdk.loader import MAIN_FILE

MANIFEST_ENTRY = "manifest.json"
SOURCE_PREFIX = "src/"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_MODE = 0o644 << 16
ZIP_UNIX = 3  # "created on Unix", whatever the building machine is
INSPECT_TIMEOUT = 60.0
OPERATOR_KEY_SIZE = 32


@dataclass(frozen=True)
class BuiltModule:
    name: str
    artifact: bytes = field(repr=False)
    manifest: Manifest = field(repr=False)
    measurement: bytes  # SHA-256(artifact)


def _check_source(source: Path) -> Path:
    if not source.is_dir():
        raise BuildError("module source folder does not exist", where=str(source))
    main = source / MAIN_FILE
    if not main.is_file():
        raise BuildError(f"module source has no {MAIN_FILE}", where=str(main))
    return source.resolve()


def _check_identity(name: str, operator_public: bytes) -> None:
    if not isinstance(name, str) or not name or len(name.encode()) > 255:
        raise BuildError(f"deployed module name {name!r} must be 1-255 bytes of text")
    if not isinstance(operator_public, bytes) or len(operator_public) != OPERATOR_KEY_SIZE:
        raise BuildError(
            f"operator public key must be {OPERATOR_KEY_SIZE} bytes (Ed25519)",
            where=f"module {name}",
        )


def child_env() -> dict[str, str]:
    """The environment of the inspect child: the scrubbed build environment (no deployer
    secret), this authex importable, no bytecode written."""
    env = build_env()
    package_root = str(Path(authex.__file__).resolve().parent.parent)
    paths = [package_root, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_inspect(source: Path, name: str) -> dict[IoKind, dict[str, bool]]:
    where = str(source / MAIN_FILE)
    command = [sys.executable, "-P", "-m", "authex.sdk.inspect", str(source)]
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=INSPECT_TIMEOUT,
            env=child_env(),
            cwd=source,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(
            f"module {name!r}: importing {MAIN_FILE} took longer than {INSPECT_TIMEOUT:.0f} s",
            where=where,
        ) from exc
    except OSError as exc:
        raise BuildError(f"module {name!r}: cannot start the inspector: {exc}") from exc
    return parse_result(done.stdout, done.stderr, done.returncode, name, where)


def contained(source: Path, path: Path) -> Path:
    """``path``, a file found in the module folder ``source``; a link that leads outside the
    folder is refused, so a build never ships (to the untrusted agent) or compiles a file from
    elsewhere — the operator's key, say."""
    resolved = path.resolve()
    if not resolved.is_relative_to(source.resolve()):
        relative = path.relative_to(source)
        raise BuildError(
            f"{relative} is a link to {resolved}, outside the module folder; module sources are "
            "only read from inside it (copy the file into the folder, or remove the link)",
            where=str(source),
        )
    return resolved


def collect_sources(source: Path) -> list[tuple[str, bytes]]:
    """Every ``*.py`` under ``source`` as (``src/<posix relative path>``, bytes), sorted.
    Links to folders are not followed; links to files outside ``source`` are refused."""
    found: list[tuple[str, bytes]] = []
    for directory, subdirs, files in os.walk(source):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__" and not d.startswith("."))
        for filename in files:
            path = Path(directory) / filename
            if filename.startswith(".") or not filename.endswith(".py") or not path.is_file():
                continue
            relative = PurePosixPath(*path.relative_to(source).parts)
            found.append((SOURCE_PREFIX + str(relative), contained(source, path).read_bytes()))
    return sorted(found)


def pack_artifact(manifest: Manifest, sources: list[tuple[str, bytes]]) -> bytes:
    """The deterministic ZIP: same manifest and sources give the same bytes."""
    entries = sorted([(MANIFEST_ENTRY, manifest.to_json()), *sources])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for entry_name, data in entries:
            info = zipfile.ZipInfo(entry_name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = ZIP_MODE
            info.create_system = ZIP_UNIX
            archive.writestr(info, data)
    return buffer.getvalue()


def unpack_artifact(artifact: bytes, where: str = "artifact") -> tuple[Manifest, dict[str, bytes]]:
    """Read an artifact back: its manifest and its sources keyed by path relative to ``src/``.

    Entry names are checked so that extracting them can never leave the target folder.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
            for info in archive.infolist():
                # artifacts are written stored and unflagged (pack_artifact): refuse the rest
                # before zipfile tries to decompress or decrypt anything
                if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                    raise BuildError(
                        f"artifact entry {info.filename!r} is compressed or encrypted",
                        where=where,
                    )
            contents = {info.filename: archive.read(info) for info in archive.infolist()}
    except (
        zipfile.BadZipFile,
        OSError,
        ValueError,
        RuntimeError,
        NotImplementedError,
        EOFError,
        zlib.error,
    ) as exc:
        raise BuildError(f"not a module artifact: {exc}", where=where) from exc
    if MANIFEST_ENTRY not in contents:
        raise BuildError(f"artifact has no {MANIFEST_ENTRY}", where=where)
    manifest = Manifest.from_json(contents.pop(MANIFEST_ENTRY), where=f"{where}:{MANIFEST_ENTRY}")
    sources: dict[str, bytes] = {}
    for entry_name, data in contents.items():
        path = PurePosixPath(entry_name)
        parts = path.parts
        if (
            not entry_name.startswith(SOURCE_PREFIX)
            or path.is_absolute()
            or any(p in ("", ".", "..") or "\\" in p for p in parts)
            or len(parts) < 2
        ):
            raise BuildError(f"artifact entry {entry_name!r} is not a source file", where=where)
        sources[str(PurePosixPath(*parts[1:]))] = data
    if MAIN_FILE not in sources:
        raise BuildError(f"artifact has no {SOURCE_PREFIX}{MAIN_FILE}", where=where)
    return manifest, sources


def _manifest(declared: dict[IoKind, dict[str, bool]], name: str, operator: bytes) -> Manifest:
    return Manifest(
        name=name,
        language="python",
        suites=tuple(sorted(available_suites())),
        endpoints=assign_ids(declared),
        operator_key=operator.hex(),
    )


def inspect_python_module(
    source: Path, name: str, operator_public: bytes = bytes(OPERATOR_KEY_SIZE)
) -> Manifest:
    """The manifest a build of ``source`` deployed as ``name`` would carry (the user's code
    runs in the inspect child, not in this process)."""
    _check_identity(name, operator_public)
    folder = _check_source(Path(source))
    return _manifest(_run_inspect(folder, name), name, operator_public)


def build_python_module(source: Path, name: str, operator_public: bytes) -> BuiltModule:
    """Build ``source`` (a folder with main.py) into the artifact of deployed module ``name``."""
    manifest = inspect_python_module(source, name, operator_public)
    artifact = pack_artifact(manifest, collect_sources(Path(source).resolve()))
    return BuiltModule(name, artifact, manifest, sha256(artifact))
