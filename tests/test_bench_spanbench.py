"""benchmarks/spanbench: Prometheus' own engine over Prometheus' own TSDB, with one querier per
query (as Prometheus runs it) and with one per selector (what a block querier that skips blocks
outside a selector's time would read). span_bench.py's figures are only worth something if both
give the same results."""

from __future__ import annotations

import json
import subprocess

from benchmarks import block_layout
from tests.support.tools import require_tool

DAY_MS = block_layout.DAY_MS
HOUR_MS = block_layout.HOUR_MS
END = 1_796_378_400_000 + 7 * HOUR_MS
START = END - 4 * DAY_MS
RANGES = block_layout.for_days(30)  # the benchmark's Prometheus


def spanbench(directory, queries: list[dict]) -> list[dict]:
    spec = {"dir": str(directory), "max_block_ms": RANGES[-1], "repeat": 1, "queries": queries}
    done = subprocess.run([require_tool("spanbench")], input=json.dumps(spec), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_both_queriers_give_the_same_results_over_blocks_and_head(tmp_path):
    blocks, head = block_layout.steady_state(START, END, RANGES)
    series = [{"labels": {"__name__": "netviz_conversation_bytes_total", "src": f"10.0.0.{i}"}, "kind": "counter",
               "rate": 100 * (i + 1)} for i in range(5)]
    spec = {"dir": str(tmp_path), "start_ms": START, "end_ms": END, "interval_ms": 60_000, "seed": 1,
            "blocks": blocks, "head_from_ms": head, "max_block_ms": RANGES[-1], "series": series}
    done = subprocess.run([require_tool("tsdbgen")], input=json.dumps(spec), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    now, day_ago = END - 60_000, (END - DAY_MS) / 1000
    metric = "netviz_conversation_bytes_total"
    # what the dashboards mix: reads at now, at the range's start (in another block), over the range
    instant = f"sum by (src) ({metric}) - sum by (src) ({metric} @ {day_ago}) + 0 * sum by (src) (increase({metric}[1d]))"
    results = spanbench(tmp_path, [
        {"name": "instant", "expr": instant, "time_ms": now},
        {"name": "range", "expr": f"sum(rate({metric}[5m]))", "start_ms": now - DAY_MS, "end_ms": now, "step_ms": 3_600_000},
    ])
    assert [r["name"] for r in results] == ["instant", "range"]
    assert all(r["same"] for r in results), results
    assert all(r["one_querier_s"] > 0 and r["per_selector_s"] > 0 for r in results)
