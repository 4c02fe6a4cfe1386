"""What the dashboards would cost if Prometheus read each selector only from the blocks its own
time reaches: every query of both dashboards, as Grafana sends it, over the dashboard benchmark's
TSDB, through Prometheus' own engine, as Prometheus runs it and per selector, in the same run.

    python benchmarks/span_bench.py --tsdb DIR [--ranges 24h,7d,30d] [--repeat 3] [--config network.toml]

DIR is a TSDB that `benchmarks/dashboard_bench.py --keep DIR` wrote (it says where its samples end).
A query's selectors each decode their series in every block between the query's earliest and
latest time (dashboards/rollups.py), so a sum over a week pays ten blocks for its reads at now and
at the range's start, which need one or two. benchmarks/spanbench (Go, Prometheus' own promql and
tsdb packages, built by `make go-tools`) runs each query twice: with one querier over the whole
span (what Prometheus 3.14 does) and with a querier per selector over that selector's time (what a
block querier that skips the blocks outside a selector's time would read), and checks that both
give the same result. Printed per range: the whole Network Flows dashboard and its slowest panel
each way, K8s Pod Topology's whole; the last lines `range=... one_querier_s=...
one_querier_slowest_panel_s=... per_selector_s=... per_selector_slowest_panel_s=...
pod_topology_one_querier_s=... pod_topology_per_selector_s=... differ=...`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import dashboards  # noqa: E402
import netviz_config  # noqa: E402
from benchmarks import block_layout  # noqa: E402
from benchmarks.dashboard_bench import dashboard_queries  # noqa: E402
from netviz_config import checks  # noqa: E402
from tests.support import go_tools  # noqa: E402

MODES = ("one_querier", "per_selector")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tsdb", required=True, metavar="DIR", help="a TSDB dashboard_bench.py --keep DIR wrote")
    parser.add_argument("--config", default=os.path.join(ROOT, "network.toml"))
    parser.add_argument("--ranges", default="24h,7d,30d", help="dashboard ranges, Prometheus durations")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each query, the fastest counted")
    args = parser.parse_args()
    stamp = os.path.join(args.tsdb, "netviz-spec.json")
    if not os.path.exists(stamp):
        parser.error(f"--tsdb {args.tsdb}: no netviz-spec.json; write one with dashboard_bench.py --keep {args.tsdb}")
    held = json.load(open(stamp))
    exe, tool = go_tools.binary("spanbench")
    if exe is None:
        raise SystemExit(f"span_bench: spanbench is not built ({tool.directory}): run {go_tools.build_command()}")
    config = netviz_config.load(args.config)
    scrape_s = checks.seconds(config.monitoring.prometheus.scrape_interval)
    end = held["end_ms"] / 1000 - scrape_s  # the newest samples, as dashboard_bench queries them
    days = (held["end_ms"] - held["start_ms"]) // block_layout.DAY_MS
    boards = {"network_flows": dashboards.render_network_flows(), "pod_topology": dashboards.render_pod_topology()}
    queries, where = [], {}
    for name in args.ranges.split(","):
        for key, board in boards.items():
            for title, ref, expr, is_range, start, step in dashboard_queries(board, int(checks.seconds(name)), end, scrape_s):
                label = f"{name}|{key}|{title}|{ref}"
                where[label] = (name, key, title)
                query = {"name": label, "expr": expr}
                if is_range:
                    query.update(start_ms=int(start * 1000), end_ms=int(end * 1000), step_ms=int(step * 1000))
                else:
                    query.update(time_ms=int(end * 1000))
                queries.append(query)
    spec = {"dir": args.tsdb, "repeat": args.repeat, "queries": queries,
            "max_block_ms": block_layout.for_days(days)[-1]}
    print(f"{len(queries)} queries over {args.tsdb} ({days} days), each the fastest of {args.repeat} runs", flush=True)
    done = subprocess.run([str(exe)], input=json.dumps(spec), text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"span_bench: spanbench failed: {done.stderr.strip()}")
    # {range: {dashboard: {mode: {panel: seconds}}}}, and the queries whose results differ
    panels: dict = {}
    differ: dict = {}
    for line in done.stdout.splitlines():
        result = json.loads(line)
        name, key, title = where[result["name"]]
        for mode in MODES:
            by_panel = panels.setdefault(name, {}).setdefault(key, {}).setdefault(mode, {})
            by_panel[title] = by_panel.get(title, 0.0) + result[f"{mode}_s"]
        if not result["same"]:
            differ.setdefault(name, []).append(result["name"])
    summary = []
    for name in args.ranges.split(","):
        line = [f"range={name}"]
        for key in boards:
            for mode in MODES:
                by_panel = panels[name][key][mode]
                slowest = max(by_panel, key=by_panel.get)
                whole = sum(by_panel.values())
                print(f"{name} {boards[key]['title']} ({mode.replace('_', ' ')}): whole dashboard {whole:.2f}s, "
                      f"slowest panel {slowest!r} {by_panel[slowest]:.2f}s", flush=True)
                prefix = "" if key == "network_flows" else f"{key}_"
                line.append(f"{prefix}{mode}_s={whole:.2f}")
                if key == "network_flows":
                    line.append(f"{mode}_slowest_panel_s={by_panel[slowest]:.2f}")
        for label in differ.get(name, []):
            print(f"    DIFFERENT RESULTS {label}", flush=True)
        line.append(f"differ={len(differ.get(name, []))}")
        summary.append(" ".join(line))
    for line in summary:
        print(line)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
