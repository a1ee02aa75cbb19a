"""The deployer killed (SIGKILL) in the middle of a deployment — while loading, attesting or
keying — and run again: the second run finishes the deployment from the saved state, the
application works, and a third run has nothing left to do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.harness import running_app

KILL_AFTER = {"loading": "] loaded ", "attesting": "] attested ", "keying": "keyed "}


@pytest.mark.parametrize("phase", sorted(KILL_AFTER))
def test_deployer_killed_mid_deploy_resumes(irrigation_dir: Path, phase: str) -> None:
    with running_app(irrigation_dir) as app:
        descriptor = str(app.descriptor.path)
        deployer = subprocess.Popen(
            [sys.executable, "-m", "authex", "up", descriptor, "--detach"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert deployer.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 60
        try:
            for line in deployer.stdout:  # bounded: the process ends or is killed below
                seen.append(line.rstrip())
                if KILL_AFTER[phase] in line:
                    os.kill(deployer.pid, signal.SIGKILL)
                    break
                assert time.monotonic() < deadline, "deploy never reached the kill point"
        finally:
            if deployer.poll() is None:
                deployer.kill()
            deployer.wait(30)
        assert deployer.returncode == -signal.SIGKILL, seen  # it really died mid-deploy
        report = app.deploy()  # resumes from whatever the state recorded
        assert not report.plan.empty
        status = app.status()
        assert all(m["attested"] and m["running"] for m in status["modules"])
        assert all(c["keyed"] for c in status["connections"])
        app.send("threshold", b"45")
        for _ in range(5):
            app.call("sensor1", "sample")
        assert app.watch("alerts", count=2)[1].startswith(b"opening valve: sensor1 at 44.5%")
        assert app.watch("valve-state", count=1) == [b"open"]
        assert app.deploy().plan.empty
