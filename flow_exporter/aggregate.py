"""Records -> counters: the count-once rule, classification and per-batch aggregation.

The hot path, and why it is shaped this way (the target is 250,000 records/s on one core in pure
Python, where `json.loads` alone manages about 300,000 lines/s):
  1. a line in GoFlow2's exact layout for our mapping is matched by one regular expression
     (record.FAST_LINE), inlined here; anything else goes through record.parse_line (json.loads);
  2. a record whose NetFlow sender (sampler_address) is not one of goflow2.netflow_senders is
     counted as untrusted and skipped before anything else is done with it (settings.Senders,
     a bounded cache of verdicts): a sender nobody configured never fills a cache or a budget;
  3. each address is classified once (settings.Classifier, bounded cache), and its series keys are
     built then, so a record costs dictionary look-ups, not tuple building;
  4. the amounts of one batch (what one read returned: at most 64 KiB, a few hundred records) are
     summed per series key in plain dicts, then added to the series store once per key, under the
     lock, so a scrape sees whole batches and the LRU bookkeeping runs per key, not per record.

Because of (4) "least recently updated" is tracked per batch: keys updated in the same batch are
equally recent.

Glued records. GoFlow2's file transport writes a record and its separator with two write() calls
(transport/file Send), and the collector decodes with two workers by default (one per socket x 2),
so two records can land as `{A}{B}` followed, at once or a little later, by an empty line (seen
with GoFlow2 v2.2.6 under load). Such a line is split into its records, each then parsed like any
other line (fast path first); each glued line leaves one empty line per extra record behind it,
and that many later empty lines are separators, not rejected records. Counted in
netviz_flow_exporter_glued_lines_total; no record is lost.

/metrics serves `scrape_snapshot`, in which a flow series shows 0 until new_series_zero_seconds have
passed since it was created, so that every scraper's increase() counts its first flows (series.py
says why and what it costs).
"""

from __future__ import annotations

import logging
import threading
import time

from netviz_config.schema import PROTOCOLS

from .record import FAST_LINE, REJECT_REASONS, parse_line
from .series import (EXTERNAL_CONVERSATION, EXTERNAL_END, EXTERNAL_PEER, FLOW, HOST, INTERNET, LOCAL_CONVERSATION, POLICY,
                     SERVICE, SeriesStore)
from .services import PORT_PROTOCOLS, WELL_KNOWN_PORTS
from .settings import AddressInfo, Classifier, ExporterSettings, Senders

log = logging.getLogger("flow_exporter.aggregate")

# `proto` label values. GoFlow2 renders the protocol number through a small table (ICMP, TCP, UDP,
# ICMPv6, SCTP in v2.2.x) and prints "" for the rest; newer or other producers may print more names.
# Anything not listed becomes `other`, so the label stays bounded whatever the input says.
KNOWN_PROTOCOLS = frozenset(PROTOCOLS)
OTHER = "other"


def _both_spellings(table: dict) -> dict:
    """`table` with each key also as the ASCII bytes the fast path holds (443 -> also b"443",
    "TCP" -> also b"TCP"). Ints, strs and bytes never compare equal, so nothing collides."""
    return {**table, **{str(k).encode("ascii"): v for k, v in table.items()}}


# proto as read (text or bytes) -> label
PROTOCOL_LABELS = _both_spellings({name: name for name in KNOWN_PROTOCOLS})


def _printable(sender) -> str:
    """A sender address as read, for one log line: at most 45 printable characters."""
    text = sender.decode("ascii", "replace") if type(sender) is bytes else str(sender)
    return repr("".join(c if c.isprintable() else "?" for c in text[:45]))


def _never(_line):
    return None  # the fast path when it is switched off: "not sure", always


# Count-once decisions.
COUNT = "count"
COUNT_UNMAPPED = "count_unmapped"
DUPLICATE = "duplicate"


def count_once(src: AddressInfo, dst: AddressInfo, in_if: int, known_if_indexes) -> str:
    """Decide whether a record is counted, so that a flow seen on two interfaces counts once.

    softflowd on pfSense runs one instance per monitored interface, and each stamps its own
    interface index as both `in_if` and `out_if`. A flow between two monitored subnets therefore
    arrives twice, once per interface. The rule:

      The flow's observation point is the `netflow_if_index` of the source address's subnet when
      that subnet has one, else that of the destination address's subnet. A record is counted only
      if its `in_if` is that observation point; a record of the same flow from the other interface
      is a duplicate and is not counted (netviz_flow_exporter_records_duplicate_total).
      Records that cannot be deduplicated are counted: `in_if` 0 (e.g. softflowd reading a pcap, or
      an exporter that sends no index), an `in_if` no subnet in the config has, or a flow neither of
      whose subnets has an index. The first two are also counted in
      netviz_flow_exporter_records_unmapped_interface_total, which should stay at 0 when every
      monitored interface has its `netflow_if_index` in network.toml.

    The two directions of a conversation are separate records, so each direction is counted from
    its own source's side: storage -> kubernetes from storage's interface, the reply from
    kubernetes'. A flow between a monitored subnet and an unmonitored one (or the internet) is seen
    on one interface only, the monitored subnet's, which is the observation point either way.
    """
    if in_if == 0 or in_if not in known_if_indexes:
        return COUNT_UNMAPPED
    observation = src.if_index if src.if_index is not None else dst.if_index
    if observation is None or observation == in_if:
        return COUNT
    return DUPLICATE


def server_port(proto: str, src_port: int, dst_port: int) -> int:
    """The destination port if well known, else the source port if well known, else 0 (`other`)."""
    if proto not in PORT_PROTOCOLS:
        return 0
    if dst_port in WELL_KNOWN_PORTS:
        return dst_port
    if src_port in WELL_KNOWN_PORTS:
        return src_port
    return 0


class Snapshot:
    """What one scrape shows, copied under the lock and rendered outside it."""

    __slots__ = ("series", "records", "rejected", "duplicates", "unmapped_interface", "series_count",
                 "series_limit", "evictions", "families", "new_series", "newest_ns", "input_reopens",
                 "fallback", "glued_lines", "untrusted")

    def __init__(self, **values):
        for name, value in values.items():
            setattr(self, name, value)


class Aggregator:
    """Thread-safe: `ingest` runs on the reader thread, `scrape_snapshot` on HTTP threads."""

    def __init__(self, settings: ExporterSettings, fast_path: bool = True, clock=time.monotonic):
        """`fast_path=False` sends every line through record.parse_line (tests compare the two).
        `clock`: seconds, for the new-series window (tests pass their own)."""
        self._lock = threading.Lock()
        self._fast_match = FAST_LINE.fullmatch if fast_path else _never
        self._classifier = Classifier(settings)
        self._senders = Senders(settings.netflow_senders)
        self._untrusted_logged = float("-inf")
        self._clock = clock
        self._store = SeriesStore(settings.series_budgets, settings.new_series_zero_seconds, clock)
        self._known_if = settings.if_indexes
        # Service keys built once: proto -> {well-known port -> key}, and proto -> the `other` key.
        self._service_keys = {
            proto: _both_spellings({port: (SERVICE, proto, str(port), name) for port, name in WELL_KNOWN_PORTS.items()})
            for proto in PORT_PROTOCOLS
        }
        self._other_service_keys = {proto: (SERVICE, proto, OTHER, OTHER) for proto in (*KNOWN_PROTOCOLS, OTHER)}
        # Segmentation rules: from subnet -> to subnet -> [(rule name, proto or "", port text or "")].
        self._policy: dict[str, dict[str, list]] = {}
        for name, source, target, proto, port in settings.policy:
            self._policy.setdefault(source, {}).setdefault(target, []).append((name, proto, str(port) if port else ""))
        self.records = 0
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.duplicates = 0
        self.unmapped_interface = 0
        self.newest_ns = 0
        self.input_reopens = 0
        self.fallback = 0  # records parsed by json.loads: not in the fast path's exact shape
        self.glued_lines = 0
        self.untrusted = 0  # records from a NetFlow sender not in goflow2.netflow_senders: skipped
        self._stray_separators = 0  # empty lines still due from glued lines (see the module docstring)

    def ingest(self, lines) -> None:
        """Count a batch of input lines (bytes, without their newline)."""
        flow_sums: dict[tuple, list] = {}  # (FLOW, src subnet, dst subnet, proto) -> [bytes, packets, flows]
        # host, external peer and service keys -> bytes, one dict per family (flushed per family)
        host_sums: dict[tuple, int] = {}
        peer_sums: dict[tuple, int] = {}
        internet_sums: dict[tuple, int] = {}
        service_sums: dict[tuple, int] = {}
        # (family, source end, destination end, service key) -> [bytes, packets]: the store's key,
        # of tuples built once (series.CONVERSATIONS), added to the store as it is; one dict per
        # family: between local hosts, and with an external end.
        local_conversation_sums: dict[tuple, list] = {}
        external_conversation_sums: dict[tuple, list] = {}
        policy_sums: dict[tuple, int] = {}  # (POLICY, rule, source end, destination end, service key) -> bytes
        policy = self._policy
        rejected: dict[str, int] = {}
        examples: dict[str, bytes] = {}  # the first rejected line of each reason, described in the log
        duplicates = unmapped = untrusted = 0
        untrusted_example = None
        newest = 0
        # Local names for everything the loop touches: attribute and global look-ups cost per record.
        fast_match = self._fast_match
        cached = self._classifier.cached
        lookup = self._classifier.lookup
        sender_cached = self._senders.cached
        sender_trusted = self._senders.trusted
        protocol_labels = PROTOCOL_LABELS
        known_if = self._known_if
        service_keys = self._service_keys
        other_service_keys = self._other_service_keys
        flow_get = flow_sums.get
        host_get, peer_get, service_get = host_sums.get, peer_sums.get, service_sums.get
        internet_get = internet_sums.get
        local_conversation_get = local_conversation_sums.get
        external_conversation_get = external_conversation_sums.get
        fallback = glued = stray = 0
        unglued: list = []  # the records of glued lines, counted as a batch of their own after this one
        # Parsing and summing touch only this call's dicts and the classifier's cache (used by the one
        # reader thread only), so they run outside the lock; scrapes wait only for the store update.
        for line in lines:
            m = fast_match(line)
            if m is not None:
                # FAST_LINE guarantees the ranges; fields stay bytes where a dict look-up can use them
                # as they are (addresses, protocol, ports: those dicts hold bytes keys too).
                t, rate, nbytes, packets, src, dst, proto, sport, dport, in_if, sender = m.groups()
                t = int(t)
                nbytes = int(nbytes)
                packets = int(packets)
                in_if = int(in_if)
                if rate != b"0" and rate != b"1":  # 0 means the exporter sent none: 1
                    rate = int(rate)
                    nbytes *= rate
                    packets *= rate
            else:  # the reference path: slower, names the reason
                if b"}{" in line and line[:1] == b"{" and line[-1:] == b"}":  # records glued (docstring)
                    parts = line[1:-1].split(b"}{")
                    unglued.extend(b"{" + part + b"}" for part in parts)
                    glued += 1
                    self._stray_separators += len(parts) - 1
                    continue
                if not line and self._stray_separators:
                    self._stray_separators -= 1
                    stray += 1
                    continue
                record = parse_line(line)
                if type(record) is str:
                    if record not in rejected:
                        examples[record] = line
                    rejected[record] = rejected.get(record, 0) + 1
                    continue
                fallback += 1
                t, rate, nbytes, packets, src, dst, proto, sport, dport, in_if, sender = record
                if rate > 1:
                    nbytes *= rate
                    packets *= rate
            # Only the configured NetFlow senders count: a record from anyone else is counted as
            # untrusted and nothing else (not even its time).
            trusted = sender_cached(sender)
            if trusted is None:
                trusted = sender_trusted(sender)
            if not trusted:
                untrusted += 1
                if untrusted_example is None:
                    untrusted_example = sender
                continue
            s = cached(src) or lookup(src)
            d = cached(dst) or lookup(dst)
            if s is None or d is None:
                if "invalid_address" not in rejected:
                    examples["invalid_address"] = line
                rejected["invalid_address"] = rejected.get("invalid_address", 0) + 1
                continue
            if t > newest:
                newest = t
            # count_once(), inlined (tests prove they agree).
            if in_if == 0 or in_if not in known_if:
                unmapped += 1
            else:
                observation = s.if_index if s.if_index is not None else d.if_index
                if observation is not None and observation != in_if:
                    duplicates += 1
                    continue
            proto = protocol_labels.get(proto, OTHER)
            key = (FLOW, s.subnet, d.subnet, proto)
            sums = flow_get(key)
            if sums is None:
                flow_sums[key] = [nbytes, packets, 1]
            else:
                sums[0] += nbytes
                sums[1] += packets
                sums[2] += 1
            if s.local:
                key = s.sent_key
                host_sums[key] = host_get(key, 0) + nbytes
                if d.local:
                    key = d.received_key
                    host_sums[key] = host_get(key, 0) + nbytes
                else:
                    key = d.outbound_key
                    peer_sums[key] = peer_get(key, 0) + nbytes
                    key = s.internet_sent_key
                    internet_sums[key] = internet_get(key, 0) + nbytes
            elif d.local:
                key = d.received_key
                host_sums[key] = host_get(key, 0) + nbytes
                key = s.inbound_key
                peer_sums[key] = peer_get(key, 0) + nbytes
                key = d.internet_received_key
                internet_sums[key] = internet_get(key, 0) + nbytes
            # server_port(), inlined: destination port if well known, else source port, else other.
            # A record whose source port is the well-known one is a reply: its sender is the server.
            reply = False
            ports = service_keys.get(proto)
            if ports is None:
                key = other_service_keys[proto]
            else:
                key = ports.get(dport)
                if key is None:
                    key = ports.get(sport)
                    if key is None:
                        key = other_service_keys[proto]
                    else:
                        reply = True
            service_sums[key] = service_get(key, 0) + nbytes
            if policy and not reply:  # segmentation rules: only who starts a conversation breaks one
                targets = policy.get(s.subnet)
                if targets is not None:
                    rules = targets.get(d.subnet)
                    if rules is not None:
                        for rule, rule_proto, rule_port in rules:
                            if (not rule_proto or rule_proto == proto) and (not rule_port or rule_port == key[2]):
                                pkey = (POLICY, rule, s.end if s.local else EXTERNAL_END, d.end if d.local else EXTERNAL_END, key)
                                policy_sums[pkey] = policy_sums.get(pkey, 0) + nbytes
            # The conversation: counted here, after the duplicate check, like every family.
            if s.local and d.local:
                key = (LOCAL_CONVERSATION, s.end, d.end, key)
                sums = local_conversation_get(key)
                if sums is None:
                    local_conversation_sums[key] = [nbytes, packets]
                    continue
            else:
                key = (EXTERNAL_CONVERSATION, s.end, d.end, key)
                sums = external_conversation_get(key)
                if sums is None:
                    external_conversation_sums[key] = [nbytes, packets]
                    continue
            sums[0] += nbytes
            sums[1] += packets

        with self._lock:
            self.records += len(lines) - glued - stray
            self.fallback += fallback
            self.glued_lines += glued
            for reason, n in rejected.items():
                if self.rejected[reason] == 0:
                    # Once per reason: enough to diagnose a wrong mapping or format, never a flood.
                    # The line itself is not logged: --input pointed at the wrong file must not leak it.
                    log.warning("skipping input lines: %s (counted in netviz_flow_exporter_records_rejected_total; "
                                "the first was %d bytes, %s)", reason.replace("_", " "), len(examples[reason]),
                                "starting with {" if examples[reason][:1] == b"{" else "not starting with {")
                self.rejected[reason] += n
            self.duplicates += duplicates
            self.unmapped_interface += unmapped
            self.untrusted += untrusted
            if untrusted:
                now = self._clock()
                if now - self._untrusted_logged >= 60:  # at most a line a minute, whatever a flood sends
                    self._untrusted_logged = now
                    log.warning("skipping records from NetFlow sender %s and %d more in this batch: not in "
                                "goflow2.netflow_senders (counted in netviz_flow_exporter_records_untrusted_total)",
                                _printable(untrusted_example), untrusted - 1)
            if newest > self.newest_ns:
                self.newest_ns = newest
            store = self._store
            store.add_all(FLOW, flow_sums)
            store.add_all1(HOST, host_sums)
            if internet_sums:
                store.add_all1(INTERNET, internet_sums)
            store.add_all1(EXTERNAL_PEER, peer_sums)
            store.add_all1(SERVICE, service_sums)
            store.add_all(LOCAL_CONVERSATION, local_conversation_sums)
            store.add_all(EXTERNAL_CONVERSATION, external_conversation_sums)
            if policy_sums:
                store.add_all1(POLICY, policy_sums)
        if unglued:
            self.ingest(unglued)  # split at every "}{": no line of it is glued again

    def note_reopen(self) -> None:
        """The input was opened again: a new writer owes no separators of the last one's glued lines."""
        self._stray_separators = 0
        with self._lock:
            self.input_reopens += 1

    def snapshot(self) -> Snapshot:
        """Everything as it is now (tests, the benchmark's checks)."""
        with self._lock:
            return self._snapshot(self._store.snapshot())

    def scrape_snapshot(self) -> Snapshot:
        """What /metrics serves: `snapshot`, except that flow series created less than
        new_series_zero_seconds ago show 0 (series.SeriesStore.scrape_snapshot: increase() cannot see
        a series' first sample). Depends on the time only: any client may scrape, any number of times."""
        with self._lock:
            now = self._clock()
            return self._snapshot(self._store.scrape_snapshot(now), self._store.new_series(now))

    def _snapshot(self, series, new_series: int = 0) -> Snapshot:
        """Call with the lock held. `new_series`: how many of `series` are shown at 0."""
        store = self._store
        return Snapshot(
            series=series,
            records=self.records,
            rejected=dict(self.rejected),
            duplicates=self.duplicates,
            unmapped_interface=self.unmapped_interface,
            series_count=store.series,
            series_limit=store.limit,
            evictions=store.evictions,
            families=store.families(),
            new_series=new_series,
            newest_ns=self.newest_ns,
            input_reopens=self.input_reopens,
            fallback=self.fallback,
            glued_lines=self.glued_lines,
            untrusted=self.untrusted,
        )
