"""Rows of figures, the table printed on stdout, and ``bench/results/latest.json``.

Every row is one figure next to what it is compared with: a baseline measured in the same run
(the TCP floor, the smallest deployment), a target from the benchmarks issue, or both, and the
ratio of the figure to the baseline.  ``met`` says whether the target holds (None: no target, or
nothing measured).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = 1


@dataclass(frozen=True)
class Row:
    section: str  # the benchmark, e.g. "hop"
    figure: str  # what was measured, e.g. "python aes-gcm-128 256 B one-way p50"
    value: float | None  # None: not measured (see note)
    unit: str
    baseline: str = ""  # e.g. "floor 21.4 µs"
    ratio: float | None = None  # value / baseline value
    target: str = ""  # e.g. "≤ 8x floor"
    met: bool | None = None
    note: str = ""

    def verdict(self) -> str:
        if self.met is None:
            return ""
        return "ok" if self.met else "MISS"


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # raw figures per benchmark
    rows: list[Row] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # benchmark -> what went wrong
    plots: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "meta": self.meta,
            "rows": [asdict(r) | {"verdict": r.verdict()} for r in self.rows],
            "benchmarks": self.data,
            "errors": self.errors,
            "plots": self.plots,
        }


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("events/s", "B"):
        return f"{value:,.0f} {unit}"
    magnitude = abs(value)
    if magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def format_ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


HEADERS = ("benchmark", "figure", "value", "baseline", "ratio", "target", "", "details")


def format_table(rows: list[Row]) -> str:
    """A plain-text table, one line per row (the details column is not padded)."""
    cells = [
        (
            r.section,
            r.figure,
            format_value(r.value, r.unit),
            r.baseline,
            format_ratio(r.ratio),
            r.target,
            r.verdict(),
            r.note,
        )
        for r in rows
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(HEADERS)]
    right = {2, 4}

    def line(values: tuple[str, ...]) -> str:
        parts = [
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    out = [line(HEADERS), line((*("-" * w for w in widths[:-1]), "-------"))]
    out += [line(values) for values in cells]
    return "\n".join(out)


def write_json(results: Results, path: Path) -> Path:
    """Write atomically (a reader never sees half a file); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results.to_json(), indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path
