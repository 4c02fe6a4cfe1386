"""Scrapes on HTTP threads while records are ingested: every snapshot consistent, no count lost,
and a new series shown at 0 by exactly one scrape (the first after it was created)."""

import threading

from flow_exporter.exposition import render
from tests.flow_exporter.helpers import aggregator, goflow2_line, parse_exposition


def test_concurrent_ingest_and_scrapes_lose_nothing():
    agg = aggregator(max_series=60)  # small cap: eviction runs concurrently too
    batches = [[goflow2_line(dst_addr=f"198.51.100.{(t * 7 + i) % 250}", bytes=1, in_if=1) for i in range(50)]
               for t in range(40)]
    problems = []
    pair_scraped_at_zero = []
    done = threading.Event()

    def ingest(part):
        for batch in part:
            agg.ingest(batch)

    def scrape():
        while not done.is_set():
            snap = agg.scrape_snapshot()  # what /metrics serves
            # (conversations are counted apart, under their own budget)
            if snap.series_count != sum(len(c) for k, c in snap.series if k[0] != "conversations") or snap.series_count > 60:
                problems.append(snap.series_count)
            pair = dict(snap.series).get(("flow", "kubernetes", "external", "TCP"))
            if pair == (0, 0, 0):
                pair_scraped_at_zero.append(pair)
            elif pair is not None and pair != (pair[2], 2 * pair[2], pair[2]):  # whole records: 1 byte, 2 packets
                problems.append(pair)
            parse_exposition(render(snap))  # renders and parses while the store changes

    scrapers = [threading.Thread(target=scrape) for _ in range(4)]
    ingesters = [threading.Thread(target=ingest, args=(batches[i::4],)) for i in range(4)]
    for t in scrapers + ingesters:
        t.start()
    for t in ingesters:
        t.join()
    done.set()
    for t in scrapers:
        t.join()
    snap = agg.snapshot()
    assert problems == []
    assert snap.records == 40 * 50
    # one more scrape exposes the keys created after the scrapers' last one; then all is as it is
    if dict(agg.scrape_snapshot().series)[("flow", "kubernetes", "external", "TCP")] == (0, 0, 0):
        pair_scraped_at_zero.append((0, 0, 0))  # (only if no scraper ran after the first batch)
    assert agg.scrape_snapshot().series == snap.series
    # the pair, created by the first batch and never evicted, was at 0 in exactly one scrape
    assert pair_scraped_at_zero == [(0, 0, 0)]
    # the subnet pair is updated by every batch, so never evicted: it holds every record
    flows = {k: c for k, c in snap.series if k[0] == "flow"}
    assert flows == {("flow", "kubernetes", "external", "TCP"): (2000, 4000, 2000)}
