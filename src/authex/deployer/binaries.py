"""Edge: what compiled modules (Rust, C) have in common.  A module binary answers
``BINARY --manifest NAME OPERATOR_KEY_HEX`` with its manifest JSON; the binary itself is the
artifact.  Shared by the Rust and C toolchains (docs/sdk-rust.md, docs/sdk-c.md)."""

from __future__ import annotations

import errno
import subprocess
import tempfile
import time
from pathlib import Path

from authex.errors import BuildError
from authex.manifest import Manifest
from authex.scrub import build_env

MANIFEST_TIMEOUT = 30.0
ETXTBSY_ATTEMPTS = 5


def tail(text: str, lines: int = 30) -> str:
    """The last lines of a tool's output (where its errors are)."""
    return "\n".join(text.strip().splitlines()[-lines:])


def read_manifest(
    binary: bytes, name: str, operator_public: bytes, language: str, *, where: str
) -> Manifest:
    """Run the binary's ``--manifest`` (from a private temporary copy) and check it."""
    with tempfile.TemporaryDirectory(prefix="authex-binary-") as folder:
        path = Path(folder) / "module"
        path.write_bytes(binary)
        path.chmod(0o700)
        command = [str(path), "--manifest", name, operator_public.hex()]
        for attempt in range(ETXTBSY_ATTEMPTS):
            try:
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=MANIFEST_TIMEOUT,
                    check=False,
                    env=build_env(),  # module code at build time: no deployer secret
                    cwd=folder,
                )
                break
            except OSError as exc:
                # another thread's fork may briefly hold the file we just wrote (ETXTBSY)
                if exc.errno == errno.ETXTBSY and attempt + 1 < ETXTBSY_ATTEMPTS:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise BuildError(
                    f"the module binary cannot report its manifest: {exc}", where=where
                ) from exc
            except subprocess.TimeoutExpired as exc:
                raise BuildError(
                    f"the module binary cannot report its manifest: {exc}", where=where
                ) from exc
    if result.returncode != 0:
        detail = tail(result.stderr.decode(errors="replace"))
        raise BuildError(f"the module binary refused --manifest: {detail}", where=where)
    manifest = Manifest.from_json(result.stdout.strip(), where=where)
    if manifest.name != name or manifest.language != language:
        raise BuildError(
            f"the binary reports module {manifest.name!r} in {manifest.language}, "
            f"expected {name!r} in {language}",
            where=where,
        )
    return manifest
