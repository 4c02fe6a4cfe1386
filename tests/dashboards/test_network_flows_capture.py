"""Network Flows' traffic panels against a real capture: real packets, real softflowd, the real
flow exporter, a real Prometheus, and the truth computed from the pcaps (tests/support/netflow.py).

The exporter's input is empty while Prometheus takes a first sample; then the capture's GoFlow2
lines are written to it once, and create every series. The exporter shows a new series at 0 until
its new-series window has passed (increase() cannot see a first sample: flow_exporter/series.py;
2 s here, twice the 1 s scrape interval the test's copy of the config sets). Evaluated at the first
sample after that, with `$__range`
1 ms longer than the time since the last sample before them (dashboard_exprs.window: new series
start at 0, so nothing is extrapolated), each panel must show exactly the capture's bytes, every series' first flows included: e.g. the Inter-VLAN cell storage -> kubernetes equals
the bytes the pcaps saw between the two.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

import dashboards
from tests.dashboards.dashboard_exprs import leftover_variables, range_start, substitute, target, window
from tests.dashboards.test_network_flows_queries import REPO, _by, _samples, _wait_grown, _wait_http, _wait_value
from tests.flow_exporter.helpers import with_netflow_senders, with_scrape_interval
from tests.support.tools import free_port

BOARD = dashboards.render_network_flows()


@pytest.fixture(scope="module")
def measured(flow_capture, tmp_path_factory):
    from tests.support.prometheus import PrometheusServer

    work = tmp_path_factory.mktemp("capture-flows")
    lines = flow_capture.goflow2_lines
    records = work / "flows.jsonl"
    records.write_text("")
    config = work / "network.toml"
    config.write_text(with_netflow_senders(with_scrape_interval(flow_capture.config_path.read_text(), "1s"),
                                           flow_capture.sender))
    port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "flow_exporter", "--config", str(config), "--input", str(records),
         "--listen", f"127.0.0.1:{port}", "--no-names"],  # network.toml's names only (DNS: tests/e2e)
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    prom = PrometheusServer({"scrape_configs": [
        {"job_name": "flow-exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
    ]})
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", exporter)
        prom.start()
        read = 'netviz_flow_exporter_records_total{job="flow-exporter"}'
        _wait_value(prom, read, 0)  # a sample before any record: no flow series yet
        with open(records, "a") as f:
            f.write("".join(line + "\n" for line in lines))
        # the first scrape after every series' window passed: all at their value
        at = _wait_grown(prom, len(lines))
        span_ms = round((at - max(t for t, v in _samples(prom, read) if v == 0)) * 1000)
        yield prom, at, span_ms, flow_capture.truth
    finally:
        prom.stop()
        exporter.terminate()
        try:
            exporter.wait(timeout=10)
        except subprocess.TimeoutExpired:
            exporter.kill()


def _run(measured, title: str, ref_id: str = "A") -> list[dict]:
    prom, at, span_ms, _ = measured
    text = substitute(target(BOARD, title, ref_id)["expr"], {"__range": window(span_ms), "__rate_interval": window(span_ms),
                                                             "__from": range_start(at, span_ms), "subnet": ".*", "proto": ".*"})
    assert not leftover_variables(text)
    return prom.query(text, time=at)


def test_inter_vlan_matrix_equals_the_capture(measured):
    truth = measured[3]
    got = _by(_run(measured, "Inter-VLAN traffic"), "src_subnet", "dst_subnet")
    expected = Counter()
    for (s, d, _proto), b in truth.subnet_bytes.items():
        if "external" not in (s, d):
            expected[(s, d)] += b
    assert truth.bytes_between("storage", "kubernetes") > 0, "the capture has no storage -> kubernetes traffic"
    assert got[("storage", "kubernetes")] == truth.bytes_between("storage", "kubernetes")
    assert got == dict(expected)


def test_protocol_breakdown_equals_the_capture(measured):
    truth = measured[3]
    expected = Counter()
    for (_s, _d, proto), b in truth.subnet_bytes.items():
        expected[proto] += b
    assert _by(_run(measured, "Protocol breakdown"), "proto") == dict(expected)


def test_top_talkers_equal_the_capture(measured):
    truth = measured[3]
    expected = Counter()
    for (ip, _direction), b in truth.host_bytes.items():
        expected[(truth.host_name.get(ip, ip), ip, truth.host_subnet[ip])] += b
    got = _by(_run(measured, "Top talkers"), "name", "host", "subnet")
    top = dict(expected.most_common(len(got)))
    assert got == top


def test_external_destinations_equal_the_capture(measured):
    truth = measured[3]
    expected = Counter()
    for (peer, _direction), b in truth.external_bytes.items():
        expected[peer] += b
    assert _by(_run(measured, "External destinations"), "peer") == dict(expected)


def _pair_bytes(truth) -> Counter:
    expected = Counter()
    for (src, dst, _proto, _sp, _dp), b in truth.flow_bytes.items():
        expected[(src, dst)] += b
    return expected


def test_network_map_edges_are_the_bytes_each_host_sent_each_other_in_the_capture(measured):
    truth = measured[3]
    expected = _pair_bytes(truth)
    assert expected[("10.0.10.15", "10.0.20.100")] > 3_000_000  # truenas -> k8s-node-0, exported twice, once here
    got = _by(_run(measured, "Network map", "edges"), "source", "target")
    assert got == dict(expected)


def test_network_map_nodes_and_top_conversations_name_the_capture_hosts(measured):
    truth = measured[3]
    nodes = {r["metric"]["id"]: r["metric"] for r in _run(measured, "Network map", "nodes")}
    ends = {a for pair in _pair_bytes(truth) for a in pair}
    assert set(nodes) == ends
    for address, labels in nodes.items():
        assert labels["title"] == truth.host_name.get(address, address)
        assert labels["subtitle"] == truth.host_subnet.get(address, "external")
    rows = _run(measured, "Top conversations")
    pairs = Counter()
    for r in rows:
        m = r["metric"]
        assert (m["src_name"], m["dst_name"]) == (truth.host_name.get(m["src"], m["src"]), truth.host_name.get(m["dst"], m["dst"]))
        pairs[(m["src"], m["dst"])] += float(r["value"][1])
    expected = _pair_bytes(truth)
    assert pairs and all(b <= expected[pair] for pair, b in pairs.items())  # the busiest (pair, service) rows
    assert max(pairs, key=pairs.get) == max(expected, key=expected.get)  # truenas -> k8s-node-0 first
