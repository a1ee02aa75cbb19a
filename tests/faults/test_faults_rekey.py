"""A module that keeps no sealed state and crashes is reloaded and re-keyed by the next deploy;
the connection's counters then start again at 1.  The receiving agent must not take the new
messages for resends of the old key's (it forgets the old counters when the connection is
re-keyed), and what the sender's outbox still held under the old key is dropped, not offered to
a module that can never open it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from authex.deployer.cluster import LocalCluster
from authex.descriptor import load_descriptor
from support.harness import App
from support.net import free_ports
from support.stream_app import copy_modules, processed, stats, stream_descriptor


def test_a_reloaded_module_gets_every_event_sent_after_its_new_keys(tmp_path: Path) -> None:
    copy_modules(tmp_path)
    a, b = free_ports(2)
    (tmp_path / "descriptor.yaml").write_text(stream_descriptor(a, b))
    descriptor = load_descriptor(tmp_path / "descriptor.yaml")
    cluster = LocalCluster(descriptor)
    cluster.start(lambda _: None)
    try:
        app = App(descriptor)
        app.deploy()
        app.call("producer", "burst", b"300")
        app.wait_for("the first 300", lambda: processed(app) == 300)
        pid = next(m["pid"] for m in app.status()["modules"] if m["name"] == "consumer")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # not persistent: it stays down until the next deploy
        app.wait_for("the crash seen", lambda: processed(app) == -1)
        report = app.deploy()
        assert "consumer" in report.attested and "stream" in report.keyed
        app.call("producer", "burst", b"200")  # counters 1..200 under the new key
        app.wait_for("the next 200", lambda: processed(app) == 200, 30)
        assert stats(app) == {"count": 200, "last": 500, "out_of_order": 1, "duplicates": 0}
        stream = app.connection("stream")
        assert stream["duplicates"] == 0  # none taken for a resend of the old key's
    finally:
        cluster.stop()
