"""The mixed-language echo application of the integration tests: a Python driver
(tests/integration/apps/mixed) and an echo module in Rust or C with the same interface.
``exercise_echo`` drives it and checks every kind of interaction once."""

from __future__ import annotations

from authex.wire.messages import CallStatus
from support.harness import App


def exercise_echo(app: App, evidence: str) -> None:
    """Deploy, then events both ways, a request to the echo's handler, authenticated and public
    calls of its entries, and a redeploy that finds nothing to do (reproducible build)."""
    report = app.deploy()
    assert sorted(report.attested) == ["driver", "echo"]
    status = {m["name"]: m for m in app.status()["modules"]}
    assert status["echo"]["evidence"] == evidence
    assert app.call("driver", "send", b"hello").payload == b"1"
    assert app.call("driver", "send", b"world").payload == b"1"
    app.wait_for("two echoes", lambda: app.call("driver", "echoes").payload.count(b",") == 1)
    assert app.call("driver", "echoes").payload == b"hello,world"
    assert app.call("driver", "ask", b"quiet please").payload == b"QUIET PLEASE"
    said = app.call("echo", "say-it", b"from the operator")  # authenticated entry
    assert said.status is CallStatus.OK and said.payload == b"sent to 1 connection(s)"
    failed = app.call("echo", "say-it", b"")
    assert failed.status is CallStatus.ENTRY_FAILED and b"nothing to say" in failed.payload
    assert app.call("echo", "stats").payload.startswith(b"events=2 ")
    app.wait_for(
        "the operator's echo", lambda: app.call("driver", "echoes").payload.count(b",") == 2
    )
    assert app.deploy().plan.empty  # the build is reproducible: same measurement
