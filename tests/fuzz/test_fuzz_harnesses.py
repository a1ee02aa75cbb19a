"""The atheris harnesses in fuzz/ stay importable and correct without atheris: their
``test_one_input`` runs on Hypothesis inputs here (a few seconds of the same search), and where
atheris is installed each harness also runs briefly under libFuzzer, as ``make fuzz`` does."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
FUZZ = REPO / "fuzz"
HARNESSES = ("frames", "quote", "descriptor")


@cache
def _load(name: str) -> ModuleType:
    """fuzz/<name>.py as a module; fuzz/ is on sys.path only while it loads (for harness.py)."""
    spec = importlib.util.spec_from_file_location(f"authex_fuzz_{name}", FUZZ / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(FUZZ))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(FUZZ))
    return module


def _test_one_input(name: str) -> Callable[[bytes], None]:
    function: Callable[[bytes], None] = _load(f"fuzz_{name}").test_one_input
    return function


@pytest.mark.parametrize("name", HARNESSES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(selector=st.integers(0, 255), rest=st.binary(max_size=120))
def test_harness_accepts_any_input(name: str, selector: int, rest: bytes) -> None:
    _test_one_input(name)(bytes([selector]) + rest)


@settings(max_examples=100, deadline=None)
@given(seed=st.binary(max_size=64), edits=st.binary(max_size=64))
def test_harness_mutate_is_total(seed: bytes, edits: bytes) -> None:
    mutate: Callable[[bytes, bytes], bytes] = _load("harness").mutate
    assert mutate(seed, b"") == seed
    assert isinstance(mutate(seed, edits), bytes)


@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None, reason="atheris is not installed (optional)"
)
@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_under_atheris(name: str, tmp_path: Path) -> None:
    harness = str(FUZZ / f"fuzz_{name}.py")
    done = subprocess.run(
        [sys.executable, harness, "-runs=300", "-seed=1", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Done 300 runs" in done.stderr
