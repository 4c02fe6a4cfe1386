"""Scrapes on HTTP threads while records are ingested: every snapshot consistent, no count lost,
budgets held, and no scrape changing what another scrape sees (new series read 0 for their window,
whoever scrapes)."""

import threading

from flow_exporter.exposition import render
from flow_exporter.series import EXTERNAL_PEER, FLOW
from tests.flow_exporter.helpers import FakeClock, aggregator, goflow2_line, parse_exposition

PAIR = (FLOW, "kubernetes", "external", "TCP")
PEERS = 20


def _run(agg, batches, check) -> list:
    """Ingest `batches` on 4 threads while 4 threads scrape; the problems `check(snapshot)` found."""
    problems = []
    done = threading.Event()

    def ingest(part):
        for batch in part:
            agg.ingest(batch)

    def scrape():
        while not done.is_set():
            snap = agg.scrape_snapshot()  # what /metrics serves
            families = {f[0]: f for f in snap.families}
            if snap.series_count != sum(len(c) for _, c in snap.series) or families[EXTERNAL_PEER][1] > PEERS:
                problems.append(("series", snap.series_count, families))
            problems.extend(check(snap))
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
    return problems


def test_concurrent_ingest_and_scrapes_lose_nothing_and_agree_on_new_series():
    clock = FakeClock()
    agg = aggregator({EXTERNAL_PEER: PEERS}, clock=clock)  # a small budget: eviction runs concurrently too
    batches = [[goflow2_line(dst_addr=f"198.51.100.{(t * 7 + i) % 250}", bytes=1, in_if=1) for i in range(50)]
               for t in range(40)]

    # WHILE the clock stands still (every series within its window): every scrape, by any thread,
    # shows every flow series at 0; none takes the 0 away from the others
    def all_zero(snap):
        return [("not 0", key, c) for key, c in snap.series if any(c)]
    assert _run(agg, batches[:20], all_zero) == []
    # once the window has passed, a scrape shows exactly what was counted
    clock.advance(60)
    snap = agg.snapshot()
    assert agg.scrape_snapshot().series == snap.series
    assert snap.records == 20 * 50

    # WHILE more batches come (the pair is old now, new peers are not): the pair always holds whole
    # records (1 byte, 2 packets each), never part of a batch
    def whole(snap):
        pair = dict(snap.series)[PAIR]
        return [] if pair == (pair[2], 2 * pair[2], pair[2]) and pair[2] >= 20 * 50 else [("pair", pair)]
    assert _run(agg, batches[20:], whole) == []
    clock.advance(60)
    snap = agg.snapshot()
    assert snap.records == 40 * 50
    assert agg.scrape_snapshot().series == snap.series
    # the subnet pair is updated by every batch and is in a family of its own: it holds every record
    flows = {k: c for k, c in snap.series if k[0] == FLOW}
    assert flows == {PAIR: (2000, 4000, 2000)}
    # (250 peers through a budget of 20: the peers evicted, and only them)
    families = {f[0]: f[1:] for f in snap.families}
    assert families[EXTERNAL_PEER][:2] == (PEERS, PEERS) and families[EXTERNAL_PEER][2] >= 250 - PEERS
    assert [f[2] for name, f in families.items() if name != EXTERNAL_PEER] == [0] * (len(families) - 1)
