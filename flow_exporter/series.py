"""The bounded series store: every flow counter lives here, each family under a budget of its own.

A key is `(family, label values...)` and its value a list of counters: three for a subnet-pair key
(bytes, packets, flows), two for a conversation (bytes, packets), one for the others (`series_per_key` of netviz_config.schema's
SERIES_FAMILIES, which also names the families and their default budgets). Budgets count exported
series, so a subnet-pair key weighs three.

Budgets per family. When a family is over its budget, its own least recently *updated* keys are
evicted (one OrderedDict per family, order = update order), the way mmmorks/goflow2-exporter bounds
its groups: a peer that stops talking disappears first, and when it talks again its counter restarts
from zero, which Prometheus' rate()/increase() read as a counter reset. Nothing is ever evicted from
another family: a scan or spoofed flood with a million source addresses fills `external_peers` and
evicts there, while the subnet pairs, hosts and services it also touches (a handful of keys, updated
by every record of the flood) and those of quiet hosts keep their counters. Evictions are counted per
family, so a dashboard can tell "quiet" from "evicted" and say which budget to raise.

A new series reads 0 for a time window first. Prometheus' increase()/rate() cannot see an increase
inside a series' first sample: a series that appeared already holding its first flow's bytes would
have those bytes missing from every dashboard's increase(...[$__range]), for each new peer, host,
service or subnet pair, and again each time an evicted key comes back (worse: a re-created key whose
new value is above the old one shows no reset at all, and only the difference is counted). So each
key keeps its creation time beside its counters, and `scrape_snapshot(now)` shows its counters as 0
until `zero_window` seconds have passed since then, and its real value after. That depends only on
the time, not on who scrapes: every scraper whose scrape interval is at most the window takes at
least one 0 sample of every series (two Prometheus servers at different phases, with a curl between
them, each see it). The config's default window is twice the scrape interval (netviz_config.schema
NetworkConfig.new_series_zero_seconds: one interval would do if every scrape came on time; the
second covers a late or failed one). The cost: a new series' first counts show up one window later
(nothing is lost: increase() sees them all), and a key evicted and re-created reads 0 again for a
whole window, which is a visible counter reset. Nothing is kept for evicted keys. `snapshot` (tests,
internal use) always shows real values.

Not thread-safe on its own: the aggregator calls it under its lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Mapping

from netviz_config.schema import SERIES_FAMILIES

# Family names, as keys' first element (and the self metrics' `family` label).
FLOW = "subnet_pairs"
HOST = "hosts"
SERVICE = "services"
EXTERNAL_PEER = "external_peers"
INTERNET = "internet_usage"  # a local host's bytes with external addresses: keys like HOST's
# Host-to-host (or host-to-peer) pairs, bytes and packets a key, in two families of one metric:
# between local hosts, and with an external end (open-ended: a flood of spoofed sources fills only
# that one). Their keys are nested, (family, (src, src_subnet), (dst, dst_subnet), service key), of
# tuples the aggregator has built once (settings.AddressInfo.end, its service keys), so the hot path
# builds one small tuple per record and never re-keys: `label_values` flattens one into its label
# values.
LOCAL_CONVERSATION = "local_conversations"
EXTERNAL_CONVERSATION = "external_conversations"
CONVERSATIONS = (LOCAL_CONVERSATION, EXTERNAL_CONVERSATION)
# Traffic that broke a segmentation rule: (family, rule name, source end, destination end, service
# key), ends as the conversations' (an external end collapsed to one, EXTERNAL_END: bounded).
POLICY = "policy_violations"
EXTERNAL_END = ("external", "external")


def label_values(key: tuple) -> tuple:
    """A key's label values, in exposition.FLOW_METRICS' label order: the key after its family, a
    conversation's flattened to (src, src_subnet, dst, dst_subnet, proto, port, service), a policy
    violation's to (rule, src, src_subnet, dst, dst_subnet, proto, port, service)."""
    family = key[0]
    if family in CONVERSATIONS:
        _family, src, dst, (_service_family, *service) = key
        return (*src, *dst, *service)
    if family == POLICY:
        _family, rule, src, dst, (_service_family, *service) = key
        return (rule, *src, *dst, *service)
    return key[1:]

SERIES_PER_KEY = {f.name: f.series_per_key for f in SERIES_FAMILIES}
DEFAULT_BUDGETS = {f.name: f.default_budget for f in SERIES_FAMILIES}
assert {FLOW, HOST, INTERNET, SERVICE, EXTERNAL_PEER, *CONVERSATIONS, POLICY} <= set(SERIES_PER_KEY), "a family the exporter builds keys for is not configured"


class _Family:
    __slots__ = ("name", "budget", "weight", "max_keys", "entries", "evicted_keys")

    def __init__(self, name: str, budget: int):
        self.name = name
        self.budget = budget
        self.weight = SERIES_PER_KEY[name]  # every key of a family has the same number of counters
        self.max_keys = budget // self.weight
        # key -> [counter..., creation time], least recently updated first
        self.entries: OrderedDict[tuple, list] = OrderedDict()
        self.evicted_keys = 0

    @property
    def series(self) -> int:
        return len(self.entries) * self.weight

    @property
    def evictions(self) -> int:
        return self.evicted_keys * self.weight


class SeriesStore:
    def __init__(self, budgets: Mapping[str, int] | None = None, zero_window: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        """`budgets`: most series per family (every family of SERIES_FAMILIES; missing ones get their
        default). `zero_window`: seconds a new key reads 0 in scrape snapshots (0: never). `clock`:
        seconds, the time of `scrape_snapshot(now)` too."""
        budgets = {**DEFAULT_BUDGETS, **(budgets or {})}
        unknown = set(budgets) - set(SERIES_PER_KEY)
        if unknown:
            raise ValueError(f"unknown series families {sorted(unknown)}: expected {', '.join(SERIES_PER_KEY)}")
        for name, budget in budgets.items():
            if budget < SERIES_PER_KEY[name]:
                raise ValueError(f"the {name} budget must be at least {SERIES_PER_KEY[name]} (one key), "
                                 f"but {budget} was provided")
        self._families = {name: _Family(name, budgets[name]) for name in SERIES_PER_KEY}
        self.zero_window = zero_window
        self._clock = clock

    # ---- updates (the hot path) ---------------------------------------------------------------
    # A family's keys all weigh the same, so "over budget" is "more keys than budget // weight", and
    # one new key evicts at most one: the family's least recently updated.

    def add(self, key: tuple, amounts) -> None:
        """Add `amounts` (one number per counter of the key's family) to `key`, marking it most
        recently updated in its family; if the family is now over its budget, evict its least
        recently updated key."""
        self.add_all(key[0], {key: list(amounts)})

    def add1(self, key: tuple, amount: int) -> None:
        """`add` for a one-counter key."""
        self.add_all1(key[0], {key: amount})

    def add_all(self, name: str, sums: Mapping[tuple, list]) -> None:
        """`add` every (key, amounts) of `sums`, all keys of family `name` (one batch, one call).
        The caller gives its lists away: a new key's list becomes its entry (no copy: a flood of
        new conversations makes one per record)."""
        family = self._families[name]
        entries = family.entries
        put, move = entries.setdefault, entries.move_to_end
        weight = family.weight
        now = None
        for key, amounts in sums.items():
            # One look-up whether the key is new or not (a tuple's hash is not cached: in a flood
            # every record's conversation is a new key, hashed here once instead of twice).
            counters = put(key, amounts)
            if counters is not amounts:
                # Unrolled for the families' two and three counters: this loop runs per key per batch.
                if weight == 2:
                    counters[0] += amounts[0]
                    counters[1] += amounts[1]
                elif weight == 3:
                    counters[0] += amounts[0]
                    counters[1] += amounts[1]
                    counters[2] += amounts[2]
                else:
                    for i, amount in enumerate(amounts):
                        counters[i] += amount
                move(key)
                continue
            if now is None:
                now = self._clock()
            amounts.append(now)  # the entry is this list: its creation time goes last
        self._evict(family)

    def add_all1(self, name: str, sums: Mapping[tuple, int]) -> None:
        """`add1` every (key, amount) of `sums`, all keys of the one-counter family `name`: the
        hot path's flush, once per family per batch (a flood creates and evicts a key per record)."""
        family = self._families[name]
        entries = family.entries
        get, move = entries.get, entries.move_to_end
        now = None
        for key, amount in sums.items():
            counters = get(key)
            if counters is not None:
                counters[0] += amount
                move(key)
                continue
            if now is None:
                now = self._clock()
            entries[key] = [amount, now]
        self._evict(family)

    @staticmethod
    def _evict(family: _Family) -> None:
        """Evict the family's least recently updated keys beyond its budget, once per batch: the
        same keys as evicting one per new key (the batch's own keys are the most recent), without
        a length check per key."""
        over = len(family.entries) - family.max_keys
        if over > 0:
            popitem = family.entries.popitem
            for _ in range(over):
                popitem(last=False)
            family.evicted_keys += over

    # ---- reading -------------------------------------------------------------------------------

    @property
    def series(self) -> int:
        """Series exported now, all families."""
        return sum(f.series for f in self._families.values())

    @property
    def evictions(self) -> int:
        """Series evicted since start, all families."""
        return sum(f.evictions for f in self._families.values())

    @property
    def limit(self) -> int:
        """The sum of the budgets: the most series the store ever exports."""
        return sum(f.budget for f in self._families.values())

    def families(self) -> list[tuple[str, int, int, int]]:
        """(family, series, budget, evictions) of every family, in SERIES_FAMILIES order."""
        return [(f.name, f.series, f.budget, f.evictions) for f in self._families.values()]

    def snapshot(self) -> list[tuple[tuple, tuple]]:
        """A copy of every (key, counters), real values, for rendering outside the lock."""
        return [(key, tuple(counters[:-1])) for f in self._families.values() for key, counters in f.entries.items()]

    def new_series(self, now: float) -> int:
        """Series reading 0 in a scrape snapshot taken at `now` (created less than zero_window ago)."""
        oldest = now - self.zero_window
        return sum(f.weight * sum(1 for counters in f.entries.values() if counters[-1] > oldest)
                   for f in self._families.values())

    def scrape_snapshot(self, now: float | None = None) -> list[tuple[tuple, tuple]]:
        """`snapshot` for a /metrics scrape at `now` (default: the clock): keys created less than
        `zero_window` seconds before `now` show 0 (see the module docstring). It changes nothing:
        any number of clients may scrape, in any order, and each sees what the time says."""
        if now is None:
            now = self._clock()
        oldest = now - self.zero_window
        out = []
        for f in self._families.values():
            zeros = (0,) * f.weight
            out.extend((key, zeros if counters[-1] > oldest else tuple(counters[:-1]))
                       for key, counters in f.entries.items())
        return out

    def __len__(self) -> int:
        return sum(len(f.entries) for f in self._families.values())
