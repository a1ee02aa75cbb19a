"""The layering of authex's top-level units, read from the source with ``ast``.

A unit is a top-level subpackage (``authex.tee``) or module (``authex.errors``,
``authex.kinds``) of ``src/authex``; the package root (``authex/__init__.py``) is the unit
``authex``.  Every import counts — at module level, inside functions and under
``TYPE_CHECKING`` alike, ``import x`` and ``from x import y``, relative imports resolved — so a
lazy import cannot hide a cycle.  Dotted strings (the plugin paths of ``kinds.py``) are not
imports.

Run this file directly to print the graph's edges: ``python tests/unit/test_import_graph.py``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "authex"
ROOT = "authex"
# Base layers: they may import only each other, errors and the package root.
BASE = frozenset({"wire", "crypto", "attestation"})
BASE_MAY_IMPORT = BASE | {"errors", ROOT}


@dataclass(frozen=True)
class Edge:
    source: str  # importing unit
    target: str  # imported unit
    file: Path
    line: int

    @property
    def place(self) -> str:
        return f"{self.file.relative_to(SRC.parent)}:{self.line}"


def module_of(path: Path) -> str:
    """The dotted module name of a source file (a package's ``__init__.py`` is the package)."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def units() -> frozenset[str]:
    """The top-level subpackages and modules of authex."""
    return frozenset(
        p.stem
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    )


def unit_of(module: str) -> str | None:
    """The top-level unit of an authex module (or of a name in one), None outside authex; a
    name defined in the package root (``authex.PROTOCOL_VERSION``) is the root's."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    return parts[1] if len(parts) > 1 and parts[1] in units() else ROOT


def imported(path: Path) -> list[tuple[str, int]]:
    """Every (absolute module name, line) ``path`` imports; ``from P import n`` yields
    ``P.n`` (a submodule, or a name in P: either way it lies in P's unit unless P is the
    package root, where ``n`` is the unit)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                if node.level > 1:
                    anchor = anchor[: -(node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def edges() -> list[Edge]:
    """Unit-to-unit imports (self-imports left out), one per import statement and name."""
    result = []
    for path in sources():
        source = unit_of(module_of(path))
        assert source is not None
        for name, line in imported(path):
            target = unit_of(name)
            if target is not None and target != source:
                result.append(Edge(source, target, path, line))
    return result


def graph(found: list[Edge]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = defaultdict(set)
    for edge in found:
        result[edge.source].add(edge.target)
    return dict(result)


def edge_list(found: list[Edge]) -> str:
    return "\n".join(
        f"  {source} -> {', '.join(sorted(targets))}"
        for source, targets in sorted(graph(found).items())
    )


def cycles(adjacency: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each unit that lies on a cycle, as a path [a, b, ..., a];
    the same cycle found from two of its units is reported once."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in sorted(adjacency):
        parents: dict[str, str] = {}
        frontier = [start]
        path: list[str] | None = None
        while frontier and path is None:
            following = []
            for unit in frontier:
                for target in sorted(adjacency.get(unit, ())):
                    if target == start:
                        path = [start]
                        step = unit
                        while step != start:
                            path.insert(1, step)
                            step = parents[step]
                        path.append(start)
                        break
                    if target not in parents:
                        parents[target] = unit
                        following.append(target)
                if path is not None:
                    break
            frontier = following
        if path is not None and frozenset(path) not in seen:
            seen.add(frozenset(path))
            found.append(path)
    return found


def test_the_graph_is_read_from_every_source_file() -> None:
    found = edges()
    assert len(sources()) > 50
    units = {e.source for e in found}
    assert {"tee", "deployer", "agent", "descriptor", "kinds", "cli"} <= units


def test_relative_and_function_level_imports_are_resolved(tmp_path: Path) -> None:
    assert unit_of("authex.tee.base") == "tee"
    assert unit_of("authex.errors.AuthexError") == "errors"
    assert unit_of("authex") == ROOT
    assert unit_of("authex.PROTOCOL_VERSION") == ROOT
    assert unit_of("cryptography.x509") is None
    lines = imported(PACKAGE / "tee" / "base.py")
    assert any(name.startswith("authex.errors.") for name, _ in lines)
    loops = cycles({"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "d": {"a"}})
    assert loops == [["a", "b", "a"], ["c", "a", "b", "c"]]


def test_no_import_cycle_between_units() -> None:
    found = edges()
    loops = cycles(graph(found))
    if loops:
        text = "\n".join("  " + " -> ".join(loop) for loop in loops)
        pytest.fail(f"import cycles between units:\n{text}\nedges:\n{edge_list(found)}")


def test_base_layers_import_only_each_other_and_errors() -> None:
    found = edges()
    bad = [e for e in found if e.source in BASE and e.target not in BASE_MAY_IMPORT]
    if bad:
        text = "\n".join(f"  {e.place}: {e.source} imports {e.target}" for e in bad)
        allowed = ", ".join(sorted(BASE_MAY_IMPORT))
        pytest.fail(
            f"{', '.join(sorted(BASE))} may import only {allowed}:\n{text}\n"
            f"edges:\n{edge_list(found)}"
        )


if __name__ == "__main__":
    print(edge_list(edges()))
    for loop in cycles(graph(edges())):
        print("cycle: " + " -> ".join(loop))
