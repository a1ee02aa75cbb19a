"""Shared fixtures for the descriptor tests: a workspace with module folders, and helpers that
load a descriptor text and pick out the problems it produces."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from authex.descriptor import Descriptor, DescriptorProblems, Problem, load_descriptor

FIXTURES = Path(__file__).parent / "fixtures"
MODULE_FOLDERS = ("controller", "sensor1", "sensor2", "weather")

Load = Callable[[str], Descriptor]
Problems = Callable[[str], list[Problem]]
Expect = Callable[[str, str, int, str], Problem]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with modules/<name>/ for every name in MODULE_FOLDERS."""
    for name in MODULE_FOLDERS:
        (tmp_path / "modules" / name).mkdir(parents=True)
    return tmp_path


@pytest.fixture
def fixture_copy(workspace: Path) -> Callable[[str], Path]:
    """Copy a file from fixtures/ into the workspace and return its new path."""

    def copy(name: str) -> Path:
        return Path(shutil.copy(FIXTURES / name, workspace / name))

    return copy


def _write(workspace: Path, text: str) -> Path:
    path = workspace / "descriptor.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def load(workspace: Path) -> Load:
    """Write the (dedented) text as descriptor.yaml in the workspace and load it."""
    return lambda text: load_descriptor(_write(workspace, text))


@pytest.fixture
def problems(workspace: Path) -> Problems:
    """Like ``load`` but the text must be invalid; returns every problem reported."""

    def run(text: str) -> list[Problem]:
        path = _write(workspace, text)
        with pytest.raises(DescriptorProblems) as caught:
            load_descriptor(path)
        assert caught.value.problems, "DescriptorProblems without problems"
        return list(caught.value.problems)

    return run


@pytest.fixture
def expect(problems: Problems) -> Expect:
    """Assert the text yields exactly one problem at ``field`` on ``line`` mentioning ``phrase``."""

    def check(text: str, field: str, line: int, phrase: str) -> Problem:
        found = problems(text)
        matching = [p for p in found if p.field == field]
        shown = "\n".join(str(p) for p in found)
        assert len(matching) == 1, f"expected one problem at {field!r}, got:\n{shown}"
        problem = matching[0]
        assert problem.location is not None
        assert problem.location.file.endswith("descriptor.yaml")
        assert problem.location.line == line, shown
        assert phrase in problem.message, shown
        return problem

    return check
