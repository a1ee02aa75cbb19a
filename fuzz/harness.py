"""Shared plumbing of the atheris harnesses in this folder (see docs/fuzzing.md).

Each harness defines ``test_one_input(data: bytes) -> None`` with no atheris dependency: it raises
only for a finding (an exception other than the decoder's own error type, or a broken
invariant).  ``run`` hands it to atheris (libFuzzer) with the command-line arguments, so
``python fuzz/fuzz_frames.py -max_total_time=60 fuzz/corpus/frames`` works as libFuzzer does.
Without atheris, ``run`` replays the files given as arguments (a crash file, a corpus folder)
and otherwise explains how to install it and exits 0, so the harnesses stay importable and
runnable everywhere.

``mutate`` turns fuzz bytes into edits of a valid seed, so even with an empty corpus a harness
reaches the deep checks that random bytes never get past.  This module must not import authex:
the harnesses import it inside ``instrumented()`` so that atheris can instrument it.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

try:
    atheris: Any = importlib.import_module("atheris")
except ImportError:  # optional: the harnesses still import and replay files without it
    atheris = None

INSTALL_HINT = (
    "atheris is not installed; install it with `.venv/bin/pip install atheris` "
    "(wheels for CPython 3.11 on x86-64 Linux; see docs/fuzzing.md)"
)
INTERESTING_U32 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    """Instrument authex (for coverage feedback) while the harness imports it; a no-op without
    atheris, or when authex was imported before (by a test that loads the harness)."""
    if atheris is None or "authex" in sys.modules:
        yield
        return
    with atheris.instrument_imports(include=["authex"]):
        yield


def mutate(seed: bytes, data: bytes) -> bytes:
    """Apply the edits that ``data`` encodes, four bytes each (op, position hi/lo, value), to
    ``seed``: set, xor, insert, delete, truncate, duplicate a range, or write an interesting
    32-bit integer (either byte order)."""
    out = bytearray(seed)
    for i in range(0, len(data) - 3, 4):
        op, hi, lo, value = data[i : i + 4]
        pos = ((hi << 8) | lo) % (len(out) + 1)
        kind = op % 8
        if kind == 0 and pos < len(out):
            out[pos] = value
        elif kind == 1 and pos < len(out):
            out[pos] ^= value or 1
        elif kind == 2:
            out[pos:pos] = bytes([value])
        elif kind == 3:
            del out[pos : pos + 1 + value % 16]
        elif kind == 4:
            del out[pos:]
        elif kind == 5:
            out[pos:pos] = out[pos : pos + 1 + value % 64]
        else:
            number = INTERESTING_U32[value % len(INTERESTING_U32)]
            order: Literal["little", "big"] = "little" if kind == 6 else "big"
            out[pos : pos + 4] = number.to_bytes(4, order)
    return bytes(out)


def _replay(test_one_input: Callable[[bytes], None], paths: list[str]) -> int:
    files = [p for arg in paths for p in (sorted(Path(arg).rglob("*")) or [Path(arg)])]
    count = 0
    for path in files:
        if path.is_file():
            test_one_input(path.read_bytes())
            count += 1
    print(f"replayed {count} input(s) without a finding", file=sys.stderr)
    return 0


def run(test_one_input: Callable[[bytes], None], argv: list[str] | None = None) -> int:
    """Fuzz with atheris, or without it replay the given files; returns the exit status."""
    args = list(sys.argv if argv is None else argv)
    if atheris is None:
        inputs = [a for a in args[1:] if not a.startswith("-")]
        if inputs:
            return _replay(test_one_input, inputs)
        print(f"{Path(args[0]).name}: {INSTALL_HINT}; skipping", file=sys.stderr)
        return 0
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()
    return 0
