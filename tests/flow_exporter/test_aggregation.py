"""Classification and sums: sampling, subnets, hosts, external peers, services, IPv6, time."""

from flow_exporter.aggregate import server_port
from tests.flow_exporter.helpers import aggregator, family, goflow2_line, metrics, value


def test_bytes_and_packets_are_multiplied_by_the_sampling_rate_and_0_means_1():
    agg = aggregator()
    agg.ingest([
        goflow2_line(bytes=100, packets=1, sampling_rate=0),
        goflow2_line(bytes=100, packets=1, sampling_rate=1),
        goflow2_line(bytes=100, packets=1, sampling_rate=50),
    ])
    m = metrics(agg)
    pair = dict(src_subnet="kubernetes", dst_subnet="storage", proto="TCP")
    assert value(m, "netviz_flow_bytes_total", **pair) == 100 + 100 + 5000
    assert value(m, "netviz_flow_packets_total", **pair) == 1 + 1 + 50
    assert value(m, "netviz_flows_total", **pair) == 3  # records, not multiplied


def test_hosts_external_peers_and_directions():
    agg = aggregator()
    agg.ingest([
        goflow2_line(src_addr="10.0.20.7", dst_addr="93.184.216.34", bytes=300, dst_port=443),
        goflow2_line(src_addr="93.184.216.34", dst_addr="10.0.20.7", bytes=9000, src_port=443, dst_port=50000),
        goflow2_line(src_addr="8.8.8.8", dst_addr="1.1.1.1", bytes=5, in_if=0),  # transit: no local end
    ])
    m = metrics(agg)
    hosts = family(m, "netviz_host_bytes_total")
    assert hosts == {
        frozenset(dict(subnet="kubernetes", host="10.0.20.7", name="10.0.20.7", direction="sent").items()): 300,
        frozenset(dict(subnet="kubernetes", host="10.0.20.7", name="10.0.20.7", direction="received").items()): 9000,
    }
    assert family(m, "netviz_external_bytes_total") == {
        frozenset(dict(peer="93.184.216.34", direction="outbound").items()): 300,
        frozenset(dict(peer="93.184.216.34", direction="inbound").items()): 9000,
    }
    assert value(m, "netviz_flows_total", src_subnet="external", dst_subnet="external", proto="TCP") == 1


def test_ipv6_and_ipv4_mapped_addresses():
    agg = aggregator()
    agg.ingest([
        goflow2_line(src_addr="fd00:20::15", dst_addr="2001:db8::1", bytes=10, in_if=0),
        goflow2_line(src_addr="fd00:20:0:0:0:0:0:15", dst_addr="2001:db8::1", bytes=20, in_if=0),  # same host
        goflow2_line(src_addr="::ffff:10.0.10.15", dst_addr="10.0.20.100", bytes=40, in_if=2),
    ])
    m = metrics(agg)
    assert value(m, "netviz_host_bytes_total", subnet="lab6", host="fd00:20::15", name="nas6", direction="sent") == 30
    assert value(m, "netviz_external_bytes_total", peer="2001:db8::1", direction="outbound") == 30
    assert value(m, "netviz_host_bytes_total", subnet="storage", host="10.0.10.15", name="truenas", direction="sent") == 40


def test_service_port_rule_and_bounded_protocol_label():
    assert server_port("TCP", 40000, 443) == 443  # destination well known
    assert server_port("TCP", 443, 40000) == 443  # else source
    assert server_port("UDP", 53, 123) == 123  # both known: destination wins
    assert server_port("TCP", 40000, 40001) == 0  # neither: other
    assert server_port("ICMP", 0, 2048) == 0  # no ports
    agg = aggregator()
    agg.ingest([
        goflow2_line(proto="UDP", src_port=50000, dst_port=53, bytes=1),
        goflow2_line(proto="TCP", src_port=6443, dst_port=50000, bytes=2),
        goflow2_line(proto="TCP", src_port=50000, dst_port=50001, bytes=4),
        goflow2_line(proto="ICMP", src_port=0, dst_port=0, bytes=8),
        goflow2_line(proto="", bytes=16),  # GoFlow2 prints "" for protocols it has no name for
        goflow2_line(proto="DROP TABLE", bytes=32),  # anything else: other, never a new label value
    ])
    m = metrics(agg)
    assert family(m, "netviz_service_bytes_total") == {
        frozenset(dict(proto="UDP", port="53", service="dns").items()): 1,
        frozenset(dict(proto="TCP", port="6443", service="kubernetes-api").items()): 2,
        frozenset(dict(proto="TCP", port="other", service="other").items()): 4,
        frozenset(dict(proto="ICMP", port="other", service="other").items()): 8,
        frozenset(dict(proto="other", port="other", service="other").items()): 48,
    }
    assert value(m, "netviz_flows_total", src_subnet="kubernetes", dst_subnet="storage", proto="other") == 2


def test_newest_record_time_and_records_read():
    agg = aggregator()
    agg.ingest([
        goflow2_line(time_received_ns=1_764_000_002_500_000_000),
        goflow2_line(time_received_ns=1_764_000_001_000_000_000),
        b"garbage",
        goflow2_line(time_received_ns=1_999_999_999_000_000_000, src_addr="300.1.1.1"),  # rejected: not newest
    ])
    m = metrics(agg)
    assert value(m, "netviz_flow_exporter_last_record_timestamp_seconds") == 1_764_000_002.5
    assert value(m, "netviz_flow_exporter_records_total") == 4
    assert value(m, "netviz_flow_exporter_records_rejected_total", reason="invalid_json") == 1
    assert value(m, "netviz_flow_exporter_records_rejected_total", reason="invalid_address") == 1


def test_invalid_addresses_are_rejected_on_both_paths():
    for fast in (True, False):
        agg = aggregator(fast_path=fast)
        agg.ingest([
            goflow2_line(src_addr="10.0.20.256"),
            goflow2_line(dst_addr="::::"),
            goflow2_line(dst_addr="fe80::1%eth0"),
            goflow2_line(dst_addr="010.0.20.1"),  # leading zeros: ambiguous, refused by ipaddress
            goflow2_line(dst_addr="example.org"),
        ])
        snap = agg.snapshot()
        assert snap.rejected["invalid_address"] == 5, fast
        assert snap.series == []


def test_each_reject_reason_is_logged_once_without_the_line_itself(caplog):
    agg = aggregator()
    with caplog.at_level("WARNING", logger="flow_exporter.aggregate"):
        agg.ingest([b"password=hunter2", b"second junk"])
        agg.ingest([b"third junk", goflow2_line(src_addr="nope.example")])
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "invalid json" in messages[0] and "16 bytes, not starting with {" in messages[0]
    assert "invalid address" in messages[1] and "starting with {" in messages[1]
    assert "hunter2" not in caplog.text and "nope.example" not in caplog.text
    assert agg.snapshot().rejected["invalid_json"] == 3
