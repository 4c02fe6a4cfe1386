"""network.toml -> what the exporter needs to classify addresses, and the address classifier.

The exporter reads the same validated file as the stacks (`netviz_config`), so a subnet renamed
there is renamed in the metrics on the next start: there is no second list to keep in step.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from socket import AF_INET, inet_ntop, inet_pton
from typing import Mapping, Optional

from .series import EXTERNAL_PEER, HOST, INTERNET, SeriesStore

EXTERNAL = "external"

# Distinct addresses remembered by the classifier. An entry (AddressInfo and its keys) is under
# 1 KiB, so 16384 stay under 16 MiB (the benchmark measures the whole process with full budgets);
# when full it starts again empty (a miss only costs one parse).
ADDRESS_CACHE_SIZE = 16384


@dataclass(frozen=True)
class SubnetInfo:
    name: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    netflow_if_index: Optional[int]


@dataclass(frozen=True)
class ExporterSettings:
    """Everything the aggregation needs, independent of the TOML file's layout."""

    subnets: tuple[SubnetInfo, ...]
    host_names: dict  # canonical address text -> configured name
    series_budgets: dict  # family -> most series (netviz_config.schema SERIES_FAMILIES)
    new_series_zero_seconds: float  # how long a new series reads 0 on /metrics (series.py)
    kubernetes_nodes: tuple = ()  # (canonical address, node name) of kubernetes.nodes
    netflow_senders: tuple = ()  # canonical addresses whose records count (goflow2.netflow_senders)
    policy: tuple = ()  # (name, from subnet, to subnet, proto or "", port or 0) of network.toml's [[policy]]

    @property
    def if_indexes(self) -> frozenset:
        """Interface indexes the config knows (subnets' netflow_if_index)."""
        return frozenset(s.netflow_if_index for s in self.subnets if s.netflow_if_index is not None)

    @property
    def series_limit(self) -> int:
        return sum(self.series_budgets.values())


def from_network_config(cfg, series_budgets: Optional[Mapping[str, int]] = None,
                        new_series_zero_seconds: Optional[float] = None) -> ExporterSettings:
    """Adapt a validated `netviz_config.NetworkConfig`. `series_budgets` overrides some or all of
    `flow_exporter.series_budgets`, `new_series_zero_seconds` the config's window. Host names come
    from `hosts`, then `kubernetes.nodes` (a node is a host worth naming too); the first name given
    to an address wins."""
    budgets = {**cfg.flow_exporter.series_budgets.as_dict(), **(series_budgets or {})}
    SeriesStore(budgets)  # refuses an unknown family or a budget below one key, naming it
    subnets = tuple(
        SubnetInfo(s.name, ipaddress.ip_network(s.cidr), s.netflow_if_index) for s in cfg.subnets
    )
    names: dict[str, str] = {}
    for entry in (*cfg.hosts, *cfg.kubernetes.nodes):
        names.setdefault(str(_unmapped(ipaddress.ip_address(entry.address))), entry.name)
    nodes = tuple((str(_unmapped(ipaddress.ip_address(n.address))), n.name) for n in cfg.kubernetes.nodes)
    window = cfg.new_series_zero_seconds if new_series_zero_seconds is None else new_series_zero_seconds
    senders = tuple(str(_unmapped(ipaddress.ip_address(a))) for a in cfg.netflow_senders)
    policy = tuple((r.name, r.from_subnet, r.to_subnet, r.proto, r.port) for r in cfg.policy)
    return ExporterSettings(subnets=subnets, host_names=names, series_budgets=budgets, new_series_zero_seconds=window,
                            kubernetes_nodes=nodes, netflow_senders=senders, policy=policy)


class AddressInfo:
    """What the aggregation needs about one address, with its series keys built once, here,
    instead of once per record."""

    __slots__ = ("address", "subnet", "if_index", "name", "local", "sent_key", "received_key",
                 "outbound_key", "inbound_key", "internet_sent_key", "internet_received_key", "end")

    def __init__(self, address: str, subnet: str, if_index: Optional[int], name: str):
        self.address = address  # canonical text (an IPv4-mapped IPv6 address is shown as IPv4)
        self.subnet = subnet  # configured subnet name, or EXTERNAL
        self.if_index = if_index  # that subnet's netflow_if_index
        self.name = name  # configured host name, else the address
        self.local = subnet != EXTERNAL
        # Keys of the series store (see series.py); only the ones that apply are set.
        self.sent_key = (HOST, subnet, address, name, "sent") if self.local else None
        self.received_key = (HOST, subnet, address, name, "received") if self.local else None
        # Its traffic with external addresses (family INTERNET), kept apart from the host's total.
        self.internet_sent_key = (INTERNET, subnet, address, name, "sent") if self.local else None
        self.internet_received_key = (INTERNET, subnet, address, name, "received") if self.local else None
        self.outbound_key = None if self.local else (EXTERNAL_PEER, address, "outbound")
        self.inbound_key = None if self.local else (EXTERNAL_PEER, address, "inbound")
        self.end = (address, subnet)  # one end of a conversation key (series.CONVERSATIONS)

    def __repr__(self) -> str:
        return f"AddressInfo({self.address!r}, {self.subnet!r}, {self.if_index!r}, {self.name!r})"


def _unmapped(ip):
    # A collector may render an IPv4 address as ::ffff:a.b.c.d; it is the same host.
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class Classifier:
    """Address text -> AddressInfo (or None if it is not an IP address), with a bounded cache.

    Not thread-safe on its own: the aggregator calls it under its lock."""

    def __init__(self, settings: ExporterSettings, cache_size: int = ADDRESS_CACHE_SIZE):
        self._subnets = settings.subnets
        self._names = settings.host_names
        self._cache: dict = {}  # str or bytes -> AddressInfo
        # The hot path's first try, a bare dict look-up (cleared in place, never replaced).
        self.cached = self._cache.get
        self._cache_size = cache_size
        # IPv4 subnets as (network, mask, subnet) integers, for the dotted-quad fast path.
        self._v4 = [(int(s.network.network_address), int(s.network.netmask), s) for s in self._subnets
                    if s.network.version == 4]

    def lookup(self, text) -> Optional[AddressInfo]:
        """AddressInfo of `text` (str, or ASCII bytes as the fast path holds it), None if not an IP."""
        info = self._cache.get(text)
        if info is None:
            info = self._classify(text.decode("ascii") if type(text) is bytes else text)
            if info is None:
                return None  # invalid addresses are not cached: hostile input cannot fill the cache with them
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[text] = info
        return info

    def _classify(self, text: str) -> Optional[AddressInfo]:
        if "%" in text:
            return None  # IPv6 zone ids ("fe80::1%eth0"): never printed by GoFlow2, and unbounded
        if ":" not in text:
            # A canonical dotted quad (what GoFlow2 prints for IPv4) without ipaddress: a flood of
            # new addresses is all cache misses, and parsing each with ipaddress took 3/5 of the
            # exporter's time. Anything else (not canonical, not IPv4) takes the general path below.
            try:
                packed = inet_pton(AF_INET, text)
            except (OSError, ValueError):
                packed = None
            if packed is not None and inet_ntop(AF_INET, packed) == text:
                n = int.from_bytes(packed, "big")
                for network, mask, subnet in self._v4:
                    if n & mask == network:
                        return AddressInfo(text, subnet.name, subnet.netflow_if_index, self._names.get(text, text))
                return AddressInfo(text, EXTERNAL, None, text)
        try:
            ip = _unmapped(ipaddress.ip_address(text))
        except ValueError:
            return None
        canonical = str(ip)
        for subnet in self._subnets:
            if ip.version == subnet.network.version and ip in subnet.network:
                return AddressInfo(canonical, subnet.name, subnet.netflow_if_index, self._names.get(canonical, canonical))
        return AddressInfo(canonical, EXTERNAL, None, canonical)


SENDER_CACHE_SIZE = 1024


class Senders:
    """NetFlow sender address text (str, or ASCII bytes as the fast path holds it) -> whether it is
    one of the configured senders, with a bounded cache: a sender that nobody configured is never
    trusted, whatever form its address takes (an IPv4-mapped IPv6 address is its IPv4 address)."""

    def __init__(self, trusted, cache_size: int = SENDER_CACHE_SIZE):
        self._trusted = frozenset(_unmapped(ipaddress.ip_address(a)) for a in trusted)
        self._cache: dict = {}
        self.cached = self._cache.get  # the hot path's first try: True, False, or None (not seen yet)
        self._cache_size = cache_size

    def trusted(self, text) -> bool:
        verdict = self._cache.get(text)
        if verdict is None:
            try:
                address = _unmapped(ipaddress.ip_address(text.decode("ascii") if type(text) is bytes else text))
                verdict = address in self._trusted
            except (ValueError, UnicodeDecodeError):
                verdict = False
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[text] = verdict
        return verdict
