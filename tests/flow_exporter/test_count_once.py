"""Each flow counted once although softflowd exports an inter-VLAN flow from both interfaces."""

from hypothesis import given, settings as hsettings, strategies as st

from flow_exporter.aggregate import COUNT, COUNT_UNMAPPED, DUPLICATE, count_once
from flow_exporter.settings import Classifier

from flow_exporter.series import FLOW
from tests.flow_exporter.helpers import aggregator, goflow2_line, metrics, settings, value

DUP = "netviz_flow_exporter_records_duplicate_total"
UNMAPPED = "netviz_flow_exporter_records_unmapped_interface_total"


def test_the_two_records_of_one_inter_vlan_flow_count_once():
    # GIVEN one TCP flow kubernetes (lan, index 1) -> storage (opt1, index 2), as softflowd exports it
    # from both interfaces: the same record stamped in_if=1 on lan and in_if=2 on opt1
    on_lan = goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.15", bytes=5000, packets=4, in_if=1)
    on_opt1 = goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.15", bytes=5000, packets=4, in_if=2)
    agg = aggregator()
    # WHEN both arrive
    agg.ingest([on_lan, on_opt1])
    m = metrics(agg)
    # THEN the flow is counted once, from the source's interface (lan), and the other is a duplicate
    pair = dict(src_subnet="kubernetes", dst_subnet="storage", proto="TCP")
    assert value(m, "netviz_flow_bytes_total", **pair) == 5000
    assert value(m, "netviz_flow_packets_total", **pair) == 4
    assert value(m, "netviz_flows_total", **pair) == 1
    assert value(m, "netviz_host_bytes_total", subnet="kubernetes", host="10.0.20.100", name="k8s-node-0", direction="sent") == 5000
    assert value(m, "netviz_host_bytes_total", subnet="storage", host="10.0.10.15", name="truenas", direction="received") == 5000
    assert value(m, "netviz_service_bytes_total", proto="TCP", port="2049", service="nfs") == 5000
    assert value(m, DUP) == 1
    assert value(m, UNMAPPED) == 0


def test_the_reply_direction_is_counted_from_its_own_source_side():
    # storage -> kubernetes (the NFS reply): counted from opt1 (storage's index 2), not from lan.
    reply_on_lan = goflow2_line(src_addr="10.0.10.15", dst_addr="10.0.20.100", src_port=2049, dst_port=40000, in_if=1)
    reply_on_opt1 = goflow2_line(src_addr="10.0.10.15", dst_addr="10.0.20.100", src_port=2049, dst_port=40000, in_if=2)
    agg = aggregator()
    agg.ingest([reply_on_opt1, reply_on_lan])
    m = metrics(agg)
    assert value(m, "netviz_flows_total", src_subnet="storage", dst_subnet="kubernetes", proto="TCP") == 1
    assert value(m, DUP) == 1
    # the source port is the well-known one here
    assert value(m, "netviz_service_bytes_total", proto="TCP", port="2049", service="nfs") == 1000


def test_a_flow_from_an_unmonitored_subnet_counts_from_the_destination_interface():
    # home (no index) -> kubernetes (index 1): observation point is kubernetes' interface.
    agg = aggregator()
    agg.ingest([goflow2_line(src_addr="192.168.1.127", dst_addr="10.0.20.100", in_if=1)])
    agg.ingest([goflow2_line(src_addr="192.168.1.127", dst_addr="10.0.20.100", in_if=2)])
    m = metrics(agg)
    assert value(m, "netviz_flows_total", src_subnet="home", dst_subnet="kubernetes", proto="TCP") == 1
    assert value(m, DUP) == 1


def test_records_that_cannot_be_deduplicated_are_counted_and_reported():
    agg = aggregator()
    agg.ingest([
        goflow2_line(in_if=0),  # softflowd -r pcap, or no index sent
        goflow2_line(in_if=7),  # an interface no subnet names
    ])
    m = metrics(agg)
    assert value(m, "netviz_flows_total", src_subnet="kubernetes", dst_subnet="storage", proto="TCP") == 2
    assert value(m, UNMAPPED) == 2
    assert value(m, DUP) == 0


def test_external_flows_seen_on_one_interface_are_counted():
    agg = aggregator()
    agg.ingest([
        goflow2_line(src_addr="10.0.20.100", dst_addr="1.1.1.1", in_if=1, dst_port=443),
        goflow2_line(src_addr="1.1.1.1", dst_addr="10.0.20.100", in_if=1, src_port=443, dst_port=40000),
        # neither end in a monitored subnet: no observation point, counted
        goflow2_line(src_addr="192.168.1.127", dst_addr="8.8.8.8", in_if=1, dst_port=53, proto="UDP"),
    ])
    m = metrics(agg)
    assert value(m, "netviz_flows_total", src_subnet="kubernetes", dst_subnet="external", proto="TCP") == 1
    assert value(m, "netviz_flows_total", src_subnet="external", dst_subnet="kubernetes", proto="TCP") == 1
    assert value(m, "netviz_flows_total", src_subnet="home", dst_subnet="external", proto="UDP") == 1
    assert value(m, DUP) == 0


def test_count_once_reference_cases():
    c = Classifier(settings())
    kube, storage, home, ext = (c.lookup(a) for a in ("10.0.20.5", "10.0.10.5", "192.168.1.5", "9.9.9.9"))
    known = {1, 2}
    assert count_once(kube, storage, 1, known) == COUNT
    assert count_once(kube, storage, 2, known) == DUPLICATE
    assert count_once(storage, kube, 2, known) == COUNT
    assert count_once(storage, kube, 1, known) == DUPLICATE
    assert count_once(home, storage, 2, known) == COUNT
    assert count_once(home, storage, 1, known) == DUPLICATE
    assert count_once(home, ext, 1, known) == COUNT
    assert count_once(kube, storage, 0, known) == COUNT_UNMAPPED
    assert count_once(kube, storage, 3, known) == COUNT_UNMAPPED


ADDRESSES = ["10.0.20.5", "10.0.10.5", "192.168.1.5", "9.9.9.9", "fd00:20::9", "2001:db8::1"]


@hsettings(max_examples=300, deadline=None)
@given(st.sampled_from(ADDRESSES), st.sampled_from(ADDRESSES), st.integers(0, 4))
def test_the_aggregators_inlined_rule_is_count_once(src, dst, in_if):
    # The hot loop inlines count_once(); on every combination they must agree.
    c = Classifier(settings())
    expected = count_once(c.lookup(src), c.lookup(dst), in_if, {1, 2})
    agg = aggregator()
    agg.ingest([goflow2_line(src_addr=src, dst_addr=dst, in_if=in_if)])
    snap = agg.snapshot()
    assert (snap.duplicates, snap.unmapped_interface) == {
        COUNT: (0, 0), COUNT_UNMAPPED: (0, 1), DUPLICATE: (1, 0)
    }[expected]
    counted = sum(counters[2] for key, counters in snap.series if key[0] == FLOW)
    assert counted == (0 if expected == DUPLICATE else 1)
