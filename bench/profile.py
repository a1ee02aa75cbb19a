"""``python -m bench.profile {hop|throughput|deploy} [--rust|--c] [--cpu] [--top N]``: where the
time goes.

Runs one scenario of the benchmarks with every process under cProfile: the deployer in this
process, and agents, platform processes and module processes through ``bench/_hook`` (a
``sitecustomize`` put on their PYTHONPATH).  Profiles are merged per kind of process and the
functions with the most own time are printed, with each function's cumulative time.  Profiling
slows everything down: read the shares, not the absolute times.  With ``--rust`` the hop and
throughput scenarios use the Rust ping-pong pair (sdks/rust/examples): only the agents, the
platform processes and the deployer are profiled then (module processes are native code);
``--c`` does the same with the C pair (sdks/c/examples).

``--cpu`` (hop and throughput) profiles nothing: it reads every agent, platform and module
process's CPU time from /proc before and after the timed part and prints each one's share per
round trip or per event, at full speed -- the split between agents and modules.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import signal
import sys
import tempfile
from pathlib import Path

from authex.deployer import operations
from authex.deployer.deploy import deploy
from authex.deployer.session import Session
from bench.apps import LocalApp, new_operator_key, prebuild_c, prebuild_rust
from bench.config import PROBE_SOURCES
from bench.procs import cpu_seconds, platform_pid
from bench.scale import scale_descriptor
from bench.traffic import Traffic, c_modules, traffic_descriptor

HOOK = Path(__file__).resolve().parent / "_hook"
KINDS = ("deployer", "agent", "platform", "module")


async def _process_pids(app: LocalApp, session: Session) -> dict[str, int]:
    """Every agent, platform and module process of ``app``: label -> pid."""
    pids: dict[str, int] = {}
    for node, pid in app.agent_pids().items():
        pids[f"agent {node}"] = pid
        child = platform_pid(pid)
        if child:
            pids[f"platform {node}"] = child
    report = operations.status_report(session, await session.all_status())
    for m in report["modules"]:
        module_pid = m.get("pid")
        if module_pid:
            pids[f"module {m['name']}"] = module_pid
    return pids


def _cpu_table(
    before: dict[str, tuple[float, float] | None],
    after: dict[str, tuple[float, float] | None],
    n: int,
    unit: str,
) -> str:
    rows: list[tuple[str, float, float]] = []
    for label, start in before.items():
        end = after.get(label)
        if start is not None and end is not None:
            rows.append((label, end[0] - start[0], end[1] - start[1]))
    total = sum(user + system for _, user, system in rows) or 1e-9
    per = 1e6 / max(n, 1)
    lines = [f"{'process':<24} {'CPU s':>6} {'µs/' + unit:>16} {'user':>8} {'sys':>8} {'share':>6}"]
    for label, user, system in rows:
        cpu = user + system
        lines.append(
            f"{label:<24} {cpu:6.2f} {cpu * per:16.1f} {user * per:8.1f} {system * per:8.1f} "
            f"{100 * cpu / total:5.0f}%"
        )
    lines.append(f"{'all':<24} {total:6.2f} {total * per:16.1f}")
    return "\n".join(lines) + "\n"


def _traffic_scenario(
    app: LocalApp, scenario: str, seconds: float, language: str, cpu: bool = False
) -> str:
    """Run the scenario; with ``cpu``, the CPU split of its timed part (else "")."""

    async def body() -> str:
        async with app.session() as session:
            await deploy(session)
            traffic = Traffic(session)
            try:
                await traffic.hop(0, 16, 20, 5, 2.0, language)
                pids = await _process_pids(app, session) if cpu else {}
                before = {label: cpu_seconds(pid) for label, pid in pids.items()}
                if scenario == "hop":
                    samples, _ = await traffic.hop(0, 16, 100_000, 50, seconds, language)
                    n, unit = len(samples), "round trip"
                    detail = f"RTT p50 {sorted(samples)[n // 2] / 1000:.0f} µs" if n else ""
                else:
                    [report] = await traffic.blast([0], seconds, 256, language)
                    n, unit = report.received, "event"
                    detail = f"{report.rate:,.0f} events/s"
                after = {label: cpu_seconds(pid) for label, pid in pids.items()}
            finally:
                await traffic.reports.close()
        if not cpu:
            return ""
        head = f"== CPU per {unit}: {scenario}, {language} modules, {n:,} {unit}s, {detail}\n"
        return head + _cpu_table(before, after, n, unit)

    return asyncio.run(body())


def _deploy_scenario(app: LocalApp, out: Path) -> None:
    async def body() -> None:
        async with app.session() as session:
            await deploy(session)

    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(body())
    profiler.disable()
    profiler.dump_stats(str(out / f"deployer-{os.getpid()}.prof"))


def summary(folder: Path, kind: str, top: int) -> str:
    stats: pstats.Stats | None = None
    files = 0
    for path in sorted(folder.glob(f"{kind}-*.prof")):
        try:  # a process killed while writing leaves a truncated file
            one = pstats.Stats(str(path), stream=io.StringIO())
        except (EOFError, ValueError, TypeError, OSError):
            continue
        files += 1
        if stats is None:
            stats = one
        else:
            stats.add(one)
    if stats is None:
        return f"== {kind}: no profile\n"
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    body = [line for line in lines if "function calls" in line or line.lstrip()[:1].isdigit()]
    header = next((line for line in lines if line.strip().startswith("ncalls")), "")
    return f"== {kind} ({files} processes)\n" + "\n".join([body[0], header, *body[1:]]) + "\n"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("scenario", choices=("hop", "throughput", "deploy"))
    parser.add_argument("--seconds", type=float, default=5.0, help="hop/stream duration")
    parser.add_argument("--modules", type=int, default=50, help="deploy: modules")
    parser.add_argument("--nodes", type=int, default=10, help="deploy: nodes")
    parser.add_argument("--top", type=int, default=15, help="functions per kind of process")
    parser.add_argument("--keep", type=Path, help="copy the .prof files into this folder")
    parser.add_argument(
        "--rust", action="store_true", help="hop/throughput: Rust ping and pong modules"
    )
    parser.add_argument("--c", action="store_true", help="hop/throughput: C ping and pong modules")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="hop/throughput: no profiler, CPU time per process from /proc instead",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up agents on `kill`, as on Ctrl-C
    cpu = args.cpu and args.scenario != "deploy"
    with tempfile.TemporaryDirectory(prefix="authex-profile-") as tmp:
        out = Path(tmp) / "profiles"
        out.mkdir()
        if not cpu:
            os.environ["AUTHEX_BENCH_PROFILE_DIR"] = str(out)
            os.environ["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(HOOK), os.environ.get("PYTHONPATH", "")])
            )
        operator = new_operator_key()
        if args.rust and args.scenario != "deploy":  # built before the agents run
            prebuild_rust(list(PROBE_SOURCES["rust"]), operator)
        if args.c and args.scenario != "deploy":
            prebuild_c(c_modules(1), operator)
        if args.scenario == "deploy":
            descriptor = scale_descriptor(args.modules, args.nodes)
        elif args.rust:
            descriptor = traffic_descriptor(0, rust_pairs=1)
        elif args.c:
            descriptor = traffic_descriptor(0, c_pairs=1)
        else:
            descriptor = traffic_descriptor(1)
        split = ""
        with LocalApp(Path(tmp) / "app", descriptor, operator) as app:
            if args.scenario == "deploy":
                _deploy_scenario(app, out)
            else:
                language = "rust" if args.rust else "c" if args.c else "python"
                split = _traffic_scenario(app, args.scenario, args.seconds, language, cpu)
        if cpu:
            sys.stdout.write(split)
            return 0
        for kind in KINDS:
            sys.stdout.write(summary(out, kind, args.top))
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for prof in out.glob("*.prof"):
                (args.keep / prof.name).write_bytes(prof.read_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
