"""Only NetFlow from the configured senders counts (goflow2.netflow_senders, else pfsense.address):
a record whose sampler_address is anyone else's is counted as untrusted and nothing else."""

from __future__ import annotations

import dataclasses
import logging

from flow_exporter.aggregate import Aggregator
from flow_exporter.settings import Senders
from tests.flow_exporter.helpers import FakeClock, aggregator, goflow2_line, metrics, settings, value

PAIR = {"src_subnet": "kubernetes", "dst_subnet": "storage", "proto": "TCP"}


def test_records_from_pfsense_count_and_from_anyone_else_do_not():
    agg = aggregator()
    agg.ingest([goflow2_line(bytes=100), goflow2_line(bytes=7, sampler_address="10.0.20.66", time_received_ns=2 * 10**18),
                goflow2_line(bytes=5, sampler_address="203.0.113.9")])
    snap = agg.snapshot()
    assert (snap.records, snap.untrusted) == (3, 2)
    m = metrics(agg)
    assert value(m, "netviz_flow_bytes_total", **PAIR) == 100
    assert value(m, "netviz_flow_exporter_records_untrusted_total") == 2
    assert snap.newest_ns == 1764000000000000000  # an untrusted record's time is not the newest record's


def test_the_fast_path_and_json_loads_trust_alike_and_a_mapped_address_is_its_ipv4():
    for fast in (True, False):
        agg = aggregator(fast_path=fast)
        agg.ingest([goflow2_line(sampler_address="::ffff:10.0.20.1"), goflow2_line(sampler_address="10.0.20.66"),
                    goflow2_line(sampler_address="not-an-address")])
        assert agg.snapshot().untrusted == 2, fast


def test_several_senders_can_be_configured():
    agg = Aggregator(dataclasses.replace(settings(), netflow_senders=("10.0.20.1", "fd00:20::1")))
    agg.ingest([goflow2_line(bytes=1), goflow2_line(bytes=2, sampler_address="fd00:20::1"),
                goflow2_line(bytes=4, sampler_address="10.0.20.2")])
    assert value(metrics(agg), "netviz_flow_bytes_total", **PAIR) == 3
    assert agg.snapshot().untrusted == 1


def test_the_verdicts_cache_is_bounded_whatever_senders_a_flood_spoofs():
    senders = Senders(["10.0.20.1"], cache_size=64)
    for i in range(10_000):
        assert not senders.trusted(f"198.51.{i // 256}.{i % 256}".encode())
    assert len(senders._cache) <= 64
    assert senders.trusted(b"10.0.20.1")


def test_an_untrusted_sender_is_logged_at_most_once_a_minute(caplog):
    clock = FakeClock()
    agg = aggregator(clock=clock)
    with caplog.at_level(logging.WARNING, logger="flow_exporter.aggregate"):
        for _ in range(5):
            agg.ingest([goflow2_line(sampler_address="10.0.20.66")])
        clock.advance(61)
        agg.ingest([goflow2_line(sampler_address="10.0.20.67")])
    lines = [r.getMessage() for r in caplog.records if "NetFlow sender" in r.getMessage()]
    assert len(lines) == 2
    assert "'10.0.20.66'" in lines[0] and "'10.0.20.67'" in lines[1]
