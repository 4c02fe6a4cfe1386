"""A new flow series reads 0 until a time window has passed since it was created, for every scraper.

Prometheus' increase()/rate() cannot see an increase inside a series' first sample. A series that
appeared already holding its first flow's bytes would have them missing from every dashboard's
`increase(...[$__range])`. The store shows keys created less than the window ago at 0
(flow_exporter/series.py): by the time, never by who scraped, so two Prometheus servers (an HA pair)
and a curl between them each take a 0 sample first. Unit tests on the store and the aggregator (with
a clock the test moves), then the real command scraped by two real Prometheus servers at different
phases, with curls of /metrics between their scrapes.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest

from flow_exporter.exposition import FLOW_METRICS, render
from flow_exporter.series import EXTERNAL_PEER, FLOW, HOST, SeriesStore, label_values
from tests.flow_exporter.helpers import (POLICY_TOML, REPO, FakeClock, aggregator, goflow2_line, parse_exposition, value,
                                         wait_until, write_network_toml)
from tests.support.prometheus import PrometheusError
from tests.support.tools import free_port

FLOW_KEY = (FLOW, "kubernetes", "storage", "TCP")
WINDOW = 60.0


def store(clock, **budgets) -> SeriesStore:
    return SeriesStore(budgets, zero_window=WINDOW, clock=clock)


# ---- the store ----------------------------------------------------------------------------------


def test_a_new_key_reads_zero_in_every_scrape_until_the_window_has_passed():
    clock = FakeClock()
    s = store(clock)
    s.add(FLOW_KEY, (1000, 2, 1))
    s.add1((HOST, "a"), 5)
    s.add1((HOST, "a"), 2)  # updated again within its window: still 0
    # any number of scrapes within the window, by any number of clients, all see 0
    for _ in range(5):
        assert s.scrape_snapshot() == [(FLOW_KEY, (0, 0, 0)), ((HOST, "a"), (0,))]
    clock.advance(WINDOW - 0.001)
    assert s.scrape_snapshot() == [(FLOW_KEY, (0, 0, 0)), ((HOST, "a"), (0,))]
    assert s.new_series(clock()) == 4
    clock.advance(0.001)  # exactly the window after: the real values, for everyone
    assert s.scrape_snapshot() == [(FLOW_KEY, (1000, 2, 1)), ((HOST, "a"), (7,))]
    assert s.scrape_snapshot() == [(FLOW_KEY, (1000, 2, 1)), ((HOST, "a"), (7,))]
    assert s.new_series(clock()) == 0


def test_each_key_has_its_own_window_and_an_old_key_shows_updates_at_once():
    clock = FakeClock()
    s = store(clock)
    s.add1((HOST, "a"), 1)
    clock.advance(WINDOW)
    s.add1((HOST, "a"), 3)  # grown: shows at once
    s.add1((HOST, "b"), 9)  # new: 0 for a window from now
    assert s.scrape_snapshot() == [((HOST, "a"), (4,)), ((HOST, "b"), (0,))]
    clock.advance(WINDOW / 2)
    assert s.scrape_snapshot() == [((HOST, "a"), (4,)), ((HOST, "b"), (0,))]
    clock.advance(WINDOW / 2)
    assert s.scrape_snapshot() == [((HOST, "a"), (4,)), ((HOST, "b"), (9,))]


def test_an_evicted_and_recreated_key_reads_zero_again_for_a_whole_window():
    clock = FakeClock()
    s = store(clock, hosts=2)
    s.add1((HOST, "a"), 1)
    s.add1((HOST, "b"), 1)
    clock.advance(WINDOW)
    assert s.scrape_snapshot() == [((HOST, "a"), (1,)), ((HOST, "b"), (1,))]
    s.add1((HOST, "c"), 4)  # evicts a
    clock.advance(1)
    s.add1((HOST, "a"), 8)  # a again (evicts b): a new series, 0 first (a visible counter reset)
    assert s.scrape_snapshot() == [((HOST, "c"), (0,)), ((HOST, "a"), (0,))]
    clock.advance(WINDOW - 1)
    assert s.scrape_snapshot() == [((HOST, "c"), (4,)), ((HOST, "a"), (0,))]
    clock.advance(1)
    assert s.scrape_snapshot() == [((HOST, "c"), (4,)), ((HOST, "a"), (8,))]
    assert s.families()[1][3] == 2  # two host series evicted


def test_nothing_is_kept_for_keys_evicted_within_their_window():
    # A flood of new keys: the store holds no more than the budget, creation times included.
    clock = FakeClock()
    s = store(clock, external_peers=3)
    for i in range(1000):
        s.add1((EXTERNAL_PEER, f"203.0.113.{i % 250}", str(i)), 1)
    assert len(s) == 3 and s.new_series(clock()) == 3
    assert s.scrape_snapshot() == [((EXTERNAL_PEER, f"203.0.113.{i % 250}", str(i)), (0,)) for i in (997, 998, 999)]


def test_a_zero_window_shows_values_at_once_and_snapshots_always_do():
    clock = FakeClock()
    off = SeriesStore(zero_window=0, clock=clock)
    off.add(FLOW_KEY, (1000, 2, 1))
    assert off.scrape_snapshot() == [(FLOW_KEY, (1000, 2, 1))]
    s = store(clock)
    s.add(FLOW_KEY, (1000, 2, 1))
    assert s.snapshot() == [(FLOW_KEY, (1000, 2, 1))]
    assert s.scrape_snapshot() == [(FLOW_KEY, (0, 0, 0))]
    assert s.snapshot() == [(FLOW_KEY, (1000, 2, 1))]


# ---- the aggregator and the rendered scrape -------------------------------------------------------

LINES = [
    goflow2_line(bytes=1500, packets=3, in_if=1),  # kubernetes -> storage (nfs)
    goflow2_line(bytes=1500, packets=3, in_if=2),  # its copy from the other interface: a duplicate
    goflow2_line(bytes=700, packets=1, in_if=1),  # the same series again
    goflow2_line(src_addr="10.0.20.100", dst_addr="203.0.113.7", proto="UDP", src_port=40000, dst_port=53,
                 bytes=80, packets=1, sampling_rate=10, in_if=1),  # to an external peer, sampled x10
    b"not json",
]
INGESTED_BYTES = 1500 + 700 + 800
FLOW_NAMES = {name for _f, _i, name, _l, _h in FLOW_METRICS}


def flow_samples(samples: dict) -> dict:
    """The samples of the flow-series families (not the exporter's self metrics)."""
    return {k: v for k, v in samples.items() if k[0] in FLOW_NAMES}


def test_scrapes_show_every_family_at_zero_for_the_configs_window_and_the_self_metrics_as_they_are():
    clock = FakeClock()
    agg = aggregator(clock=clock, policy=True)  # the config's window: twice the default scrape interval, 60 s
    agg.ingest(LINES)
    real = parse_exposition(render(agg.snapshot()))
    first = parse_exposition(render(agg.scrape_snapshot()))
    clock.advance(59.9)
    later = parse_exposition(render(agg.scrape_snapshot()))
    # every family has series (flow, host, internet usage, external peer, service, conversation, policy), all at 0
    # in both scrapes
    assert {name for name, _labels in flow_samples(real)} == FLOW_NAMES
    for scrape in (first, later):
        assert set(flow_samples(scrape)) == set(flow_samples(real))
        assert set(flow_samples(scrape).values()) == {0}
        # the self metrics are not held back: records, rejects, duplicates, series counts are real
        assert value(scrape, "netviz_flow_exporter_records_total") == 5
        # 2 pairs x3, 2 hosts, 1 host's internet usage, 1 peer, 2 services, 2 conversations x2, 1 policy violation
        assert value(scrape, "netviz_flow_exporter_series") == 2 * 3 + 2 + 1 + 1 + 2 + 2 * 2 + 1
        assert value(scrape, "netviz_flow_exporter_new_series") == 17
    # once the window has passed: the real values
    clock.advance(0.1)
    grown = parse_exposition(render(agg.scrape_snapshot()))
    assert flow_samples(grown) == flow_samples(real)
    assert value(grown, "netviz_flow_exporter_new_series") == 0
    assert sum(v for (name, _), v in grown.items() if name == "netviz_flow_bytes_total") == INGESTED_BYTES


# ---- the real command, two real Prometheus servers and a curl ---------------------------------------

# Batches of records, each creating series in every family and updating earlier ones.
BATCHES = [
    LINES,
    [goflow2_line(src_addr="10.0.20.101", dst_addr="10.0.10.15", bytes=4000, packets=4, in_if=1),  # host k8s-node-1
     goflow2_line(bytes=300, packets=1, in_if=1),  # the first pair again
     goflow2_line(src_addr="198.51.100.9", dst_addr="10.0.20.100", proto="TCP", src_port=443, dst_port=50000,
                  bytes=9000, packets=7, in_if=1)],  # a new peer, inbound, https
    [goflow2_line(src_addr="10.0.10.15", dst_addr="192.168.1.127", proto="TCP", src_port=2049, dst_port=40001,
                  bytes=12345, packets=9, in_if=2),  # storage -> home: a new pair, host proxmox
     goflow2_line(src_addr="10.0.20.100", dst_addr="203.0.113.7", proto="UDP", src_port=40000, dst_port=53,
                  bytes=20, packets=1, in_if=1),  # the first peer again
     goflow2_line(src_addr="10.0.20.102", dst_addr="2001:db8::5", proto="ICMPv6", src_port=0, dst_port=0,
                  bytes=64, packets=1, in_if=1)],  # a new protocol and an IPv6 peer
]
PROMETHEUS_FLOW_SERIES = "{__name__=~\"" + "|".join(sorted(FLOW_NAMES)) + "\"}"
SCRAPE_INTERVAL = 1.0
# Prometheus hands its scrape loops their targets 5 s after start by default (a hidden flag): 0.1 s.
FAST_START = ["--scrape.discovery-reload-interval=100ms"]


def _get_metrics(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return parse_exposition(r.read())


def _samples(prom, expr: str) -> list[tuple[float, float]]:
    result = prom.query(f"{expr}[10m]")
    assert len(result) <= 1, result
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def _wait_for_sample(prom, expr: str, predicate, what: str) -> float:
    """Time of the first sample of `expr` (one series) satisfying `predicate(value)`, waiting for it."""
    def found():
        return next((t for t, v in _samples(prom, expr) if predicate(v)), None)
    return wait_until(f"{what} (server {prom.url})", found, timeout=30)


def _wait_for_all_grown(prom, records: int) -> float:
    """Time of this server's first scrape showing `records` read and no series still reading 0."""
    def found():
        read = dict(_samples(prom, 'netviz_flow_exporter_records_total{job="exporter"}'))
        new = _samples(prom, 'netviz_flow_exporter_new_series{job="exporter"}')
        return next((t for t, v in new if v == 0 and read.get(t) == records), None)
    return wait_until(f"a scrape with every series at its value (server {prom.url})", found, timeout=30)


def _phase(prom) -> float:
    """Where in the second this server scrapes the exporter (its latest scrape's timestamp, mod 1 s)."""
    return _samples(prom, 'up{job="exporter"}')[-1][0] % SCRAPE_INTERVAL


def _start_pair(start_prometheus, port: int):
    """Two Prometheus servers of an HA pair (same job, replica labels a and b) whose scrapes of the
    exporter are at least 0.2 s apart in each second. Prometheus spreads the servers of a pair by a
    hash of their external labels and the target: when the two land close together, b is started
    again under another replica label."""
    def server(replica: str):
        return start_prometheus({
            "global": {"scrape_interval": "1s", "external_labels": {"replica": replica}},
            "scrape_configs": [{"job_name": "exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
        }, extra_args=FAST_START)

    def scraped(prom):
        wait_until(f"a scrape by {prom.url}", lambda: _samples(prom, 'up{job="exporter"}'), timeout=30)
        return prom

    a, b = server("a"), server("b")
    scraped(a)
    for attempt in range(1, 9):
        apart = abs(_phase(a) - _phase(scraped(b)))
        if min(apart, SCRAPE_INTERVAL - apart) >= 0.2:
            return a, b
        b.stop()
        b = server(f"b{attempt}")
    raise PrometheusError("no replica label among 8 put the second server's scrapes 0.2 s from the first's")


def _increase(prom, metric: str, labels, at: float, span_ms: int) -> dict:
    rows = prom.query(f'increase({metric}{{job="exporter"}}[{span_ms}ms])', time=at)
    return {tuple(r["metric"][name] for name in labels): float(r["value"][1]) for r in rows}


def test_two_prometheus_servers_and_a_curl_each_see_every_new_series_at_zero_first(tmp_path, start_prometheus):
    # GIVEN the real exporter following an empty file, with netviz's scrape interval set to 1s (so
    # its new-series window is the default: 2s), scraped by two Prometheus servers at different phases
    config = write_network_toml(tmp_path, POLICY_TOML + '\n[monitoring.prometheus]\nscrape_interval = "1s"\n')
    records = tmp_path / "flows.jsonl"
    records.write_bytes(b"")
    port = free_port()
    log_path = tmp_path / "exporter.log"
    with open(log_path, "wb") as log:
        exporter = subprocess.Popen(
            [sys.executable, "-m", "flow_exporter", "--config", config, "--input", str(records),
             "--listen", f"127.0.0.1:{port}"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        wait_until("the exporter to serve", lambda: _get_metrics(port))
        servers = _start_pair(start_prometheus, port)
        read = 'netviz_flow_exporter_records_total{job="exporter"}'
        starts = [max(t for t, v in _samples(prom, read) if v == 0) for prom in servers]  # before any record
        truth = aggregator(zero_window=0, policy=True)
        written = 0
        for batch in BATCHES:
            # WHEN a batch arrives: the exporter reads it, and a curl of /metrics sees it read (the
            # curl that, when a series showed 0 to the first client only, took that 0 sample) ...
            with open(records, "ab") as f:
                f.write(b"".join(line + b"\n" for line in batch))
            written += len(batch)
            truth.ingest(batch)
            wait_until("a curl to see the batch read",
                       lambda: value(_get_metrics(port), "netviz_flow_exporter_records_total") == written)
            # ... and both servers scrape it, then the next batch comes
            for prom in servers:
                _wait_for_sample(prom, read, lambda v: v == written, f"a sample with {written} records read")
        ends = [_wait_for_all_grown(prom, written) for prom in servers]
        want = {(families, index): {label_values(key): counters[index] for key, counters in truth.snapshot().series
                                    if key[0] in families}
                for families, index, *_ in FLOW_METRICS}
        assert all(want.values())  # every family has series
        for prom, start, end in zip(servers, starts, ends):
            # THEN in each server every flow series of every family began with a 0 sample ...
            series = prom.query(f"{PROMETHEUS_FLOW_SERIES}[10m]", time=end)
            assert len(series) == sum(len(rows) for rows in want.values())
            for s in series:
                assert float(s["values"][0][1]) == 0, (prom.url, s["metric"], s["values"][:3])
            # ... and increase() over the run is exactly what was read, series by series
            span_ms = round((end - start) * 1000)
            for families, index, metric, labels, _help in FLOW_METRICS:
                assert _increase(prom, metric, labels, end, span_ms) == want[(families, index)], (prom.url, metric)
    finally:
        exporter.terminate()
        try:
            exporter.wait(timeout=10)
        except subprocess.TimeoutExpired:
            exporter.kill()
            exporter.wait(timeout=10)
    assert b"Traceback" not in log_path.read_bytes()
