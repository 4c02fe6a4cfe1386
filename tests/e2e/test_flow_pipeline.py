"""End to end with the real collector: real traffic -> real softflowd -> the real GoFlow2, started as
the goflow2 stack synthesizes it -> the real flow exporter -> a real Prometheus 3 -> PromQL answers
equal to the bytes in the capture.

- Traffic: HTTP downloads, a TCP upload, UDP and ICMP between network-namespace hosts in three
  configured subnets (storage, kubernetes, home) and an external host (tests/support/netflow.py).
- softflowd 1.1.0 (Debian) reads each monitored interface's pcap (`-r`, `-v 9`) and exports real
  NetFlow v9; a flow between storage and kubernetes is exported by both instances, as on pfSense.
- The goflow2 pod as synthesized (tests/support/goflow2.py `CollectorPod`): its init container
  makes the FIFO, its collector container's wrapper holds the FIFO open and runs the real GoFlow2
  v2.2.6 with exactly the synthesized flags and `-mapping` file from the ConfigMap, its exporter
  container runs the exporter code from the ConfigMap. STAND-IN: the pod itself (processes in a
  network namespace of their own, sharing a folder), as nothing can run Kubernetes here.
- Each softflowd instance sends from its own socket, as on pfSense, to the pod's NetFlow port.
- A real Prometheus 3.14 scrapes the pod through the platform stack's own `goflow2` and
  `flow-exporter` jobs (their pod discovery given this pod: swap_kubernetes_sd_for_file_sd), every
  second instead of every 30 s; the pod's network.toml (from the ConfigMap) says 1s too, so a new
  series shows 0 for 2 s (flow_exporter/series.py), not 60.
- The pod's DNS as synthesized (its dnsConfig nameserver: names.dns_server, else pfsense.address) is
  a real dnsmasq at that address (tests/support/dns.py, on a namespace host of its own, routed from
  the pod's namespace): it names the external peer, and also names truenas, which network.toml
  names too (the configured name must win).
- Every query is compared with the truth computed from the pcaps alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import dashboards
from tests.dashboards.dashboard_exprs import leftover_variables, substitute, target
from netviz_constructs.flow_collector import CONFIG_DIR
from tests.flow_exporter.helpers import with_netflow_senders, with_scrape_interval
from tests.support.dns import DnsServer
from tests.support.goflow2 import CollectorPod, Goflow2, NetflowSender, collector_scrape_jobs, metric_sum, pod_from_synth
from tests.support.prometheus import PrometheusServer
from tests.support.tools import free_port

REPO = Path(__file__).resolve().parents[2]
JOB = "flow-exporter"
# What the pod's DNS server answers for reverse lookups (every other address: NXDOMAIN).
DNS_NAMES = {"203.0.113.10": "mirror.example.net", "10.0.10.15": "not-truenas.home.arpa"}


class Pipeline:
    def __init__(self, prom: PrometheusServer, capture, pod: CollectorPod, records: int, sent: tuple[float, float]):
        self.prom, self.capture, self.truth, self.pod, self.records = prom, capture, capture.truth, pod, records
        self.sent = sent  # wall-clock time before the first datagram and after the last

    def value(self, expr: str) -> float | None:
        return self.prom.query_value(expr)

    def by(self, expr: str, *labels: str) -> dict:
        return {k: int(v) for k, v in self.prom.query_map(expr, by=labels if len(labels) > 1 else labels[0]).items()}


@pytest.fixture(scope="module")
def pipeline(flow_capture, synthesized, tmp_path_factory):
    spec, files = pod_from_synth(synthesized)
    files = {**files, "network.toml": with_scrape_interval(files["network.toml"], "1s")}  # the jobs' interval below
    records = sum(run.records for run in flow_capture.softflowd.values())
    (nameserver,) = spec["dns_config"]["nameservers"]  # the synthesized dnsConfig: pfsense.address
    with CollectorPod(spec, files) as pod, DnsServer(DNS_NAMES, client_namespace=pod.network.namespace,
                                                     address=nameserver) as dns:
        # The softflowd sockets below send from the node's side of the pod's link, not from pfSense's
        # address: trust that one (tests/e2e/test_netflow_from_two_senders.py sends from pfSense's own address).
        config = pod.path(CONFIG_DIR) / "network.toml"
        config.write_text(with_netflow_senders(config.read_text(), pod.network.node_ip))
        with open(f"/etc/netns/{pod.network.namespace}/resolv.conf", "w") as f:
            f.write(f"nameserver {dns.address}\n")  # what the kubelet writes for that dnsConfig
        pod.init()
        pod.start_collector()
        pod.start_exporter()
        prom = PrometheusServer({"scrape_configs": collector_scrape_jobs(
            synthesized, pod, tmp_path_factory.mktemp("file-sd"))}).start()
        try:
            prom.wait_for_targets("goflow2", count=1)
            prom.wait_for_targets(JOB, count=1)
            read = f'netviz_flow_exporter_records_total{{job="{JOB}"}}'
            _wait(prom, read, 0)  # a sample before any record
            # pfSense's softflowd instances, one socket each, send to the pod's NetFlow port
            sending = time.time()
            with NetflowSender(flow_capture.softflowd, source_ip=pod.network.node_ip) as sender:
                for name, run in flow_capture.softflowd.items():
                    sender.send(name, [d for _, d in run.datagrams], (pod.network.pod_ip, pod.netflow_port),
                                decoded=pod.decoded, base=sender.sent)
            sent = (sending, time.time())
            _wait(prom, read, records)  # every record read, its series created (shown at 0) ...
            _wait(prom, f'netviz_flow_exporter_new_series{{job="{JOB}"}}', 0)  # ... and then at their value
            yield Pipeline(prom, flow_capture, pod, records, sent)
        finally:
            prom.stop()


def _wait(prom, expr: str, value: float, timeout: float = 30) -> float:
    """Until Prometheus holds `value` for `expr`; the wall-clock time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prom.query_value(expr) == value:
            return time.time()
        time.sleep(0.1)
    raise AssertionError(f"{expr} never reached {value}; now {prom.query_value(expr)}")


# ---- the capture itself is what the test claims -----------------------------------------------


def test_the_capture_spans_three_configured_subnets_and_an_external_host(flow_capture):
    truth = flow_capture.truth
    local = {s for s, d, _ in truth.subnet_bytes} | {d for s, d, _ in truth.subnet_bytes}
    assert {"storage", "kubernetes", "home", "external"} <= local
    # A flow between two monitored subnets crossed both monitored interfaces: exported twice.
    assert truth.duplicate_records > 0
    assert {r["in_if"] for r in flow_capture.records} == set(flow_capture.monitored.values()) == {1, 2}


# ---- the real GoFlow2's output takes the exporter's fast path, every line ----------------------


def test_every_record_goflow2_printed_took_the_exporters_fast_path(pipeline):
    exporter = f'{{job="{JOB}"}}'
    assert pipeline.value(f"netviz_flow_exporter_records_total{exporter}") == pipeline.records
    fallback = pipeline.value(f"netviz_flow_exporter_records_fallback_total{exporter}")
    assert fallback == 0, (
        f"{fallback:g} of {pipeline.records} records GoFlow2 printed with the deployed -mapping did not match "
        "flow_exporter.record.FAST_LINE: GoFlow2's output changed; see "
        "test_goflow2_with_the_deployed_mapping_prints_exactly_the_fast_paths_shape for the first such line")
    assert pipeline.value(f"sum(netviz_flow_exporter_records_rejected_total{exporter})") == 0
    # one datagram at a time: GoFlow2's two workers never wrote at once, so no line was glued
    assert pipeline.value(f"netviz_flow_exporter_glued_lines_total{exporter}") == 0
    # GoFlow2 decoded every record softflowd sent, and printed each once
    goflow2 = pipeline.pod.collector_metrics()
    assert metric_sum(goflow2, "goflow2_flow_process_nf_flowset_records_total", type="DataFlowSet") == pipeline.records
    assert metric_sum(goflow2, "goflow2_flow_decoder_error_total") == 0


def test_goflow2_with_the_deployed_mapping_prints_exactly_the_fast_paths_shape(flow_capture, synthesized, tmp_path):
    """The same datagrams through a second real GoFlow2 with the ConfigMap's mapping file, printing to
    a regular file this time so each line can be read: every one matches FAST_LINE, and holds the
    values GoFlow2 prints for those fields without the mapping."""
    from flow_exporter.mapping import FIELD_NAMES
    from flow_exporter.record import FAST_LINE

    _spec, files = pod_from_synth(synthesized)
    mapping = tmp_path / "goflow2-mapping.yaml"
    mapping.write_text(files["goflow2-mapping.yaml"])
    output = tmp_path / "mapped.jsonl"
    output.write_bytes(b"")
    with Goflow2(output, args=[f"-mapping={mapping}"]) as collector, NetflowSender(flow_capture.softflowd) as sender:
        for name, run in flow_capture.softflowd.items():
            sender.send(name, [d for _, d in run.datagrams], ("127.0.0.1", collector.netflow_port),
                        decoded=collector.decoded, base=sender.sent)
    lines = output.read_bytes().splitlines()
    assert len(lines) == len(flow_capture.records)
    bad = [line for line in lines if not FAST_LINE.fullmatch(line)]
    assert not bad, f"{len(bad)} line(s) GoFlow2 printed do not match the fast path; the first: {bad[0]!r}"
    projected = sorted(json.dumps({k: r[k] for k in FIELD_NAMES if k != "time_received_ns"}, sort_keys=True)
                       for r in flow_capture.records)
    mapped = sorted(json.dumps({k: v for k, v in json.loads(line).items() if k != "time_received_ns"}, sort_keys=True)
                    for line in lines)
    assert mapped == projected
    assert all(list(json.loads(line)) == list(FIELD_NAMES) for line in lines)


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


def _conversation_truth(truth, values=None) -> dict:
    """{(src, dst, proto): n} from the capture's flows (bytes, or `values` such as flow_packets)."""
    out = {}
    for (src, dst, proto, _sp, _dp), n in (values if values is not None else truth.flow_bytes).items():
        out[(src, dst, proto)] = out.get((src, dst, proto), 0) + n
    return out


def test_bytes_and_packets_per_conversation_equal_the_capture(pipeline):
    labels = ("src", "dst", "proto")
    got = pipeline.by(f'sum by (src, dst, proto) (netviz_conversation_bytes_total{{job="{JOB}"}})', *labels)
    assert got == _conversation_truth(pipeline.truth)
    # truenas -> k8s-node-0: the 3 MB download, counted once though both softflowds exported it
    assert got[("10.0.10.15", "10.0.20.100", "TCP")] > 3_000_000
    packets = pipeline.by(f'sum by (src, dst, proto) (netviz_conversation_packets_total{{job="{JOB}"}})', *labels)
    assert packets == _conversation_truth(pipeline.truth, pipeline.truth.flow_packets)
    # the ends' subnets are the capture's
    subnets = pipeline.by(f'sum by (src, src_subnet, dst, dst_subnet) (netviz_conversation_bytes_total{{job="{JOB}"}})',
                          "src", "src_subnet", "dst", "dst_subnet")
    subnet = {**pipeline.truth.host_subnet, **{peer: "external" for peer, _ in pipeline.truth.external_bytes}}
    assert all(subnet[s] == sn and subnet[d] == dn for s, sn, d, dn in subnets)


def test_names_from_the_pods_dns_server_show_in_top_conversations_and_a_configured_name_wins(pipeline):
    info = f'netviz_host_info{{job="{JOB}"}}'

    def names() -> dict:
        return {r["metric"]["host"]: (r["metric"]["name"], r["metric"]["source"]) for r in pipeline.prom.query(info)}

    deadline = time.monotonic() + 30
    while "203.0.113.10" not in names() and time.monotonic() < deadline:
        time.sleep(0.2)  # asked at a scrape, answered by a worker, shown at a later scrape
    got = names()
    assert got["203.0.113.10"] == ("mirror.example.net", "dns")
    assert got["10.0.10.15"] == ("truenas", "config")  # never looked up: its DNS name is not used
    assert got["10.0.20.100"] == ("k8s-node-0", "config")
    # the dashboard's Top conversations, over the whole run: both ends named, the peer by DNS
    now = time.time()
    expr = substitute(target(dashboards.render_network_flows(), "Top conversations")["expr"],
                      {"__range": "600s", "__from": f"{now - 600:.3f}", "subnet": ".*", "proto": ".*"})
    assert not leftover_variables(expr)
    rows = [r["metric"] for r in pipeline.prom.query(expr, time=now)]
    ends = {(m["src"], m["src_name"]) for m in rows} | {(m["dst"], m["dst_name"]) for m in rows}
    assert ("203.0.113.10", "mirror.example.net") in ends
    assert ("10.0.10.15", "truenas") in ends and ("10.0.20.100", "k8s-node-0") in ends
    shown = {address: name for address, (name, _source) in got.items()}
    assert all(name == shown.get(address, address) for address, name in ends)  # else the address itself


def test_each_flow_is_counted_once_and_every_record_is_read(pipeline):
    truth = pipeline.truth
    assert pipeline.value(f'netviz_flow_exporter_records_total{{job="{JOB}"}}') == pipeline.records
    assert pipeline.value(f'netviz_flow_exporter_records_duplicate_total{{job="{JOB}"}}') == truth.duplicate_records
    # Every record carries a configured interface index: none counted without deduplication.
    assert pipeline.value(f'sum(netviz_flow_exporter_records_unmapped_interface_total{{job="{JOB}"}})') in (None, 0)
    # The capture's total is the sum of the matrix: nothing counted twice, nothing lost.
    assert pipeline.value(f'sum(netviz_flow_bytes_total{{job="{JOB}"}})') == truth.total_bytes


def test_newest_record_time_is_when_goflow2_received_the_last_datagram(pipeline):
    got = pipeline.value(f'netviz_flow_exporter_last_record_timestamp_seconds{{job="{JOB}"}}')
    first, last = pipeline.sent
    assert first <= got <= last  # GoFlow2's time_received_ns of the last record, as the exporter read it


def test_goflow2_counts_every_datagram_from_each_softflowd_socket(pipeline):
    got = pipeline.by('sum by (remote_ip, type) (goflow2_flow_traffic_packets_total{job="goflow2"})', "remote_ip", "type")
    sent = sum(len(run.datagrams) for run in pipeline.capture.softflowd.values())
    assert got == {(pipeline.pod.network.node_ip, "netflow"): sent}


# ---- negative control ---------------------------------------------------------------------------


def test_without_interface_indexes_the_doubly_exported_flow_would_count_twice(flow_capture, tmp_path):
    """Negative control: the same records with `in_if`/`out_if` 0 (what softflowd -r reports) defeat
    the count-once rule, and storage -> kubernetes is counted from both interfaces. This is why the
    capture sets each interface's netflow_if_index, and shows the equality above can fail."""
    records = tmp_path / "no-index.jsonl"
    records.write_text("".join(json.dumps({**r, "in_if": 0, "out_if": 0}, separators=(",", ":")) + "\n"
                               for r in flow_capture.records))
    config = tmp_path / "network.toml"
    config.write_text(with_netflow_senders(with_scrape_interval(flow_capture.config_path.read_text(), "1s"),
                                           flow_capture.sender))
    port = free_port()
    log_path = tmp_path / "exporter.log"
    with open(log_path, "w") as log:
        exporter = subprocess.Popen(
            [sys.executable, "-m", "flow_exporter", "--config", str(config),
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


def _metrics_value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _wait_for_records(url: str, expected: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> str:
    """The /metrics text of the first scrape that shows `expected` records read and no series at 0
    any more (a new one reads 0 for its window: flow_exporter/series.py)."""
    deadline = time.monotonic() + timeout
    text, last_error = "", ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"flow exporter exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                text = r.read().decode()
            if (_metrics_value(text, "netviz_flow_exporter_records_total") == expected
                    and _metrics_value(text, "netviz_flow_exporter_new_series") == 0):
                return text
        except (urllib.error.URLError, OSError) as e:
            last_error = str(e)
        time.sleep(0.1)
    pytest.fail(f"flow exporter did not report {expected} records read within {timeout}s ({last_error})\n"
                f"--- /metrics\n{text[:3000]}\n--- log\n{log.read_text()}")
