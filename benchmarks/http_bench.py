"""The flow exporter's HTTP server held by slow clients: threads, memory and scrape latency.

    python benchmarks/http_bench.py [--slow N] [--scrapes N]

Runs the real exporter command (`python -m flow_exporter`, the shipped network.toml, an input file
of 2,000 records so /metrics has series to render) on a loopback port, then, in the same run:
1. baseline: `--scrapes` GETs of /metrics and /healthz, one after the other, nothing else connected;
2. held: the same GETs while `--slow` connections (5,000) each sent half a request and wait (the
   slowloris pattern), opened just before.
For each it prints the exporter's threads and RSS (from /proc) and the scrape latency (median, 99th
percentile, max). Last line: `threads=A->B rss_mib=X->Y scrape_p99_ms=P->Q open_s=S`.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

HALF_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n"


def proc(pid: int) -> tuple[int, float]:
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    return int(status["Threads"]), int(status["VmRSS"].split()[0]) / 1024


def get(port: int, path: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        r.read()
    return time.perf_counter() - start


def scrape_latencies(port: int, scrapes: int) -> list[float]:
    return [get(port, path) for _ in range(scrapes) for path in ("/metrics", "/healthz")]


def summary(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"median {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=5000, help="slow connections held (default 5000)")
    parser.add_argument("--scrapes", type=int, default=50, help="GETs of each path per phase (default 50)")
    args = parser.parse_args()

    from tests.flow_exporter.helpers import goflow2_line
    from tests.support.tools import free_port

    with tempfile.TemporaryDirectory(prefix="netviz-http-bench-") as work:
        flows = os.path.join(work, "flows.jsonl")
        with open(flows, "wb") as f:
            for i in range(2000):
                f.write(goflow2_line(src_addr=f"10.0.20.{100 + i % 50}", dst_addr=f"198.51.100.{i % 250}",
                                     bytes=1000 + i) + b"\n")
        port = free_port()
        exporter = subprocess.Popen([sys.executable, "-m", "flow_exporter", "--config", os.path.join(ROOT, "network.toml"),
                                     "--input", flows, "--listen", f"127.0.0.1:{port}", "--no-names"],
                                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        held: list[socket.socket] = []
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    get(port, "/healthz")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            threads0, rss0 = proc(exporter.pid)
            baseline = scrape_latencies(port, args.scrapes)
            print(f"baseline: threads {threads0}, RSS {rss0:.1f} MiB, scrapes {summary(baseline)}")

            start = time.perf_counter()
            for _ in range(args.slow):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(HALF_REQUEST)
                held.append(s)
            opened = time.perf_counter() - start
            during = scrape_latencies(port, args.scrapes)
            threads1, rss1 = proc(exporter.pid)
            print(f"with {args.slow} slow connections (opened in {opened:.1f} s): threads {threads1}, "
                  f"RSS {rss1:.1f} MiB, scrapes {summary(during)}")
            p99 = [sorted(x)[min(len(x) - 1, int(len(x) * 0.99))] * 1000 for x in (baseline, during)]
            print(f"threads={threads0}->{threads1} rss_mib={rss0:.1f}->{rss1:.1f} "
                  f"scrape_p99_ms={p99[0]:.1f}->{p99[1]:.1f} open_s={opened:.1f}")
        finally:
            for s in held:
                s.close()
            exporter.terminate()
            exporter.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
