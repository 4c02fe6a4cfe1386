"""Network Flows' queries, evaluated by a real Prometheus over the real flow exporter's output.

The flow exporter (python -m flow_exporter) follows a file of GoFlow2 JSON lines
(tests/dashboards/flows_fixture.py), empty while Prometheus takes a first sample; then the measured
batch (and two bad lines) is appended, and creates every flow series. The exporter shows a new
series at 0 until its new-series window has passed (flow_exporter/series.py; 2 s here, twice the
1 s scrape interval the test's config sets), so each query is evaluated at the first sample in
which no series reads 0 any more (netviz_flow_exporter_new_series 0), with `$__range` (and
`$__rate_interval`) 1 ms longer than the time since the last sample before it (Prometheus 3's
ranges leave out a sample at their start: dashboard_exprs.window): every counter there starts at
0, which Prometheus never extrapolates below, so increase() is exactly the measured batch, first
flows of every series included, and rate() is it divided by the range (dashboard_exprs.rate_over).
GoFlow2's own metrics, and the panels over them, are the real GoFlow2's:
tests/dashboards/test_collector_health_real.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

import dashboards
from dashboards.config import edge_width_steps
from tests.dashboards import flows_fixture as ff
from tests.dashboards.dashboard_exprs import leftover_variables, range_start, rate_over, substitute, target
from tests.dashboards.dashboard_exprs import window as range_window
from tests.flow_exporter.helpers import with_scrape_interval
from tests.support.prometheus import PrometheusError
from tests.support.tools import free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOARD = dashboards.render_network_flows()  # default selectors: job="flow-exporter", job="goflow2"
BUDGETS = {"subnet_pairs": 150, "hosts": 150, "services": 100, "external_peers": 100, "local_conversations": 100,
           "external_conversations": 100, "internet_usage": 100, "policy_violations": 100}
MAX_SERIES = sum(BUDGETS.values())
NOW_NS = time.time_ns()


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"flow exporter exited {proc.returncode}: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"flow exporter not answering {url} after {timeout}s")


def _samples(prom, expr: str) -> list[tuple[float, float]]:
    result = prom.query(f"{expr}[10m]")
    assert len(result) == 1, result
    return [(float(t), float(v)) for t, v in result[0]["values"]]


def _wait_value(prom, expr: str, value: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prom.query_value(expr) == value:
            return
        time.sleep(0.2)
    raise PrometheusError(f"{expr} never reached {value}; now {prom.query_value(expr)}")


def _wait_grown(prom, records: int, timeout: float = 30) -> float:
    """Time of the first sample with `records` read and no series reading 0 any more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        read = dict(_samples(prom, 'netviz_flow_exporter_records_total{job="flow-exporter"}'))
        new = _samples(prom, 'netviz_flow_exporter_new_series{job="flow-exporter"}')
        found = [t for t, v in new if v == 0 and read.get(t) == records]
        if found:
            return found[0]
        time.sleep(0.2)
    raise PrometheusError(f"no sample with {records} records read and no new series; samples {_samples(prom, 'netviz_flow_exporter_new_series')}")


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    from tests.support.prometheus import PrometheusServer

    work = tmp_path_factory.mktemp("flows")
    config = work / "network.toml"
    config.write_text(with_scrape_interval(ff.NETWORK_TOML_PATH.read_text() + ff.POLICY_TOML, "1s"))
    records = work / "flows.jsonl"
    records.write_text("")
    port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "flow_exporter", "--config", str(config), "--input", str(records),
         "--listen", f"127.0.0.1:{port}", *(f"--series-budget={k}={v}" for k, v in BUDGETS.items()),
         # names from network.toml only: the machine's resolver could name 1.1.1.1 (the DNS path is
         # tests/flow_exporter/test_names_exporter.py's, against a real dnsmasq)
         "--no-names"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    prom = PrometheusServer({"scrape_configs": [
        {"job_name": "flow-exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
    ]})
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", exporter)
        prom.start()
        records_read = 'netviz_flow_exporter_records_total{job="flow-exporter"}'
        _wait_value(prom, records_read, 0)  # a sample before any record: no flow series yet
        # the measured batch, bad lines among it
        with open(records, "a") as f:
            f.write("".join(line + "\n" for line in ff.BAD_LINES[:1]))
            f.write("".join(fl.line(NOW_NS - 5 * 10**9) + "\n" for fl in ff.MEASURED))
            f.write("".join(line + "\n" for line in ff.BAD_LINES[1:]))
        total_lines = len(ff.MEASURED) + len(ff.BAD_LINES)
        # the first scrape after every series' window passed: all at their value
        end = _wait_grown(prom, total_lines)
        start = max(t for t, v in _samples(prom, records_read) if v == 0)
        exporter_window = (end, round((end - start) * 1000))
        yield prom, exporter_window
    finally:
        prom.stop()
        exporter.terminate()
        try:
            exporter.wait(timeout=10)
        except subprocess.TimeoutExpired:
            exporter.kill()


def _run(flows, title: str, ref_id: str = "A", subnet: str = ".*", proto: str = ".*") -> list[dict]:
    prom, (at, span_ms) = flows
    expr = target(BOARD, title, ref_id)["expr"]
    text = substitute(expr, {"__range": range_window(span_ms), "__rate_interval": range_window(span_ms),
                             "__from": range_start(at, span_ms), "subnet": subnet, "proto": proto})
    assert not leftover_variables(text), leftover_variables(text)
    return prom.query(text, time=at)


def _by(rows, *labels) -> dict:
    out = {}
    for r in rows:
        key = tuple(r["metric"].get(l, "") for l in labels)
        key = key[0] if len(labels) == 1 else key
        assert key not in out, f"two rows for {key}"
        out[key] = float(r["value"][1])
    return out


TRUTH = ff.truth(ff.MEASURED)


def _pairs_by_proto():
    """(src subnet, dst subnet), proto of every counted flow."""
    return {((ff.subnet(f.src), ff.subnet(f.dst)), f.proto) for f in ff.MEASURED if ff.counted(f)}


def test_inter_vlan_cell_equals_the_bytes_between_two_subnets(flows):
    got = _by(_run(flows, "Inter-VLAN traffic"), "src_subnet", "dst_subnet")
    # storage -> kubernetes: 5 MB, exported on both interfaces, counted once
    assert got[("storage", "kubernetes")] == 5_000_000
    # home -> storage at sampling rate 10
    assert got[("home", "storage")] == 20_000_000
    expected = {k: v for k, v in TRUTH["pair"].items() if "external" not in k}
    assert got == expected


def test_protocol_breakdown(flows):
    assert _by(_run(flows, "Protocol breakdown"), "proto") == dict(TRUTH["proto"])


def test_top_talkers(flows):
    # names from netviz_host_info (network.toml's here), the address for the others (10.0.10.20)
    got = _by(_run(flows, "Top talkers"), "name", "host", "subnet")
    assert got == dict(TRUTH["host"])
    assert got[("truenas", "10.0.10.15", "storage")] == 5_000_000 + 300_000 + 20_000_000 + 1_000
    assert got[("10.0.10.20", "10.0.10.20", "storage")] == 1_000


def test_external_destinations(flows):
    # a name column beside the address: no peer is named here, so each shows its address
    assert _by(_run(flows, "External destinations"), "peer") == dict(TRUTH["peer"])
    assert _by(_run(flows, "External destinations"), "name", "peer") == {(p, p): v for p, v in TRUTH["peer"].items()}


def _conversations_truth(keep=lambda src, dst, proto: True) -> dict:
    out = {}
    for (src, dst, proto), b in TRUTH["conversation"].items():
        if keep(src, dst, proto):
            out[(src, dst)] = out.get((src, dst), 0) + b
    return out


def test_top_conversations_are_the_bytes_each_sender_sent_each_receiver_named(flows):
    rows = _run(flows, "Top conversations")
    got = {}
    for r in rows:
        m = r["metric"]
        key = (m["src_name"], m["dst_name"], m["src"], m["dst"])
        got[key] = got.get(key, 0) + float(r["value"][1])  # summed over proto and service
    name = lambda a: ff.NAMES.get(a, a)  # noqa: E731
    assert got == {(name(s), name(d), s, d): b for (s, d), b in _conversations_truth().items()}
    # storage -> kubernetes once although exported on both interfaces; the service is nfs
    nfs = [r for r in rows if r["metric"]["src"] == "10.0.10.15" and r["metric"]["dst"] == "10.0.20.100"]
    assert [(r["metric"]["service"], float(r["value"][1])) for r in nfs] == [("nfs", 5_000_000)]


def test_the_network_maps_edges_are_conversations_with_their_bytes_and_thickness(flows):
    edges = {r["metric"]["id"]: (r["metric"]["source"], r["metric"]["target"], r["metric"]["thickness"], float(r["value"][1]))
             for r in _run(flows, "Network map", "edges")}
    low, mid, high = edge_width_steps(dashboards.DashboardConfig())
    width = lambda b: "1" if b < low else "2" if b < mid else "3" if b < high else "4"  # noqa: E731
    assert edges == {f"{s}->{d}": (s, d, width(b), b) for (s, d), b in _conversations_truth().items()}


def test_the_network_maps_nodes_are_named_hosts_and_peers_with_kubernetes_nodes_marked(flows):
    rows = _run(flows, "Network map", "nodes")
    nodes = {r["metric"]["id"]: r["metric"] for r in rows}
    value = {r["metric"]["id"]: float(r["value"][1]) for r in rows}
    ends = {}
    for (s, d), b in _conversations_truth().items():
        ends[s] = ends.get(s, 0) + b
        ends[d] = ends.get(d, 0) + b
    assert value == ends  # bytes sent plus received in the drawn conversations
    for address, labels in nodes.items():
        assert labels["title"] == ff.NAMES.get(address, address)
        assert labels["subtitle"] == ff.subnet(address)
        assert labels["detail__address"] == address
    nodes_k8s = {n.address: n.name for n in ff._NETWORK.kubernetes.nodes}
    assert {a: l["detail__kubernetes_node"] for a, l in nodes.items() if "detail__kubernetes_node" in l} == {
        a: nodes_k8s[a] for a in nodes if a in nodes_k8s} == {"10.0.20.100": "k8s-node-0"}


def test_the_network_map_filters_by_subnet_and_protocol(flows):
    def edges(**values):
        return {r["metric"]["id"] for r in _run(flows, "Network map", "edges", **values)}

    # an end in home: only proxmox -> truenas
    assert edges(subnet="home") == {"192.168.1.127->10.0.10.15"}
    assert edges(proto="ICMP") == {"10.0.10.15->10.0.10.20"}
    assert edges(proto="UDP") == {"10.0.20.100->1.1.1.1"}
    assert edges(subnet="kubernetes", proto="TCP") == {f"{s}->{d}" for (s, d) in _conversations_truth(
        lambda s, d, p: p == "TCP" and "kubernetes" in (ff.subnet(s), ff.subnet(d)))}
    rows = _run(flows, "Top conversations", subnet="home")
    assert {(r["metric"]["src"], r["metric"]["dst"]) for r in rows} == {("192.168.1.127", "10.0.10.15")}


def test_traffic_by_subnet_is_bits_per_second(flows):
    span_ms = flows[1][1]
    sent = _by(_run(flows, "Traffic sent by subnet"), "src_subnet")
    received = _by(_run(flows, "Traffic received by subnet"), "dst_subnet")
    # new series, from 0: bytes over the window, per second, x 8
    assert sent == pytest.approx({k: rate_over(v, 0, span_ms) * 8 for k, v in TRUTH["sent"].items()}, rel=1e-9)
    assert received == pytest.approx({k: rate_over(v, 0, span_ms) * 8 for k, v in TRUTH["received"].items()}, rel=1e-9)
    seconds = (span_ms + 1) / 1000
    assert sent["storage"] == pytest.approx(TRUTH["sent"]["storage"] * 8 / seconds, rel=1e-9)


def test_top_services(flows):
    got = _by(_run(flows, "Top services"), "service", "proto", "port")
    assert sum(got.values()) == sum(TRUTH["proto"].values())


def test_exporter_health_panels(flows):
    span_ms = flows[1][1]

    def per_second(n):  # counters that were 0 at the window's start
        return pytest.approx(rate_over(n, 0, span_ms), rel=1e-9)

    read = _by(_run(flows, "Exporter records", "A"))
    assert read == {(): per_second(len(ff.MEASURED) + len(ff.BAD_LINES))}
    duplicate = _by(_run(flows, "Exporter records", "B"))
    assert duplicate == {(): per_second(1)}
    unmapped = _by(_run(flows, "Exporter records", "C"))
    assert unmapped == {(): per_second(sum(1 for f in ff.MEASURED if f.in_if == 0))}
    assert _by(_run(flows, "Input reopens")) == {(): 0}
    rejected = _by(_run(flows, "Rejected records by reason"), "reason")
    assert rejected["invalid_json"] == per_second(1)
    assert rejected["empty_line"] == per_second(1)
    assert rejected["missing_field"] == 0
    # per family: each budget, and each family's series (the truth's keys x series per key)
    assert _by(_run(flows, "Exporter series", "B"), "family") == BUDGETS
    series = _by(_run(flows, "Exporter series", "A"), "family")
    local = [k for k in TRUTH["conversation"] if "external" not in (ff.subnet(k[0]), ff.subnet(k[1]))]
    assert series["local_conversations"] == 2 * len(local)  # bytes and packets each
    assert series["external_conversations"] == 2 * (len(TRUTH["conversation"]) - len(local))
    assert local and len(local) < len(TRUTH["conversation"])  # the fixture has both
    assert series["subnet_pairs"] == 3 * len({(*pair, p) for pair, p in _pairs_by_proto()})
    assert series["external_peers"] == len(TRUTH["peer"])
    assert set(series) == set(BUDGETS) and sum(series.values()) <= MAX_SERIES
    assert _by(_run(flows, "Series evictions"), "family") == dict.fromkeys(BUDGETS, 0)
    at = flows[1][0]
    age = _by(_run(flows, "Newest flow record age"))[()]
    assert age == pytest.approx(at - (NOW_NS - 5 * 10**9) / 1e9, abs=1e-3)


def test_every_exporter_expression_of_the_dashboard_returns_data(flows):
    from tests.dashboards.dashboard_exprs import expressions

    prom, (at, span_ms) = flows
    found = [e for e in expressions(BOARD) if "goflow2_" not in e.expr]  # GoFlow2's: test_collector_health_real
    assert len(found) == 30, [e.where for e in found]
    for e in found:
        text = substitute(e.expr, {"__range": range_window(span_ms), "__rate_interval": range_window(span_ms),
                                   "__from": range_start(at, span_ms),
                                   "subnet": ".*", "proto": ".*"})
        if "New devices" in e.where:  # a Prometheus without a week of history cannot tell new from old
            assert not prom.query(text, time=at), f"{e.where} calls devices new without the history to know"
            continue
        assert prom.query(text, time=at), f"{e.where} returned nothing"


def test_the_policy_panel_lists_the_conversations_that_broke_a_rule_and_no_allowed_reply(flows):
    rows = _run(flows, "Policy violations")
    got = {(r["metric"]["rule"], r["metric"]["src"], r["metric"]["dst"], r["metric"]["proto"], r["metric"]["port"],
            r["metric"]["service"]): float(r["value"][1]) for r in rows}
    assert got == ff.POLICY_VIOLATIONS
    (row,) = rows
    assert (row["metric"]["src_name"], row["metric"]["dst_name"]) == ("proxmox", "truenas")  # names from network.toml
    assert (row["metric"]["src_subnet"], row["metric"]["dst_subnet"]) == ("home", "storage")


@pytest.mark.parametrize("title", ["Internet usage by device", "Internet usage by device today"])
def test_internet_usage_is_each_devices_bytes_with_external_addresses_sent_received_and_both(flows, title):
    # (Grafana gives each table its own range, now/M or now/d: the test's range stands in for it)
    sent = {k[:3]: v for k, v in TRUTH["internet"].items() if k[3] == "sent"}
    received = {k[:3]: v for k, v in TRUTH["internet"].items() if k[3] == "received"}
    both = {k: sent.get(k, 0) + received.get(k, 0) for k in {*sent, *received}}
    assert sent and received and any(k in sent and k in received for k in both)  # the fixture has all three
    assert _by(_run(flows, title, "A"), "name", "host", "subnet") == sent
    assert _by(_run(flows, title, "B"), "name", "host", "subnet") == received
    assert _by(_run(flows, title, "C"), "name", "host", "subnet") == both
