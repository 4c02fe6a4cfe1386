"""The bounded series store: every flow counter lives here, under one hard cap.

A key is `(family, label values...)` and its value a list of counters: three for a subnet-pair key
(bytes, packets, flows: `SERIES_PER_FAMILY`), one for the others. The cap counts exported series,
so a subnet-pair key weighs three. Beyond the cap the least recently *updated* keys are evicted
(OrderedDict order = update order), the way mmmorks/goflow2-exporter bounds its groups: a peer
that stops talking disappears first, and when it talks again its counter restarts from zero, which
Prometheus' rate()/increase() read as a counter reset. Evictions are counted, so a dashboard can
tell "quiet" from "evicted" and the cap can be raised.

Not thread-safe on its own: the aggregator calls it under its lock.
"""

from __future__ import annotations

from collections import OrderedDict

FLOW = "flow"
HOST = "host"
EXTERNAL_PEER = "external"
SERVICE = "service"

SERIES_PER_FAMILY = {FLOW: 3, HOST: 1, EXTERNAL_PEER: 1, SERVICE: 1}


class SeriesStore:
    def __init__(self, max_series: int):
        if max_series < max(SERIES_PER_FAMILY.values()):
            raise ValueError(f"max_series must be at least 3, but {max_series} was provided")
        self.max_series = max_series
        self.series = 0  # exported series now
        self.evictions = 0  # series evicted since start
        self._entries: OrderedDict[tuple, list] = OrderedDict()

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
        self.series += 1
        if self.series > self.max_series:
            self._evict()

    def _evict(self) -> None:
        # The newest key sits at the end and max_series >= 3 fits any one key, so it is never evicted.
        entries = self._entries
        while self.series > self.max_series:
            _, counters = entries.popitem(last=False)
            self.series -= len(counters)
            self.evictions += len(counters)

    def snapshot(self) -> list[tuple[tuple, tuple]]:
        """A copy of every (key, counters), for rendering outside the lock."""
        return [(key, tuple(counters)) for key, counters in self._entries.items()]

    def __len__(self) -> int:
        return len(self._entries)
