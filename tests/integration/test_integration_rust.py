"""A Rust module (sdks/rust/examples/echo, built by the deployer with cargo) and a Python module
on two nodes of different TEE kinds: events both ways, a request to the Rust handler, and
authenticated and public calls of Rust entries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.echo_app import exercise_echo
from support.harness import running_app
from support.net import free_ports

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "sdks" / "rust" / "examples" / "echo"
DESCRIPTOR = """name: mixed
nodes:
  - {{name: py, tee: native, host: 127.0.0.1, port: {a}}}
  - {{name: rs, tee: trustzone, host: 127.0.0.1, port: {b}}}
modules:
  - {{name: driver, node: py, language: python, source: modules/driver}}
  - {{name: echo, node: rs, language: rust, source: {echo}}}
connections:
  - {{from: driver.out, to: echo.ping}}
  - {{from: echo.echoed, to: driver.back}}
  - {{from: driver.shout, to: echo.upper}}
"""


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_rust_and_python_modules_exchange_events_requests_and_calls(tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).parent / "apps" / "mixed" / "modules", tmp_path / "modules")
    a, b = free_ports(2)
    (tmp_path / "descriptor.yaml").write_text(DESCRIPTOR.format(a=a, b=b, echo=ECHO))
    with running_app(tmp_path) as app:
        exercise_echo(app, "TrustZone MAC(K_m, challenge) (emulated)")
