"""Only NetFlow from the configured senders counts, end to end with the real collector.

Two network-namespace hosts are linked to the goflow2 pod (tests/support/goflow2.py CollectorPod:
the synthesized pod's containers, the real GoFlow2 v2.2.6 with the synthesized flags and mapping,
the exporter's code from the ConfigMap): pfSense, at pfsense.address (network.toml's 10.0.20.1, the
one sender it trusts), and another host of the same LAN at 10.0.20.66, nobody's configured exporter.
Each sends the same real softflowd NetFlow v9 (tests/support/flowgen.py: 400 one-packet UDP flows
from the kubernetes subnet to the internet) from its own address to the pod's NetFlow port.

GoFlow2 decodes both (its per-sender counter shows each); the exporter counts pfSense's records
exactly, every one, and only those: the other host's are counted as untrusted and nothing else.
"""

from __future__ import annotations

import tomllib

import pytest

from netviz_constructs.flow_collector import EXPORTER_METRICS_PORT_NAME
from tests.flow_exporter.helpers import wait_until, with_scrape_interval
from tests.support.flowgen import softflowd_stream
from tests.support.goflow2 import CollectorPod, NetflowSender, metric_sum, pod_from_synth
from tests.support.netns import LinkedHost

FLOWS = 400
UNTRUSTED = "10.0.20.66"  # in the kubernetes subnet, like pfSense: not told apart by its subnet


@pytest.fixture(scope="module")
def sent(synthesized, tmp_path_factory):
    spec, files = pod_from_synth(synthesized)
    # No DNS here; a 1 s scrape interval, so a new series shows its value after 2 s, not 60 (series.py).
    files = {**files, "network.toml": with_scrape_interval(files["network.toml"] + "\n[names]\nenabled = false\n")}
    pfsense_address = tomllib.loads(files["network.toml"])["pfsense"]["address"]
    stream = softflowd_stream(tmp_path_factory.mktemp("stream"), FLOWS)
    with CollectorPod(spec, files) as pod, \
            LinkedHost("pfsense", client_namespace=pod.network.namespace, address=pfsense_address) as pfsense, \
            LinkedHost("rogue", client_namespace=pod.network.namespace, address=UNTRUSTED) as rogue:
        pod.init()
        pod.start_collector()
        pod.start_exporter()
        base = 0
        for host in (pfsense, rogue):
            with NetflowSender(["lan"], source_ip=host.address, host=host) as sender:
                sender.send("lan", stream.datagrams, (host.client_ip, pod.netflow_port), decoded=pod.decoded, base=base)
            base += len(stream.datagrams)
        records = sum(stream.records)
        wait_until("the exporter to read both senders' records", lambda: metric_sum(
            pod.metrics(EXPORTER_METRICS_PORT_NAME), "netviz_flow_exporter_records_total") == 2 * records)
        wait_until("every new series to show its value", lambda: metric_sum(
            pod.metrics(EXPORTER_METRICS_PORT_NAME), "netviz_flow_exporter_new_series") == 0)
        yield pod.metrics(EXPORTER_METRICS_PORT_NAME), pod.collector_metrics(), stream, pfsense_address


def test_goflow2_decoded_both_senders(sent):
    _, collector, stream, pfsense = sent
    by_sender = {dict(labels)["remote_ip"]: v for (name, labels), v in collector.items()
                 if name == "goflow2_flow_traffic_packets_total"}
    assert by_sender == {pfsense: len(stream.datagrams), UNTRUSTED: len(stream.datagrams)}


def test_only_the_trusted_senders_records_are_counted_every_one_exactly(sent):
    exporter, _, stream, _ = sent
    records = sum(stream.records)
    assert records == FLOWS
    pair = {"src_subnet": "kubernetes", "dst_subnet": "external", "proto": "UDP"}
    assert metric_sum(exporter, "netviz_flows_total", **pair) == FLOWS
    assert metric_sum(exporter, "netviz_flow_bytes_total", **pair) == FLOWS * stream.packet_bytes
    assert metric_sum(exporter, "netviz_flow_packets_total", **pair) == FLOWS
    assert metric_sum(exporter, "netviz_flow_bytes_total") == FLOWS * stream.packet_bytes  # nothing else anywhere


def test_the_other_senders_records_are_counted_as_untrusted_and_nothing_else(sent):
    exporter, _, stream, _ = sent
    assert metric_sum(exporter, "netviz_flow_exporter_records_untrusted_total") == sum(stream.records)
    assert metric_sum(exporter, "netviz_flow_exporter_records_rejected_total") == 0
    assert metric_sum(exporter, "netviz_flow_exporter_records_fallback_total") == 0  # every line on the fast path
