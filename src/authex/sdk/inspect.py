"""``python -m authex.sdk.inspect FOLDER``: print a module's declared interface as JSON.

The build runs this in a fresh child process so that user code (the import of ``main.py``) never
runs inside the deployer's process; the child has the operator's rights but a scrubbed
environment (authex.scrub.build_env, sdk/build.py ``child_env``).  Output is one JSON object on
the real stdout; whatever the user's code prints goes to stderr, because fd 1 is pointed at
stderr before the import:

    {"ok": true, "interface": {"input": {"reading": false}, "entry": {"sample": true}, ...}}
    {"ok": false, "kind": "import" | "manifest" | "source", "message": "...", "tail": "..."}

Exit status 0 on success, 1 when the module cannot be inspected, 2 on a usage error.  The
parent side (``parse_result``) lives here too, so the whole exchange is defined in one file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

from authex.errors import BuildError, ManifestError
from authex.manifest import IoKind
from authex.sdk.loader import ImportFailed, find_module, load_main
from authex.sdk.module import Module


def interface_to_json(module: Module) -> dict[str, dict[str, bool]]:
    """The declared interface as plain JSON data: ``{kind: {name: public}}``."""
    return {kind.value: dict(names) for kind, names in module.declared().items()}


def interface_from_json(raw: object, where: str) -> dict[IoKind, dict[str, bool]]:
    """Inverse of ``interface_to_json``, validating the shape (ManifestError naming ``where``)."""
    if not isinstance(raw, dict):
        raise ManifestError("interface is not a JSON object", where=where)
    declared: dict[IoKind, dict[str, bool]] = {kind: {} for kind in IoKind}
    for key, names in raw.items():
        try:
            kind = IoKind(key)
        except ValueError as exc:
            raise ManifestError(f"unknown interface kind {key!r}", where=where) from exc
        if not isinstance(names, dict) or not all(
            isinstance(n, str) and isinstance(p, bool) for n, p in names.items()
        ):
            raise ManifestError(f"malformed {kind.value} list", where=where)
        declared[kind] = dict(names)
    return declared


def parse_result(
    stdout: bytes, stderr: bytes, status: int, name: str, where: str
) -> dict[IoKind, dict[str, bool]]:
    """The deployer's reading of a finished child: the interface, or the error it reported."""
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        result = json.loads(lines[-1])
        ok = result["ok"]
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        stderr_tail = "\n".join(stderr.decode(errors="replace").splitlines()[-8:])
        raise BuildError(
            f"module {name!r}: the inspector exited with status {status} and no result:\n"
            f"{stderr_tail}",
            where=where,
        ) from exc
    if ok is True:
        return interface_from_json(result.get("interface"), where)
    kind, message = result.get("kind"), str(result.get("message", ""))
    if kind == "import":
        tail = str(result.get("tail", ""))
        raise BuildError(f"module {name!r}: {message}\n{tail}".rstrip(), where=where)
    if kind == "manifest":
        raise ManifestError(f"module {name!r}: {message}", where=result.get("where") or where)
    raise BuildError(f"module {name!r}: {message}", where=where)


def claim_stdio() -> tuple[int, BinaryIO]:
    """Keep the real stdin and stdout for a protocol; user code then sees /dev/null and stderr.

    Returns (fd of the original stdin, binary file on the original stdout).  After this, a stray
    ``print`` lands on stderr and an ``input()`` reads end-of-file instead of protocol bytes.
    """
    sys.stdout.flush()
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    in_fd = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return in_fd, os.fdopen(out_fd, "wb")


def inspect_folder(folder: Path) -> dict[str, Any]:
    """Import ``folder/main.py`` here and describe its interface (or why it has none)."""
    where = str(folder / "main.py")
    try:
        loaded = load_main(folder)
        module = find_module(vars(loaded), where)
    except ImportFailed as exc:
        return {"ok": False, "kind": "import", "message": exc.message, "tail": exc.tail}
    except ManifestError as exc:
        return {"ok": False, "kind": "manifest", "message": exc.message, "where": exc.where}
    except BuildError as exc:
        return {"ok": False, "kind": "source", "message": str(exc)}
    return {"ok": True, "interface": interface_to_json(module)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authex.sdk.inspect")
    parser.add_argument("folder", type=Path, help="module source folder containing main.py")
    args = parser.parse_args(argv)
    sys.dont_write_bytecode = True  # never leave __pycache__ in the developer's source tree
    _, out = claim_stdio()
    result = inspect_folder(args.folder.resolve())
    with out:
        out.write(json.dumps(result, sort_keys=True).encode() + b"\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
