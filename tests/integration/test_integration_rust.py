"""A Rust module (sdks/rust/examples/echo, built by the deployer with cargo) and a Python module
on two nodes of different TEE kinds: events both ways, a request to the Rust handler, and
authenticated and public calls of Rust entries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from authex.wire.messages import CallStatus
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
        report = app.deploy()
        assert sorted(report.attested) == ["driver", "echo"]
        status = {m["name"]: m for m in app.status()["modules"]}
        assert status["echo"]["evidence"] == "TrustZone MAC(K_m, challenge) (emulated)"
        assert app.call("driver", "send", b"hello").payload == b"1"
        assert app.call("driver", "send", b"world").payload == b"1"
        app.wait_for("two echoes", lambda: app.call("driver", "echoes").payload.count(b",") == 1)
        assert app.call("driver", "echoes").payload == b"hello,world"
        assert app.call("driver", "ask", b"quiet please").payload == b"QUIET PLEASE"
        said = app.call("echo", "say-it", b"from the operator")  # authenticated Rust entry
        assert said.status is CallStatus.OK and said.payload == b"sent to 1 connection(s)"
        failed = app.call("echo", "say-it", b"")
        assert failed.status is CallStatus.ENTRY_FAILED and b"nothing to say" in failed.payload
        assert app.call("echo", "stats").payload.startswith(b"events=2 ")
        app.wait_for(
            "the operator's echo", lambda: app.call("driver", "echoes").payload.count(b",") == 2
        )
        assert app.deploy().plan.empty  # the cargo build is reproducible: same measurement
