"""Figures for a stuck module beside a busy one (issue #14 item 6), printed as JSON.

Runs the application of tests/faults/apps/stuck on two local agents (a, b): the busy module on
node b counts what node a's feeder sends it every 10 ms; then the stuck module on node b is
flooded with 50 MiB from node a and 50 MiB from node b itself.  Reports the busy module's events
per second before the flood, while it is emitted, and then beside the stuck module; node b's
agent's VmRSS (before, and the highest seen after the flood); what node b handed the stuck
module; and how `remove stuck` ended.

    .venv/bin/python scripts/stuck_module_figures.py [--window 5]

Run it against another tree (the code before a change, say) with PYTHONPATH=THAT/src.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from authex.deployer import operations
from authex.deployer.session import Session
from support.harness import App
from support.stuck_app import FLOOD, MIB, busy_stats, flood, handed_to_stuck, rss, start


def rate(app: App, window: float, agent: int) -> tuple[float, int]:
    """The busy module's events per second over ``window`` seconds, and the agent's highest
    VmRSS meanwhile."""
    first, started, peak = busy_stats(app)["count"], time.monotonic(), rss(agent)
    while time.monotonic() - started < window:
        time.sleep(0.2)
        peak = max(peak, rss(agent))
    count = busy_stats(app)["count"]
    return (count - first) / (time.monotonic() - started), peak


def flooded(app: App) -> int:
    """Events ``remote`` (node a) emitted towards the stuck module so far."""
    return int(app.call("remote", "flooded").payload)


def remove(app: App) -> str:
    async def body(session: Session) -> None:
        await asyncio.wait_for(operations.remove(session, "stuck"), 60)

    started = time.monotonic()
    try:
        app.with_session(body)
    except Exception as exc:  # noqa: BLE001 - the figure is what happened
        return f"failed after {time.monotonic() - started:.1f}s: {exc}"
    return f"finished in {time.monotonic() - started:.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=5.0, help="seconds per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cluster, app = start(Path(folder))
        try:
            cluster.start(lambda _: None)
            agent = json.loads(cluster.record.read_text())["b"]
            app.deploy()
            app.wait_for("the busy module to receive", lambda: busy_stats(app)["count"] > 0)
            before, rss_before = rate(app, args.window, agent)
            first, started = busy_stats(app)["count"], time.monotonic()
            flood(app)
            with contextlib.suppress(AssertionError):
                app.wait_for("node a's flood", lambda: flooded(app) == FLOOD, 60)
                app.wait_for("the stuck module to be busy", lambda: handed_to_stuck(app) >= 6, 60)
            emitting = (busy_stats(app)["count"] - first) / (time.monotonic() - started)
            rss_flood = rss(agent)
            beside, rss_peak = rate(app, args.window, agent)
            handed = handed_to_stuck(app)
            removal = remove(app)
            print(
                json.dumps(
                    {
                        "busy_events_per_s_before": round(before),
                        "busy_events_per_s_while_the_flood_is_emitted": round(emitting),
                        "busy_events_per_s_beside_the_stuck_module": round(beside),
                        "agent_b_rss_mib_before": round(rss_before / MIB, 1),
                        "agent_b_rss_mib_peak_after_the_flood": round(
                            max(rss_flood, rss_peak) / MIB, 1
                        ),
                        "events_handed_to_stuck": handed,
                        "remove_stuck": removal,
                        "flood_mib": {"from_node_a": FLOOD // 4, "from_node_b": FLOOD // 4},
                    },
                    indent=2,
                )
            )
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
