"""network.toml -> what the exporter needs to classify addresses, and the address classifier.

The exporter reads the same validated file as the stacks (`netviz_config`), so a subnet renamed
there is renamed in the metrics on the next start: there is no second list to keep in step.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional

from .series import EXTERNAL_PEER, HOST

EXTERNAL = "external"

# Distinct addresses remembered by the classifier. An entry (AddressInfo and its keys) is under
# 1 KiB, so 16384 stay under 16 MiB (the benchmark measures the whole process at the cap);
# when full it starts again empty (a miss only costs one ipaddress parse).
ADDRESS_CACHE_SIZE = 16384

# One flow key is three series (bytes, packets, flows): a cap below that could hold nothing.
MIN_SERIES = 3


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
    max_series: int
    conversation_series: int = 4000  # the conversations family's own budget (series.CONVERSATION)
    kubernetes_nodes: tuple = ()  # (canonical address, node name) of kubernetes.nodes

    @property
    def if_indexes(self) -> frozenset:
        """Interface indexes the config knows (subnets' netflow_if_index)."""
        return frozenset(s.netflow_if_index for s in self.subnets if s.netflow_if_index is not None)


def from_network_config(cfg, max_series: Optional[int] = None) -> ExporterSettings:
    """Adapt a validated `netviz_config.NetworkConfig`. `max_series` overrides
    `flow_exporter.max_series`. Host names come from `hosts`, then `kubernetes.nodes` (a node is a
    host worth naming too); the first name given to an address wins."""
    limit = cfg.flow_exporter.max_series if max_series is None else max_series
    if limit < MIN_SERIES:
        raise ValueError(f"max series must be at least {MIN_SERIES} (one subnet pair is 3 series), but {limit} was provided")
    subnets = tuple(
        SubnetInfo(s.name, ipaddress.ip_network(s.cidr), s.netflow_if_index) for s in cfg.subnets
    )
    names: dict[str, str] = {}
    for entry in (*cfg.hosts, *cfg.kubernetes.nodes):
        names.setdefault(str(_unmapped(ipaddress.ip_address(entry.address))), entry.name)
    nodes = tuple((str(_unmapped(ipaddress.ip_address(n.address))), n.name) for n in cfg.kubernetes.nodes)
    return ExporterSettings(subnets=subnets, host_names=names, max_series=limit,
                            conversation_series=cfg.flow_exporter.conversation_series, kubernetes_nodes=nodes)


class AddressInfo:
    """What the aggregation needs about one address, with its series keys built once, here,
    instead of once per record."""

    __slots__ = ("address", "subnet", "if_index", "name", "local", "sent_key", "received_key",
                 "outbound_key", "inbound_key")

    def __init__(self, address: str, subnet: str, if_index: Optional[int], name: str):
        self.address = address  # canonical text (an IPv4-mapped IPv6 address is shown as IPv4)
        self.subnet = subnet  # configured subnet name, or EXTERNAL
        self.if_index = if_index  # that subnet's netflow_if_index
        self.name = name  # configured host name, else the address
        self.local = subnet != EXTERNAL
        # Keys of the series store (see series.py); only the ones that apply are set.
        self.sent_key = (HOST, subnet, address, name, "sent") if self.local else None
        self.received_key = (HOST, subnet, address, name, "received") if self.local else None
        self.outbound_key = None if self.local else (EXTERNAL_PEER, address, "outbound")
        self.inbound_key = None if self.local else (EXTERNAL_PEER, address, "inbound")

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
        try:
            ip = _unmapped(ipaddress.ip_address(text))
        except ValueError:
            return None
        canonical = str(ip)
        for subnet in self._subnets:
            if ip.version == subnet.network.version and ip in subnet.network:
                return AddressInfo(canonical, subnet.name, subnet.netflow_if_index, self._names.get(canonical, canonical))
        return AddressInfo(canonical, EXTERNAL, None, canonical)
