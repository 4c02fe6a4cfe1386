"""What the dashboards cost Prometheus over long ranges: every query of both dashboards, as Grafana
sends it, over a TSDB the size of a network that fills netviz's series budgets.

    python benchmarks/dashboard_bench.py [--days 30] [--ranges 24h,7d,30d] [--fill 0.7]
                                         [--keep DIR] [--config network.toml]

1. The series: from the config (its subnets, hosts, Kubernetes nodes) and its
   `flow_exporter.series_budgets`, each family filled to `--fill` of its budget (0.7: the issue's
   "careful new user", 12,000-13,000 flow series), plus what the other panels read (GoFlow2's and
   the exporter's own metrics, names, Caretta's links).
2. A TSDB of `--days` of them, a sample every `monitoring.prometheus.scrape_interval`, written by
   benchmarks/tsdbgen (Prometheus' own tsdb package, built by `make go-tools`), ending now, in
   the blocks and the head a Prometheus with a retention of `--days` + 1 holds after running that
   long (benchmarks/block_layout.py: blocks of 54 hours for 31 days and, nearer now, the shorter
   ones its compactor has not merged yet; the newest 1 to 3 hours in the write-ahead log, which it
   replays into its head). A query reads each series once per block it spans, so the figures
   depend on the hour the bench ends at: each range's line says how many it spanned. With
   `--keep DIR` it is written there once and reused while the spec is the same.
3. netviz's rollups (dashboards/rollups.py) over those days, as a Prometheus that had run the
   rules all along holds them: written by tsdbgen beside the raw samples, every
   `monitoring.prometheus.rollup_interval`, each key's growth since the previous rollup and its
   value, and the group's heartbeat (what the rules record; tests/dashboards/test_rollups.py has the real rules evaluated by
   the real `promtool tsdb create-blocks-from rules` and checks the dashboards' sums on them;
   backfilled blocks of 2 hours overlap the raw ones and would not measure what a running
   Prometheus reads).
4. The real Prometheus the chart deploys (3.14.0), with its default query limits (2 minutes,
   50,000,000 samples), serving that TSDB and nothing else. The rollup group's cost: its rules
   run once as instant queries (what one hourly evaluation does), timed, and the series they add.
5. Each range of `--ranges`: every panel query of Network Flows, raw (`DashboardConfig(rollups=False)`:
   `increase()` over the range) and from the rollups, and of K8s Pod Topology, one at a time, as
   Grafana sends it: instant queries at the end of the range with `$__range` the range
   (a panel's own relative time, `now/M` or `now/d`, taken as Grafana takes it), range queries
   of 500 points with `$__interval` the step and `$__rate_interval` max(step + scrape interval,
   4 scrape intervals), `${__from:date:seconds}` the range's start, variables at All. A query that
   fails (timeout, too many samples) is counted and named; its panel is left out of the sums.

Printed per range and dashboard: the whole dashboard (its queries' times added: Grafana runs a
panel's queries at once, so this is the Prometheus time it costs), the slowest panel (its queries'
times added) and the slowest query (the issue measured the network map's nodes and edges apart);
the last lines: `range=... raw_s=... raw_slowest_panel_s=... raw_slowest_query_s=... rollups_s=...
rollups_slowest_panel_s=... rollups_slowest_query_s=... pod_topology_s=... failed=...` per range.
"""

from __future__ import annotations

import argparse
import calendar
import datetime
import hashlib
import ipaddress
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import dashboards  # noqa: E402
from benchmarks import block_layout  # noqa: E402
import netviz_config  # noqa: E402
from dashboards.config import DashboardConfig  # noqa: E402
from flow_exporter.services import WELL_KNOWN_PORTS  # noqa: E402
from netviz_config import checks  # noqa: E402
from alerts.rules import AlertRulesConfig  # noqa: E402
from dashboards import rollups  # noqa: E402
from tests.dashboards.dashboard_exprs import leftover_variables, panels, substitute  # noqa: E402
from tests.support import go_tools  # noqa: E402
from tests.support.prometheus import PrometheusError, PrometheusServer  # noqa: E402

POINTS = 500  # a range query's points, as the issue measured
PROTOCOLS = ("TCP", "UDP", "ICMP")
RATES = (50, 500, 5_000, 50_000, 500_000)  # bytes/s a series grows by, chosen at random
CARETTA_WORKLOADS = 60


def _labels(selector: str) -> dict[str, str]:
    """`job="x"` (a DashboardConfig selector of equality matchers) as labels."""
    out = {}
    for matcher in filter(None, (m.strip() for m in selector.split(","))):
        name, _, value = matcher.partition("=")
        out[name.strip()] = value.strip().strip('"')
    return out


def series_spec(config, fill: float, seed: int) -> list[dict]:
    """Every series of the TSDB: {"labels", "kind", "rate"}."""
    rnd = random.Random(seed)
    selectors = DashboardConfig()
    flow, goflow2, caretta = (_labels(selectors.flow_exporter_selector), _labels(selectors.goflow2_selector),
                              _labels(selectors.caretta_selector))
    budgets = config.flow_exporter.series_budgets.as_dict()
    out: list[dict] = []

    def add(name: str, labels: dict, kind: str = "counter", rate: float | None = None, job: dict = flow) -> None:
        series = {"labels": {"__name__": name, **job, **labels}, "kind": kind,
                  "rate": rnd.choice(RATES) if rate is None else rate}
        if name in rollups.ROLLED_UP:  # what the rollup rules record for it
            series["rollup"] = [rollups.increase_name(name), rollups.last_name(name)]
        out.append(series)

    def filled(family: str) -> int:
        return int(fill * budgets[family])

    subnets = [(s.name, ipaddress.ip_network(s.cidr)) for s in config.subnets]
    names = {h.address: h.name for h in config.hosts} | {n.address: n.name for n in config.kubernetes.nodes}
    # Local hosts: the configured ones first, then addresses of each subnet in turn.
    hosts = [(a, next(n for n, net in subnets if ipaddress.ip_address(a) in net)) for a in names
             if any(ipaddress.ip_address(a) in net for _, net in subnets)]
    pools = [(name, net.hosts()) for name, net in subnets]
    while len(hosts) < filled("hosts") // 2:
        for name, pool in pools:
            address = str(next(pool))
            if address not in names:
                hosts.append((address, name))
    hosts = hosts[: filled("hosts") // 2]
    peers = [f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
             for _ in range(filled("external_peers") // 2)]
    services = [(proto, port, name) for port, name in WELL_KNOWN_PORTS.items() for proto in ("TCP", "UDP")]
    services = services[: min(filled("services"), len(services))]

    pairs = [(a, b, p) for a in [n for n, _ in subnets] + ["external"] for b in [n for n, _ in subnets] + ["external"]
             for p in PROTOCOLS][: filled("subnet_pairs") // 3]
    for src, dst, proto in pairs:
        rate = rnd.choice(RATES)
        keys = {"src_subnet": src, "dst_subnet": dst, "proto": proto}
        add("netviz_flow_bytes_total", keys, rate=rate)
        add("netviz_flow_packets_total", keys, rate=rate / 800)
        add("netviz_flows_total", keys, rate=rate / 50_000)
    for address, subnet in hosts:
        for direction in ("sent", "received"):
            add("netviz_host_bytes_total", {"subnet": subnet, "host": address, "name": names.get(address, address),
                                            "direction": direction})
    for address, subnet in hosts[: filled("internet_usage") // 2]:
        for direction in ("sent", "received"):
            add("netviz_host_internet_bytes_total", {"subnet": subnet, "host": address,
                                                     "name": names.get(address, address), "direction": direction})
    for proto, port, name in services:
        add("netviz_service_bytes_total", {"proto": proto, "port": str(port), "service": name})
    for peer in peers:
        for direction in ("outbound", "inbound"):
            add("netviz_external_bytes_total", {"peer": peer, "direction": direction})

    def conversation(src: tuple, dst: tuple) -> None:
        proto, port, service = rnd.choice(services)
        keys = {"src": src[0], "src_subnet": src[1], "dst": dst[0], "dst_subnet": dst[1], "proto": proto,
                "port": str(port), "service": service}
        rate = rnd.choice(RATES)
        add("netviz_conversation_bytes_total", keys, rate=rate)
        add("netviz_conversation_packets_total", keys, rate=rate / 800)

    for _ in range(filled("local_conversations") // 2):
        conversation(rnd.choice(hosts), rnd.choice(hosts))
    for i in range(filled("external_conversations") // 2):  # half of them outbound, half inbound
        host, peer = rnd.choice(hosts), (rnd.choice(peers), "external")
        if i % 2:
            conversation(host, peer)
        else:
            conversation(peer, host)

    # Names: the configured ones, reverse DNS for the other hosts and a tenth of the peers.
    for address, name in names.items():
        add("netviz_host_info", {"host": address, "name": name, "source": "config"}, "gauge", 1)
    for address, _ in hosts:
        if address not in names:
            add("netviz_host_info", {"host": address, "name": f"host-{address.replace('.', '-')}.home.arpa",
                                     "source": "dns"}, "gauge", 1)
    for peer in peers[: len(peers) // 10]:
        add("netviz_host_info", {"host": peer, "name": f"peer-{peer.replace('.', '-')}.example", "source": "dns"},
            "gauge", 1)
    for node in config.kubernetes.nodes:
        add("netviz_kubernetes_node_info", {"host": node.address, "node": node.name}, "gauge", 1)

    # The exporter's own metrics and GoFlow2's (the Collector health row), and `up` of each job.
    for name in ("netviz_flow_exporter_records_total", "netviz_flow_exporter_records_duplicate_total",
                 "netviz_flow_exporter_records_unmapped_interface_total", "netviz_flow_exporter_records_untrusted_total",
                 "netviz_flow_exporter_input_reopens_total", "netviz_flow_exporter_evictions_total"):
        add(name, {}, rate=10)
    add("netviz_flow_exporter_last_record_timestamp_seconds", {}, "gauge", 0)  # its value costs nothing to read
    add("netviz_flow_exporter_new_series", {}, "gauge", 0)
    for reason in ("empty_line", "invalid_json", "missing_field", "wrong_type"):
        add("netviz_flow_exporter_records_rejected_total", {"reason": reason}, rate=0.01)
    for family, budget in budgets.items():
        add("netviz_flow_exporter_family_series", {"family": family}, "gauge", fill * budget)
        add("netviz_flow_exporter_family_series_limit", {"family": family}, "gauge", budget)
        add("netviz_flow_exporter_family_evictions_total", {"family": family}, rate=0.1)
    router = {"remote_ip": config.pfsense.address, "local_ip": "0.0.0.0", "local_port": "2055", "type": "netflow"}
    add("goflow2_flow_traffic_packets_total", router, rate=30, job=goflow2)
    add("goflow2_flow_dropped_packets_total", {k: router[k] for k in ("remote_ip", "local_ip", "local_port")},
        rate=0.001, job=goflow2)
    add("goflow2_flow_decoder_error_total", {"router": config.pfsense.address, "name": "netflow"}, rate=0.001, job=goflow2)
    add("goflow2_flow_process_nf_errors_total", {"router": config.pfsense.address, "error": "template_not_found"},
        rate=0.001, job=goflow2)
    for job in (flow, goflow2):
        add("up", {}, "gauge", 1, job=job)
    # The rollup group's heartbeat (written beside a series of its own that no panel reads).
    out.append({"labels": {"__name__": "netviz_bench_heartbeat"}, "kind": "gauge", "rate": 1,
                "rollup": ["", rollups.HEARTBEAT]})

    # Caretta: one agent per node, each with the links of the workloads on it.
    workloads = [(f"app-{i}", f"ns-{i % 6}", rnd.choice(("Deployment", "StatefulSet", "DaemonSet")))
                 for i in range(CARETTA_WORKLOADS)]
    for index, node in enumerate(config.kubernetes.nodes):
        agent = {**caretta, "instance": f"{node.address}:7117", "node": node.name}
        add("up", {}, "gauge", 1, job=agent)
        for _ in range(len(workloads)):
            client, server = rnd.sample(workloads, 2)
            add("caretta_links_observed", {
                "link_id": str(rnd.getrandbits(32)), "client_id": str(rnd.getrandbits(32)), "client_name": client[0],
                "client_namespace": client[1], "client_kind": client[2], "server_id": str(rnd.getrandbits(32)),
                "server_name": server[0], "server_namespace": server[1], "server_kind": server[2],
                "server_port": str(rnd.choice((80, 443, 5432, 6379, 9090))), "role": str(1 + index % 2)}, job=agent)
    return out


def with_layout(spec: dict) -> dict:
    """`spec` with the blocks and head for its times (tsdbgen's `blocks` and `head_from_ms`)."""
    blocks, head = block_layout.steady_state(spec["start_ms"], spec["end_ms"],
                                             block_layout.compaction_ranges(spec["max_block_ms"]))
    return {**spec, "blocks": blocks, "head_from_ms": head}


def spanned(spec: dict, range_s: int) -> int:
    """How many blocks a query over the newest `range_s` (and its 5-minute look-back) reads, the
    head counted as one."""
    since = spec["end_ms"] - (range_s + 300) * 1000
    return sum(1 for _low, high in spec["blocks"] if high > since) + (spec["head_from_ms"] < spec["end_ms"])


def write_tsdb(directory: str, spec: dict) -> dict:
    """The TSDB of `spec` in `directory`, by tsdbgen; reused (with the times it was written for)
    when the same spec, but for its times, wrote it. Returns the spec it holds."""
    stamp = os.path.join(directory, "netviz-spec.json")
    timeless = {k: v for k, v in spec.items() if k not in ("start_ms", "end_ms")}
    digest = hashlib.sha256(json.dumps(timeless, sort_keys=True).encode()).hexdigest()
    if os.path.exists(stamp):
        held = json.load(open(stamp))
        if held["digest"] == digest and held["end_ms"] - held["start_ms"] == spec["end_ms"] - spec["start_ms"]:
            print(f"reusing the TSDB in {directory}", flush=True)
            return with_layout({**spec, "start_ms": held["start_ms"], "end_ms": held["end_ms"]})
    spec = with_layout(spec)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    exe, tool = go_tools.binary("tsdbgen")
    if exe is None:
        raise SystemExit(f"dashboard_bench: tsdbgen is not built ({tool.directory}): run {go_tools.build_command()}")
    started = time.monotonic()
    done = subprocess.run([str(exe)], input=json.dumps({**spec, "dir": directory}), text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"dashboard_bench: tsdbgen failed: {done.stderr.strip()}")
    print(f"wrote {done.stdout.strip()} in {time.monotonic() - started:.0f}s into {directory}", flush=True)
    with open(stamp, "w") as f:
        json.dump({"digest": digest, "start_ms": spec["start_ms"], "end_ms": spec["end_ms"]}, f)
    return spec


def rollup_cost(prom: PrometheusServer, end: float, interval: str) -> str:
    """One evaluation of the rollup group, as instant queries at `end`: seconds, and series written."""
    started, written = time.perf_counter(), 0
    for rule in rollups.group(AlertRulesConfig().selectors.flow_exporter_selector, interval)["rules"]:
        written += len(prom.query(rule["expr"], time=end))
    return f"rollup_eval_s={time.perf_counter() - started:.2f} rollup_series={written}"


def _panel_range(panel: dict, range_s: int, end: float) -> int:
    """The range Grafana gives a panel: its own relative time (now/M, now/d) or the dashboard's."""
    relative = panel.get("timeFrom")
    if not relative:
        return range_s
    day = datetime.datetime.fromtimestamp(end, datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = {"now/d": day, "now/M": day.replace(day=1)}[relative]
    return max(1, int(end - calendar.timegm(start.timetuple())))


def dashboard_queries(board: dict, range_s: int, end: float, scrape_s: float):
    """Each query of `board` as Grafana sends it over the newest `range_s`: (panel title, its
    refId, the expression, whether a range query, its start (a range query's), its step)."""
    for panel in panels(board):
        for target in panel.get("targets", []) or []:
            own = _panel_range(panel, range_s, end)
            is_range = bool(target.get("range") and not target.get("instant"))
            step = max(1, own // POINTS)
            values = {"__range": f"{own}s", "__from": f"{end - own:.3f}",
                      "__interval": f"{step}s" if is_range else f"{max(1, own // POINTS)}s",
                      "__rate_interval": f"{int(max(step + scrape_s, 4 * scrape_s))}s" if is_range else f"{int(4 * scrape_s)}s",
                      "subnet": ".*", "proto": ".*", "namespace": ".*", "kind": ".*", "workload": ".*", "port": ".*"}
            expr = substitute(target["expr"], values)
            assert not leftover_variables(expr), (panel["title"], leftover_variables(expr))
            yield panel["title"], target.get("refId"), expr, is_range, end - own, step


def run_dashboard(prom: PrometheusServer, board: dict, range_s: int, end: float, scrape_s: float) -> dict:
    """{panel title: seconds of its queries, or None when one failed}, {query: seconds}, and the
    failures."""
    times, queries, failures = {}, {}, []
    for title, ref, expr, is_range, start, step in dashboard_queries(board, range_s, end, scrape_s):
        started = time.perf_counter()
        try:
            if is_range:
                prom.query_range(expr, start, end, step)
            else:
                prom.query(expr, time=end)
            took = time.perf_counter() - started
        except PrometheusError as e:
            failures.append(f"{title} {ref}: {str(e).splitlines()[0][:160]}")
            took = None
        if took is not None:
            queries[f"{title} ({ref})"] = took
        if took is None or times.get(title, 0) is None:
            times[title] = None
        else:
            times[title] = times.get(title, 0) + took
    return {"times": times, "queries": queries, "failures": failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "network.toml"))
    parser.add_argument("--days", type=int, default=30, help="days of samples in the TSDB (the longest range)")
    parser.add_argument("--ranges", default="24h,7d,30d", help="dashboard ranges, Prometheus durations")
    parser.add_argument("--raw-ranges", default="24h,7d",
                        help="ranges at which the raw dashboard runs too (30 days of raw queries take an hour, "
                             "most past Prometheus' 2-minute timeout)")
    parser.add_argument("--fill", type=float, default=0.7, help="share of each family's budget filled")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", metavar="DIR", help="write the TSDB here and reuse it (else a temporary folder)")
    args = parser.parse_args()
    config = netviz_config.load(args.config)
    ranges = [(r, int(checks.seconds(r))) for r in args.ranges.split(",")]
    if max(s for _, s in ranges) > args.days * 86400:
        parser.error(f"--ranges up to {max(ranges, key=lambda r: r[1])[0]} need --days of at least that")
    scrape_s = checks.seconds(config.monitoring.prometheus.scrape_interval)
    series = series_spec(config, args.fill, args.seed)
    families = {}
    for s in series:
        families[s["labels"]["__name__"]] = families.get(s["labels"]["__name__"], 0) + 1
    hour_ms = block_layout.HOUR_MS
    # The blocks and the head as a Prometheus whose retention holds the longest range has them after
    # running that long: full-length blocks (the longest range within a tenth of the retention: 54
    # hours for 31 days) and, nearer now, the shorter ones its compactor has not merged yet
    # (benchmarks/block_layout.py).
    ranges_ms = block_layout.for_days(args.days)
    end_ms = int(time.time() * 1000) // hour_ms * hour_ms
    rollup_interval = config.monitoring.prometheus.rollup_interval
    spec = {"start_ms": end_ms - args.days * block_layout.DAY_MS, "end_ms": end_ms, "interval_ms": int(scrape_s * 1000),
            "max_block_ms": ranges_ms[-1], "rollup_ms": int(checks.seconds(rollup_interval) * 1000), "seed": args.seed,
            "series": series}
    print(f"series={len(series)} days={args.days} scrape_interval={scrape_s:g}s "
          f"block ranges={','.join(f'{r // hour_ms}h' for r in ranges_ms)} "
          f"samples={len(series) * args.days * 86400 // int(scrape_s)}", flush=True)
    print(" ".join(f"{name}={n}" for name, n in sorted(families.items()) if n > 20), flush=True)
    directory = args.keep or tempfile.mkdtemp(prefix="netviz-dashboard-bench-")
    server_args = {"start_timeout": 600, "request_timeout": 300, "extra_args": [f"--storage.tsdb.retention.time={args.days + 1}d"]}
    try:
        storage = os.path.join(directory, "data") if not args.keep else directory
        spec = write_tsdb(storage, spec)
        end_ms = spec["end_ms"]
        boards = {"raw": dashboards.render_network_flows(DashboardConfig(rollups=False)),
                  "rollups": dashboards.render_network_flows(),
                  "pod_topology": dashboards.render_pod_topology()}
        end = end_ms / 1000 - scrape_s  # the newest samples
        summary = []
        with PrometheusServer({"scrape_configs": []}, storage_path=storage, **server_args) as prom:
            prom.query("up", time=end)  # the index opened before the first measured query
            summary.append(rollup_cost(prom, end, rollup_interval))
            for name, range_s in ranges:
                line = [f"range={name}", f"blocks={spanned(spec, range_s)}"]
                failed = 0
                for key, board in boards.items():
                    if key == "raw" and name not in args.raw_ranges.split(","):
                        continue
                    result = run_dashboard(prom, board, range_s, end, scrape_s)
                    measured = {t: s for t, s in result["times"].items() if s is not None}
                    whole = sum(measured.values())
                    slowest = max(measured, key=measured.get)
                    failed += len(result["failures"])
                    query = max(result["queries"], key=result["queries"].get)
                    print(f"{name} {board['title']} ({key}): whole dashboard {whole:.2f}s, slowest panel {slowest!r} "
                          f"{measured[slowest]:.2f}s, slowest query {query!r} {result['queries'][query]:.2f}s, "
                          f"{len(result['failures'])} failed", flush=True)
                    for title, took in sorted(measured.items(), key=lambda kv: -kv[1])[:5]:
                        print(f"    {took:7.2f}s  {title}", flush=True)
                    for failure in result["failures"]:
                        print(f"    FAILED {failure}", flush=True)
                    line.append(f"{key}_s={whole:.2f}")
                    if key != "pod_topology":
                        line.append(f"{key}_slowest_panel_s={measured[slowest]:.2f}")
                        line.append(f"{key}_slowest_query_s={result['queries'][query]:.2f}")
                line.append(f"failed={failed}")
                summary.append(" ".join(line))
        for line in summary:
            print(line)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
