"""Nothing lost, nothing duplicated across restarts (spec/protocol.md §7.5, docs/threat-model.md
§6.3): a stream of 5,000 events from one node to a consumer that keeps sealed state on another
node, while

- the consumer's agent is killed with SIGKILL (agent, platform and module all die) and started
  again on the same node directory, or
- the consumer's module process is killed with SIGKILL and the agent restarts it.

The sender's outbox keeps what was not acknowledged; the restarted module resumes from the
state its platform sealed before it acknowledged anything (keys, counters, its own counts), so
resends of what it already took are refused as replays and the rest is processed once, in
order.  The module keeps its instance, so a deploy afterwards has nothing to do."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from authex.deployer.cluster import LocalCluster
from support.harness import App
from support.stream_app import EVENTS, consumer_status, processed, start_durable, stats


def kill_agent(cluster: LocalCluster, node: str) -> None:
    pid = json.loads(cluster.record.read_text())[node]
    os.killpg(pid, signal.SIGKILL)  # the agent, its platform and its modules
    os.waitpid(pid, 0)


def finish(app: App, started: float, what: str) -> None:
    app.wait_for("every event", lambda: processed(app) == EVENTS, 120)
    final = stats(app)
    assert final == {"count": EVENTS, "last": EVENTS, "out_of_order": 0, "duplicates": 0}
    stream = app.connection("stream")
    replays = stream["rejected"].get("replay", 0)
    assert set(stream["rejected"]) <= {"replay"}  # resends of what it had taken, refused
    print(
        f"\n{what}: {EVENTS} sent, {final['count']} processed in order, 0 duplicates "
        f"processed, {replays} resends refused as replays by the resumed module, "
        f"{stream['duplicates']} dropped by the agent; all processed "
        f"{time.monotonic() - started:.1f}s after the kill"
    )


def test_agent_killed_mid_stream_resumes_and_loses_nothing(tmp_path: Path) -> None:
    cluster, app = start_durable(tmp_path)
    try:
        app.call("consumer", "slow_down", b"1")
        before = consumer_status(app)
        app.call("producer", "burst", b"%d" % (EVENTS // 2))
        time.sleep(0.5)  # let part of the stream through (not an assertion)
        kill_agent(cluster, "b")
        killed = time.monotonic()
        app.call("producer", "burst", b"%d" % (EVENTS // 2))  # queued while b is down
        cluster.start(lambda _: None)  # same node directory
        finish(app, killed, "agent killed")
        after = consumer_status(app)
        assert after["running"]  # the deployed instance: resumed, not a fresh one
        assert after["pid"] != before["pid"]
        assert app.deploy().plan.empty  # nothing to redo: keys and routes came back
        app.call("producer", "burst", b"1")
        app.wait_for("one more", lambda: stats(app)["count"] == EVENTS + 1)
    finally:
        cluster.stop()


@pytest.mark.parametrize(
    ("language", "tee"),
    [
        ("python", "sgx"),
        ("c", "trustzone"),
        pytest.param(
            "rust",
            "native",
            marks=pytest.mark.skipif(shutil.which("cargo") is None, reason="no cargo"),
        ),
    ],
)
def test_module_killed_mid_stream_is_restarted_and_loses_nothing(
    tmp_path: Path, language: str, tee: str
) -> None:
    cluster, app = start_durable(tmp_path, tee=tee, language=language)
    try:
        app.call("consumer", "slow_down", b"1")
        before = consumer_status(app)
        app.call("producer", "burst", b"%d" % (EVENTS // 2))
        time.sleep(0.5)
        os.kill(int(str(before["pid"])), signal.SIGKILL)
        killed = time.monotonic()
        app.call("producer", "burst", b"%d" % (EVENTS // 2))
        finish(app, killed, f"{language} module killed")
        after = consumer_status(app)
        assert after["running"] and after["pid"] != before["pid"]
        assert app.deploy().plan.empty
    finally:
        cluster.stop()
