"""Loading a module's ``main.py`` and finding its ``Module``: shared by inspect, runner, harness.

These helpers run user code (the import of ``main.py``), so they are only called in a process
meant for it: the throw-away ``authex.sdk.inspect`` child of a build, the module process started by
``authex.sdk.runner``, or a developer's own unit test through ``LocalHarness``.  The deployer never
calls them in its own process.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from authex.errors import BuildError, ManifestError
from authex.manifest import Manifest
from authex.sdk.module import Module

MAIN_FILE = "main.py"
_counter = itertools.count(1)


class ImportFailed(BuildError):
    """Importing ``main.py`` raised; ``tail`` holds the last lines of the traceback."""

    def __init__(self, message: str, *, tail: str, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.tail = tail


def traceback_tail(exc: BaseException, lines: int = 8, start: Path | None = None) -> str:
    """The last ``lines`` lines of an exception's traceback, from the first frame in ``start``."""
    tb = exc.__traceback__
    while start is not None and tb is not None and tb.tb_frame.f_code.co_filename != str(start):
        tb = tb.tb_next
    frames = tb if tb is not None else exc.__traceback__
    text = "".join(traceback.format_exception(type(exc), exc, frames)).rstrip("\n")
    return "\n".join(text.splitlines()[-lines:])


def load_main(folder: Path, module_name: str | None = None) -> ModuleType:
    """Import ``folder/main.py`` with ``folder`` on sys.path; raise ImportFailed if it raises.

    ``module_name`` defaults to a fresh unique name, so loading the same folder twice gives two
    independent module states.  A ManifestError raised by a declaration passes through unchanged.
    """
    main = folder / MAIN_FILE
    if not main.is_file():
        raise BuildError(f"no {MAIN_FILE} in module source folder", where=str(folder))
    name = module_name or f"_authex_module_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, main)
    if spec is None or spec.loader is None:
        raise BuildError(f"cannot load {MAIN_FILE}", where=str(main))
    module = importlib.util.module_from_spec(spec)
    root = str(folder)
    if root not in sys.path:
        sys.path.insert(0, root)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except ManifestError:
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as exc:  # sys.exit() at import time is a failure too
        sys.modules.pop(name, None)
        raise ImportFailed(
            f"importing {MAIN_FILE} failed: {type(exc).__name__}: {exc}",
            tail=traceback_tail(exc, start=main),
            where=str(main),
        ) from exc
    return module


def find_module(namespace: dict[str, Any], where: str) -> Module:
    """The single ``Module`` instance among a namespace's globals (ManifestError otherwise)."""
    found: dict[int, tuple[str, Module]] = {}
    for key, value in namespace.items():
        if isinstance(value, Module):
            found.setdefault(id(value), (key, value))
    if not found:
        raise ManifestError(
            "main.py defines no Module: add `module = Module()` at module level", where=where
        )
    if len(found) > 1:
        names = ", ".join(sorted(key for key, _ in found.values()))
        raise ManifestError(
            f"main.py defines several Module objects ({names}); use one", where=where
        )
    return next(iter(found.values()))[1]


def check_matches(module: Module, manifest: Manifest, where: str) -> None:
    """Raise ManifestError unless the loaded module declares exactly the manifest's interface."""
    loaded = {(e.kind, e.name, e.id, e.public) for e in module.endpoints()}
    expected = {(e.kind, e.name, e.id, e.public) for e in manifest.endpoints}
    if loaded != expected:
        extra = sorted(f"{k.value} {n!r}" for k, n, _, _ in loaded - expected)
        missing = sorted(f"{k.value} {n!r}" for k, n, _, _ in expected - loaded)
        raise ManifestError(
            "the loaded code does not declare the manifest's interface "
            f"(not in manifest: {extra or 'none'}; not in code: {missing or 'none'})",
            where=where,
        )
