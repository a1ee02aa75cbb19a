"""Updates under traffic (spec/protocol.md §7.6): a producer's timer streams 5,000 numbered events
to a consumer that keeps its counts as sealed state, and the consumer is replaced by a new
version (`authex update`) in the middle of the stream — also with the deployer killed after the
switch and run again.  Every event is processed exactly once, in order, by one of the two
instances: the counts the old instance sealed move to the new one, and the new one ends with
count = last = 5,000, nothing out of order, no duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authex.deployer.update import UpdateReport, update
from support.harness import App
from support.stream_app import EVENTS, consumer_status, processed, start_durable, stats

PER_TICK = 10  # events per 10 ms tick: the stream lasts about five seconds
CHANGES = {
    "python": ("modules/durable/main.py", '\nVERSION = "2"\n'),
    "c": ("modules/durable-c/consumer.c", '\n__attribute__((used)) const char version[] = "2";\n'),
}


def change_consumer(folder: Path, language: str) -> None:
    path, addition = CHANGES[language]
    with open(folder / path, "a") as source:
        source.write(addition)


def update_killed_after(app: App, progress: str) -> None:
    """Run `authex update consumer` and kill it (SIGKILL) once it printed ``progress``."""
    command = [sys.executable, "-m", "authex", "update", "-f", str(app.descriptor.path)]
    deployer = subprocess.Popen(
        [*command, "consumer", "--allow-emulated"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert deployer.stdout is not None
    seen: list[str] = []
    try:
        for line in deployer.stdout:  # bounded: the process ends or is killed below
            seen.append(line.rstrip())
            if progress in line:
                os.kill(deployer.pid, signal.SIGKILL)
                break
    finally:
        if deployer.poll() is None:
            deployer.kill()
        deployer.wait(30)
    assert deployer.returncode == -signal.SIGKILL, seen  # it really died mid-update


def emitted(app: App) -> int:
    return int(app.call("producer", "burst", b"0").payload)


def finish(app: App, started: float, what: str, report: UpdateReport | None = None) -> None:
    app.wait_for("every event", lambda: processed(app) == EVENTS, 120)
    final = stats(app)
    assert final == {"count": EVENTS, "last": EVENTS, "out_of_order": 0, "duplicates": 0}
    stream = app.connection("stream")
    assert not stream["rejected"]  # nothing was refused: no event went to the wrong instance
    figures = ""
    if report is not None:
        figures = (
            f"; downtime {report.downtime_s * 1000:.0f} ms, {report.held} events held for the "
            f"new version, update took {report.total_s:.1f}s"
        )
    print(
        f"\n{what}: {EVENTS} sent, {final['count']} processed once and in order by the two "
        f"instances, 0 duplicates, 0 lost{figures}; all processed "
        f"{time.monotonic() - started:.1f}s after the update began"
    )


@pytest.mark.parametrize(("language", "tee"), [("python", "sgx"), ("c", "trustzone")])
def test_update_under_traffic_loses_nothing(tmp_path: Path, language: str, tee: str) -> None:
    cluster, app = start_durable(tmp_path, tee=tee, language=language, paced=True)
    try:
        before = consumer_status(app)
        app.call("producer", "pace", b"%d,%d" % (EVENTS, PER_TICK))
        app.wait_for("the stream to flow", lambda: processed(app) > 0)
        change_consumer(tmp_path, language)
        started = time.monotonic()
        report = app.with_session(lambda session: update(session, "consumer"))
        sent_by_then = emitted(app)
        finish(app, started, f"{language} consumer updated mid-stream", report)
        assert sent_by_then > 0  # the stream was flowing while the update ran
        assert report.transfer == "done" and report.connections == 1
        after = consumer_status(app)
        assert after["running"] and after["pid"] != before["pid"]
        assert after["measurement"] != before["measurement"]
        assert app.deploy().plan.empty  # the new version is what the descriptor describes
        assert app.with_session(lambda session: update(session, "consumer")).unchanged
        app.call("producer", "burst", b"1")  # the new connection keeps working
        app.wait_for("one more", lambda: stats(app)["count"] == EVENTS + 1)
    finally:
        cluster.stop()


def test_update_killed_after_the_switch_resumes_and_loses_nothing(tmp_path: Path) -> None:
    cluster, app = start_durable(tmp_path, paced=True)
    try:
        app.call("consumer", "slow_down", b"2")  # the old instance drains slowly
        app.call("producer", "pace", b"%d,%d" % (EVENTS, PER_TICK))
        app.wait_for("the stream to flow", lambda: processed(app) > 0)
        change_consumer(tmp_path, "python")
        started = time.monotonic()
        update_killed_after(app, "now sends stream to the new consumer")  # after the switch
        report = app.with_session(lambda session: update(session, "consumer"))
        assert any("resuming the update of consumer" in line for line in app.progress)
        finish(app, started, "update killed after the switch and run again", report)
        assert app.deploy().plan.empty
    finally:
        cluster.stop()


def test_deploy_is_refused_while_an_update_is_unfinished(tmp_path: Path) -> None:
    cluster, app = start_durable(tmp_path)
    try:
        change_consumer(tmp_path, "python")
        update_killed_after(app, "attested consumer~")  # staged, nothing switched yet
        with pytest.raises(Exception, match="an update of consumer is in progress"):
            app.deploy()
        report = app.with_session(lambda session: update(session, "consumer"))
        assert report.transfer == "done"
        assert app.deploy().plan.empty
    finally:
        cluster.stop()
