"""The smart-irrigation application with its controller rewritten in Rust
(sdks/rust/examples/irrigation-controller) on the emulated SGX node: same behaviour as the Python
controller, alert texts byte for byte, among Python modules on Sancus and TrustZone nodes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from authex.wire.messages import CallStatus
from support.harness import App, running_app

CONTROLLER = Path(__file__).resolve().parents[2] / "sdks/rust/examples/irrigation-controller"
OPERATOR_SEED = bytes(range(32))  # a test operator's Ed25519 private key

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


@pytest.fixture
def app(irrigation_dir: Path) -> Iterator[App]:
    descriptor = irrigation_dir / "descriptor.yaml"
    text = descriptor.read_text().replace(
        "language: python, source: modules/controller}",
        f"language: rust, source: {CONTROLLER}}}",
    )
    assert "language: rust" in text
    descriptor.write_text(text)
    # One operator key for both tests: the crate (which compiles the key in) is built once, not
    # once per test, in the suite's shared cargo target folder.
    root = irrigation_dir / ".authex"
    root.mkdir(mode=0o700)
    (root / "operator.key").write_text(OPERATOR_SEED.hex() + "\n")
    (root / "operator.key").chmod(0o600)
    with running_app(irrigation_dir) as app:
        app.deploy()
        yield app


def test_rust_controller_opens_the_valve_like_the_python_one(app: App) -> None:
    status = {m["name"]: m for m in app.status()["modules"]}
    assert status["controller"]["evidence"] == "SGX DCAP quote v3 (emulated)"
    app.send("threshold", b"45")
    for _ in range(5):  # sensor1: 52 % dropping 1.5 % per sample, below 45 % at sample 5
        assert app.call("sensor1", "sample").status is CallStatus.OK
    alerts = app.watch("alerts", count=2)
    assert alerts[0] == b"threshold set to 45.0%"
    assert alerts[1] == b"opening valve: sensor1 at 44.5% < 45.0%, rain 10%"
    assert app.watch("valve-state", count=1) == [b"open"]
    assert app.call("valve", "status").payload == b"open"
    assert app.call("controller", "get_threshold").payload == b"45.0"


def test_rust_controller_keeps_the_valve_closed_when_rain_is_expected(app: App) -> None:
    app.send("threshold", b"60")
    assert app.call("sensor2", "sample").payload == b"59.5"
    assert app.watch("alerts", count=1) == [b"threshold set to 60.0%"]
    app.wait_for("forecast answered", lambda: app.connection("forecast")["delivered"] == 2)
    assert app.call("valve", "status").payload == b"closed"
    app.send("threshold", b"wet")
    assert app.watch("alerts", count=2)[1] == b"ignored invalid threshold wet"
