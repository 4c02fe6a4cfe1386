"""Segmentation rules (network.toml [[policy]]): traffic a rule forbids is counted per rule and
conversation in netviz_policy_violation_bytes_total; what it allows, in either direction, never is."""

from __future__ import annotations

import tomllib

import netviz_config
from flow_exporter.aggregate import Aggregator
from flow_exporter.settings import from_network_config
from tests.flow_exporter.helpers import NETWORK_TOML, family, goflow2_line, metrics

HOME, NAS, NODE = "192.168.1.50", "10.0.10.15", "10.0.20.100"


def aggregator_with(rules: str) -> Aggregator:
    return Aggregator(from_network_config(netviz_config.parse(tomllib.loads(NETWORK_TOML + rules))))


def violations(agg: Aggregator) -> dict:
    return {tuple(sorted(labels)): v for labels, v in family(metrics(agg), "netviz_policy_violation_bytes_total").items()}


def rule(name: str, source: str, target: str, extra: str = "") -> str:
    return f'\n[[policy]]\nname = "{name}"\nfrom_subnet = "{source}"\nto_subnet = "{target}"\n{extra}'


def labels(rule_name, src, src_subnet, dst, dst_subnet, proto, port, service) -> tuple:
    return tuple(sorted({"rule": rule_name, "src": src, "src_subnet": src_subnet, "dst": dst, "dst_subnet": dst_subnet,
                         "proto": proto, "port": port, "service": service}.items()))


def test_a_conversation_the_rule_forbids_is_counted_with_its_hosts():
    agg = aggregator_with(rule("home-not-to-storage", "home", "storage"))
    agg.ingest([goflow2_line(src_addr=HOME, dst_addr=NAS, src_port=50000, dst_port=2049, bytes=700, in_if=2),
                goflow2_line(src_addr=HOME, dst_addr=NAS, src_port=50001, dst_port=2049, bytes=300, in_if=2)])
    assert violations(agg) == {labels("home-not-to-storage", HOME, "home", NAS, "storage", "TCP", "2049", "nfs"): 1000}


def test_replies_to_a_conversation_the_other_side_started_are_allowed():
    """storage may start conversations with home: home's answers (from its server port) are no
    violation of "home may not reach storage", nor is storage's own traffic."""
    agg = aggregator_with(rule("home-not-to-storage", "home", "storage"))
    agg.ingest([goflow2_line(src_addr=NAS, dst_addr="192.168.1.127", src_port=40000, dst_port=8006, bytes=500, in_if=2),
                goflow2_line(src_addr="192.168.1.127", dst_addr=NAS, src_port=8006, dst_port=40000, bytes=9000, in_if=2)])
    assert violations(agg) == {}
    assert sum(family(metrics(agg), "netviz_flow_bytes_total").values()) == 9500  # both counted as traffic


def test_a_rule_can_be_narrowed_to_a_protocol_and_a_port():
    agg = aggregator_with(rule("no-nfs-from-home", "home", "storage", 'proto = "TCP"\nport = 2049\n'))
    agg.ingest([goflow2_line(src_addr=HOME, dst_addr=NAS, dst_port=2049, bytes=10, in_if=2),
                goflow2_line(src_addr=HOME, dst_addr=NAS, dst_port=445, bytes=20, in_if=2),  # smb: allowed
                goflow2_line(src_addr=HOME, dst_addr=NAS, proto="UDP", dst_port=2049, bytes=40, in_if=2)])  # UDP: allowed
    assert violations(agg) == {labels("no-nfs-from-home", HOME, "home", NAS, "storage", "TCP", "2049", "nfs"): 10}


def test_external_on_either_side_is_one_end_named_external():
    agg = aggregator_with(rule("storage-offline", "storage", "external") + rule("no-inbound", "external", "storage"))
    agg.ingest([goflow2_line(src_addr=NAS, dst_addr="203.0.113.9", dst_port=443, bytes=100, in_if=2),
                goflow2_line(src_addr=NAS, dst_addr="198.51.100.7", dst_port=443, bytes=50, in_if=2),
                goflow2_line(src_addr="198.51.100.7", dst_addr=NAS, src_port=50000, dst_port=22, bytes=70, in_if=2),
                goflow2_line(src_addr="198.51.100.7", dst_addr=NAS, src_port=443, dst_port=40000, bytes=900, in_if=2)])
    assert violations(agg) == {
        labels("storage-offline", NAS, "storage", "external", "external", "TCP", "443", "https"): 150,
        labels("no-inbound", "external", "external", NAS, "storage", "TCP", "22", "ssh"): 70,
    }  # the last record answers storage's own https conversation: allowed


def test_without_a_server_port_the_traffic_counts_whichever_side_started_it():
    """No port says who started it (ICMP, two ephemeral ports): the rule counts it, rather than miss it."""
    agg = aggregator_with(rule("home-not-to-storage", "home", "storage"))
    agg.ingest([goflow2_line(src_addr=HOME, dst_addr=NAS, proto="ICMP", src_port=0, dst_port=0, bytes=64, in_if=2),
                goflow2_line(src_addr=HOME, dst_addr=NAS, proto="UDP", src_port=40000, dst_port=50000, bytes=8, in_if=2)])
    assert violations(agg) == {labels("home-not-to-storage", HOME, "home", NAS, "storage", "ICMP", "other", "other"): 64,
                               labels("home-not-to-storage", HOME, "home", NAS, "storage", "UDP", "other", "other"): 8}


def test_a_flow_exported_by_two_interfaces_breaks_a_rule_once():
    agg = aggregator_with(rule("kubernetes-not-to-storage", "kubernetes", "storage"))
    agg.ingest([goflow2_line(src_addr=NODE, dst_addr=NAS, bytes=1000, in_if=1),
                goflow2_line(src_addr=NODE, dst_addr=NAS, bytes=1000, in_if=2)])  # its copy: a duplicate
    assert list(violations(agg).values()) == [1000]


def test_without_rules_nothing_is_counted_and_rules_are_matched_by_subnet_pair_only():
    agg = aggregator_with("")
    agg.ingest([goflow2_line(src_addr=HOME, dst_addr=NAS, bytes=1, in_if=2)])
    assert violations(agg) == {}
    agg = aggregator_with(rule("storage-not-to-home", "storage", "home"))
    agg.ingest([goflow2_line(src_addr=HOME, dst_addr=NAS, dst_port=2049, bytes=1, in_if=2)])
    assert violations(agg) == {}
