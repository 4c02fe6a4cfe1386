"""End to end (issue 3, item 9): real traffic -> real softflowd -> GoFlow2 STAND-IN -> the flow
exporter -> a real Prometheus -> PromQL answers equal to the bytes in the capture.

- Traffic: HTTP downloads, a TCP upload, UDP and ICMP between network-namespace hosts in three
  configured subnets (storage, kubernetes, home) and an external host (tests/support/netflow.py).
- softflowd 1.1.0 (Debian) reads each monitored interface's pcap (`-r`, `-v 9`) and exports real
  NetFlow v9; a flow between storage and kubernetes is exported by both instances, as on pfSense.
- GoFlow2 cannot be built here. `tests.support.netflow.Goflow2StandIn`, a STAND-IN FOR GOFLOW2,
  decodes the NetFlow v9 (PyPI `netflow`) and prints GoFlow2's JSON lines. The test runs twice:
  with every field GoFlow2 prints by default, and with only the fields of the `-mapping` file the
  goflow2 stack deploys (flow_exporter.mapping), in its order.
- The exporter (`python -m flow_exporter`) reads those lines from a file; a real Prometheus 2.42
  scrapes it; every query is compared with the truth computed from the pcaps alone.
- The exporter shows a new series at 0 in the first scrape after its creation (increase() cannot
  see a first sample: flow_exporter/series.py). The test scrapes /metrics itself until every line
  is read, then once more, so every series already holds its value when Prometheus first scrapes
  it: the instant queries below read at least the exporter's third scrape.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.support.prometheus import PrometheusServer
from tests.support.tools import free_port

REPO = Path(__file__).resolve().parents[2]
JOB = "netviz-flow-exporter"


def mapping_fields() -> tuple[str, ...]:
    """The fields GoFlow2 prints with the deployed `-mapping` file."""
    from flow_exporter.mapping import FIELD_NAMES

    return FIELD_NAMES


def _metrics_value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}"):
            return float(line.rsplit(" ", 1)[1])
    return None


class Pipeline:
    def __init__(self, prom: PrometheusServer, capture, lines: list[str], exporter_log: Path):
        self.prom, self.capture, self.truth, self.lines, self.exporter_log = prom, capture, capture.truth, lines, exporter_log

    def value(self, expr: str) -> float | None:
        return self.prom.query_value(expr)

    def by(self, expr: str, *labels: str) -> dict:
        return {k: int(v) for k, v in self.prom.query_map(expr, by=labels if len(labels) > 1 else labels[0]).items()}


@pytest.fixture(scope="module", params=["all GoFlow2 fields", "deployed -mapping fields"])
def pipeline(request, flow_capture, tmp_path_factory):
    fields = None if request.param == "all GoFlow2 fields" else mapping_fields()
    work = tmp_path_factory.mktemp("e2e-flow-pipeline")
    records = flow_capture.write_jsonl(work / "goflow2.jsonl", fields)
    lines = records.read_text().splitlines()
    assert len(lines) == len(flow_capture.records) > 0
    log_path = work / "exporter.log"
    port = free_port()
    with open(log_path, "w") as log:
        exporter = subprocess.Popen(
            [sys.executable, "-m", "flow_exporter", "--config", str(flow_capture.config_path),
             "--input", str(records), "--listen", f"127.0.0.1:{port}"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    prom = None
    try:
        # The exporter has read every line, and shown every series at its value ...
        metrics = _wait_for_records(f"http://127.0.0.1:{port}/metrics", len(lines), exporter, log_path)
        assert "netviz_flow_bytes_total" in metrics
        read_at = time.time()
        # ... and a real Prometheus has scraped it since.
        prom = PrometheusServer({"scrape_configs": [
            {"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
        ]}).start()
        prom.wait_for_scrape(JOB, after=read_at)
        yield Pipeline(prom, flow_capture, lines, log_path)
    finally:
        if prom is not None:
            prom.stop()
        exporter.terminate()
        try:
            exporter.wait(timeout=10)
        except subprocess.TimeoutExpired:
            exporter.kill()
            exporter.wait(timeout=10)


def _wait_for_records(url: str, expected: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> str:
    """The /metrics text of the scrape after the first that shows `expected` records read: that first
    one may show series created since the previous scrape at 0 (flow_exporter/series.py), the next
    one shows every series at its value."""
    deadline = time.monotonic() + timeout
    text, last_error = "", ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"flow exporter exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                text = r.read().decode()
            if _metrics_value(text, "netviz_flow_exporter_records_total") == expected:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return r.read().decode()
        except (urllib.error.URLError, OSError) as e:
            last_error = str(e)
        time.sleep(0.1)
    pytest.fail(
        f"flow exporter did not report {expected} records read within {timeout}s ({last_error})\n"
        f"--- /metrics\n{text[:3000]}\n--- log\n{log.read_text()}"
    )


# ---- the capture itself is what the test claims -----------------------------------------------


def test_the_capture_spans_three_configured_subnets_and_an_external_host(flow_capture):
    truth = flow_capture.truth
    local = {s for s, d, _ in truth.subnet_bytes} | {d for s, d, _ in truth.subnet_bytes}
    assert {"storage", "kubernetes", "home", "external"} <= local
    # A flow between two monitored subnets crossed both monitored interfaces: exported twice.
    assert truth.duplicate_records > 0
    assert {r["in_if"] for r in flow_capture.records} == set(flow_capture.monitored.values()) == {1, 2}


# ---- PromQL over the exporter's metrics equals the capture ------------------------------------


def test_storage_to_kubernetes_bytes_equal_the_capture(pipeline):
    expected = pipeline.truth.bytes_between("storage", "kubernetes")
    assert expected > 3_000_000  # the 3 MB HTTP download from truenas, and its headers
    got = pipeline.value(f'sum(netviz_flow_bytes_total{{job="{JOB}",src_subnet="storage",dst_subnet="kubernetes"}})')
    assert got == expected


def test_bytes_per_subnet_pair_and_protocol_equal_the_capture(pipeline):
    got = pipeline.by(f'sum by (src_subnet, dst_subnet, proto) (netviz_flow_bytes_total{{job="{JOB}"}})',
                      "src_subnet", "dst_subnet", "proto")
    assert got == dict(pipeline.truth.subnet_bytes)


def test_packets_and_flows_per_subnet_pair_equal_the_capture(pipeline):
    labels = ("src_subnet", "dst_subnet", "proto")
    packets = pipeline.by(f'sum by (src_subnet, dst_subnet, proto) (netviz_flow_packets_total{{job="{JOB}"}})', *labels)
    flows = pipeline.by(f'sum by (src_subnet, dst_subnet, proto) (netviz_flows_total{{job="{JOB}"}})', *labels)
    assert packets == dict(pipeline.truth.subnet_packets)
    assert flows == dict(pipeline.truth.subnet_flows)


def test_bytes_per_host_and_direction_equal_the_capture(pipeline):
    truth = pipeline.truth
    got = pipeline.by(f'sum by (subnet, host, name, direction) (netviz_host_bytes_total{{job="{JOB}"}})',
                      "subnet", "host", "name", "direction")
    expected = {
        (truth.host_subnet[ip], ip, truth.host_name[ip], direction): b for (ip, direction), b in truth.host_bytes.items()
    }
    assert got == expected
    # Named from network.toml: truenas sent the 3 MB download, k8s-node-0 received it.
    assert pipeline.value(f'sum(netviz_host_bytes_total{{job="{JOB}",name="truenas",direction="sent"}})') == truth.host("truenas", "sent")
    assert truth.host("truenas", "sent") > 3_000_000
    assert pipeline.value(f'sum(netviz_host_bytes_total{{job="{JOB}",name="k8s-node-0",direction="received"}})') == truth.host("k8s-node-0", "received")


def test_bytes_per_external_peer_equal_the_capture(pipeline):
    got = pipeline.by(f'sum by (peer, direction) (netviz_external_bytes_total{{job="{JOB}"}})', "peer", "direction")
    assert got == dict(pipeline.truth.external_bytes)
    assert set(got) == {("203.0.113.10", "outbound"), ("203.0.113.10", "inbound")}


def test_bytes_per_service_add_up_to_the_capture(pipeline):
    truth = pipeline.truth
    assert pipeline.value(f'sum(netviz_service_bytes_total{{job="{JOB}"}})') == truth.total_bytes
    http = sum(b for (s, d, proto, sp, dp), b in truth.flow_bytes.items() if proto == "TCP" and 80 in (sp, dp))
    dns = sum(b for (s, d, proto, sp, dp), b in truth.flow_bytes.items() if proto == "UDP" and 53 in (sp, dp))
    assert http > 3_000_000 and dns > 0
    assert pipeline.value(f'sum(netviz_service_bytes_total{{job="{JOB}",proto="TCP",port="80"}})') == http
    assert pipeline.value(f'sum(netviz_service_bytes_total{{job="{JOB}",proto="UDP",port="53"}})') == dns


def test_each_flow_is_counted_once_and_every_record_is_read(pipeline):
    truth = pipeline.truth
    assert pipeline.value(f'netviz_flow_exporter_records_total{{job="{JOB}"}}') == len(pipeline.lines)
    assert pipeline.value(f'netviz_flow_exporter_records_duplicate_total{{job="{JOB}"}}') == truth.duplicate_records
    assert pipeline.value(f'sum(netviz_flow_exporter_records_rejected_total{{job="{JOB}"}})') == 0
    # Every record carries a configured interface index: none counted without deduplication.
    assert pipeline.value(f'sum(netviz_flow_exporter_records_unmapped_interface_total{{job="{JOB}"}})') in (None, 0)
    # The capture's total is the sum of the matrix: nothing counted twice, nothing lost.
    assert pipeline.value(f'sum(netviz_flow_bytes_total{{job="{JOB}"}})') == truth.total_bytes


def test_newest_record_time_is_the_last_records_receive_time(pipeline):
    newest = max(r["time_received_ns"] for r in pipeline.capture.records) / 1e9
    got = pipeline.value(f'netviz_flow_exporter_last_record_timestamp_seconds{{job="{JOB}"}}')
    assert got == pytest.approx(newest, abs=1e-3)


def test_without_interface_indexes_the_doubly_exported_flow_would_count_twice(flow_capture, tmp_path):
    """Negative control: the same records with `in_if`/`out_if` 0 (what softflowd -r reports) defeat
    the count-once rule, and storage -> kubernetes is counted from both interfaces. This is why the
    capture sets each interface's netflow_if_index, and shows the equality above can fail."""
    import json

    records = tmp_path / "no-index.jsonl"
    records.write_text("".join(json.dumps({**r, "in_if": 0, "out_if": 0}, separators=(",", ":")) + "\n"
                               for r in flow_capture.records))
    port = free_port()
    log_path = tmp_path / "exporter.log"
    with open(log_path, "w") as log:
        exporter = subprocess.Popen(
            [sys.executable, "-m", "flow_exporter", "--config", str(flow_capture.config_path),
             "--input", str(records), "--listen", f"127.0.0.1:{port}"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        text = _wait_for_records(f"http://127.0.0.1:{port}/metrics", len(flow_capture.records), exporter, log_path)
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)
    got = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("netviz_flow_bytes_total{") and 'src_subnet="storage"' in line and 'dst_subnet="kubernetes"' in line
    )
    assert got == 2 * flow_capture.truth.bytes_between("storage", "kubernetes")
