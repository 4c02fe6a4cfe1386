"""Network Flows' traffic panels against a real capture: real packets, real softflowd, the real
flow exporter, a real Prometheus, and the truth computed from the pcaps (tests/support/netflow.py).

The capture's GoFlow2 lines are written to the exporter's input twice: the first pass creates
every series (increase() needs a sample to count from), Prometheus scrapes, the second pass is
the measured traffic. Evaluated at the first sample after the second pass, with `$__range` equal
to the time since the last sample before it, each panel must show exactly the capture's bytes:
e.g. the Inter-VLAN cell storage -> kubernetes equals the bytes the pcaps saw between the two.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest

import dashboards
from tests.dashboards.dashboard_exprs import leftover_variables, substitute, target
from tests.dashboards.test_network_flows_queries import REPO, _by, _samples, _wait_http, _wait_value, _window
from tests.support.tools import free_port

BOARD = dashboards.render_network_flows()


@pytest.fixture(scope="module")
def measured(flow_capture, tmp_path_factory):
    from tests.support.prometheus import PrometheusServer

    work = tmp_path_factory.mktemp("capture-flows")
    lines = flow_capture.goflow2_lines
    records = work / "flows.jsonl"
    records.write_text("".join(line + "\n" for line in lines))
    port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "flow_exporter", "--config", str(flow_capture.config_path), "--input", str(records),
         "--listen", f"127.0.0.1:{port}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    prom = PrometheusServer({"scrape_configs": [
        {"job_name": "flow-exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
    ]})
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", exporter)
        prom.start()
        read = 'netviz_flow_exporter_records_total{job="flow-exporter"}'
        _wait_value(prom, read, len(lines))
        time.sleep(1.5)  # at least one more sample holding the first pass only
        with open(records, "a") as f:
            f.write("".join(line + "\n" for line in lines))
        _wait_value(prom, read, 2 * len(lines))
        at, span_ms = _window(_samples(prom, read), len(lines), 2 * len(lines))
        yield prom, at, span_ms, flow_capture.truth
    finally:
        prom.stop()
        exporter.terminate()
        try:
            exporter.wait(timeout=10)
        except subprocess.TimeoutExpired:
            exporter.kill()


def _run(measured, title: str) -> list[dict]:
    prom, at, span_ms, _ = measured
    text = substitute(target(BOARD, title)["expr"], {"__range": f"{span_ms}ms", "__rate_interval": f"{span_ms}ms"})
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
