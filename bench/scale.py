"""Deployment scale: deploy + attest + connect wall time for N modules over M local nodes.

For each (N, M) a fresh application: M native nodes, N/2 ping-pong pairs from
examples/ping-pong, each pair's ``hop`` and ``hop-back`` connections crossing two neighbouring
nodes (so N connections, 2N routes).  The deploy's progress lines split it into the build
(reported apart: modules are built before anything is sent), load + attest, and key + route;
"deploy" is everything after the build.  Agents are started before the clock runs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from authex.deployer.deploy import deploy
from bench.apps import LocalApp, native_nodes, phase_times
from bench.config import PING_PONG, SCALE_TARGET_S, Settings
from bench.report import Results, Row
from bench.stats import ratio


def scale_descriptor(modules: int, nodes: int) -> dict[str, Any]:
    if modules % 2 or modules < 2 or nodes < 2:
        raise ValueError("need an even number of modules (pairs) and at least two nodes")
    node_names = [f"n{j}" for j in range(nodes)]
    specs: list[dict[str, Any]] = []
    connections: list[dict[str, Any]] = []
    for i in range(modules // 2):
        ping, pong = f"ping{i}", f"pong{i}"
        specs.append(
            {
                "name": ping,
                "node": node_names[i % nodes],
                "language": "python",
                "source": str(PING_PONG / "ping"),
            }
        )
        specs.append(
            {
                "name": pong,
                "node": node_names[(i + 1) % nodes],
                "language": "python",
                "source": str(PING_PONG / "pong"),
            }
        )
        connections.append({"name": f"hop{i}", "from": f"{ping}.ping", "to": f"{pong}.ping"})
        connections.append({"name": f"hop-back{i}", "from": f"{pong}.pong", "to": f"{ping}.pong"})
    return {
        "name": f"bench-scale-{modules}-{nodes}",
        "nodes": native_nodes(node_names),
        "modules": specs,
        "connections": connections,
    }


async def _deploy(app: LocalApp) -> dict[str, Any]:
    async with app.session() as session:
        mark = app.progress.mark()
        start = time.perf_counter()
        report = await deploy(session)
        end = time.perf_counter()
    times = phase_times(app.progress.since(mark), start, end)
    return {
        **{k: round(v, 3) for k, v in times.items()},
        "attested": len(report.attested),
        "keyed": len(report.keyed),
    }


def measure(modules: int, nodes: int, folder: Path) -> dict[str, Any]:
    with LocalApp(folder, scale_descriptor(modules, nodes)) as app:
        result = asyncio.run(_deploy(app))
        result["agents_start_s"] = round(app.start_s, 3)
    result.update({"modules": modules, "nodes": nodes, "connections": modules})
    return result


def run(settings: Settings, results: Results, folder: Path) -> None:
    runs: list[dict[str, Any]] = []
    results.data["scale"] = {"runs": runs}
    for modules, nodes in settings.scale:
        runs.append(measure(modules, nodes, folder / f"scale-{modules}-{nodes}"))
    smallest: dict[int, dict[str, Any]] = {}
    for r in sorted(runs, key=lambda r: (r["nodes"], r["modules"])):
        base = smallest.setdefault(r["nodes"], r)
        is_target = (r["modules"], r["nodes"]) == (100, 10)
        growth = ratio(r["deploy_s"], base["deploy_s"]) if base is not r else None
        results.add(
            Row(
                "scale",
                f"deploy {r['modules']} modules on {r['nodes']} nodes",
                r["deploy_s"],
                "s",
                baseline=f"{base['modules']} modules {base['deploy_s']:.2f} s"
                if base is not r
                else "",
                ratio=growth,
                target=f"≤ {SCALE_TARGET_S:g} s" if is_target else "",
                met=r["deploy_s"] <= SCALE_TARGET_S if is_target else None,
                note=f"load+attest {r['load_attest_s']:.2f} s, key+route "
                f"{r['key_route_s']:.2f} s; build apart {r['build_s']:.2f} s",
            )
        )
