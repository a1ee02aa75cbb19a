"""PNG plots of the results (matplotlib, Agg backend); skipped when matplotlib is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from bench.config import PAYLOAD_SIZES


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def hop_plot(data: dict[str, Any], path: Path) -> Path | None:
    """One-way hop latency (p50, with p99 as a dashed line) by payload, per suite, and the
    TCP floor: one panel per module language measured (Python, Rust, C)."""
    hop = data.get("hop", {})
    languages = [
        lang for lang in ("python", "rust", "c") if isinstance(hop.get(lang), dict) and hop[lang]
    ]
    if not languages:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(languages), figsize=(7 * len(languages), 4.5), sharey=True, squeeze=False
    )
    floor = data.get("floor", {}).get("floor", {})
    for ax, language in zip(axes[0], languages, strict=True):
        for suite, sizes in hop[language].items():
            xs = [int(s) for s in sizes]
            p50 = [sizes[s]["one_way_us"]["p50"] for s in sizes]
            p99 = [sizes[s]["one_way_us"]["p99"] for s in sizes]
            (line,) = ax.plot(xs, p50, marker="o", label=f"{suite} p50")
            ax.plot(
                xs, p99, linestyle="--", color=line.get_color(), alpha=0.6, label=f"{suite} p99"
            )
        if floor:
            xs = [int(s) for s in floor]
            ax.plot(
                xs,
                [floor[s]["one_way_us"]["p50"] for s in floor],
                marker="s",
                color="black",
                label="TCP floor p50",
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(list(PAYLOAD_SIZES), [f"{s} B" for s in PAYLOAD_SIZES])
        ax.set_xlabel("payload")
        ax.set_title(f"Event hop, {language.capitalize()} modules on two local nodes")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("one-way latency (µs, log)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scale_plot(data: dict[str, Any], path: Path) -> Path | None:
    """Deploy time (after the build) against the number of modules, one line per node count."""
    runs = data.get("scale", {}).get("runs")
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for nodes in sorted({r["nodes"] for r in runs}):
        points = sorted(
            (r["modules"], r["deploy_s"], r["build_s"]) for r in runs if r["nodes"] == nodes
        )
        (line,) = ax.plot(
            [p[0] for p in points], [p[1] for p in points], marker="o", label=f"{nodes} nodes"
        )
        ax.plot(
            [p[0] for p in points],
            [p[2] for p in points],
            linestyle=":",
            marker="x",
            color=line.get_color(),
            alpha=0.6,
            label=f"{nodes} nodes: build (apart)",
        )
    ax.axhline(10.0, color="red", linestyle="--", linewidth=1, label="target: 100 on 10 ≤ 10 s")
    ax.set_xlabel("modules")
    ax.set_ylabel("seconds")
    ax.set_title("Deploy + attest + connect, native nodes")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(data: dict[str, Any], folder: Path) -> list[Path]:
    if not available():
        return []
    folder.mkdir(parents=True, exist_ok=True)
    made = [
        hop_plot(data, folder / "hop_latency.png"),
        scale_plot(data, folder / "deploy_scale.png"),
    ]
    return [p for p in made if p is not None]
