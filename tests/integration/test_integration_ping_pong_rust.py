"""examples/ping-pong with a Python ping and a Rust pong on two nodes: the event hop, the
request round trip and the credit-controlled stream all work across the two SDKs."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from authex.deployer.cluster import free_ports
from support.harness import running_app

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ping-pong"
REPORT_HEAD = struct.Struct("<IIII")  # run, samples, errors, reserved


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_python_ping_and_rust_pong(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE / "modules", tmp_path / "modules")
    text = (EXAMPLE / "descriptor-rust.yaml").read_text()
    text = text.replace("../../sdks/rust/examples/pong", str(REPO / "sdks/rust/examples/pong"))
    for old, new in zip((7201, 7202), free_ports(2), strict=True):
        text = text.replace(f"port: {old}", f"port: {new}")
    (tmp_path / "descriptor.yaml").write_text(text)
    with running_app(tmp_path) as app:
        app.deploy()
        languages = {m.name: m.language for m in app.descriptor.modules}
        assert languages == {"ping": "python", "pong": "rust"}
        # request round trips: ping.ask -> Rust pong.ask
        arg = struct.pack("<IIII", 20, 2, 64, 5000)  # count, warmup, size, budget (ms)
        result = app.call("ping", "request_rtt", arg).payload
        run, samples, errors, _ = REPORT_HEAD.unpack_from(result)
        assert samples == 20 and errors == 0
        # event hops: ping.ping -> Rust pong.ping -> pong.pong -> ping.pong, reported to us
        hop = struct.pack("<IIIII", 7, 10, 2, 32, 5000)  # run, count, warmup, size, budget
        assert app.call("ping", "hop", hop).payload == b"started"
        [report] = app.watch("hop-report", count=1)
        run, samples, errors, _ = REPORT_HEAD.unpack_from(report)
        assert (run, errors) == (7, 0) and samples >= 5
