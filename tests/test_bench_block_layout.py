"""The dashboard benchmark's TSDB holds its samples where a running Prometheus would: its blocks
and head (benchmarks/block_layout.py, written by benchmarks/tsdbgen). A query pays for every block
it spans, so a layout of full-length blocks up to now (what the benchmark wrote before) measured a
24-hour range reading one block where Prometheus reads four to seven."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from benchmarks import block_layout
from benchmarks.block_layout import DAY_MS, HOUR_MS
from tests.support.prometheus import PrometheusServer
from tests.support.tools import require_tool

# The benchmark's Prometheus: a retention of 31 days, so blocks of 2, 6, 18 and 54 hours.
LONGEST = block_layout.max_block_ms(31 * DAY_MS)
RANGES = block_layout.compaction_ranges(LONGEST)
# An hour boundary, as the benchmark's end is; the cases below end at several phases from it.
END = 1_796_378_400_000


def tsdbgen(*args: str, spec: dict | None = None) -> str:
    done = subprocess.run([require_tool("tsdbgen"), *args], input=json.dumps(spec) if spec else None,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def blocks_in(directory: Path) -> list[tuple[int, int]]:
    metas = [json.loads(p.read_text()) for p in directory.glob("*/meta.json")]
    return sorted((m["minTime"], m["maxTime"]) for m in metas)


def test_the_ranges_are_prometheus_defaults_for_the_retention():
    assert [r // HOUR_MS for r in RANGES] == [2, 6, 18, 54]
    assert [r // HOUR_MS for r in block_layout.compaction_ranges(block_layout.max_block_ms(15 * DAY_MS))] == [2, 6, 18]
    assert block_layout.max_block_ms(400 * DAY_MS) == 31 * DAY_MS


@pytest.mark.parametrize("hours_later", [0, 7, 13, 25, 31, 44, 53])
def test_the_layout_is_where_prometheus_own_tsdb_leaves_the_samples(tmp_path, hours_later):
    """Prometheus' TSDB itself (tsdbgen grow: samples appended in time order, its compaction after
    each) leaves the blocks and the head where block_layout says, at every phase of the 54-hour
    windows."""
    end = END + hours_later * HOUR_MS
    start = end - 6 * DAY_MS
    out = tsdbgen("grow", str(tmp_path / "db"), str(start), str(end), str(15 * 60_000), str(LONGEST)).split("\n")
    grown = [tuple(map(int, line.split())) for line in out if line and not line.startswith("head")]
    head = int(next(line for line in out if line.startswith("head")).split()[1])
    blocks, head_from = block_layout.steady_state(start, end, RANGES)
    assert (blocks, head_from) == (grown, head)
    assert HOUR_MS < end - head_from <= 3 * HOUR_MS
    # Not the full-length blocks up to now the benchmark once wrote: shorter ones near now.
    assert len([b for b in blocks if b[1] - b[0] < RANGES[-1]]) >= 2


def test_tsdbgen_writes_the_layout_and_the_head_prometheus_reads(tmp_path):
    """The benchmark's writer puts each sample in its block (ending where its range does, as the
    compactor's blocks do) or in the write-ahead log, which the real Prometheus replays; its
    compactor's planner would leave the blocks as they are."""
    end = END + 7 * HOUR_MS
    start = end - 4 * DAY_MS
    blocks, head_from = block_layout.steady_state(start, end, RANGES)
    directory = tmp_path / "tsdb"
    spec = {"dir": str(directory), "start_ms": start, "end_ms": end, "interval_ms": 60_000, "seed": 1,
            "blocks": blocks, "head_from_ms": head_from, "max_block_ms": LONGEST,
            "series": [{"labels": {"__name__": "netviz_flows_total", "job": "bench"}, "kind": "counter", "rate": 1}]}
    tsdbgen(spec=spec)
    assert blocks_in(directory) == [tuple(b) for b in blocks]
    assert tsdbgen("plan", str(directory), *map(str, RANGES)) == ""
    with PrometheusServer({"scrape_configs": []}, storage_path=str(directory),
                          extra_args=["--storage.tsdb.retention.time=31d"]) as prom:
        def samples(low: int) -> float:
            """The samples at or after `low` (a range is open at its start)."""
            result = prom.query(f"count_over_time(netviz_flows_total[{end - low + 1}ms])", time=end / 1000)
            return float(result[0]["value"][1]) if result else 0.0

        assert samples(head_from) == (end - head_from) // 60_000  # the head, from the WAL
        assert samples(start) == (end - start) // 60_000  # every minute, each in its block


def test_the_planner_check_can_fail(tmp_path):
    """The check above is the real planner's: blocks it would merge (a full 54-hour window left in
    three 18-hour blocks) are named."""
    end = END
    start = end - 6 * DAY_MS
    blocks, head_from = block_layout.steady_state(start, end, RANGES)
    full = next(b for b in blocks if b[1] - b[0] == RANGES[-1])
    third = RANGES[-1] // 3
    split = [(full[0] + k * third, full[0] + (k + 1) * third) for k in range(3)]
    at = blocks.index(full)
    blocks[at:at + 1] = split
    spec = {"dir": str(tmp_path / "tsdb"), "start_ms": start, "end_ms": end, "interval_ms": 600_000, "seed": 1,
            "blocks": blocks, "head_from_ms": head_from, "max_block_ms": LONGEST,
            "series": [{"labels": {"__name__": "up"}, "kind": "gauge", "rate": 1}]}
    tsdbgen(spec=spec)
    planned = [tuple(map(int, line.split())) for line in tsdbgen("plan", str(tmp_path / "tsdb"), *map(str, RANGES)).splitlines()]
    assert planned == split
