"""Internet usage: each local host's bytes with external addresses, by direction
(netviz_host_internet_bytes_total, family internet_usage), counted once and times the sampling rate
like every family; traffic between local hosts is not internet usage."""

from __future__ import annotations

from tests.flow_exporter.helpers import aggregator, family, goflow2_line, metrics

NODE, NAS, INTERNET = "10.0.20.100", "10.0.10.15", "93.184.216.34"


def usage(agg) -> dict:
    return {(dict(labels)["host"], dict(labels)["direction"]): v
            for labels, v in family(metrics(agg), "netviz_host_internet_bytes_total").items()}


def test_bytes_to_and_from_external_addresses_are_each_hosts_internet_usage():
    agg = aggregator(zero_window=0)
    agg.ingest([
        goflow2_line(src_addr=NODE, dst_addr=INTERNET, src_port=52000, dst_port=443, bytes=400, in_if=1),
        goflow2_line(src_addr=INTERNET, dst_addr=NODE, src_port=443, dst_port=52000, bytes=9000, in_if=1),
        goflow2_line(src_addr=INTERNET, dst_addr=NAS, src_port=443, dst_port=52000, bytes=50, sampling_rate=10, in_if=2),
        goflow2_line(src_addr=NODE, dst_addr=NAS, bytes=70_000, in_if=1),  # local to local: not internet usage
        goflow2_line(src_addr=INTERNET, dst_addr="1.1.1.1", bytes=5, in_if=0),  # neither end is yours
    ])
    assert usage(agg) == {(NODE, "sent"): 400, (NODE, "received"): 9000, (NAS, "received"): 500}
    labels = {frozenset(k) for k in family(metrics(agg), "netviz_host_internet_bytes_total")}
    assert frozenset({("host", NODE), ("name", "k8s-node-0"), ("subnet", "kubernetes"), ("direction", "sent")}) in labels


def test_a_record_seen_on_the_other_interface_is_not_counted_twice():
    agg = aggregator(zero_window=0)
    agg.ingest([goflow2_line(src_addr=INTERNET, dst_addr=NAS, src_port=443, dst_port=52000, bytes=800, in_if=2),
                goflow2_line(src_addr=INTERNET, dst_addr=NAS, src_port=443, dst_port=52000, bytes=800, in_if=1)])
    assert usage(agg) == {(NAS, "received"): 800}
