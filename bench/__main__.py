"""``python -m bench [--quick] [--only NAME ...] [--no-rust] [--no-c]``: run the benchmarks.

Prints one table (each figure next to its baseline and target) and writes
``bench/results/latest.json`` and PNG plots beside it.  Everything runs on loopback, in a
temporary folder, with agents on free ports that are stopped before the command returns.
Modules are measured in Python, in Rust when cargo is installed (built once per run) and in C
when a C compiler is (each C module compiled once per run, in parallel, before anything is
timed).  ``make bench`` runs this.
Exit status: 0 when every selected benchmark produced its figures (missed targets included),
1 when one of them failed (see "errors" in the table and the JSON).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import authex
from authex.crypto import spongent_accel
from bench import attest, floor, plots, scale, traffic
from bench.apps import new_operator_key, prebuild_c, prebuild_rust
from bench.config import (
    BENCHMARKS,
    C_BUILD_FAILED,
    C_NOT_SELECTED,
    DEFAULT,
    NO_CARGO,
    NO_CC,
    PROBE_SOURCES,
    QUICK,
    RESULTS,
    RUST_BUILD_FAILED,
    RUST_NOT_SELECTED,
    Settings,
)
from bench.report import Results, format_table, write_json

TRAFFIC = {"hop", "request", "throughput"}
WITH_RUST = TRAFFIC | {"memory"}  # the benchmarks with Rust module rows
WITH_C = TRAFFIC | {"memory"}  # ... and with C module rows


def _rust_skip(rust: bool) -> str | None:
    """Why Rust modules are not measured, or None when they are."""
    if not rust:
        return RUST_NOT_SELECTED
    if shutil.which("cargo") is None and not (Path.home() / ".cargo" / "bin" / "cargo").exists():
        return NO_CARGO  # where the deployer looks for cargo too
    return None


def _c_skip(c: bool) -> str | None:
    """Why C modules are not measured, or None when they are."""
    if not c:
        return C_NOT_SELECTED
    if not (os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")):
        return NO_CC  # where the deployer looks for a compiler too
    return None


def _log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def _step(name: str, results: Results, body: Callable[[], None]) -> None:
    _log(f"{name} ...")
    begin = time.perf_counter()
    try:
        body()
    except Exception as exc:  # noqa: BLE001 (one benchmark failing must not stop the others:
        # its error is in the results and its traceback on stderr)
        results.errors[name] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    elapsed = time.perf_counter() - begin
    results.meta.setdefault("step_s", {})[name] = round(elapsed, 2)
    _log(f"{name} done in {elapsed:.1f} s")


def run_benchmarks(
    settings: Settings,
    selected: set[str],
    output: Path | None = None,
    make_plots: bool = True,
    rust: bool = False,
    c: bool = False,
) -> Results:
    """Run ``selected`` benchmarks; writes the JSON (and plots beside it) when ``output``.

    ``rust``: also measure Rust modules (sdks/rust/examples/ping and pong, built with cargo once
    for the run before anything is timed).  The command line turns it on unless ``--no-rust``;
    callers of this function ask for it, as the build takes a while after each new operator key.
    ``c``: also measure C modules (sdks/c/examples/ping and pong; every C module the run deploys
    is compiled once, in parallel, before anything is timed: about a second each).  The command
    line turns it on unless ``--no-c``.
    """
    unknown = selected - set(BENCHMARKS)
    if unknown:
        raise ValueError(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    if "hop" in selected:
        selected = selected | {"floor"}  # the hop is reported as a ratio to the floor
    began = time.perf_counter()
    results = Results(
        meta={
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "quick": settings.quick,
            "selected": [b for b in BENCHMARKS if b in selected],
            "settings": {k: v for k, v in vars(settings).items()},
            "authex": authex.__version__ if hasattr(authex, "__version__") else "",
            "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "spongent_accelerated": spongent_accel.ACCELERATED,
            "load_average_start": [round(v, 2) for v in os.getloadavg()],
        }
    )
    operator = new_operator_key()  # one per run: Rust and C binaries have it compiled in
    rust_skip = _rust_skip(rust)
    if rust_skip is None and selected & WITH_RUST:
        ping, pong = PROBE_SOURCES["rust"]
        crates = [pong, ping] if selected & TRAFFIC else [pong]

        def build() -> None:
            _log(f"building {', '.join(c.name for c in crates)} with cargo (once for this run)")
            results.meta["rust_build_s"] = prebuild_rust(crates, operator)

        _step("rust build", results, build)
        if "rust build" in results.errors:
            rust_skip = RUST_BUILD_FAILED
    results.meta["rust"] = rust_skip is None and bool(selected & WITH_RUST)
    c_skip = _c_skip(c)
    if c_skip is None and selected & WITH_C:
        modules = (traffic.c_modules() if selected & TRAFFIC else []) + (
            list(attest.C_MEMORY_MODULES) if "memory" in selected else []
        )

        def build_c() -> None:
            _log(f"compiling {len(modules)} C modules (once for this run)")
            results.meta["c_build_s"] = prebuild_c(modules, operator)

        _step("c build", results, build_c)
        if "c build" in results.errors:
            c_skip = C_BUILD_FAILED
    results.meta["c"] = c_skip is None and bool(selected & WITH_C)
    with tempfile.TemporaryDirectory(prefix="authex-bench-") as tmp:
        folder = Path(tmp)
        floor_us: dict[int, float] = {}
        if "floor" in selected:
            _step("floor", results, lambda: floor_us.update(floor.run(settings, results)))
        if selected & TRAFFIC:
            _step(
                "traffic (" + ", ".join(b for b in BENCHMARKS if b in selected & TRAFFIC) + ")",
                results,
                lambda: traffic.run(
                    selected,
                    settings,
                    floor_us,
                    results,
                    folder / "traffic",
                    operator,
                    rust_skip,
                    c_skip,
                ),
            )
        if selected & {"attest", "memory"}:
            _step(
                "attestation and memory",
                results,
                lambda: attest.run(
                    selected, settings, results, folder / "attest", operator, rust_skip, c_skip
                ),
            )
        if "scale" in selected:
            _step("scale", results, lambda: scale.run(settings, results, folder))
    order = {name: i for i, name in enumerate(BENCHMARKS)}
    results.rows.sort(key=lambda row: order.get(row.section, len(order)))  # stable
    results.meta["duration_s"] = round(time.perf_counter() - began, 1)
    results.meta["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    if output is not None:
        if make_plots:
            try:
                made = plots.write_plots(results.data, output.parent)
                results.plots = [str(p) for p in made]
            except Exception as exc:  # noqa: BLE001 (matplotlib fails in many ways; a plot must
                # never cost the figures: the error is in the results)
                results.errors["plots"] = f"{type(exc).__name__}: {exc}"
        write_json(results, output)
    return results


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer samples and shorter runs (about a minute)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the JSON (plots go beside it); default bench/results/latest.json",
    )
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    parser.add_argument(
        "--no-rust",
        action="store_true",
        help="skip the Rust module rows (and their cargo build)",
    )
    parser.add_argument(
        "--no-c",
        action="store_true",
        help="skip the C module rows (and their compilation)",
    )
    parser.add_argument(
        "--seconds", type=float, help="override the duration of each throughput stream"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up agents on `kill`, as on Ctrl-C
    settings = QUICK if args.quick else DEFAULT
    if args.seconds is not None:
        settings = replace(settings, throughput_s=args.seconds)
    selected = set(args.only or BENCHMARKS)
    results = run_benchmarks(
        settings,
        selected,
        args.output,
        make_plots=not args.no_plots,
        rust=not args.no_rust,
        c=not args.no_c,
    )
    print(format_table(results.rows))
    for name, error in results.errors.items():
        print(f"error in {name}: {error}")
    meta = results.meta
    print(
        f"\n{len(results.rows)} figures in {meta['duration_s']:.0f} s "
        f"(load average {meta['load_average_start'][0]:.2f} -> {meta['load_average_end'][0]:.2f}); "
        f"written to {args.output}" + (f" and {len(results.plots)} plots" if results.plots else "")
    )
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
