"""The hard cap over all flow families, least-recently-updated eviction, and its self metrics."""

import pytest

from flow_exporter.series import SeriesStore
from tests.flow_exporter.helpers import aggregator, goflow2_line, metrics, value


def test_least_recently_updated_keys_are_evicted_first():
    store = SeriesStore(max_series=3)
    store.add1(("host", "a"), 1)
    store.add1(("host", "b"), 1)
    store.add1(("host", "c"), 1)
    store.add1(("host", "a"), 1)  # a is now the most recent
    store.add1(("host", "d"), 1)  # evicts b, the least recently updated
    assert [k for k, _ in store.snapshot()] == [("host", "c"), ("host", "a"), ("host", "d")]
    assert dict(store.snapshot())[("host", "a")] == (2,)
    assert (store.series, store.evictions) == (3, 1)


def test_a_subnet_pair_key_weighs_three_series():
    store = SeriesStore(max_series=4)
    store.add1(("host", "a"), 1)
    store.add(("flow", "x", "y", "TCP"), (10, 1, 1))
    assert store.series == 4
    store.add1(("host", "b"), 1)  # over by one: evicts the oldest, host a
    assert store.series == 4 and store.evictions == 1
    store.add1(("host", "c"), 1)  # evicts the flow key: three series at once
    assert [k for k, _ in store.snapshot()] == [("host", "b"), ("host", "c")]
    assert (store.series, store.evictions) == (2, 4)


def test_a_cap_below_one_subnet_pair_is_refused():
    with pytest.raises(ValueError, match="at least 3, but 2 was provided"):
        SeriesStore(max_series=2)


def test_the_cap_holds_across_families_and_is_reported():
    # GIVEN a cap of 20 series and traffic to 100 external peers (5+ series each record)
    agg = aggregator(max_series=20)
    for i in range(100):
        agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr=f"203.0.113.{i}", dst_port=443, in_if=1)])
    m = metrics(agg)
    # THEN never more than 20 series are exported, and the newest peer survives
    exported = sum(1 for (name, _), _v in m.items()
                   if name.startswith("netviz_") and not name.startswith(("netviz_flow_exporter_", "netviz_conversation_")))
    assert exported == value(m, "netviz_flow_exporter_series") <= 20
    assert value(m, "netviz_flow_exporter_series_limit") == 20
    # 20 = 3 (subnet pair) + 1 (host sent) + 1 (service https) + 15 peers: 85 peers evicted
    assert value(m, "netviz_flow_exporter_evictions_total") == 85
    assert value(m, "netviz_external_bytes_total", peer="203.0.113.99", direction="outbound") == 1000
    assert value(m, "netviz_external_bytes_total", peer="203.0.113.85", direction="outbound") == 1000
    assert value(m, "netviz_external_bytes_total", peer="203.0.113.84", direction="outbound") == 0
    # the subnet pair, updated by every record, is never the least recently updated
    assert value(m, "netviz_flows_total", src_subnet="kubernetes", dst_subnet="external", proto="TCP") == 100
