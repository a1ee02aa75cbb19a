"""The registry of TEE kinds: the one place that says which kinds exist and what sets them apart.

Everything else reads it: the descriptor (its ``TEES``, ``TEE_SUITES``, TEE-specific module
fields), ``tee/base.get_backend`` and ``tee/platforms`` (which classes to load), node set-up
(``agent/config.py``, ``deployer/cluster.py``) and the C toolchain (``deployer/c.py``).  A kind's
deployer-side backend and node-side platform are named by dotted paths (``module:Class``) and
imported only when used, so this base-layer module imports no TEE code: adding a TEE is one
folder under ``src/authex/tee/`` and one line in :data:`KINDS` (docs/adding-a-backend.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from authex.crypto.suites import SUITE_NAMES
from authex.errors import BackendError

# Every connection suite, in the deployer's preference order: crypto's suite table.
SUITES: tuple[str, ...] = tuple(SUITE_NAMES)


@dataclass(frozen=True)
class TeeKind:
    name: str  # as written in descriptors, node.json and the trust file
    suites: tuple[str, ...]  # connection suites its modules run, in preference order
    module_fields: tuple[str, ...]  # descriptor module fields only kinds listing them accept
    backend: str  # deployer side, "module:Class" implementing tee.base.Backend
    platform: str  # node side, "module:Class" implementing tee.platform_base.Platform
    ta_vendor_key: bool = False  # `node init` needs the TA vendor public key (--ta-vendor-key)
    openssl: bool = True  # C modules link OpenSSL's libcrypto (False: compact build without it)


# fmt: off
KINDS: tuple[TeeKind, ...] = (
    TeeKind("native", SUITES, (), "authex.tee.native.backend:NativeBackend", "authex.tee.native.platform:NativePlatform"),  # noqa: E501
    TeeKind("sgx", SUITES, ("isv_prod_id", "isv_svn", "debug"), "authex.tee.sgx.backend:SgxBackend", "authex.tee.sgx.platform:SgxPlatform"),  # noqa: E501
    TeeKind("trustzone", SUITES, ("vendor_id",), "authex.tee.trustzone.backend:TrustZoneBackend", "authex.tee.trustzone.platform:TrustZonePlatform", ta_vendor_key=True),  # noqa: E501
    TeeKind("sancus", ("spongewrap-128",), ("vendor_id",), "authex.tee.sancus.backend:SancusBackend", "authex.tee.sancus.platform:SancusPlatform", openssl=False),  # noqa: E501
)
# fmt: on
_BY_NAME = {k.name: k for k in KINDS}


def names() -> tuple[str, ...]:
    """The registered kinds, in registry order."""
    return tuple(_BY_NAME)


def kind(name: str) -> TeeKind:
    """The registered kind ``name``; BackendError naming the known kinds if there is none."""
    found = _BY_NAME.get(name)
    if found is None:
        raise BackendError(f"unknown TEE {name!r}, expected one of: " + ", ".join(names()))
    return found


def accepting(field: str) -> tuple[str, ...]:
    """The kinds whose modules may carry the descriptor module field ``field``."""
    return tuple(k.name for k in KINDS if field in k.module_fields)


def load(path: str) -> object:
    """Import ``module:attribute`` and return the attribute (a backend or platform class)."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
