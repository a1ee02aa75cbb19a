"""Loads the optional C accelerator ``authex.crypto._spongent`` for SPONGENT and SpongeWrap.

``authex.crypto.spongewrap`` (and so ``sancus_mac`` and the Sancus key derivations) calls
:data:`NATIVE` when it is not ``None`` and its own pure-Python code otherwise; both give
bit-identical results (tests/unit/sancus/test_sancus_accel.py).  ``NATIVE`` is ``None`` when the
extension was not built (no C compiler at install time: it is declared ``optional`` in setup.py)
or when the environment variable ``AUTHEX_PURE_PYTHON`` is set to anything but ``""``/``"0"``
when this module is first imported.  :data:`ACCELERATED` tells which path is in use.
"""

from __future__ import annotations

import importlib
import os
from typing import Protocol, cast

ENV_VAR = "AUTHEX_PURE_PYTHON"
EXTENSION = "authex.crypto._spongent"


BytesLike = bytes | bytearray | memoryview


class NativeSpongent(Protocol):
    """What the C extension exports (src/authex/crypto/_spongent.c); it takes any buffer."""

    def permute(self, state: BytesLike, width: int, /) -> bytes:
        """SPONGENT-176 (90 rounds) or SPONGENT-336 (170 rounds) on a ``width // 8``-byte state."""
        ...

    def wrap(
        self, key: BytesLike, ad: BytesLike, body: BytesLike, decrypt: bool, /
    ) -> tuple[bytes, bytes]:
        """One SpongeWrap pass (16-byte key: 128-bit, 8-byte key: 64-bit): (output, tag)."""
        ...


def pure_python_forced() -> bool:
    """Whether ``AUTHEX_PURE_PYTHON`` asks for the pure-Python path."""
    return os.environ.get(ENV_VAR, "").strip() not in ("", "0")


def load_native() -> NativeSpongent | None:
    """The compiled extension, or None when it is not built; ignores ``AUTHEX_PURE_PYTHON``."""
    try:
        module = importlib.import_module(EXTENSION)
    except ImportError:
        return None
    return cast(NativeSpongent, module)


NATIVE: NativeSpongent | None = None if pure_python_forced() else load_native()
"""The extension the dispatch uses, or None for the pure-Python path."""

ACCELERATED: bool = NATIVE is not None
"""True when SpongeWrap, ``sancus_mac`` and the key derivations run in C."""
