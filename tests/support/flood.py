"""A known corpus of flows among the configured hosts and subnets, interleaved with a flood of records
from spoofed external sources, as GoFlow2 prints them with netviz's mapping, and the truth.

    truth = write_corpus_and_flood(path, corpus_flows=40_000, flood_records=1_000_000)

Over the shipped network.toml (home 192.168.1.0/24 unmonitored, storage 10.0.10.0/24 on interface
2, kubernetes 10.0.20.0/24 on interface 1; the hosts and nodes it names):

- the corpus: flows between local hosts (named ones and others) of all three subnets, and to a few
  external peers. Flows between the two monitored subnets arrive twice, once per interface, as
  softflowd on pfSense exports them; the truth counts each flow once, from its source's interface.
- the flood: each record from a different external address (spoofed: never repeated, never in a
  configured subnet) to one of the kubernetes nodes, TCP or UDP, to a random port, seen on lan.
  One record of the corpus comes after every `flood_records / corpus_flows` records of the flood.

The truth is computed here, from what was generated, with none of the exporter's code: subnet-pair
cells (bytes, packets, flows by source subnet, destination subnet and proto), every local host's
bytes sent and received, and service bytes by (proto, port label). The external peers of the
flood are not listed (a million of them); `flood_sources` says how many there were.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import random
from collections import Counter
from dataclasses import dataclass, field

from flow_exporter.mapping import FIELD_NAMES

# The shipped network.toml's subnets, interface indexes and names (tests check they match it).
SUBNETS = {"home": ("192.168.1.0/24", None), "storage": ("10.0.10.0/24", 2), "kubernetes": ("10.0.20.0/24", 1)}
NAMES = {"192.168.1.1": "isp-router", "192.168.1.127": "proxmox", "10.0.20.1": "pfsense", "10.0.10.15": "truenas",
         **{f"10.0.20.{100 + i}": f"k8s-node-{i}" for i in range(5)}}
HOSTS = {
    "home": ["192.168.1.1", "192.168.1.127", *(f"192.168.1.{i}" for i in range(50, 70))],
    "storage": ["10.0.10.15", *(f"10.0.10.{i}" for i in range(20, 30))],
    "kubernetes": ["10.0.20.1", *(f"10.0.20.{100 + i}" for i in range(5)), *(f"10.0.20.{i}" for i in range(110, 130))],
}
CORPUS_PEERS = ["1.1.1.1", "8.8.8.8", "140.82.112.3", "151.101.1.69", "2606:4700::1111"]
# (proto, server port) of the corpus' flows: all well known (flow_exporter/services.py).
CORPUS_SERVICES = [("TCP", 2049), ("TCP", 443), ("UDP", 53), ("TCP", 22), ("TCP", 445), ("TCP", 6443)]
FLOOD_TARGETS = [f"10.0.20.{100 + i}" for i in range(5)]
# The NetFlow sender of every record: pfSense (pfsense.address), the one the config trusts. A flood of
# spoofed flow sources still arrives through it.
SENDER = "10.0.20.1"
_NETS = [(name, ipaddress.ip_network(cidr), index) for name, (cidr, index) in SUBNETS.items()]


def subnet_of(address: str) -> str:
    ip = ipaddress.ip_address(address)
    for name, net, _index in _NETS:
        if ip.version == net.version and ip in net:
            return name
    return "external"


def index_of(subnet: str):
    return SUBNETS[subnet][1] if subnet in SUBNETS else None


def spoofed_sources():
    """Distinct public-looking IPv4 addresses, none in a configured subnet, in a scrambled order:
    i -> i * an odd constant mod 2^32 is a bijection, so no address comes twice."""
    i = 0
    while True:
        i += 1
        n = (i * 2654435761) & 0xFFFFFFFF
        first = n >> 24
        if first in (0, 10, 127) or first >= 224 or (n >> 16) == 0xC0A8:  # 0/8, 10/8, loopback, multicast, 192.168/16
            continue
        yield f"{first}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@dataclass
class Truth:
    records: int = 0  # lines written
    corpus_flows: int = 0
    flood_records: int = 0
    flood_sources: int = 0  # distinct spoofed addresses
    duplicates: int = 0  # copies of inter-VLAN flows from the second interface
    cells: dict = field(default_factory=dict)  # (src subnet, dst subnet, proto) -> [bytes, packets, flows]
    hosts: Counter = field(default_factory=Counter)  # (subnet, address, name, direction) -> bytes
    services: Counter = field(default_factory=Counter)  # (proto, port label, service label) -> bytes
    corpus_peers: Counter = field(default_factory=Counter)  # (peer, direction) -> bytes, the corpus' only
    # (src, src subnet, dst, dst subnet, proto, port label, service label) -> [bytes, packets], both ends local
    local_conversations: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({
            "records": self.records, "corpus_flows": self.corpus_flows, "flood_records": self.flood_records,
            "flood_sources": self.flood_sources, "duplicates": self.duplicates,
            "cells": [[*k, *v] for k, v in self.cells.items()],
            "hosts": [[*k, v] for k, v in self.hosts.items()],
            "services": [[*k, v] for k, v in self.services.items()],
            "corpus_peers": [[*k, v] for k, v in self.corpus_peers.items()],
            "local_conversations": [[*k, *v] for k, v in self.local_conversations.items()],
        })

    @classmethod
    def from_json(cls, text: str) -> "Truth":
        d = json.loads(text)
        return cls(records=d["records"], corpus_flows=d["corpus_flows"], flood_records=d["flood_records"],
                   flood_sources=d["flood_sources"], duplicates=d["duplicates"],
                   cells={tuple(r[:3]): r[3:] for r in d["cells"]},
                   hosts=Counter({tuple(r[:4]): r[4] for r in d["hosts"]}),
                   services=Counter({tuple(r[:3]): r[3] for r in d["services"]}),
                   corpus_peers=Counter({tuple(r[:2]): r[2] for r in d["corpus_peers"]}),
                   local_conversations={tuple(r[:7]): r[7:] for r in d["local_conversations"]})

    def count(self, src: str, dst: str, proto: str, port: int, service: str, nbytes: int, packets: int) -> None:
        """One counted flow record."""
        s, d = subnet_of(src), subnet_of(dst)
        cell = self.cells.setdefault((s, d, proto), [0, 0, 0])
        cell[0] += nbytes
        cell[1] += packets
        cell[2] += 1
        if s != "external":
            self.hosts[(s, src, NAMES.get(src, src), "sent")] += nbytes
        if d != "external":
            self.hosts[(d, dst, NAMES.get(dst, dst), "received")] += nbytes
        port_label = str(port) if service != "other" else "other"
        self.services[(proto, port_label, service)] += nbytes
        if s != "external" and d != "external":
            sums = self.local_conversations.setdefault((src, s, dst, d, proto, port_label, service), [0, 0])
            sums[0] += nbytes
            sums[1] += packets


_TEMPLATE = "{{" + ",".join(f'"{k}":{{}}' for k in FIELD_NAMES) + "}}\n"


def _line(values) -> bytes:
    # GoFlow2's own formatting (producer/proto/messages.go): the mapping's fields in order,
    # "key":value joined by ",", no spaces; strings quoted (none of ours needs escaping).
    return _TEMPLATE.format(*(f'"{v}"' if type(v) is str else v for v in values)).encode()


def write_corpus_and_flood(path, corpus_flows: int = 40_000, flood_records: int = 1_000_000, seed: int = 1) -> Truth:
    """Write the lines to `path`; return what an exact exporter shows for them."""
    from flow_exporter.services import WELL_KNOWN_PORTS

    rnd = random.Random(seed)
    truth = Truth(corpus_flows=corpus_flows, flood_records=flood_records)
    sources = spoofed_sources()
    every = max(1, flood_records // max(1, corpus_flows))  # flood records per corpus flow
    t = 1_764_000_000_000_000_000
    flood_left, corpus_left = flood_records, corpus_flows
    # The flood's records are all alike but for the source, target, proto and ports: what they add
    # up to is kept in plain counters here (a record is 40 bytes, 1 packet) and added to the truth at the end.
    flood_cells, flood_hosts, flood_services = Counter(), Counter(), Counter()
    randint, choice, rand = rnd.randint, rnd.choice, rnd.random
    with open(path, "wb") as f:
        write = f.write
        while flood_left or corpus_left:
            n = min(every, flood_left)
            for src in itertools.islice(sources, n):
                t += 1000
                dst = choice(FLOOD_TARGETS)
                proto = "TCP" if rand() < 0.7 else "UDP"
                sport, dport = randint(1024, 65535), randint(1, 65535)
                write(_TEMPLATE.format(t, 0, 40, 1, f'"{src}"', f'"{dst}"', f'"{proto}"', sport, dport, 1,
                                       f'"{SENDER}"').encode())
                flood_cells[proto] += 1
                flood_hosts[dst] += 1
                # the service label by the rule: dst port if well known, else src port, else other
                port = dport if dport in WELL_KNOWN_PORTS else sport if sport in WELL_KNOWN_PORTS else 0
                flood_services[(proto, port)] += 1
            flood_left -= n
            truth.flood_sources += n
            truth.records += n
            if corpus_left:
                corpus_left -= 1
                t += 1000
                _corpus_flow(rnd, t, write, truth)
    for proto, n in flood_cells.items():
        cell = truth.cells.setdefault(("external", "kubernetes", proto), [0, 0, 0])
        cell[0] += 40 * n
        cell[1] += n
        cell[2] += n
    for dst, n in flood_hosts.items():
        truth.hosts[("kubernetes", dst, NAMES.get(dst, dst), "received")] += 40 * n
    for (proto, port), n in flood_services.items():
        truth.services[(proto, str(port) if port else "other", WELL_KNOWN_PORTS.get(port, "other"))] += 40 * n
    return truth


def _service(proto: str, sport: int, dport: int) -> tuple[int, str]:
    from flow_exporter.services import WELL_KNOWN_PORTS

    if dport in WELL_KNOWN_PORTS:
        return dport, WELL_KNOWN_PORTS[dport]
    if sport in WELL_KNOWN_PORTS:
        return sport, WELL_KNOWN_PORTS[sport]
    return 0, "other"


def _corpus_flow(rnd: random.Random, t: int, write, truth: Truth) -> None:
    proto, port = rnd.choice(CORPUS_SERVICES)
    eph = rnd.randint(32768, 60999)
    nbytes = rnd.randint(60, 1_000_000)
    packets = max(1, nbytes // 1400)
    kind = rnd.random()
    if kind < 0.1:  # to or from an external peer of the corpus
        local, peer = rnd.choice(HOSTS["kubernetes"] + HOSTS["storage"]), rnd.choice(CORPUS_PEERS)
        src, dst, sport, dport = (local, peer, eph, port) if rnd.random() < 0.5 else (peer, local, port, eph)
    else:
        a, b = rnd.sample(["home", "storage", "kubernetes"], 2) if kind < 0.8 else (("kubernetes",) * 2)
        client, server = rnd.choice(HOSTS[a]), rnd.choice(HOSTS[b])
        while server == client:
            server = rnd.choice(HOSTS[b])
        src, dst, sport, dport = (client, server, eph, port) if rnd.random() < 0.5 else (server, client, port, eph)
    s, d = subnet_of(src), subnet_of(dst)
    # softflowd on pfSense: one copy per monitored interface the flow crosses (the count-once rule
    # counts the one from the source's interface, else the destination's).
    observation = index_of(s) if index_of(s) is not None else index_of(d)
    copies = [i for i in (index_of(s), index_of(d)) if i is not None]
    copies = sorted(set(copies), key=lambda i: rnd.random())  # in either order
    for in_if in copies:
        write(_line((t, 0, nbytes, packets, src, dst, proto, sport, dport, in_if, SENDER)))
        truth.records += 1
        if in_if != observation:
            truth.duplicates += 1
    truth.count(src, dst, proto, *_service(proto, sport, dport), nbytes, packets)
    if s == "external":
        truth.corpus_peers[(src, "inbound")] += nbytes
    elif d == "external":
        truth.corpus_peers[(dst, "outbound")] += nbytes
