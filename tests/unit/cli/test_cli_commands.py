"""The command line: exit codes, every descriptor problem listed with its place, node init,
and clear errors for commands run before a deployment exists."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from authex.cli.main import main
from authex.deployer.cluster import LocalCluster
from authex.descriptor import load_descriptor
from support.net import free_ports

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "smart-irrigation"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE / "modules", tmp_path / "modules")
    shutil.copy(EXAMPLE / "descriptor.yaml", tmp_path / "descriptor.yaml")
    return tmp_path / "descriptor.yaml"


def test_validate_accepts_the_example(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(example)]) == 0
    assert "valid — 4 nodes, 6 modules, 9 connections, 2 periodic" in capsys.readouterr().out


def test_validate_lists_every_problem_with_its_place(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = example.read_text()
    text = text.replace("to: controller.reading}", "to: controller.redaing}", 1)
    text = text.replace("port: 7104", "port: 7101")
    text = text.replace("source: modules/valve-c", "source: modules/valv")
    text = text.replace("every: 300ms}", "every: soon}", 1)
    example.write_text(text)
    assert main(["validate", str(example)]) == 2
    err = capsys.readouterr().err
    line = 1 + text.splitlines().index(
        next(row for row in text.splitlines() if "port: 7101" in row and "field2" in row)
    )
    assert f"{example}:{line}:" in err  # the port clash names the second node's line
    assert "modules/valv" in err
    assert "soon" in err
    assert err.count(str(example)) >= 3


def test_validate_checks_interfaces_against_the_built_modules(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example.write_text(
        example.read_text().replace("to: controller.reading}", "to: controller.redaing}", 1)
    )
    assert main(["validate", str(example)]) == 2
    err = capsys.readouterr().err
    assert "redaing" in err and "reading (input)" in err


def test_missing_descriptor_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTHEX_DESCRIPTOR", raising=False)
    assert main(["status"]) == 2
    assert "no descriptor given" in capsys.readouterr().err


def test_commands_before_deploy_say_what_to_do(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "-f", str(example), "valve", "status"]) == 1
    assert "not deployed and attested (run `authex deploy`)" in capsys.readouterr().err
    assert main(["send", "-f", str(example), "threshold", "40"]) == 1
    assert "not keyed yet" in capsys.readouterr().err
    assert main(["send", "-f", str(example), "nope", "40"]) == 1
    assert "no connection named 'nope'" in capsys.readouterr().err


def test_deploy_to_unreachable_nodes_changes_nothing(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = example.read_text()
    for port, free in zip((7101, 7102, 7103, 7104), free_ports(4), strict=True):
        text = text.replace(f"port: {port}", f"port: {free}")
    example.write_text(text)
    assert main(["deploy", str(example)]) == 1
    err = capsys.readouterr().err
    assert "4 node(s) unreachable, nothing changed" in err
    assert "node field2 (sancus) is not enrolled in the trust file" in err
    # enrolled (as `authex up` would do) but no agent running: the network error is named
    cluster = LocalCluster(load_descriptor(example))
    cluster.enrol()
    assert main(["deploy", str(example)]) == 1
    err = capsys.readouterr().err
    assert "node cloud (127.0.0.1:" in err and "cannot reach agent" in err
    assert not (example.parent / ".authex" / "state.json").exists() or all(
        not m["module_key"]
        for m in json.loads((example.parent / ".authex" / "state.json").read_text())[
            "modules"
        ].values()
    )


def test_node_init_writes_config_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node_dir = tmp_path / "n1"
    assert main(["node", "init", str(node_dir), "--name", "n1", "--port", "7555"]) == 0
    config = json.loads((node_dir / "node.json").read_text())
    assert config == {"name": "n1", "tee": "native", "host": "127.0.0.1", "port": 7555}
    assert (node_dir.stat().st_mode & 0o777) == 0o700
    assert main(["node", "init", str(node_dir), "--name", "n1", "--port", "7555"]) == 1
    assert "already initialised" in capsys.readouterr().err
    assert (
        main(
            ["node", "init", str(tmp_path / "n2"), "--name", "n2", "--port", "7556", "--tee", "tpm"]
        )
        == 1
    )
    assert "unsupported TEE 'tpm'" in capsys.readouterr().err
