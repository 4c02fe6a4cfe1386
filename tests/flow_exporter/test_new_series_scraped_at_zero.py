"""A new flow series is scraped at 0 once, then with its value, so increase() counts its first flows.

Prometheus' increase()/rate() cannot see an increase inside a series' first sample. A series that
appeared already holding its first flow's bytes would have them missing from every dashboard's
`increase(...[$__range])`. The store shows keys created since the previous *scrape* at 0
(flow_exporter/series.py); other snapshots are unchanged. Unit tests on the store and aggregator,
then the real command scraped by a real Prometheus, beside a control serving what the exporter
served before (the first sample already holding the bytes), for which increase() finds nothing.
"""

from __future__ import annotations

import subprocess
import sys

from flow_exporter.exposition import FLOW_METRICS, render
from flow_exporter.series import SeriesStore
from tests.flow_exporter.helpers import (REPO, aggregator, goflow2_line, parse_exposition, value, wait_until,
                                         write_network_toml)
from tests.support.tools import free_port

FLOW_KEY = ("flow", "kubernetes", "storage", "TCP")


# ---- the store ----------------------------------------------------------------------------------


def test_a_new_key_shows_zero_in_the_first_scrape_snapshot_and_its_value_from_the_second():
    store = SeriesStore(max_series=10)
    store.add(FLOW_KEY, (1000, 2, 1))
    store.add1(("host", "a"), 5)
    store.add1(("host", "a"), 2)  # updated again before any scrape: still fresh
    assert store.scrape_snapshot() == [(FLOW_KEY, (0, 0, 0)), (("host", "a"), (0,))]
    assert store.scrape_snapshot() == [(FLOW_KEY, (1000, 2, 1)), (("host", "a"), (7,))]
    # an exposed key updated again is not fresh: its new value shows at once
    store.add1(("host", "a"), 3)
    store.add1(("host", "b"), 9)  # but a key created now is
    assert store.scrape_snapshot() == [(FLOW_KEY, (1000, 2, 1)), (("host", "a"), (10,)), (("host", "b"), (0,))]
    assert store.scrape_snapshot() == [(FLOW_KEY, (1000, 2, 1)), (("host", "a"), (10,)), (("host", "b"), (9,))]


def test_an_evicted_and_recreated_key_is_fresh_again():
    store = SeriesStore(max_series=3)
    for name in "abc":
        store.add1(("host", name), 1)
    store.scrape_snapshot()  # a, b, c exposed
    store.add1(("host", "d"), 4)  # evicts a
    store.add1(("host", "a"), 8)  # a again (evicts b): a new series, starting from 0
    assert store.scrape_snapshot() == [(("host", "c"), (1,)), (("host", "d"), (0,)), (("host", "a"), (0,))]
    assert store.scrape_snapshot() == [(("host", "c"), (1,)), (("host", "d"), (4,)), (("host", "a"), (8,))]
    assert store.evictions == 2


def test_keys_evicted_before_any_scrape_are_not_remembered():
    # Fresh keys are bounded by the store's cap: an evicted key leaves the fresh set too.
    store = SeriesStore(max_series=3)
    for i in range(1000):
        store.add1(("external", f"203.0.113.{i % 250}", str(i)), 1)
    assert len(store._fresh) == len(store) == 3
    assert store.scrape_snapshot() == [(("external", f"203.0.113.{i % 250}", str(i)), (0,)) for i in (997, 998, 999)]
    assert store._fresh == set()


def test_other_snapshots_are_unaffected_and_do_not_expose_a_key():
    store = SeriesStore(max_series=10)
    store.add(FLOW_KEY, (1000, 2, 1))
    assert store.snapshot() == [(FLOW_KEY, (1000, 2, 1))]
    assert store.snapshot() == [(FLOW_KEY, (1000, 2, 1))]
    assert store.scrape_snapshot() == [(FLOW_KEY, (0, 0, 0))]  # still the first scrape
    assert store.snapshot() == [(FLOW_KEY, (1000, 2, 1))]
    assert store.scrape_snapshot() == [(FLOW_KEY, (1000, 2, 1))]


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


def flow_samples(samples: dict) -> dict:
    """The samples of the four flow-series families (not the exporter's self metrics)."""
    names = {name for _f, _i, name, _l, _h in FLOW_METRICS}
    return {k: v for k, v in samples.items() if k[0] in names}


def test_the_first_scrape_shows_every_family_at_zero_and_the_self_metrics_as_they_are():
    agg = aggregator()
    agg.ingest(LINES)
    real = parse_exposition(render(agg.snapshot()))
    first = parse_exposition(render(agg.scrape_snapshot()))
    second = parse_exposition(render(agg.scrape_snapshot()))
    # every family has series (flow, host, external peer, service), all at 0 in the first scrape
    families = {name for name, _labels in flow_samples(real)}
    assert families == {name for _f, _i, name, _l, _h in FLOW_METRICS}
    assert set(flow_samples(first)) == set(flow_samples(real))
    assert set(flow_samples(first).values()) == {0}
    # the self metrics are not held back: records, rejects, duplicates and the series count are real
    assert {k: v for k, v in first.items() if k not in flow_samples(first)} == \
        {k: v for k, v in real.items() if k not in flow_samples(real)}
    assert value(first, "netviz_flow_exporter_records_total") == 5
    assert value(first, "netviz_flow_exporter_series") == 2 * 3 + 2 + 1 + 2  # 2 pair keys x3, 2 hosts, 1 peer, 2 services
    # from the second scrape on, the real values
    assert second == real
    assert sum(v for (name, _), v in second.items() if name == "netviz_flow_bytes_total") == INGESTED_BYTES


# ---- a real Prometheus ----------------------------------------------------------------------------


def _samples(prom, expr: str) -> list[tuple[float, float]]:
    result = prom.query(f"{expr}[10m]")
    assert len(result) <= 1, result
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def _birth_window(prom, job: str, records: int) -> tuple[float, int]:
    """(eval time, range ms) for `job`: from its last sample before any record was read to its
    second sample holding every record. A series born in between has had both of its first two
    scrapes in the range (the 0 sample, then the real value), and evaluating at a sample with the
    range starting at a sample leaves increase() nothing to extrapolate."""
    read = f'netviz_flow_exporter_records_total{{job="{job}"}}'
    wait_until(f"two scrapes of {job} after it read {records} records",
               lambda: sum(1 for _t, v in _samples(prom, read) if v == records) >= 2, timeout=30)
    samples = _samples(prom, read)
    start = max(t for t, v in samples if v == 0)
    end = sorted(t for t, v in samples if v == records)[1]
    return end, round((end - start) * 1000)


def _increase(prom, job: str, metric: str, labels, window: tuple[float, int]) -> dict:
    at, span_ms = window
    rows = prom.query(f'increase({metric}{{job="{job}"}}[{span_ms}ms])', time=at)
    return {tuple(r["metric"][name] for name in labels): float(r["value"][1]) for r in rows}


def test_increase_over_a_new_series_birth_equals_the_bytes_ingested(tmp_path, start_prometheus, serve_metrics):
    # GIVEN the real exporter following an empty file, and a control target that serves what the
    # exporter served before this change: its series appear already holding the ingested bytes
    config = write_network_toml(tmp_path)
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
        truth = aggregator()
        control = serve_metrics(render(truth.snapshot()).decode())
        prom = start_prometheus({"scrape_configs": [
            {"job_name": "exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
            {"job_name": "control", "static_configs": [{"targets": [control.address]}]},
        ]})
        for job in ("exporter", "control"):
            prom.wait_for_scrape(job)  # a sample with no record read yet
        # WHEN the records arrive: the exporter reads them; the control shows them all at once
        with open(records, "ab") as f:
            f.write(b"".join(line + b"\n" for line in LINES))
        truth.ingest(LINES)
        control.set_text(render(truth.snapshot()).decode())
        # THEN increase() over a range covering the series' birth is every byte ingested, per series,
        # for every family
        window = _birth_window(prom, "exporter", len(LINES))
        got = _increase(prom, "exporter", "netviz_flow_bytes_total", ("src_subnet", "dst_subnet", "proto"), window)
        assert got == {("kubernetes", "storage", "TCP"): 2200, ("kubernetes", "external", "UDP"): 800}
        assert sum(got.values()) == INGESTED_BYTES
        expected = truth.snapshot().series
        for family, index, metric, labels, _help in FLOW_METRICS:
            want = {key[1:]: counters[index] for key, counters in expected if key[0] == family}
            assert want, family
            assert _increase(prom, "exporter", metric, labels, window) == want, metric
        # ... while for the control (the first sample already holding the bytes), Prometheus sees no
        # increase at all: the assertions above fail without the change.
        control_window = _birth_window(prom, "control", len(LINES))
        got = _increase(prom, "control", "netviz_flow_bytes_total", ("src_subnet", "dst_subnet", "proto"),
                        control_window)
        assert got == {("kubernetes", "storage", "TCP"): 0, ("kubernetes", "external", "UDP"): 0}
    finally:
        exporter.terminate()
        try:
            exporter.wait(timeout=10)
        except subprocess.TimeoutExpired:
            exporter.kill()
            exporter.wait(timeout=10)
    assert b"Traceback" not in log_path.read_bytes()
