"""Throughput and memory of the flow exporter's ingest path, against bare json.loads.

    python benchmarks/flow_exporter_bench.py [--case mix|flood|both] [--records N] [--flood N]
                                             [--corpus N] [--series-budget FAMILY=N ...] [--seed S]

Two cases (both by default), each with its own same-run baseline:

mix: a homelab-like mix of flow records exactly as GoFlow2 prints them with netviz's mapping
   (flow_exporter.mapping: those fields, that order, no spaces): three subnets (two monitored by
   softflowd, so inter-VLAN flows arrive twice), named hosts, a long tail of ~30,000 external peers
   (IPv4 and IPv6) so the external peers' budget is reached and eviction runs, TCP/UDP/ICMP with
   well-known and ephemeral ports, a few sampled records and 0.1% bad lines. Then, for comparison,
   the same lines through the reference path alone (no fast path), checking that both give the
   same series.
flood: a known corpus of flows among the configured hosts and subnets (--corpus, 40,000) interleaved
   with --flood (1,000,000) records from as many spoofed external addresses (tests/support/flood.py,
   which computes the truth without the exporter's code). Checked: every subnet-pair cell, host,
   service figure and conversation between local hosts exact; the external peers and the external
   conversations (the two families keyed by the spoofed addresses) within their budgets and the only
   families evicting. The local conversations' budget is sized to the corpus (its hosts talk to every
   other at random: far more pairs than the default budget is for) unless --series-budget sets it.

Each case's lines are written to a temporary file; a child process pinned to one CPU (so its peak
RSS is the exporter's alone, not this script's) reads the file the way the exporter reads its FIFO
(64 KiB os.read, LineSplitter, Aggregator.ingest, with the shipped network.toml's budgets) and
renders /metrics once at the end. Then, in this process on the same CPU, bare json.loads over the
same lines is timed as the baseline.

The last lines are `flows_per_s=N json_loads_per_s=M peak_rss_mib=R` (mix) and
`flood_flows_per_s=N flood_json_loads_per_s=M flood_peak_rss_mib=R flood_exact=yes|NO`.
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

PFSENSE = "10.0.20.1"  # the NetFlow sender of every record: the one network.toml trusts

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
    from flow_exporter.mapping import FIELD_NAMES as fields

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
                f.write(line((t, rate, nbytes, packets, src, dst, proto, sp, dp, idx, PFSENSE)))
                written += 1
            if rnd.random() < 0.001:
                f.write(rnd.choice(['{"bytes":1\n', "\n", "garbage\n", '{"time_received_ns":1,"sampling_rate":0,'
                                    '"bytes":-5,"packets":1,"src_addr":"10.0.20.1","dst_addr":"1.1.1.1",'
                                    '"proto":"TCP","src_port":1,"dst_port":443,"in_if":1}\n']))
                written += 1
    return written


def generate_homelab(path: str, records: int, seed: int) -> int:
    """A homelab whose every family fits its default budget: 240 local hosts (60 Kubernetes pods and
    nodes, 20 storage, 160 home devices), each talking to a few local servers and a few of 200
    external services over a handful of well-known ports; conversations within their budgets
    (fewer than 2,000 keys each), no eviction. Same format, mix of sampling and bad lines as
    `generate`."""
    from flow_exporter.mapping import FIELD_NAMES as fields

    rnd = random.Random(seed)
    kube = [f"10.0.20.{i}" for i in range(100, 160)]
    storage = [f"10.0.10.{i}" for i in range(10, 30)]
    home = [f"192.168.1.{i}" for i in range(2, 162)]
    servers = [("10.0.10.15", 2049, "TCP"), ("10.0.10.15", 445, "TCP"), ("10.0.20.100", 6443, "TCP"),
               ("10.0.20.1", 53, "UDP"), ("10.0.20.101", 443, "TCP"), ("192.168.1.127", 8006, "TCP")]
    external = [f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}" for _ in range(180)]
    external += [f"2a0{rnd.randint(0, 9)}:{rnd.randint(0, 0xffff):x}::{rnd.randint(1, 0xffff):x}" for _ in range(20)]
    # The conversations that happen (each two directions): local client -> local server, local host -> peer.
    local_pairs = [(c, s, p, pr) for c in kube + storage + home for s, p, pr in rnd.sample(servers, 2) if c != s]
    external_pairs = [(h, e, p, pr) for h in rnd.sample(kube + storage + home, 110) for e in rnd.sample(external, 4)
                      for p, pr in [rnd.choice([(443, "TCP"), (80, "TCP"), (123, "UDP")])]]
    pairs = local_pairs[:900] + external_pairs[:440]
    weights = [1 / (i + 1) ** 0.8 for i in range(len(pairs))]
    rnd.shuffle(weights)

    def index(address: str) -> int | None:
        return 1 if address.startswith("10.0.20.") else 2 if address.startswith("10.0.10.") else None

    def line(values) -> str:
        return "{" + ",".join(f'"{k}":{json.dumps(v)}' for k, v in zip(fields, values)) + "}\n"

    written = 0
    t = 1_764_000_000_000_000_000
    with open(path, "w") as f:
        while written < records:
            t += rnd.randint(1_000, 50_000)
            client, server, port, proto = rnd.choices(pairs, weights)[0]
            eph = rnd.randint(32768, 60999)
            nbytes = int(rnd.lognormvariate(7, 2)) + 40
            packets = max(1, nbytes // 900)
            rate = 0 if rnd.random() < 0.97 else 100
            src, dst, sp, dp = (client, server, eph, port) if rnd.random() < 0.5 else (server, client, port, eph)
            # softflowd exports a flow once per monitored interface it crosses (storage <-> kubernetes: twice)
            for idx in sorted({i for i in (index(src), index(dst)) if i is not None}) or [1]:
                f.write(line((t, rate, nbytes, packets, src, dst, proto, sp, dp, idx, PFSENSE)))
                written += 1
            if rnd.random() < 0.001:
                f.write("garbage\n")
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


def child(spec_json: str) -> None:
    """Runs in its own process: the exporter's ingest path over the file, then one scrape."""
    import netviz_config
    from flow_exporter.aggregate import Aggregator
    from flow_exporter.exposition import render
    from flow_exporter.settings import from_network_config

    spec = json.loads(spec_json)
    settings = from_network_config(netviz_config.load(spec["config"]), spec["budgets"])
    fd = os.open(spec["data"], os.O_RDONLY)

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
    result = {
        "records": snap.records, "seconds": elapsed, "series": snap.series_count, "evictions": snap.evictions,
        "families": snap.families, "duplicates": snap.duplicates, "rejected": sum(snap.rejected.values()),
        "peak_rss_mib": rss_mib, "render_seconds": render_s, "exposition_bytes": len(body),
    }
    if spec["reference"]:
        # For comparison only: the same lines through the reference path alone (json.loads), i.e.
        # what GoFlow2 output without netviz's mapping costs. Measured after the peak RSS above.
        reference = Aggregator(settings, fast_path=False)
        result["reference_seconds"] = ingest_all(reference)
        assert reference.snapshot().series == snap.series, "fast and reference paths disagree"
    if spec["truth"]:
        result["wrong"] = flood_problems(snap, spec["truth"])
    print(json.dumps(result))


def flood_problems(snap, truth_path: str) -> list[str]:
    """What differs from the flood's truth: cells, hosts, services, local conversations; budgets
    and evictions."""
    from flow_exporter.series import (
        EXTERNAL_CONVERSATION, EXTERNAL_PEER, FLOW, HOST, LOCAL_CONVERSATION, SERVICE, label_values,
    )
    from tests.support.flood import Truth

    with open(truth_path) as f:
        truth = Truth.from_json(f.read())
    got = {family: {key[1:]: list(c) if family == FLOW else c[0] for key, c in snap.series if key[0] == family}
           for family in (FLOW, HOST, SERVICE)}
    got[LOCAL_CONVERSATION] = {label_values(key): list(c) for key, c in snap.series if key[0] == LOCAL_CONVERSATION}
    want = {FLOW: truth.cells, HOST: dict(truth.hosts), SERVICE: dict(truth.services),
            LOCAL_CONVERSATION: truth.local_conversations}
    wrong = []
    for family in want:
        for key in sorted(set(got[family]) | set(want[family]), key=str):
            if got[family].get(key) != want[family].get(key):
                wrong.append(f"{family} {key}: {got[family].get(key)} != {want[family].get(key)}")
    for name, series, budget, evictions in snap.families:
        if series > budget:
            wrong.append(f"{name}: {series} series over its budget {budget}")
        if name not in (EXTERNAL_PEER, EXTERNAL_CONVERSATION) and evictions:
            wrong.append(f"{name}: {evictions} evictions")
    if snap.records != truth.records or snap.duplicates != truth.duplicates:
        wrong.append(f"records {snap.records}/{truth.records}, duplicates {snap.duplicates}/{truth.duplicates}")
    return wrong


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


def run_case(name: str, data: str, budgets: dict, truth: str | None, reference: bool) -> dict:
    """The child over `data` on one CPU, then json.loads over it on the same CPU here."""
    cpu = sorted(os.sched_getaffinity(0))[-1]
    spec = {"data": data, "config": CONFIG, "budgets": budgets, "truth": truth, "reference": reference}
    out = subprocess.run(
        ["taskset", "-c", str(cpu), sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        result["loads_n"], result["loads_s"] = json_baseline(data)
    finally:
        os.sched_setaffinity(0, everything)
    result["cpu"] = cpu
    families = ", ".join(f"{n} {s}/{b} (evicted {e})" for n, s, b, e in result["families"])
    print(f"{name}: {result['records']} lines in {result['seconds']:.2f} s on CPU {cpu}; series {result['series']}: "
          f"{families}; duplicates {result['duplicates']}, rejected {result['rejected']}")
    print(f"{name}: one /metrics render: {result['render_seconds'] * 1000:.0f} ms, {result['exposition_bytes']} bytes")
    if reference:
        print(f"{name}: reference path only (json.loads + checks, as for output without the mapping): "
              f"{result['records'] / result['reference_seconds']:.0f} flows/s, same metrics")
    print(f"{name}: json.loads alone: {result['loads_n']} lines in {result['loads_s']:.2f} s")
    return result


def budget(value: str) -> tuple[str, int]:
    family, _, number = value.partition("=")
    return family, int(number)


def _rates(r: dict, prefix: str) -> str:
    """A case's figures as the last lines print them: flows/s, the same run's json.loads/s, their
    ratio and peak memory, each name after `prefix`."""
    flows, loads = r["records"] / r["seconds"], r["loads_n"] / r["loads_s"]
    return (f"{prefix}flows_per_s={flows:.0f} {prefix}json_loads_per_s={loads:.0f} "
            f"{prefix}ratio={flows / loads:.2f} {prefix}peak_rss_mib={r['peak_rss_mib']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=("homelab", "mix", "flood", "all"), default="all")
    parser.add_argument("--records", type=int, default=1_000_000, help="records of the mix")
    parser.add_argument("--flood", type=int, default=1_000_000, help="spoofed sources of the flood")
    parser.add_argument("--corpus", type=int, default=40_000, help="known flows among the flood")
    parser.add_argument("--series-budget", type=budget, action="append", default=[], metavar="FAMILY=N",
                        help="override a family's budget (default: the shipped network.toml's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    budgets = dict(args.series_budget)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.case in ("homelab", "all"):
            data = os.path.join(tmp, "homelab.jsonl")
            n = generate_homelab(data, args.records, args.seed)
            print(f"homelab: generated {n} lines, {os.path.getsize(data) / n:.0f} bytes per line on average")
            r = run_case("homelab", data, budgets, None, reference=False)
            os.unlink(data)
            evicted = sum(e for _n, _s, _b, e in r["families"])
            lines.append(f"{_rates(r, 'homelab_')} homelab_evicted={evicted}")
        if args.case in ("mix", "all"):
            data = os.path.join(tmp, "mix.jsonl")
            n = generate(data, args.records, args.seed)
            print(f"mix: generated {n} lines, {os.path.getsize(data) / n:.0f} bytes per line on average")
            r = run_case("mix", data, budgets, None, reference=True)
            os.unlink(data)
            lines.append(_rates(r, ""))
        if args.case in ("flood", "all"):
            sys.path.insert(0, ROOT)
            from tests.support.flood import write_corpus_and_flood

            data, truth_path = os.path.join(tmp, "flood.jsonl"), os.path.join(tmp, "flood-truth.json")
            truth = write_corpus_and_flood(data, corpus_flows=args.corpus, flood_records=args.flood, seed=args.seed)
            with open(truth_path, "w") as f:
                f.write(truth.to_json())
            print(f"flood: generated {truth.records} lines: {truth.flood_sources} spoofed sources, {truth.corpus_flows} "
                  f"corpus flows ({truth.duplicates} of them exported twice), {os.path.getsize(data) / truth.records:.0f} "
                  f"bytes per line on average")
            flood_budgets = {"local_conversations": 2 * len(truth.local_conversations), **budgets}
            print(f"flood: local_conversations budget {flood_budgets['local_conversations']}")
            r = run_case("flood", data, flood_budgets, truth_path, reference=False)
            for problem in r["wrong"][:20]:
                print(f"flood: WRONG {problem}")
            print(f"flood: {len(truth.cells)} subnet-pair cells, {len(truth.hosts)} host figures, {len(truth.services)} "
                  f"service figures, {len(truth.local_conversations)} local conversations: "
                  f"{'all exact' if not r['wrong'] else str(len(r['wrong'])) + ' wrong'}")
            lines.append(f"flood_flows_per_s={r['records'] / r['seconds']:.0f} "
                         f"flood_json_loads_per_s={r['loads_n'] / r['loads_s']:.0f} "
                         f"flood_peak_rss_mib={r['peak_rss_mib']:.1f} flood_exact={'NO' if r['wrong'] else 'yes'}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
