"""Flow records with known bytes, written as GoFlow2 JSON lines, and what each panel must show.

The network is the shipped network.toml's: three subnets: home (no NetFlow interface),
storage (softflowd interface 2), kubernetes (interface 1). Records say who sent how many bytes
at which sampling rate; `truth` derives, from the records alone, the bytes per subnet pair,
protocol, local host and external peer that the flow exporter must count (bytes x sampling
rate, a flow seen on two interfaces counted once, CONTRACTS.md).
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import netviz_config

REPO = Path(__file__).resolve().parents[2]

# The shipped network.toml (the design note's network): the exporter reads the same file.
NETWORK_TOML_PATH = REPO / "network.toml"
_NETWORK = netviz_config.load(str(NETWORK_TOML_PATH))
SUBNETS = {s.name: s.cidr for s in _NETWORK.subnets}
IF_INDEX = {s.name: s.netflow_if_index for s in _NETWORK.subnets if s.netflow_if_index is not None}
NAMES = {**{h.address: h.name for h in _NETWORK.hosts}, **{n.address: n.name for n in _NETWORK.kubernetes.nodes}}


@dataclass(frozen=True)
class Flow:
    src: str
    dst: str
    proto: str
    src_port: int
    dst_port: int
    bytes: int
    packets: int
    sampling_rate: int = 1
    in_if: int = 0  # 0: no interface (softflowd reading a pcap) -> always counted

    def line(self, time_received_ns: int) -> str:
        record = {
            "type": "NETFLOW_V9", "time_received_ns": time_received_ns, "sequence_num": 1,
            "sampling_rate": self.sampling_rate, "sampler_address": "10.0.20.1",
            "time_flow_start_ns": time_received_ns - 10**9, "time_flow_end_ns": time_received_ns,
            "bytes": self.bytes, "packets": self.packets, "src_addr": self.src, "dst_addr": self.dst,
            "etype": "IPv4", "proto": self.proto, "src_port": self.src_port, "dst_port": self.dst_port,
            "in_if": self.in_if, "out_if": self.in_if,
        }
        return json.dumps(record, separators=(",", ":"))


def subnet(address: str) -> str:
    ip = ipaddress.ip_address(address)
    for name, cidr in SUBNETS.items():
        if ip in ipaddress.ip_network(cidr):
            return name
    return "external"


def counted(flow: Flow) -> bool:
    """The count-once rule of CONTRACTS/the exporter: a record from the other interface is a duplicate."""
    if flow.in_if == 0 or flow.in_if not in IF_INDEX.values():
        return True
    observation = IF_INDEX.get(subnet(flow.src), IF_INDEX.get(subnet(flow.dst)))
    return observation is None or observation == flow.in_if


# Traffic measured over the dashboard range: the exporter's first records, so every flow series is
# born inside the measured window. increase() counts a series' first flows only because the exporter
# shows a new series at 0 until its new-series window has passed (flow_exporter/series.py).
MEASURED = [
    Flow("10.0.10.15", "10.0.20.100", "TCP", 2049, 51000, 5_000_000, 4000, in_if=2),  # storage -> kubernetes
    Flow("10.0.10.15", "10.0.20.100", "TCP", 2049, 51000, 5_000_000, 4000, in_if=1),  # same flow, other interface
    Flow("10.0.20.100", "10.0.10.15", "TCP", 51000, 2049, 300_000, 2000, in_if=1),  # kubernetes -> storage
    Flow("192.168.1.127", "10.0.10.15", "TCP", 40000, 445, 2_000_000, 1500, sampling_rate=10),  # home -> storage x10
    Flow("10.0.20.100", "1.1.1.1", "UDP", 53000, 53, 4_000, 40),  # kubernetes -> internet
    Flow("93.184.216.34", "10.0.20.100", "TCP", 443, 52000, 9_000_000, 6500),  # internet -> kubernetes
    Flow("10.0.10.15", "10.0.10.20", "ICMP", 0, 0, 1_000, 10),  # inside storage
]
BAD_LINES = ["this is not json", ""]  # rejected: invalid_json, empty_line

# Segmentation rules of the exporter's config: proxmox's smb upload to truenas (home -> storage)
# breaks the first; the storage -> kubernetes NFS records answer kubernetes' own requests (source
# port 2049), which the second allows.
POLICY_TOML = """
[[policy]]
name = "home-not-to-storage"
from_subnet = "home"
to_subnet = "storage"

[[policy]]
name = "storage-not-to-kubernetes"
from_subnet = "storage"
to_subnet = "kubernetes"
"""
POLICY_VIOLATIONS = {("home-not-to-storage", "192.168.1.127", "10.0.10.15", "TCP", "445", "smb"): 2_000_000 * 10}


def truth(flows: list[Flow]) -> dict[str, dict]:
    out = {k: defaultdict(float) for k in ("pair", "proto", "host", "peer", "sent", "received", "conversation", "internet")}
    for f in flows:
        if not counted(f):
            continue
        b = f.bytes * (f.sampling_rate or 1)
        s, d = subnet(f.src), subnet(f.dst)
        out["pair"][(s, d)] += b
        out["proto"][f.proto] += b
        out["sent"][s] += b
        out["received"][d] += b
        for address, net in ((f.src, s), (f.dst, d)):
            if net != "external":
                out["host"][(NAMES.get(address, address), address, net)] += b
        if s == "external":
            out["peer"][f.src] += b
        if d == "external":
            out["peer"][f.dst] += b
        # internet usage: (name, host, subnet, direction) of the local end of a flow with one external end
        if s != "external" and d == "external":
            out["internet"][(NAMES.get(f.src, f.src), f.src, s, "sent")] += b
        if s == "external" and d != "external":
            out["internet"][(NAMES.get(f.dst, f.dst), f.dst, d, "received")] += b
        out["conversation"][(f.src, f.dst, f.proto)] += b  # who sent to whom: one direction a key
    return out
