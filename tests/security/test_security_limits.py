"""Limits on module and platform processes (issue #14 items 6 and 9; docs/threat-model.md §4).

- A module's descriptor field ``memory`` (docs/descriptor.md) limits what its process may
  allocate: a module that allocates beyond it dies with ``MemoryError``, which its module.log
  and the status report like any crash; a malformed value is refused, naming the field.
- Module and platform processes write no core dump (they hold the module's keys and the node's
  root secrets): ``RLIMIT_CORE`` is 0, soft and hard, and a module process is not dumpable.
- A module process runs in its own folder of the node directory, not where its agent started.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from authex.deployer.cluster import LocalCluster
from authex.descriptor import DescriptorProblems, load_descriptor, parse_descriptor
from authex.errors import AuthexError
from support.harness import App, deployed_cluster
from support.net import free_ports

APP = Path(__file__).resolve().parents[1] / "faults" / "apps" / "limits"
MIB = 1 << 20


def descriptor(port: int, hog_memory: str | None) -> str:
    """One native node with ``probe`` and, given a memory limit, ``hog``."""
    text = (
        f"name: limits\nnodes:\n  - {{name: n, tee: native, host: 127.0.0.1, port: {port}}}\n"
        "modules:\n  - {name: probe, node: n, language: python, source: modules/probe}\n"
    )
    if hog_memory is not None:
        text += "  - {name: hog, node: n, language: python, source: modules/hog, "
        text += f"memory: {hog_memory}}}\n"
    return text


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(APP / "modules", tmp_path / "modules")
    return tmp_path


@contextmanager
def running(folder: Path, text: str) -> Iterator[tuple[LocalCluster, App]]:
    (folder / "descriptor.yaml").write_text(text)
    with deployed_cluster(load_descriptor(folder / "descriptor.yaml")) as running:
        yield running


def module_row(app: App, name: str) -> dict[str, object]:
    return dict(next(m for m in app.status()["modules"] if m["name"] == name))


def core_limit(pid: int) -> list[str]:
    """The soft and hard "Max core file size" of a process, as /proc/PID/limits shows them."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            return line.split()[4:6]
    raise AssertionError(f"no core limit for pid {pid}")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_module_beyond_its_memory_limit_dies_with_memory_error(folder: Path) -> None:
    with running(folder, descriptor(free_ports(1)[0], "64MiB")) as (_, app):
        assert app.call("hog", "hog", b"16").payload == b"16"  # within its 64 MiB
        with pytest.raises(AuthexError):
            app.call("hog", "hog", b"128")  # beyond: the process ends
        app.wait_for("the hog to be reported down", lambda: not module_row(app, "hog")["running"])
        assert module_row(app, "probe")["running"]  # its neighbour goes on
        logs = list(folder.rglob("modules/*/hog/module.log"))  # modules/DEPLOYMENT/NAME
        assert len(logs) == 1
        text = logs[0].read_text()
        assert "MemoryError" in text
        assert "out of memory (MemoryError) with a limit of 64 MiB (RLIMIT_DATA)" in text


def test_module_and_platform_processes_dump_no_core(folder: Path) -> None:
    with running(folder, descriptor(free_ports(1)[0], None)) as (cluster, app):
        seen = json.loads(app.call("probe", "limits").payload)
        assert seen["core"] == [0, 0]
        assert seen["dumpable"] == 0
        assert seen["data"] == [256 * MIB, 256 * MIB]  # the default memory limit
        node_dir = next(folder.rglob("nodes/n"))
        assert Path(seen["cwd"]) == (node_dir / "modules" / app.descriptor.name / "probe").resolve()
        assert core_limit(seen["pid"]) == ["0", "0"]
        agent = json.loads(cluster.record.read_text())["n"]
        platforms = [p for p in children(agent) if b"platform" in cmdline(p)]
        assert len(platforms) == 1
        assert core_limit(platforms[0]) == ["0", "0"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "invalid size 'lots': expected a whole number followed by a unit KiB, MiB or GiB"),
        ("64", "expected a size such as 64MiB, 512MiB or 2GiB, got 64"),
        ("1.5GiB", "invalid size '1.5GiB'"),
        ("8MiB", "size '8MiB' is below the minimum of 16MiB"),
        ("2048GiB", "size '2048GiB' is larger than the maximum of 1024GiB"),
    ],
)
def test_a_malformed_memory_is_refused_naming_the_field(
    tmp_path: Path, value: str, message: str
) -> None:
    (tmp_path / "m").mkdir()
    text = (
        "name: x\nnodes:\n  - {name: n, tee: native, host: 127.0.0.1, port: 7001}\n"
        f"modules:\n  - {{name: m, node: n, language: python, source: m, memory: {value}}}\n"
    )
    with pytest.raises(DescriptorProblems) as caught:
        parse_descriptor(text, tmp_path / "descriptor.yaml")
    [problem] = caught.value.problems
    assert problem.field == "modules[0].memory"
    assert message in problem.message


def test_memory_is_read_in_bytes_and_refused_on_sancus(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    nodes = (
        "nodes:\n  - {name: n, tee: sgx, host: 127.0.0.1, port: 7001}\n"
        "  - {name: s, tee: sancus, host: 127.0.0.1, port: 7002}\n"
    )
    good = parse_descriptor(
        f"name: x\n{nodes}modules:\n  - {{name: m, node: n, language: python, source: m, "
        "memory: 512MiB}\n  - {name: d, node: n, language: python, source: m}\n",
        tmp_path / "descriptor.yaml",
    )
    assert good.module("m").memory == 512 * MIB
    assert good.module("d").memory == 256 * MIB  # the default
    with pytest.raises(DescriptorProblems) as caught:
        parse_descriptor(
            f"name: x\n{nodes}modules:\n  - {{name: m, node: s, language: c, source: m, "
            "memory: 64MiB}\n",
            tmp_path / "descriptor.yaml",
        )
    [problem] = caught.value.problems
    assert problem.field == "modules[0].memory"
    assert problem.message.startswith("memory does not apply to modules on sancus nodes (node s)")
