"""Throughput and memory of the flow exporter's ingest path, against bare json.loads.

    python benchmarks/flow_exporter_bench.py [--records N] [--max-series N] [--seed S]

1. Generates a homelab-like mix of flow records exactly as GoFlow2 prints them with netviz's
   mapping (flow_exporter.mapping: those fields, that order, no spaces) into a temporary file:
   three subnets (two monitored by softflowd, so inter-VLAN flows arrive twice), named hosts,
   a long tail of ~30,000 external peers (IPv4 and IPv6) so the series cap is reached and eviction
   runs, TCP/UDP/ICMP with well-known and ephemeral ports, a few sampled records and 0.1% bad lines.
2. In a child process pinned to one CPU (every family counted, conversations under their own budget) (so its peak RSS is the exporter's alone, not this
   script's), reads the file the way the exporter reads its FIFO (64 KiB os.read, LineSplitter,
   Aggregator.ingest) and renders /metrics once at the end.
   Then, for comparison, the same lines through the reference path alone (no fast path), checking
   that both give the same series.
3. In this process, times bare json.loads over the same lines, as the baseline.

The last line is `flows_per_s=N json_loads_per_s=M peak_rss_mib=R`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# The network of the shipped config (the design note's): three subnets, named hosts and nodes.
CONFIG = os.path.join(ROOT, "network.toml")

SERVER_PORTS = [(443, "TCP", 30), (80, "TCP", 8), (53, "UDP", 15), (2049, "TCP", 8), (445, "TCP", 4),
                (22, "TCP", 3), (6443, "TCP", 6), (9100, "TCP", 5), (8006, "TCP", 2), (123, "UDP", 3),
                (5353, "UDP", 2), (32400, "TCP", 2), (8443, "TCP", 2)]


def generate(path: str, records: int, seed: int) -> int:
    rnd = random.Random(seed)
    storage = [f"10.0.10.{i}" for i in range(10, 30)]
    kube = [f"10.0.20.{i}" for i in range(100, 160)]
    home = [f"192.168.1.{i}" for i in range(2, 120)]
    ext4 = [f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}" for _ in range(25000)]
    ext6 = [f"2a0{rnd.randint(0, 9)}:{rnd.randint(0, 0xffff):x}:{rnd.randint(0, 0xffff):x}::{rnd.randint(1, 0xffff):x}" for _ in range(5000)]
    external = ext4 + ext6
    ports, protos, weights = zip(*[(p, pr, w) for p, pr, w in SERVER_PORTS])
    written = 0
    t = 1_764_000_000_000_000_000
    fields = ("time_received_ns", "sampling_rate", "bytes", "packets", "src_addr", "dst_addr", "proto",
              "src_port", "dst_port", "in_if")

    def line(values) -> str:
        # GoFlow2's own formatting (producer/proto/messages.go): "key":value joined by ",", no spaces.
        return "{" + ",".join(f'"{k}":{json.dumps(v)}' for k, v in zip(fields, values)) + "}\n"

    with open(path, "w") as f:
        while written < records:
            t += rnd.randint(1_000, 50_000)
            kind = rnd.random()
            i = rnd.choices(range(len(ports)), weights)[0]
            port, proto = ports[i], protos[i]
            eph = rnd.randint(32768, 60999)
            nbytes = int(rnd.lognormvariate(7, 2)) + 40
            packets = max(1, nbytes // 900)
            rate = 0 if rnd.random() < 0.97 else 100
            if rnd.random() < 0.04:
                proto, port, eph = rnd.choice([("ICMP", 0, 0), ("ICMPv6", 0, 0), ("", 0, 0)])
            if kind < 0.35:  # inter-VLAN storage <-> kubernetes: softflowd on both interfaces
                a, b = rnd.choice(kube), rnd.choice(storage)
                src, dst, sp, dp = (a, b, eph, port) if rnd.random() < 0.5 else (b, a, port, eph)
                recs = [(src, dst, sp, dp, 1), (src, dst, sp, dp, 2)]
            elif kind < 0.75:  # kubernetes or storage <-> internet, Zipf-like peer choice
                local = rnd.choice(kube if rnd.random() < 0.8 else storage)
                peer = external[min(int(rnd.paretovariate(0.6)) - 1, len(external) - 1)] if rnd.random() < 0.7 else rnd.choice(external)
                idx = 1 if local.startswith("10.0.20.") else 2
                recs = [(local, peer, eph, port, idx)] if rnd.random() < 0.5 else [(peer, local, port, eph, idx)]
            else:  # home <-> kubernetes (home is not monitored: seen on lan only)
                a, b = rnd.choice(home), rnd.choice(kube)
                recs = [(a, b, eph, port, 1)] if rnd.random() < 0.5 else [(b, a, port, eph, 1)]
            for src, dst, sp, dp, idx in recs:
                f.write(line((t, rate, nbytes, packets, src, dst, proto, sp, dp, idx)))
                written += 1
            if rnd.random() < 0.001:
                f.write(rnd.choice(['{"bytes":1\n', "\n", "garbage\n", '{"time_received_ns":1,"sampling_rate":0,'
                                    '"bytes":-5,"packets":1,"src_addr":"10.0.20.1","dst_addr":"1.1.1.1",'
                                    '"proto":"TCP","src_port":1,"dst_port":443,"in_if":1}\n']))
                written += 1
    return written


def ingest_file(fd: int, aggregator) -> float:
    """Read the whole file at `fd` through the reader's line splitter into `aggregator`, as the
    exporter reads its FIFO; seconds taken. (Also benchmarks/collector_bench.py's.)"""
    from flow_exporter.reader import CHUNK_BYTES, LineSplitter

    os.lseek(fd, 0, os.SEEK_SET)
    splitter = LineSplitter()
    start = time.perf_counter()
    while True:
        chunk = os.read(fd, CHUNK_BYTES)
        if not chunk:
            break
        lines = splitter.feed(chunk)
        if lines:
            aggregator.ingest(lines)
    return time.perf_counter() - start


def child(path: str, config_path: str, max_series: int) -> None:
    """Runs in its own process: the exporter's ingest path over the file, then one scrape."""
    import netviz_config
    from flow_exporter.aggregate import Aggregator
    from flow_exporter.exposition import render
    from flow_exporter.settings import from_network_config

    settings = from_network_config(netviz_config.load(config_path), max_series)
    fd = os.open(path, os.O_RDONLY)

    def ingest_all(aggregator) -> float:
        return ingest_file(fd, aggregator)

    aggregator = Aggregator(settings)
    elapsed = ingest_all(aggregator)
    render_start = time.perf_counter()
    body = render(aggregator.scrape_snapshot())  # what /metrics serves
    render_s = time.perf_counter() - render_start
    snap = aggregator.snapshot()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del aggregator
    # For comparison only: the same lines through the reference path alone (json.loads), i.e. what
    # GoFlow2 output without netviz's mapping costs. Measured after the peak RSS above was taken.
    reference = Aggregator(settings, fast_path=False)
    reference_s = ingest_all(reference)
    assert reference.snapshot().series == snap.series, "fast and reference paths disagree"
    (_family, conversation_series, conversation_budget, conversation_evictions), = snap.families
    print(json.dumps({
        "conversation_series": conversation_series, "conversation_budget": conversation_budget,
        "conversation_evictions": conversation_evictions,
        "records": snap.records, "seconds": elapsed, "series": snap.series_count, "evictions": snap.evictions,
        "duplicates": snap.duplicates, "rejected": sum(snap.rejected.values()), "peak_rss_mib": rss_mib,
        "render_seconds": render_s, "exposition_bytes": len(body), "reference_seconds": reference_s,
    }))


def json_baseline(path: str) -> tuple[int, float]:
    loads = json.loads
    total = 0
    elapsed = 0.0
    with open(path, "rb") as f:
        while True:
            lines = f.readlines(1 << 20)
            if not lines:
                break
            start = time.perf_counter()
            for line in lines:
                try:
                    loads(line)
                except ValueError:
                    pass
            elapsed += time.perf_counter() - start
            total += len(lines)
    return total, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--max-series", type=int, default=10000, help="the cap (default: the config default)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", nargs=3, metavar=("DATA", "CONFIG", "MAX_SERIES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data, config = os.path.join(tmp, "flows.jsonl"), CONFIG
        lines = generate(data, args.records, args.seed)
        size = os.path.getsize(data)
        print(f"generated {lines} lines, {size / lines:.0f} bytes per line on average")
        cpu = sorted(os.sched_getaffinity(0))[-1]
        out = subprocess.run(
            ["taskset", "-c", str(cpu), sys.executable, os.path.abspath(__file__), "--child", data, config,
             str(args.max_series)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        os.sched_setaffinity(0, {cpu})
        loads_n, loads_s = json_baseline(data)
    flows_per_s = result["records"] / result["seconds"]
    print(f"exporter: {result['records']} lines in {result['seconds']:.2f} s on CPU {cpu}; "
          f"series {result['series']} (cap {args.max_series}), evictions {result['evictions']}, "
          f"duplicates {result['duplicates']}, rejected {result['rejected']}")
    print(f"conversations: series {result['conversation_series']} (budget {result['conversation_budget']}), "
          f"evictions {result['conversation_evictions']}")
    print(f"one /metrics render at the cap: {result['render_seconds'] * 1000:.0f} ms, {result['exposition_bytes']} bytes")
    print(f"reference path only (json.loads + checks, as for output without the mapping): "
          f"{result['records'] / result['reference_seconds']:.0f} flows/s, same metrics")
    print(f"json.loads alone: {loads_n} lines in {loads_s:.2f} s")
    print(f"flows_per_s={flows_per_s:.0f} json_loads_per_s={loads_n / loads_s:.0f} peak_rss_mib={result['peak_rss_mib']:.1f}")


if __name__ == "__main__":
    main()
