"""The conversations: who sent how much to whom, in two families of the one store, each under its
own budget: between local hosts (flow_exporter.series_budgets.local_conversations) and with an
external end (external_conversations), so that a flood from outside never evicts a conversation
between two of the user's hosts."""

from __future__ import annotations

from flow_exporter.exposition import render
from flow_exporter.series import EXTERNAL_CONVERSATION, EXTERNAL_PEER, LOCAL_CONVERSATION
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
    # the families' figures: two local conversations, one with an external end, two series each
    assert value(m, "netviz_flow_exporter_family_series", family=LOCAL_CONVERSATION) == 4
    assert value(m, "netviz_flow_exporter_family_series", family=EXTERNAL_CONVERSATION) == 2
    assert value(m, "netviz_flow_exporter_family_series_limit", family=LOCAL_CONVERSATION) == 4000
    assert value(m, "netviz_flow_exporter_family_series_limit", family=EXTERNAL_CONVERSATION) == 4000


def test_a_flood_from_outside_evicts_only_external_conversations_least_recently_updated_first():
    # GIVEN a budget of 10 external conversation series (5 keys), a quiet conversation between two
    # local hosts first, then 50 external hosts each talking to truenas
    agg = aggregator({EXTERNAL_CONVERSATION: 10, LOCAL_CONVERSATION: 2})
    agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.15", bytes=7, in_if=1)])  # the first
    for i in range(50):
        agg.ingest([goflow2_line(src_addr=f"203.0.113.{i}", dst_addr="10.0.10.15", bytes=1000, in_if=2)])
    m = metrics(agg)
    # THEN the external family holds its budget, its 5 most recently updated conversations survive ...
    assert value(m, "netviz_flow_exporter_family_series", family=EXTERNAL_CONVERSATION) == 10
    assert value(m, "netviz_flow_exporter_family_evictions_total", family=EXTERNAL_CONVERSATION) == 2 * 45
    kept = {dict(k)["src"] for k in family(m, "netviz_conversation_bytes_total")}
    assert kept == {"10.0.20.100"} | {f"203.0.113.{i}" for i in range(45, 50)}
    # ... and no other family lost anything: the local conversation (the least recently updated of
    # all), every peer and the first host keep their counters
    assert conversation(m, "10.0.20.100", "10.0.10.15") == 7
    assert value(m, "netviz_flow_exporter_evictions_total") == 2 * 45
    assert value(m, "netviz_host_bytes_total", subnet="kubernetes", host="10.0.20.100", name="k8s-node-0", direction="sent") == 7
    assert len(family(m, "netviz_external_bytes_total")) == 50


def test_local_conversations_evict_only_their_own_least_recently_updated():
    # GIVEN room for 2 local conversations (4 series) and one with an external end
    agg = aggregator({LOCAL_CONVERSATION: 4})
    agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr="203.0.113.9", dst_port=443, bytes=5, in_if=1)])
    for host in (101, 102, 103):  # WHEN three local hosts talk to truenas in turn
        agg.ingest([goflow2_line(src_addr=f"10.0.20.{host}", dst_addr="10.0.10.15", bytes=host, in_if=1)])
    m = metrics(agg)
    # THEN the oldest local one is evicted, the external one is not
    assert value(m, "netviz_flow_exporter_family_evictions_total", family=LOCAL_CONVERSATION) == 2
    assert value(m, "netviz_flow_exporter_family_evictions_total", family=EXTERNAL_CONVERSATION) == 0
    assert [conversation(m, f"10.0.20.{h}", "10.0.10.15") for h in (101, 102, 103)] == [0, 102, 103]
    assert conversation(m, "10.0.20.100", "203.0.113.9", port="443", service="https") == 5


def test_a_full_external_peers_family_never_evicts_conversations():
    # GIVEN an external peers' budget of 20 flooded by 100 peers
    agg = aggregator({EXTERNAL_PEER: 20})
    agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.15", bytes=9, in_if=1)])
    for i in range(100):
        agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr=f"203.0.113.{i}", dst_port=443, in_if=1)])
    m = metrics(agg)
    assert value(m, "netviz_flow_exporter_family_evictions_total", family="external_peers") == 100 - 20
    assert value(m, "netviz_flow_exporter_family_evictions_total", family=LOCAL_CONVERSATION) == 0
    assert value(m, "netviz_flow_exporter_family_evictions_total", family=EXTERNAL_CONVERSATION) == 0
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
