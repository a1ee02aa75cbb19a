"""``python -m bench.profile {hop|throughput|deploy} [--top N]``: where the time goes.

Runs one scenario of the benchmarks with every process under cProfile: the deployer in this
process, and agents, platform processes and module processes through ``bench/_hook`` (a
``sitecustomize`` put on their PYTHONPATH).  Profiles are merged per kind of process and the
functions with the most own time are printed, with each function's cumulative time.  Profiling
slows everything down: read the shares, not the absolute times.
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

from authex.deployer.deploy import deploy
from bench.apps import LocalApp
from bench.scale import scale_descriptor
from bench.traffic import Traffic, traffic_descriptor

HOOK = Path(__file__).resolve().parent / "_hook"
KINDS = ("deployer", "agent", "platform", "module")


def _traffic_scenario(app: LocalApp, scenario: str, seconds: float) -> None:
    async def body() -> None:
        async with app.session() as session:
            await deploy(session)
            traffic = Traffic(session)
            try:
                await traffic.hop(0, 16, 20, 5, 2.0)
                if scenario == "hop":
                    await traffic.hop(0, 16, 100_000, 50, seconds)
                else:
                    await traffic.blast([0], seconds, 256)
            finally:
                await traffic.reports.close()

    asyncio.run(body())


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
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up agents on `kill`, as on Ctrl-C
    with tempfile.TemporaryDirectory(prefix="authex-profile-") as tmp:
        out = Path(tmp) / "profiles"
        out.mkdir()
        os.environ["AUTHEX_BENCH_PROFILE_DIR"] = str(out)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(HOOK), os.environ.get("PYTHONPATH", "")])
        )
        if args.scenario == "deploy":
            descriptor = scale_descriptor(args.modules, args.nodes)
        else:
            descriptor = traffic_descriptor(1)
        with LocalApp(Path(tmp) / "app", descriptor) as app:
            if args.scenario == "deploy":
                _deploy_scenario(app, out)
            else:
                _traffic_scenario(app, args.scenario, args.seconds)
        for kind in KINDS:
            sys.stdout.write(summary(out, kind, args.top))
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for prof in out.glob("*.prof"):
                (args.keep / prof.name).write_bytes(prof.read_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
