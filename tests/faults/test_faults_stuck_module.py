"""One stuck module does not hurt the rest of its node (issue #14 item 6; docs/threat-model.md §4).

Node b hosts three modules of tests/faults/apps/stuck: ``stuck`` never returns from the first
event it gets (it stops reading), ``busy`` counts the numbered events the ``feeder`` on node a
sends it every 10 ms, and ``local`` floods ``stuck`` from node b itself while ``remote`` floods it
from node a (50 MiB each, in events of 256 KiB, over the same data link as ``busy``'s).  Then:

- ``busy`` keeps receiving, in order: the stuck module's back-pressure holds up only what goes to
  it (events from node a for it are refused and offered again later; ``local`` is not read until
  ``stuck`` drains), never the data link from node a or the node as a whole;
- node b's agent holds a bounded amount, whatever was emitted towards ``stuck``;
- ``authex remove stuck`` finishes and the process is gone (its stop has a deadline).

No duration is asserted: each step is a bounded wait for a condition.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from authex.deployer import operations
from authex.deployer.session import Session
from support.harness import App
from support.stuck_app import FLOOD, MIB, busy_stats, flood, handed_to_stuck, rss, start

RSS_BOUND = 64 * MIB  # what node b's agent may grow by while the stuck module is flooded


def remove(app: App, module: str) -> None:
    async def body(session: Session) -> None:
        await asyncio.wait_for(operations.remove(session, module), 60)

    app.with_session(body)


def test_a_stuck_module_holds_up_only_itself(tmp_path: Path) -> None:
    cluster, app = start(tmp_path)
    try:
        cluster.start(lambda _: None)
        agent_b = json.loads(cluster.record.read_text())["b"]
        app.deploy()
        app.wait_for("the busy module to receive", lambda: busy_stats(app)["count"] > 0)
        rss_before = rss(agent_b)
        stuck_pid = next(m["pid"] for m in app.status()["modules"] if m["name"] == "stuck")
        assert stuck_pid

        flood(app)
        # more than its high water (1 MiB) and what its socket holds: the stuck module is busy
        app.wait_for("the stuck module to be flooded", lambda: handed_to_stuck(app) >= 6)
        app.wait_for(
            "node a's flood to be emitted",
            lambda: app.call("remote", "flooded").payload == b"%d" % FLOOD,
        )
        during = busy_stats(app)["count"]
        app.wait_for(
            "the busy module to keep receiving beside the stuck one",
            lambda: busy_stats(app)["count"] >= during + 500,
        )
        assert busy_stats(app)["out_of_order"] == 0
        grown = rss(agent_b) - rss_before
        assert grown < RSS_BOUND, f"node b's agent grew by {grown / MIB:.0f} MiB"
        assert handed_to_stuck(app) < 16  # what node b took for it stays about its high water

        remove(app, "stuck")  # bounded: a stop waits for a drain at most 5 s, then ends it
        assert not Path(f"/proc/{stuck_pid}").exists()
        assert "stuck" not in {m["name"] for m in app.status()["modules"] if m["running"]}
        after = busy_stats(app)["count"]
        app.wait_for("the busy module to go on", lambda: busy_stats(app)["count"] >= after + 100)
    finally:
        cluster.stop()
