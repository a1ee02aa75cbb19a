"""Smoke test of ``python -m bench``: the pure parts, and one tiny end-to-end run.

Structure only: no figure is compared with any threshold (performance is measured by
``make bench``, never asserted by tests).
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # `bench` is a top-level package of the repository
    sys.path.insert(0, str(REPO))

from authex.descriptor import load_descriptor  # noqa: E402
from bench.__main__ import main, run_benchmarks  # noqa: E402
from bench.config import PAYLOAD_SIZES, PING_PONG, QUICK, SUITES  # noqa: E402
from bench.report import Results, Row, format_table, format_value, write_json  # noqa: E402
from bench.scale import scale_descriptor  # noqa: E402
from bench.stats import percentile, ratio, summarize  # noqa: E402
from bench.traffic import (  # noqa: E402
    HOP_ARG,
    STREAM_REPORT,
    decode_samples,
    traffic_descriptor,
)

HEAD = struct.Struct("<III")  # the probe's message header: run, seq, window
END = 0xFFFFFFFF
END_INFO = struct.Struct("<QQQ")

TINY = replace(
    QUICK,
    floor_count=20,
    floor_warmup=2,
    hop_count=3,
    hop_warmup=1,
    hop_budget_s=0.2,
    request_count=3,
    request_warmup=1,
    request_budget_s=0.2,
)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 25) == 2.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_summary_scales_and_serialises() -> None:
    summary = summarize([float(v) for v in range(1, 101)])
    assert (summary.n, summary.min, summary.max, summary.mean) == (100, 1.0, 100.0, 50.5)
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p99 == pytest.approx(99.01)
    half = summary.scaled(0.5)
    assert half.p50 == pytest.approx(25.25) and half.n == 100
    assert set(summary.to_dict()) == {"n", "p50", "p99", "mean", "min", "max"}
    assert ratio(10.0, 4.0) == 2.5
    assert ratio(None, 4.0) is None and ratio(1.0, 0.0) is None


def test_table_puts_each_figure_next_to_its_baseline_and_target() -> None:
    rows = [
        Row("floor", "TCP echo 16 B one-way p50", 21.25, "µs"),
        Row(
            "hop",
            "python aes-gcm-128 16 B one-way p50",
            170.0,
            "µs",
            baseline="floor 21.2 µs",
            ratio=8.0,
            target="≤ 8x floor",
            met=True,
        ),
        Row("throughput", "python one connection", 3500.0, "events/s", met=False, note="x"),
        Row("hop", "rust", None, "µs", note="n/a — SDK not yet available"),
    ]
    table = format_table(rows).splitlines()
    assert table[0].split()[:3] == ["benchmark", "figure", "value"]
    assert len(table) == 2 + len(rows)
    hop = table[3]
    assert "170 µs" in hop and "floor 21.2 µs" in hop and "8.0x" in hop and hop.endswith("ok")
    assert "MISS" in table[4] and "3,500 events/s" in table[4]
    assert "—" in table[5] and "SDK not yet available" in table[5]
    assert format_value(1234.5, "ms") == "1,234 ms" and format_value(1.234, "ms") == "1.23 ms"


def test_json_holds_rows_figures_and_errors(tmp_path: Path) -> None:
    results = Results(meta={"quick": True})
    results.add(Row("scale", "deploy 10 modules on 5 nodes", 1.5, "s", target="≤ 10 s", met=True))
    results.data["scale"] = {"runs": [{"modules": 10, "nodes": 5, "deploy_s": 1.5}]}
    results.errors["memory"] = "boom"
    path = write_json(results, tmp_path / "results" / "latest.json")
    loaded = json.loads(path.read_text())
    assert loaded["schema"] == 1 and loaded["meta"] == {"quick": True}
    assert loaded["rows"][0]["verdict"] == "ok" and loaded["rows"][0]["value"] == 1.5
    assert loaded["benchmarks"]["scale"]["runs"][0]["modules"] == 10
    assert loaded["errors"] == {"memory": "boom"}
    assert not list(path.parent.glob("*.tmp"))


def test_generated_descriptors_are_valid(tmp_path: Path) -> None:
    for name, generated in (
        ("traffic", traffic_descriptor(4)),
        ("scale", scale_descriptor(10, 5)),
    ):
        path = tmp_path / name / "descriptor.yaml"
        path.parent.mkdir()
        path.write_text(json.dumps(generated))
        descriptor = load_descriptor(path)
        assert len(descriptor.modules) == (8 if name == "traffic" else 10)
    suites = {c["name"]: c.get("suite") for c in traffic_descriptor(4)["connections"]}
    assert [suites[f"hop{i}"] for i in range(3)] == list(SUITES)
    assert suites["stream3"] == SUITES[0]
    with pytest.raises(ValueError):
        scale_descriptor(9, 5)


def test_unknown_benchmark_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--only", "nonsense"])
    with pytest.raises(ValueError):
        run_benchmarks(TINY, {"nonsense"})


@pytest.mark.timeout(60)
def test_tiny_hop_run_end_to_end(tmp_path: Path) -> None:
    """Two real agents, the ping-pong modules, every suite and payload: figures exist."""
    output = tmp_path / "latest.json"
    results = run_benchmarks(TINY, {"hop"}, output, make_plots=False)
    assert results.errors == {}
    loaded = json.loads(output.read_text())
    assert loaded["meta"]["selected"] == ["floor", "hop"]
    floor = loaded["benchmarks"]["floor"]["floor"]
    assert sorted(int(s) for s in floor) == sorted(PAYLOAD_SIZES)
    hop = loaded["benchmarks"]["hop"]
    assert hop["rust"].startswith("n/a") and hop["c"].startswith("n/a")
    for suite in SUITES:
        for size in PAYLOAD_SIZES:
            figure = hop["python"][suite][str(size)]
            assert figure["one_way_us"]["n"] >= 1 and figure["errors"] == 0
            assert figure["one_way_us"]["p50"] > 0 and figure["ratio_p50"] > 0
    sections = [row["section"] for row in loaded["rows"]]
    assert sections.count("floor") == len(PAYLOAD_SIZES)
    assert sections.count("hop") == len(SUITES) * len(PAYLOAD_SIZES) + 2


def test_pong_module_counts_gaps_and_grants_credit() -> None:
    from authex.sdk.testing import LocalHarness

    h = LocalHarness(PING_PONG / "pong", name="pong")
    for seq in (0, 1, 3):  # 2 is lost
        h.deliver("stream", HEAD.pack(7, seq, 2) + bytes(4))
    credits = [data for output, data in h.take_emitted() if output == "credit"]
    assert [HEAD.unpack_from(c)[:2] for c in credits] == [(7, 2)]
    h.deliver("stream", HEAD.pack(7, END, 2) + END_INFO.pack(4, 100, 200))
    [(output, report)] = h.take_emitted()
    run, received, gaps, out_of_order, sent, start, stop, _, _ = STREAM_REPORT.unpack(report)
    assert output == "report"
    assert (run, received, gaps, out_of_order, sent, start, stop) == (7, 3, 1, 0, 4, 100, 200)
    assert h.handle_request("ask", b"echo") == b"echo"
    h.deliver("ping", b"x" * 16)
    assert h.take_emitted() == [("pong", b"x" * 16)]


def test_ping_module_times_a_chain_and_reports_it() -> None:
    from authex.sdk.testing import LocalHarness

    h = LocalHarness(PING_PONG / "ping", name="ping")
    assert h.call("hop", HOP_ARG.pack(5, 3, 1, 32, 10_000)) == b"started"
    for _ in range(4):  # one warm-up round trip, then three timed ones
        [(output, ping)] = h.take_emitted()
        assert output == "ping" and len(ping) == 32
        h.deliver("pong", ping)
    [(output, report)] = h.take_emitted()
    run, samples, errors = decode_samples(report)
    assert output == "report" and (run, len(samples), errors) == (5, 3, 0)
    assert all(s > 0 for s in samples)
    h.deliver("pong", HEAD.pack(5, 9, 0) + bytes(20))  # stale: counted, not answered
    assert h.take_emitted() == []
