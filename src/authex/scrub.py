"""The environments of the processes authex starts: no deployer secret reaches code that must not
see it (docs/architecture.md, "What runs at build time").

Two kinds of children:

- **Build-time children** run code the module's author wrote, or tools that run it, as the
  operator's user on the operator's machine: the Python inspect child (the module's top-level
  code, for its manifest), the C compiler, ``cargo`` (with build scripts, procedural macros and
  rustc) and a compiled module's ``--manifest`` run.  They get :func:`build_env`: only the
  variables of :data:`BUILD_KEEP` (and ``LC_*``, ``RUSTUP_*``), never an ``AUTHEX_*`` variable but
  :data:`BUILD_AUTHEX` (the toolchain runners add what they set themselves, such as the operator's
  *public* key), and no kept variable whose value names a path inside an ``.authex`` folder
  (where the operator's key, the deployment state and the trust file live).  ``HOME`` is not
  kept: the Rust runner names ``CARGO_HOME`` and ``RUSTUP_HOME`` instead.
- **Node processes**: agents started by ``authex up``, the platform an agent starts and every
  module process the platform starts.  They get :func:`node_env`: the parent's environment
  without any ``AUTHEX_*`` variable except :data:`NODE_AUTHEX` (the ones the node side reads), so
  the state passphrase (``AUTHEX_STATE_PASSPHRASE``) and whatever else the deployer reads never
  reach an agent or a module, however the agent was started.

Scrubbing the environment is not a sandbox: build-time code still runs with the operator's rights
and can read the operator's files by path.  Build untrusted module code in a container.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePath

# What a build needs: the tools' search path and locale, temporary files, the Rust and C
# toolchains' own configuration, reproducible-build dates, proxies and CA files (cargo may fetch
# crates), and the Python path (the inspect child imports what main.py imports).
BUILD_KEEP = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "SOURCE_DATE_EPOCH",
        "PYTHONPATH",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_JOBS",
        "CARGO_NET_OFFLINE",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CC",
        "CXX",
        "AR",
        "CFLAGS",
        "CXXFLAGS",
        "LDFLAGS",
        "PKG_CONFIG_PATH",
        "LD_LIBRARY_PATH",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)
BUILD_KEEP_PREFIXES = ("LC_", "RUSTUP_")
# AUTHEX_* variables a build may see when the deployer has them (configuration, no secret).
BUILD_AUTHEX = frozenset({"AUTHEX_PURE_PYTHON"})
# AUTHEX_* variables the node side (agent, platform, modules) reads.
NODE_AUTHEX = frozenset({"AUTHEX_PURE_PYTHON", "AUTHEX_UVLOOP", "AUTHEX_DATA_IDLE_TIMEOUT"})
OPERATOR_FOLDER = ".authex"


def _names_operator_folder(value: str) -> bool:
    """Whether a value (a path, or a list of paths) names something inside an ``.authex``
    folder, where the operator's key and the deployment state are."""
    return any(OPERATOR_FOLDER in PurePath(part).parts for part in value.split(os.pathsep))


def build_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a build-time child, from ``environ`` (default: this process's)."""
    source = os.environ if environ is None else environ
    return {
        name: value
        for name, value in source.items()
        if (name in BUILD_KEEP or name.startswith(BUILD_KEEP_PREFIXES) or name in BUILD_AUTHEX)
        and not _names_operator_folder(value)
    }


def node_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an agent, platform or module process, from ``environ`` (default:
    this process's): everything but the ``AUTHEX_*`` variables the node side does not read."""
    source = os.environ if environ is None else environ
    return {
        name: value
        for name, value in source.items()
        if not name.startswith("AUTHEX_") or name in NODE_AUTHEX
    }
