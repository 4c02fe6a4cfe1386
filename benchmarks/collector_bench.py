"""The real GoFlow2's rate beside the flow exporter's, on one CPU, in one run.

    python benchmarks/collector_bench.py [--flows N] [--repeat R] [--cpu C]

1. A NetFlow v9 stream from the real softflowd: N one-packet UDP flows (kubernetes hosts to
   external peers) in a pcap, read with `softflowd -r -v 9` (tests/support/flowgen.py), about 31
   records per datagram, templates every 16 datagrams. It is sent R times over.
2. The real GoFlow2 (the pinned build, tests/support/go_tools.py) pinned to CPU C with the
   synthesized collector's flags and mapping file (`-format=json -mapping=<goflow2-mapping.yaml>
   -transport=file`), writing to a regular file. The sender runs on another CPU and keeps at most
   --window datagrams ahead of what GoFlow2 has written (judged by its output's size), so the
   kernel drops nothing; the first datagram (the templates) goes alone. Measured: from the first
   datagram sent to GoFlow2's /metrics reporting the last one finished.
3. The exporter's ingest path (64 KiB reads, LineSplitter, Aggregator.ingest, as it reads its
   FIFO) over exactly the lines GoFlow2 wrote, in a child process pinned to the same CPU.

The last line is `goflow2_datagrams_per_s=D goflow2_lines_per_s=G exporter_lines_per_s=E ratio=E/G`;
the target is ratio >= 1.0: the Python exporter is never the bottleneck of the pod.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIG = os.path.join(ROOT, "network.toml")


def exporter_child(path: str, config_path: str) -> None:
    """Runs in its own process: the exporter's ingest path over GoFlow2's output."""
    import netviz_config
    from flow_exporter.aggregate import Aggregator
    from flow_exporter.settings import from_network_config
    from flow_exporter_bench import ingest_file  # the same ingest loop as the exporter benchmark

    settings = from_network_config(netviz_config.load(config_path), None)
    aggregator = Aggregator(settings)
    elapsed = ingest_file(os.open(path, os.O_RDONLY), aggregator)
    snap = aggregator.snapshot()
    print(json.dumps({"records": snap.records, "seconds": elapsed, "fallback": snap.fallback,
                      "glued": snap.glued_lines, "rejected": sum(snap.rejected.values())}))


def mapping_file(directory: Path) -> Path:
    """The goflow2 stack's ConfigMap holds flow_exporter.mapping's YAML; the same text."""
    from flow_exporter.mapping import goflow2_mapping_yaml

    path = directory / "goflow2-mapping.yaml"
    path.write_text(goflow2_mapping_yaml())
    return path


def run_goflow2(stream, repeat: int, cpu: int, window: int, directory: Path) -> dict:
    from tests.support.goflow2 import Goflow2

    output = directory / "goflow2.jsonl"
    output.write_bytes(b"")
    datagrams = stream.datagrams * repeat
    expected = sum(stream.records) * repeat
    with Goflow2(output, args=[f"-mapping={mapping_file(directory)}"], cpu=cpu) as collector:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        to = ("127.0.0.1", collector.netflow_port)
        cpu_before = _cpu_seconds(collector.proc.pid)
        start = time.perf_counter()
        # The first datagram alone: it carries the templates, which GoFlow2's two workers must have
        # stored before they decode the next ones.
        sock.sendto(datagrams[0], to)
        while collector.decoded() < 1:
            time.sleep(0.001)
        per_datagram = os.path.getsize(output) / stream.records[0] * (sum(stream.records) / len(stream.records))
        sent = 1
        # Then at most `window` ahead of what GoFlow2 has written (its output's size: a stat costs
        # GoFlow2 nothing, where polling its /metrics would cost its CPU).
        while sent < len(datagrams):
            finished = os.path.getsize(output) / per_datagram
            while sent < len(datagrams) and sent - finished < window:
                sock.sendto(datagrams[sent], to)
                sent += 1
            time.sleep(0.0005)
        # Until GoFlow2 has finished every datagram, or made no progress for 2 s: a datagram the kernel
        # dropped never arrives (the loss is reported, and the time ends at the last progress).
        done, progress_at = collector.decoded(), time.perf_counter()
        while done < len(datagrams) and time.perf_counter() - progress_at < 2.0:
            time.sleep(0.001)
            now = collector.decoded()
            if now != done:
                done, progress_at = now, time.perf_counter()
        elapsed = progress_at - start
        cpu_seconds = _cpu_seconds(collector.proc.pid) - cpu_before
        sock.close()
        records = collector.records_decoded()
    lines = output.read_bytes().count(b"\n")
    return {"datagrams": done, "records": records, "expected": expected, "lines": lines,
            "seconds": elapsed, "cpu_seconds": cpu_seconds, "output": str(output)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=30000, help="flows in the pcap (default 30000)")
    parser.add_argument("--repeat", type=int, default=10, help="times the stream is sent (default 10)")
    parser.add_argument("--window", type=int, default=32, help="datagrams in flight at most (default 32)")
    parser.add_argument("--cpu", type=int, default=None, help="the CPU both run on (default: the last)")
    parser.add_argument("--child", nargs=2, metavar=("DATA", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        exporter_child(*args.child)
        return
    from tests.support.flowgen import softflowd_stream

    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[-1] if args.cpu is None else args.cpu
    others = set(cpus) - {cpu}
    if others:
        os.sched_setaffinity(0, others)  # the sender and this script stay off the measured CPU
    with tempfile.TemporaryDirectory(prefix="netviz-collector-bench-") as tmp:
        tmp = Path(tmp)
        stream = softflowd_stream(tmp, args.flows)
        print(f"softflowd: {args.flows} flows in {len(stream.datagrams)} NetFlow v9 datagrams "
              f"({sum(map(len, stream.datagrams)) / len(stream.datagrams):.0f} bytes, "
              f"{args.flows / len(stream.datagrams):.1f} records each), sent {args.repeat} times")
        g = run_goflow2(stream, args.repeat, cpu, args.window, tmp)
        if g["lines"] != g["expected"] or g["records"] != g["expected"]:
            print(f"WARNING: GoFlow2 decoded {g['records']} and wrote {g['lines']} of {g['expected']} records "
                  f"(datagrams lost before decoding? try a smaller --window)")
        size = os.path.getsize(g["output"])
        out = subprocess.run(["taskset", "-c", str(cpu), sys.executable, os.path.abspath(__file__), "--child",
                              g["output"], CONFIG], check=True, capture_output=True, text=True, cwd=ROOT)
        e = json.loads(out.stdout.strip().splitlines()[-1])
    g_dps, g_lps = g["datagrams"] / g["seconds"], g["lines"] / g["seconds"]
    e_lps = e["records"] / e["seconds"]
    print(f"goflow2 (CPU {cpu}, synthesized flags and mapping): {g['datagrams']} datagrams -> {g['lines']} lines "
          f"({size / max(g['lines'], 1):.0f} bytes each) in {g['seconds']:.2f} s, "
          f"{g['cpu_seconds'] / g['seconds']:.0%} of its CPU busy")
    print(f"exporter (CPU {cpu}): {e['records']} records in {e['seconds']:.2f} s; off the fast path {e['fallback']}, "
          f"glued lines {e['glued']}, rejected {e['rejected']}")
    print(f"goflow2_datagrams_per_s={g_dps:.0f} goflow2_lines_per_s={g_lps:.0f} exporter_lines_per_s={e_lps:.0f} "
          f"ratio={e_lps / g_lps:.2f}")


if __name__ == "__main__":
    main()
