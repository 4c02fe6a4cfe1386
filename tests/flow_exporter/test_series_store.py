"""A series budget per family, least-recently-updated eviction inside the full family only, and the
self metrics per family (and in total)."""

import re

import pytest

from flow_exporter.exposition import FAMILY_METRICS, FLOW_METRICS, render
from flow_exporter.series import (
    EXTERNAL_CONVERSATION, EXTERNAL_PEER, FLOW, HOST, INTERNET, LOCAL_CONVERSATION, POLICY, SERIES_PER_KEY, SERVICE, SeriesStore,
)
from netviz_config.schema import SERIES_FAMILIES
from tests.flow_exporter.helpers import aggregator, family, goflow2_line, metrics, parse_exposition, value

SMALL = {FLOW: 6, HOST: 3, SERVICE: 2, EXTERNAL_PEER: 4, LOCAL_CONVERSATION: 4, EXTERNAL_CONVERSATION: 4, INTERNET: 2, POLICY: 2}


def keys(store, name=None):
    return [k for k, _ in store.snapshot() if name is None or k[0] == name]


def test_least_recently_updated_keys_of_a_family_are_evicted_first():
    store = SeriesStore(SMALL)
    for name in "abc":
        store.add1((HOST, name), 1)
    store.add1((HOST, "a"), 1)  # a is now the most recent
    store.add1((HOST, "d"), 1)  # evicts b, the least recently updated host
    assert keys(store) == [(HOST, "c"), (HOST, "a"), (HOST, "d")]
    assert dict(store.snapshot())[(HOST, "a")] == (2,)
    assert store.families()[1] == (HOST, 3, 3, 1)


def test_a_full_family_evicts_only_its_own_series():
    # GIVEN every family holding series, the hosts' and the pair's the least recently updated of all
    store = SeriesStore(SMALL)
    store.add((FLOW, "kubernetes", "storage", "TCP"), (10, 1, 1))
    store.add1((HOST, "10.0.20.100"), 5)
    store.add1((SERVICE, "TCP", "443", "https"), 7)
    # WHEN a thousand new external peers arrive
    for i in range(1000):
        store.add1((EXTERNAL_PEER, f"198.51.{i // 250}.{i % 250}", "inbound"), 1)
    # THEN only external peers were evicted: the rest keep their counters though quieter than any peer
    snap = dict(store.snapshot())
    assert snap[(FLOW, "kubernetes", "storage", "TCP")] == (10, 1, 1)
    assert snap[(HOST, "10.0.20.100")] == (5,)
    assert snap[(SERVICE, "TCP", "443", "https")] == (7,)
    assert keys(store, EXTERNAL_PEER) == [(EXTERNAL_PEER, f"198.51.3.{i}", "inbound") for i in range(246, 250)]
    assert store.families() == [(FLOW, 3, 6, 0), (HOST, 1, 3, 0), (SERVICE, 1, 2, 0), (EXTERNAL_PEER, 4, 4, 996),
                                (LOCAL_CONVERSATION, 0, 4, 0), (EXTERNAL_CONVERSATION, 0, 4, 0), (INTERNET, 0, 2, 0),
                                (POLICY, 0, 2, 0)]
    assert (store.series, store.limit, store.evictions) == (9, 27, 996)


def test_a_subnet_pair_key_weighs_three_series_of_its_budget():
    store = SeriesStore({**SMALL, FLOW: 8})  # room for two keys (six series), not three
    store.add((FLOW, "a", "b", "TCP"), (10, 1, 1))
    store.add((FLOW, "a", "c", "TCP"), (10, 1, 1))
    assert store.families()[0] == (FLOW, 6, 8, 0)
    store.add((FLOW, "a", "d", "TCP"), (10, 1, 1))  # over: evicts the oldest key, three series
    assert keys(store, FLOW) == [(FLOW, "a", "c", "TCP"), (FLOW, "a", "d", "TCP")]
    assert store.families()[0] == (FLOW, 6, 8, 3)


@pytest.mark.parametrize("budgets, message", [
    ({FLOW: 2}, "the subnet_pairs budget must be at least 3 (one key), but 2 was provided"),
    ({HOST: 0}, "the hosts budget must be at least 1 (one key), but 0 was provided"),
    ({"talkers": 10}, "unknown series families ['talkers']"),
    ({LOCAL_CONVERSATION: 1}, "the local_conversations budget must be at least 2 (one key), but 1 was provided"),
])
def test_a_budget_below_one_key_or_of_no_family_is_refused(budgets, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SeriesStore(budgets)


def test_the_families_are_the_configs_and_each_has_its_metrics():
    # Adding a family is a line in netviz_config.schema SERIES_FAMILIES: the store, its budget and
    # its self metrics follow; what it exports must be in exposition.FLOW_METRICS.
    assert list(SERIES_PER_KEY) == [f.name for f in SERIES_FAMILIES]
    assert {f for families, *_ in FLOW_METRICS for f in families} == set(SERIES_PER_KEY)
    for name, weight in SERIES_PER_KEY.items():
        assert weight == sum(1 for families, *_ in FLOW_METRICS if name in families)
    assert [f[:2] for f in SeriesStore().families()] == [(f.name, 0) for f in SERIES_FAMILIES]
    assert {f[0]: f[2] for f in SeriesStore().families()} == {f.name: f.default_budget for f in SERIES_FAMILIES}


def test_each_family_holds_to_its_budget_and_reports_it():
    # GIVEN small budgets and traffic from one host to 100 external peers (a pair, a host, its internet
    # usage, a service and a peer series per record, and an external conversation's two)
    budgets = {FLOW: 3, HOST: 1, SERVICE: 1, EXTERNAL_PEER: 15, LOCAL_CONVERSATION: 2, EXTERNAL_CONVERSATION: 20,
               INTERNET: 1, POLICY: 2}
    agg = aggregator(budgets)
    for i in range(100):
        agg.ingest([goflow2_line(src_addr="10.0.20.100", dst_addr=f"203.0.113.{i}", dst_port=443, in_if=1)])
    m = metrics(agg)
    # THEN no family exports more than its budget, and only the peers and conversations were evicted
    by_family = {name: family(m, name) for name, *_ in FAMILY_METRICS}
    assert by_family["netviz_flow_exporter_family_series"] == {
        frozenset({("family", FLOW)}): 3, frozenset({("family", HOST)}): 1,
        frozenset({("family", SERVICE)}): 1, frozenset({("family", EXTERNAL_PEER)}): 15,
        frozenset({("family", LOCAL_CONVERSATION)}): 0, frozenset({("family", EXTERNAL_CONVERSATION)}): 20,
        frozenset({("family", INTERNET)}): 1, frozenset({("family", POLICY)}): 0}
    assert by_family["netviz_flow_exporter_family_series_limit"] == {
        frozenset({("family", f)}): b for f, b in budgets.items()}
    assert by_family["netviz_flow_exporter_family_evictions_total"] == {
        frozenset({("family", FLOW)}): 0, frozenset({("family", HOST)}): 0,
        frozenset({("family", SERVICE)}): 0, frozenset({("family", EXTERNAL_PEER)}): 85,
        frozenset({("family", LOCAL_CONVERSATION)}): 0, frozenset({("family", EXTERNAL_CONVERSATION)}): 2 * (100 - 10),
        frozenset({("family", INTERNET)}): 0, frozenset({("family", POLICY)}): 0}
    # the totals the alerts and dashboards read: sums over the families
    exported = sum(1 for (name, _), _v in m.items()
                   if name.startswith("netviz_") and not name.startswith("netviz_flow_exporter_"))
    assert exported == value(m, "netviz_flow_exporter_series") == 41
    assert value(m, "netviz_flow_exporter_series_limit") == 45
    assert value(m, "netviz_flow_exporter_evictions_total") == 85 + 180
    # the newest 15 peers are held, exactly
    assert value(m, "netviz_external_bytes_total", peer="203.0.113.99", direction="outbound") == 1000
    assert value(m, "netviz_external_bytes_total", peer="203.0.113.85", direction="outbound") == 1000
    assert value(m, "netviz_external_bytes_total", peer="203.0.113.84", direction="outbound") == 0
    # and the newest 10 conversations
    held = sorted(dict(k)["dst"] for k in family(m, "netviz_conversation_bytes_total"))
    assert held == sorted(f"203.0.113.{i}" for i in range(90, 100))
    assert value(m, "netviz_flows_total", src_subnet="kubernetes", dst_subnet="external", proto="TCP") == 100
    assert value(m, "netviz_host_bytes_total", subnet="kubernetes", host="10.0.20.100", name="k8s-node-0",
                 direction="sent") == 100 * 1000


def test_per_family_metrics_exist_from_the_start_with_the_config_budgets():
    m = parse_exposition(render(aggregator().snapshot()))
    assert family(m, "netviz_flow_exporter_family_series_limit") == {
        frozenset({("family", f.name)}): f.default_budget for f in SERIES_FAMILIES}
    assert set(family(m, "netviz_flow_exporter_family_series").values()) == {0}
    assert set(family(m, "netviz_flow_exporter_family_evictions_total").values()) == {0}
    assert value(m, "netviz_flow_exporter_series_limit") == sum(f.default_budget for f in SERIES_FAMILIES)
