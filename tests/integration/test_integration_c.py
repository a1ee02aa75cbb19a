"""C modules (sdks/c/examples/echo, built by the deployer with the system C compiler) with a
Python module, on every TEE kind a C module can run on: events both ways, a request to the C
handler, authenticated and public calls of C entries, descriptor cflags, reproducible builds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.echo_app import exercise_echo
from support.harness import running_app
from support.net import free_ports

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "sdks" / "c" / "examples" / "echo"
DESCRIPTOR = """name: mixed-c
nodes:
  - {{name: py, tee: native, host: 127.0.0.1, port: {a}}}
  - {{name: c, tee: {tee}, host: 127.0.0.1, port: {b}}}
modules:
  - {{name: driver, node: py, language: python, source: modules/driver}}
  - {{name: echo, node: c, language: c, source: {echo}{cflags}}}
connections:
  - {{from: driver.out, to: echo.ping}}
  - {{from: echo.echoed, to: driver.back}}
  - {{from: driver.shout, to: echo.upper}}
"""
EVIDENCE = {
    "native": "none (native X25519 exchange, no TEE)",
    "sgx": "SGX DCAP quote v3 (emulated)",
    "trustzone": "TrustZone MAC(K_m, challenge) (emulated)",
}

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


def write_app(tmp_path: Path, tee: str, cflags: str = "") -> None:
    shutil.copytree(Path(__file__).parent / "apps" / "mixed" / "modules", tmp_path / "modules")
    a, b = free_ports(2)
    text = DESCRIPTOR.format(a=a, b=b, tee=tee, echo=ECHO, cflags=cflags)
    (tmp_path / "descriptor.yaml").write_text(text)


@pytest.mark.parametrize("tee", ["native", "sgx", "trustzone"])
def test_c_and_python_modules_exchange_events_requests_and_calls(tmp_path: Path, tee: str) -> None:
    write_app(tmp_path, tee)
    with running_app(tmp_path) as app:
        exercise_echo(app, EVIDENCE[tee])


def test_descriptor_cflags_reach_the_compiler(tmp_path: Path) -> None:
    write_app(tmp_path, "native", cflags=', cflags: ["-DECHO_PREFIX=\\"c:\\""]')
    with running_app(tmp_path) as app:
        app.deploy()
        assert app.call("driver", "send", b"hi").payload == b"1"
        app.wait_for("the echo", lambda: app.call("driver", "echoes").payload == b"c:hi")
