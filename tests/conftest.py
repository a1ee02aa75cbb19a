"""Shared fixtures: free loopback ports and a local cluster running a descriptor for real."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.net import free_ports

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# Every Rust module the suite builds (each from its own temporary copy) shares one cargo target
# folder, so the SDK and the crates.io dependencies compile once per machine, not once per test.
os.environ.setdefault("CARGO_TARGET_DIR", str(REPO / "target" / "suite"))


@pytest.fixture
def irrigation_dir(tmp_path: Path) -> Iterator[Path]:
    """A copy of examples/smart-irrigation (sgx, trustzone, sancus nodes) with free ports and no
    periodic timers."""
    target = tmp_path / "irrigation"
    shutil.copytree(EXAMPLES / "smart-irrigation" / "modules", target / "modules")
    text = (EXAMPLES / "smart-irrigation" / "descriptor.yaml").read_text()
    for old, new in zip((7101, 7102, 7103, 7104), free_ports(4), strict=True):
        text = text.replace(f"port: {old}", f"port: {new}")
    text = text.split("periodic:")[0]
    (target / "descriptor.yaml").write_text(text)
    yield target
