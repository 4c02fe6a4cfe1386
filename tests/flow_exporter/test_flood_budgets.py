"""A flood of spoofed external sources fills the budgets of the two families keyed by its addresses
(external peers, external conversations) and nothing else: a known
corpus of flows among the configured hosts and subnets, interleaved with 200,000 records from as many
spoofed addresses (tests/support/flood.py, which also computes the truth without the exporter's code),
read the way the exporter reads its FIFO, with the config's default budgets (but for the local
conversations', sized to the corpus: its hosts talk to every other at random, far more pairs than a
network has). Every subnet-pair cell, host figure, service figure and conversation between local
hosts is exact; the external peers and external conversations stay within their budgets and are the
only series evicted. (The 1,000,000-record flood, with its memory and rate: benchmarks/flow_exporter_bench.py
--flood.)"""

from __future__ import annotations

import pytest

import netviz_config
from flow_exporter.reader import CHUNK_BYTES, LineSplitter
from flow_exporter.series import (EXTERNAL_CONVERSATION, EXTERNAL_PEER, FLOW, HOST, INTERNET, LOCAL_CONVERSATION, POLICY, SERVICE,
                                  label_values)
from tests.flow_exporter.helpers import REPO, aggregator
from tests.support import flood

FLOOD = 200_000
CORPUS = 8_000


@pytest.fixture(scope="module")
def flooded(tmp_path_factory):
    path = tmp_path_factory.mktemp("flood") / "flows.jsonl"
    truth = flood.write_corpus_and_flood(path, corpus_flows=CORPUS, flood_records=FLOOD, seed=7)
    agg = aggregator({LOCAL_CONVERSATION: 2 * len(truth.local_conversations)}, zero_window=0)
    splitter = LineSplitter()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            lines = splitter.feed(chunk)
            if lines:
                agg.ingest(lines)
    return truth, agg.snapshot()


def test_the_generator_describes_the_shipped_network():
    cfg = netviz_config.load(f"{REPO}/network.toml")
    assert {s.name: (s.cidr, s.netflow_if_index) for s in cfg.subnets} == flood.SUBNETS
    assert {d.address: d.name for d in (*cfg.hosts, *cfg.kubernetes.nodes)} == flood.NAMES


def test_every_record_is_read_and_counted_once(flooded):
    truth, snap = flooded
    assert snap.records == truth.records == FLOOD + CORPUS + truth.duplicates
    assert truth.flood_sources == FLOOD and truth.duplicates > 1000
    assert snap.duplicates == truth.duplicates
    assert sum(snap.rejected.values()) == 0 and snap.fallback == 0


def test_every_subnet_pair_cell_is_exact(flooded):
    truth, snap = flooded
    cells = {key[1:]: list(c) for key, c in snap.series if key[0] == FLOW}
    assert cells == truth.cells
    # the inter-VLAN cells are there, not only the flood's
    assert {(s, d) for s, d, _p in cells if "external" not in (s, d)} == {
        (a, b) for a in ("home", "storage", "kubernetes") for b in ("home", "storage", "kubernetes")
        if a != b or a == "kubernetes"}


def test_every_host_figure_is_exact(flooded):
    truth, snap = flooded
    hosts = {key[1:]: c[0] for key, c in snap.series if key[0] == HOST}
    assert hosts == dict(truth.hosts)
    assert len(hosts) > 100  # every corpus host, both directions where it had both


def test_every_service_figure_is_exact(flooded):
    truth, snap = flooded
    assert {key[1:]: c[0] for key, c in snap.series if key[0] == SERVICE} == dict(truth.services)


def test_every_conversation_between_local_hosts_is_exact(flooded):
    truth, snap = flooded
    local = {label_values(key): list(c) for key, c in snap.series if key[0] == LOCAL_CONVERSATION}
    assert local == truth.local_conversations
    assert len(local) > 1000


def test_the_external_peers_and_conversations_stay_within_their_budgets_and_only_they_are_evicted(flooded):
    truth, snap = flooded
    families = {name: (series, budget, evictions) for name, series, budget, evictions in snap.families}
    series, budget, evictions = families[EXTERNAL_PEER]
    assert series == budget == 6000
    assert evictions >= truth.flood_sources - budget
    # every flood record is a conversation of its own (a new source), two series each
    conversations, conversation_budget, conversation_evictions = families[EXTERNAL_CONVERSATION]
    assert conversations == conversation_budget == 4000
    assert conversation_evictions >= 2 * truth.flood_sources - conversation_budget
    assert {name: f[2] for name, f in families.items() if name not in (EXTERNAL_PEER, EXTERNAL_CONVERSATION)} == {
        FLOW: 0, HOST: 0, SERVICE: 0, LOCAL_CONVERSATION: 0, INTERNET: 0, POLICY: 0}
    assert snap.evictions == evictions + conversation_evictions
    assert snap.series_count == sum(f[0] for f in families.values())
    # the peers held are the most recent ones, each at exactly its one record's bytes
    peers = [(key, c) for key, c in snap.series if key[0] == EXTERNAL_PEER]
    assert len(peers) == budget
    flood_peers = [c for key, c in peers if (key[1], key[2]) not in truth.corpus_peers]
    assert flood_peers and set(flood_peers) == {(40,)}
