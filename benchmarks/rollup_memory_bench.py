"""What netviz's rollups cost a live Prometheus: series, memory and evaluation time.

    python benchmarks/rollup_memory_bench.py [--fill 0.7] [--interval 20s] [--evaluations 6]

Two real Prometheus servers (3.14.0, the one the chart deploys) scrape the same target in the
same run: the series of a network at `--fill` of the default series budgets (those of
benchmarks/dashboard_bench.py: flow series, names, GoFlow2's and Caretta's), counters that grow at
each scrape. One also evaluates netviz's rollup group (dashboards/rollups.py, the rules every
monitoring mode ships) every `--interval` instead of every `monitoring.prometheus.rollup_interval`,
so that it has written its series `--evaluations` times within minutes, not hours; the other, the
baseline, evaluates nothing. A rollup series gets one sample per evaluation, so how often it is
written changes little of what it holds in memory: its labels, its index entries and an open chunk.

When the group has been evaluated `--evaluations` times (its heartbeat counted, not a fixed
wait), each server runs a garbage collection (`/debug/pprof/heap?gc=1`) and reports its own
metrics. Printed per server: the series in its head block, the Go heap in use after that
collection, its resident memory, and for the rollup server the group's last evaluation time; then
the difference, per rollup series.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import netviz_config  # noqa: E402
from alerts.rules import rule_file_yaml  # noqa: E402
from benchmarks.dashboard_bench import series_spec  # noqa: E402
from dashboards import rollups  # noqa: E402
from dashboards.config import DashboardConfig  # noqa: E402
from tests.flow_exporter.helpers import wait_until  # noqa: E402
from tests.support.goflow2 import metric_sum, parse_exposition  # noqa: E402
from tests.support.http import MetricsServer  # noqa: E402
from tests.support.prometheus import PrometheusServer  # noqa: E402

SCRAPE_INTERVAL = "5s"


def _exposition(series: list[dict], started: float) -> str:
    """The series as Prometheus text, counters at rate x seconds since `started`. Their own `job`
    labels are kept (the scrape job honors them), as if each came from its own target."""
    elapsed = time.time() - started
    lines = []
    for s in series:
        labels = ",".join(f'{k}="{v}"' for k, v in s["labels"].items() if k != "__name__")
        value = s["rate"] * elapsed if s["kind"] == "counter" else s["rate"]
        lines.append(f"{s['labels']['__name__']}{{{labels}}} {value:.0f}")
    return "\n".join(lines) + "\n"


def own_metrics(prom: PrometheusServer) -> dict[str, float]:
    """The server's own metrics after a garbage collection."""
    urllib.request.urlopen(prom.url + "/debug/pprof/heap?gc=1", timeout=60).read()
    samples = parse_exposition(urllib.request.urlopen(prom.url + "/metrics", timeout=60).read().decode())
    out = {key: metric_sum(samples, name) for key, name in (
        ("head_series", "prometheus_tsdb_head_series"), ("heap_inuse", "go_memstats_heap_inuse_bytes"),
        ("resident", "process_resident_memory_bytes"))}
    for (name, labels), value in samples.items():  # its rule_group label is "<file>;<group>"
        if name == "prometheus_rule_group_last_duration_seconds" and dict(labels)["rule_group"].endswith(f";{rollups.ROLLUP_GROUP}"):
            out["evaluation_s"] = value
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "network.toml"))
    parser.add_argument("--fill", type=float, default=0.7, help="share of each family's budget filled")
    parser.add_argument("--interval", default="20s", help="the rollup group's evaluation interval here")
    parser.add_argument("--evaluations", type=int, default=6, help="evaluations of the group before measuring")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = netviz_config.load(args.config)
    series = [s for s in series_spec(config, args.fill, args.seed) if s["labels"]["__name__"] != "netviz_bench_heartbeat"]
    started = time.time()
    target = MetricsServer(lambda: _exposition(series, started)).start()
    scrape = {"global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": args.interval},
              "scrape_configs": [{"job_name": "network", "honor_labels": True,
                                  "static_configs": [{"targets": [target.address]}]}]}
    group = rollups.group(DashboardConfig().flow_exporter_selector, args.interval)
    print(f"series={len(series)} scrape_interval={SCRAPE_INTERVAL} rollup_interval={args.interval} "
          f"rollup_rules={len(group['rules'])}", flush=True)
    try:
        with PrometheusServer(scrape) as baseline, \
                PrometheusServer(scrape, rule_files={"netviz-rollups.yml": rule_file_yaml([group])}) as rolled:
            evaluations = f"count_over_time({rollups.HEARTBEAT}[1h])"
            wait_until(f"{args.evaluations} evaluations of {rollups.ROLLUP_GROUP}",
                       lambda: (rolled.query_value(evaluations) or 0) >= args.evaluations, timeout=3600)
            measured = {"baseline": own_metrics(baseline), "rollups": own_metrics(rolled)}
    finally:
        target.stop()
    for name, m in measured.items():
        evaluation = f" evaluation_s={m['evaluation_s']:.2f}" if "evaluation_s" in m else ""
        print(f"{name}: head_series={m['head_series']:.0f} heap_inuse_mib={m['heap_inuse'] / 2**20:.1f} "
              f"resident_mib={m['resident'] / 2**20:.1f}{evaluation}", flush=True)
    base, rolled_up = measured["baseline"], measured["rollups"]
    extra = rolled_up["head_series"] - base["head_series"]
    heap = rolled_up["heap_inuse"] - base["heap_inuse"]
    print(f"rollup_series={extra:.0f} rollup_heap_mib={heap / 2**20:.1f} "
          f"heap_bytes_per_rollup_series={heap / max(extra, 1):.0f} "
          f"flow_heap_bytes_per_series={base['heap_inuse'] / base['head_series']:.0f} "
          f"rollup_eval_s={rolled_up.get('evaluation_s', float('nan')):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
