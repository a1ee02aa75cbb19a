"""LocalHarness: unit-testing a module in-process, with stubbed requests and captured emits."""

from __future__ import annotations

from pathlib import Path

import pytest

from authex.errors import BuildError
from authex.sdk import RequestError
from authex.sdk.testing import LocalHarness

COUNTER = Path(__file__).parent / "fixtures" / "counter"


def test_deliver_captures_emits_and_state_is_per_harness() -> None:
    h = LocalHarness(COUNTER, name="counter")
    h.deliver("reading", b"7")
    h.deliver("reading", b"700")
    assert h.emitted == [("echo", b"7"), ("echo", b"700"), ("alert", b"700")]
    assert h.call("sample", authenticated=False) == b"2"
    other = LocalHarness(COUNTER)
    assert other.call("sample") == b"0"  # a fresh module-level state
    assert h.take_emitted()[0] == ("echo", b"7") and h.emitted == []
    assert h.manifest.name == "counter" and other.context.name == "m"


def test_entries_handlers_and_requests() -> None:
    h = LocalHarness(COUNTER)
    assert h.call("reset", b"5") == b"0"
    assert h.call("sample") == b"5"
    with pytest.raises(PermissionError, match="'reset' is not public"):
        h.call("reset", b"1", authenticated=False)
    with pytest.raises(RuntimeError, match="boom: x"):
        h.call("boom", b"x")
    assert h.handle_request("double", b"ab") == b"abab"
    with pytest.raises(RequestError, match="on_request"):
        h.deliver("ask", b"monday")
    h.on_request("forecast", lambda data: b"rain on " + data)
    h.deliver("ask", b"monday")
    assert h.emitted == [("echo", b"forecast:rain on monday")]
    assert h.requested == [("forecast", b"monday")]


def test_unknown_names_are_reported() -> None:
    h = LocalHarness(COUNTER)
    with pytest.raises(ValueError, match="no input named 'nope'"):
        h.deliver("nope", b"")
    with pytest.raises(ValueError, match="no handler named 'reading'"):
        h.handle_request("reading", b"")
    with pytest.raises(ValueError, match="declares no request 'echo'"):
        h.on_request("echo", lambda data: data)


def test_broken_module_fails_like_a_build(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("raise ImportError('missing driver')\n")
    with pytest.raises(BuildError, match="missing driver"):
        LocalHarness(tmp_path)
    assert not (COUNTER / "__pycache__").exists()
