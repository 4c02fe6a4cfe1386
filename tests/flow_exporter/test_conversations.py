"""The conversations family: who sent how much to whom, under its own budget of the one store
(flow_exporter.series_budgets.conversations)."""

from __future__ import annotations

from flow_exporter.exposition import render
from flow_exporter.series import CONVERSATION, EXTERNAL_PEER
from tests.flow_exporter.helpers import FakeClock, aggregator, family, goflow2_line, metrics, parse_exposition, value


def conversation(m, src, dst, proto="TCP", port="2049", service="nfs", metric="netviz_conversation_bytes_total"):
    matches = [v for labels, v in family(m, metric).items() if ("src", src) in labels and ("dst", dst) in labels
               and ("proto", proto) in labels and ("port", port) in labels and ("service", service) in labels]
    assert len(matches) <= 1
    return matches[0] if matches else 0


def test_each_direction_of_a_conversation_is_counted_once_with_its_ends_subnets():
    agg = aggregator()  # the config's budgets
    agg.ingest([
        goflow2_line(src_addr="10.0.10.15", dst_addr="10.0.20.100", src_port=2049, dst_port=51000, bytes=5000, packets=4, in_if=2),
        goflow2_line(src_addr="10.0.10.15", dst_addr="10.0.20.100", src_port=2049, dst_port=51000, bytes=5000, packets=4, in_if=1),  # the other interface's copy
        goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.15", src_port=51000, dst_port=2049, bytes=300, packets=2, in_if=1),
        goflow2_line(src_addr="10.0.20.100", dst_addr="203.0.113.9", proto="UDP", src_port=40000, dst_port=53, bytes=80,
                     packets=1, sampling_rate=10, in_if=1),
    ])
    m = metrics(agg)
    assert conversation(m, "10.0.10.15", "10.0.20.100") == 5000  # the duplicate is not counted
    assert conversation(m, "10.0.10.15", "10.0.20.100", metric="netviz_conversation_packets_total") == 4
    assert conversation(m, "10.0.20.100", "10.0.10.15") == 300
    assert conversation(m, "10.0.20.100", "203.0.113.9", proto="UDP", port="53", service="dns") == 800  # x sampling rate
    labels = dict(next(k for k in family(m, "netviz_conversation_bytes_total") if ("dst", "203.0.113.9") in k))
    assert labels["src_subnet"] == "kubernetes" and labels["dst_subnet"] == "external"
    # the family's figures
    assert value(m, "netviz_flow_exporter_family_series", family="conversations") == 6
    assert value(m, "netviz_flow_exporter_family_series_limit", family="conversations") == 4000


def test_a_conversation_flood_evicts_only_conversations_least_recently_updated_first():
    # GIVEN a budget of 10 conversation series (5 keys) and 50 hosts each talking to truenas
    agg = aggregator({CONVERSATION: 10})
    agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.15", bytes=7, in_if=1)])  # the first
    for i in range(50):
        agg.ingest([goflow2_line(src_addr=f"203.0.113.{i}", dst_addr="10.0.10.15", bytes=1000, in_if=2)])
    m = metrics(agg)
    # THEN the family holds its budget, the 5 most recently updated conversations survive ...
    assert value(m, "netviz_flow_exporter_family_series", family="conversations") == 10
    assert value(m, "netviz_flow_exporter_family_evictions_total", family="conversations") == 2 * 46
    kept = {dict(k)["src"] for k in family(m, "netviz_conversation_bytes_total")}
    assert kept == {f"203.0.113.{i}" for i in range(45, 50)}
    # ... and no other family lost anything: every peer and the first host keep their counters
    assert value(m, "netviz_flow_exporter_evictions_total") == 2 * 46
    assert value(m, "netviz_host_bytes_total", subnet="kubernetes", host="10.0.20.100", name="k8s-node-0", direction="sent") == 7
    assert len(family(m, "netviz_external_bytes_total")) == 50


def test_a_full_external_peers_family_never_evicts_conversations():
    # GIVEN an external peers' budget of 20 flooded by 100 peers
    agg = aggregator({EXTERNAL_PEER: 20})
    agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.15", bytes=9, in_if=1)])
    for i in range(100):
        agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr=f"203.0.113.{i}", dst_port=443, in_if=1)])
    m = metrics(agg)
    assert value(m, "netviz_flow_exporter_family_evictions_total", family="external_peers") == 100 - 20
    assert value(m, "netviz_flow_exporter_family_evictions_total", family="conversations") == 0
    assert conversation(m, "10.0.20.100", "10.0.10.15") == 9


def test_a_new_conversation_is_scraped_at_zero_for_the_new_series_window():
    clock = FakeClock()
    agg = aggregator(clock=clock, zero_window=30)
    agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.15", bytes=1234, in_if=1)])
    first = parse_exposition(render(agg.scrape_snapshot()))
    clock.advance(30)
    second = parse_exposition(render(agg.scrape_snapshot()))
    assert conversation(first, "10.0.20.100", "10.0.10.15") == 0 and len(family(first, "netviz_conversation_bytes_total")) == 1
    assert conversation(second, "10.0.20.100", "10.0.10.15") == 1234
