"""The bounded series store: every flow counter lives here, under one hard cap.

A key is `(family, label values...)` and its value a list of counters: three for a subnet-pair key
(bytes, packets, flows: `SERIES_PER_FAMILY`), one for the others. The cap counts exported series,
so a subnet-pair key weighs three. Beyond the cap the least recently *updated* keys are evicted
(OrderedDict order = update order), the way mmmorks/goflow2-exporter bounds its groups: a peer
that stops talking disappears first, and when it talks again its counter restarts from zero, which
Prometheus' rate()/increase() read as a counter reset. Evictions are counted, so a dashboard can
tell "quiet" from "evicted" and the cap can be raised.

A new series is scraped at 0 first. Prometheus' increase()/rate() cannot see an increase inside a
series' first sample: a series that appeared already holding its first flow's bytes would have
those bytes missing from every dashboard's increase(...[$__range]), for each new peer, host,
service or subnet pair, and again each time an evicted key comes back. So the store remembers the
keys created since the last scrape (`_fresh`: a set touched only when a key is created or evicted,
never when an existing key is updated), and `scrape_snapshot` shows their counters as 0 and marks
them exposed; from the next scrape on they show their real value. The cost: a new series' counts
show one scrape (one scrape interval) later; nothing is lost, increase() sees all of them. A
re-created key starting at 0 is also always a visible counter reset. `snapshot` (tests, internal
use) always shows real values. Only /metrics takes scrape snapshots, and any GET of /metrics is
a scrape: a second Prometheus (or a curl) scraping the same exporter can take the 0 sample, so
the other one sees a new series first with its real value (and misses that first increase).

Not thread-safe on its own: the aggregator calls it under its lock.
"""

from __future__ import annotations

from collections import OrderedDict

FLOW = "flow"
HOST = "host"
EXTERNAL_PEER = "external"
SERVICE = "service"
# Host-to-host conversations: held in a SeriesStore of their own, under a budget of their own
# (flow_exporter.conversation_series), so that the many pairs a busy network has cannot evict the
# subnet-pair, host, peer and service series, nor those them. Two series a key: bytes, packets.
CONVERSATION = "conversations"

SERIES_PER_FAMILY = {FLOW: 3, HOST: 1, EXTERNAL_PEER: 1, SERVICE: 1, CONVERSATION: 2}


class SeriesStore:
    def __init__(self, max_series: int, largest_key: int = 3):
        """`largest_key`: series of the largest key it will hold (a subnet pair's 3; a conversation's 2)."""
        if max_series < largest_key:
            raise ValueError(f"max_series must be at least {largest_key}, but {max_series} was provided")
        self.max_series = max_series
        self.series = 0  # exported series now
        self.evictions = 0  # series evicted since start
        self._entries: OrderedDict[tuple, list] = OrderedDict()
        self._fresh: set = set()  # keys created since the last scrape_snapshot, not evicted since

    def add(self, key: tuple, amounts) -> None:
        """Add `amounts` (one number per counter of the key's family) to `key`, marking it most
        recently updated; evict the least recently updated keys if the cap is now exceeded."""
        counters = self._entries.get(key)
        if counters is not None:
            for i, amount in enumerate(amounts):
                counters[i] += amount
            self._entries.move_to_end(key)
            return
        self._entries[key] = list(amounts)
        self._fresh.add(key)
        self.series += len(amounts)
        if self.series > self.max_series:
            self._evict()

    def add1(self, key: tuple, amount: int) -> None:
        """`add` for a one-counter key, without the loop (the hot path has three of these per flow)."""
        counters = self._entries.get(key)
        if counters is not None:
            counters[0] += amount
            self._entries.move_to_end(key)
            return
        self._entries[key] = [amount]
        self._fresh.add(key)
        self.series += 1
        if self.series > self.max_series:
            self._evict()

    def _evict(self) -> None:
        # The newest key sits at the end and max_series >= 3 fits any one key, so it is never evicted.
        entries = self._entries
        discard = self._fresh.discard
        while self.series > self.max_series:
            key, counters = entries.popitem(last=False)
            discard(key)  # a key created again later is fresh again
            self.series -= len(counters)
            self.evictions += len(counters)

    def snapshot(self) -> list[tuple[tuple, tuple]]:
        """A copy of every (key, counters), for rendering outside the lock."""
        return [(key, tuple(counters)) for key, counters in self._entries.items()]

    def scrape_snapshot(self) -> list[tuple[tuple, tuple]]:
        """`snapshot` for a /metrics scrape: the counters of keys created since the previous scrape
        snapshot are shown as 0 (see the module docstring), and those keys are then exposed."""
        fresh = self._fresh
        if not fresh:
            return self.snapshot()
        self._fresh = set()
        return [(key, (0,) * len(counters) if key in fresh else tuple(counters))
                for key, counters in self._entries.items()]

    def __len__(self) -> int:
        return len(self._entries)
