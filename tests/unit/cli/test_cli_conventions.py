"""Command-line conventions: `authex --version` names the release and the wire protocol, and
`authex --help` lists only commands a user runs (not the agent's internal `platform`)."""

from __future__ import annotations

import pytest

from authex import PROTOCOL_VERSION, __version__
from authex.cli.main import main


def test_version_names_the_release_and_the_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"authex {__version__} (wire protocol {PROTOCOL_VERSION})\n"


def test_help_lists_no_internal_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "==SUPPRESS==" not in out and "platform" not in out
    assert "operator-add" in out and "deploy" in out
