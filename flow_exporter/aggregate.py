"""Records -> counters: the count-once rule, classification and per-batch aggregation.

Hot path, and why it is shaped this way (the target is 250,000 records/s on one core, in pure
Python, where `json.loads` alone manages about 300,000 lines/s):
  1. each line is parsed (record.parse_line: a regex fast path, json.loads otherwise);
  2. records of one batch (what one read returned, at most 64 KiB of input) are summed in a plain
     dict keyed by what decides their labels: (source text, destination text, protocol label,
     server port, interface). Flows between the same two hosts and service repeat a lot, and
     summing three integers is far cheaper than updating five series;
  3. each distinct key is turned, once, into a *plan* (cached, bounded): the count-once decision
     and the series keys it adds to. Classification (subnets, names) runs once per address.
  4. the batch's sums are added to the series store under the lock, so a scrape sees whole batches.

Because of (2) "least recently updated" is tracked per batch, not per record: keys updated in the
same batch are equally recent. A batch is at most a few hundred records.
"""

from __future__ import annotations

import threading
from typing import Optional

from .record import REJECT_REASONS, parse_line
from .series import EXTERNAL_PEER, FLOW, HOST, SERVICE, SeriesStore
from .services import PORT_PROTOCOLS, WELL_KNOWN_PORTS
from .settings import EXTERNAL, AddressInfo, Classifier, ExporterSettings

# `proto` label values. GoFlow2 renders the protocol number through a small table (ICMP, TCP, UDP,
# ICMPv6, SCTP in v2.2.x) and prints "" for the rest; newer or other producers may print more names.
# Anything not listed becomes `other`, so the label stays bounded whatever the input says.
KNOWN_PROTOCOLS = frozenset(
    {"TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "GRE", "ESP", "AH", "IGMP", "IPIP", "OSPF", "PIM", "VRRP", "L2TP"}
)
OTHER = "other"

# Count-once decisions.
COUNT = "count"
COUNT_UNMAPPED = "count_unmapped"
DUPLICATE = "duplicate"

# Plans remembered. A key is ~5 short values; when full the cache starts again empty.
PLAN_CACHE_SIZE = 16384


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
                 "series_limit", "evictions", "newest_ns", "input_reopens")

    def __init__(self, **values):
        for name, value in values.items():
            setattr(self, name, value)


class Aggregator:
    """Thread-safe: `ingest` runs on the reader thread, `snapshot` on HTTP threads."""

    def __init__(self, settings: ExporterSettings):
        self._lock = threading.Lock()
        self._classifier = Classifier(settings)
        self._store = SeriesStore(settings.max_series)
        self._known_if = settings.if_indexes
        self._plans: dict[tuple, tuple] = {}
        self.records = 0
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.duplicates = 0
        self.unmapped_interface = 0
        self.newest_ns = 0
        self.input_reopens = 0

    def ingest(self, lines) -> None:
        """Count a batch of input lines (bytes, without their newline)."""
        pending: dict[tuple, list] = {}
        rejected = {}
        get_pending = pending.get
        port_protocols = PORT_PROTOCOLS
        well_known = WELL_KNOWN_PORTS
        known_protocols = KNOWN_PROTOCOLS
        # Parsing and summing touch nothing shared, so they run outside the lock.
        for line in lines:
            record = parse_line(line)
            if type(record) is str:
                rejected[record] = rejected.get(record, 0) + 1
                continue
            t, rate, nbytes, packets, src, dst, proto, sport, dport, in_if = record
            if rate > 1:  # 0 means "not sent": 1
                nbytes *= rate
                packets *= rate
            if proto not in known_protocols:
                proto = OTHER
            # server_port(), inlined: this loop runs once per record.
            if proto in port_protocols:
                port = dport if dport in well_known else (sport if sport in well_known else 0)
            else:
                port = 0
            key = (src, dst, proto, port, in_if)
            acc = get_pending(key)
            if acc is None:
                pending[key] = [nbytes, packets, 1, t]
            else:
                acc[0] += nbytes
                acc[1] += packets
                acc[2] += 1
                if t > acc[3]:
                    acc[3] = t
        with self._lock:
            self.records += len(lines)
            for reason, n in rejected.items():
                self.rejected[reason] += n
            self._apply(pending)

    def _apply(self, pending: dict) -> None:
        plans = self._plans
        store = self._store
        add1 = store.add1
        newest = self.newest_ns
        for key, (nbytes, packets, flows, t) in pending.items():
            plan = plans.get(key)
            if plan is None:
                plan = self._plan(key)
                if plan is None:
                    self.rejected["invalid_address"] += flows
                    continue
                if len(plans) >= PLAN_CACHE_SIZE:
                    plans.clear()
                plans[key] = plan
            if t > newest:
                newest = t
            decision, flow_key, byte_keys = plan
            if decision is DUPLICATE:
                self.duplicates += flows
                continue
            if decision is COUNT_UNMAPPED:
                self.unmapped_interface += flows
            store.add(flow_key, (nbytes, packets, flows))
            for byte_key in byte_keys:
                add1(byte_key, nbytes)
        self.newest_ns = newest

    def _plan(self, key: tuple) -> Optional[tuple]:
        """(decision, subnet-pair key, byte-counter keys) for a pending key, or None if an address
        is not an IP address."""
        src_text, dst_text, proto, port, in_if = key
        src = self._classifier.lookup(src_text)
        dst = self._classifier.lookup(dst_text)
        if src is None or dst is None:
            return None
        decision = count_once(src, dst, in_if, self._known_if)
        flow_key = (FLOW, src.subnet, dst.subnet, proto)
        byte_keys = []
        src_local = src.subnet != EXTERNAL
        dst_local = dst.subnet != EXTERNAL
        if src_local:
            byte_keys.append((HOST, src.subnet, src.address, src.name, "sent"))
        if dst_local:
            byte_keys.append((HOST, dst.subnet, dst.address, dst.name, "received"))
        # Only flows with one local end have a direction; external -> external (transit) has no peer.
        if src_local and not dst_local:
            byte_keys.append((EXTERNAL_PEER, dst.address, "outbound"))
        elif dst_local and not src_local:
            byte_keys.append((EXTERNAL_PEER, src.address, "inbound"))
        if port:
            byte_keys.append((SERVICE, proto, str(port), WELL_KNOWN_PORTS[port]))
        else:
            byte_keys.append((SERVICE, proto, OTHER, OTHER))
        return decision, flow_key, tuple(byte_keys)

    def note_reopen(self) -> None:
        with self._lock:
            self.input_reopens += 1

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                series=self._store.snapshot(),
                records=self.records,
                rejected=dict(self.rejected),
                duplicates=self.duplicates,
                unmapped_interface=self.unmapped_interface,
                series_count=self._store.series,
                series_limit=self._store.max_series,
                evictions=self._store.evictions,
                newest_ns=self.newest_ns,
                input_reopens=self.input_reopens,
            )
