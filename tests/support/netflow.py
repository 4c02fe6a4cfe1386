"""Real NetFlow v9 from real traffic, rendered as GoFlow2 JSON lines, with the truth from the pcap.

`build_flow_capture(directory)` (or the session fixture `flow_capture`) does, in order:

1. Builds a lab (tests/support/netns.py): a router namespace with one veth per network and one
   host namespace per network, using the addresses of network.toml: truenas on storage,
   k8s-node-0 on kubernetes, proxmox on home, and an "external" host on 203.0.113.0/24
   (TEST-NET-3, in no configured subnet). Nothing in the lab can reach a real address.
2. Captures with tcpdump on every router interface while real traffic flows (tests/support/
   traffic.py): HTTP downloads of a few MB, a TCP upload, UDP datagrams with and without
   echoes, ICMP echoes; between three configured subnets and the external host. Each tcpdump
   is stopped only once its pcap holds every packet its filter received, by tcpdump's own
   counters (tests/support/tcpdump.py); then every pcap is checked against what the traffic
   plan sent on that interface (tests/support/expectations.py). Either failing raises
   FlowCaptureError naming the interface (and the transfer), never a silently short truth.
3. Runs the real softflowd (`-r PCAP -v 9 -T full`), once per interface that network.toml says
   pfSense exports from (a subnet with `netflow_if_index`), as pfSense's package runs one
   softflowd per interface, so a flow between two monitored subnets is exported twice.
   softflowd 1.1.0 refuses `-i` together with `-r` ("Packet source already specified."), and with
   `-r` it reports interface index 0. Live, `-i N:iface` reports N as both INPUT_SNMP and
   OUTPUT_SNMP (FACTS), so the receiver sets those two fields of each data record, in the
   datagram's bytes, to the interface's `netflow_if_index` before decoding, and the header's
   record count to every record the datagram holds, as pfSense's softflowd 1.0.0 writes it
   (Debian's 1.1.0 counts data records only: `set_record_count` says what that costs with GoFlow2).
   Nothing else is touched (tests/test_support_netflow.py checks the live behaviour against
   softflowd itself).
   softflowd runs with `-c none`: with `-r` and a control socket, 1.1.0 can block for ever in
   accept() (it reads an uninitialised poll result; seen here with some -c paths).
4. Sends the NetFlow v9 datagrams to the real GoFlow2 (tests/support/goflow2.py: the pinned
   release, built from its Go module), one socket per softflowd instance, and keeps the lines it
   prints with `-format=json` and every field: `goflow2_lines`, parsed as `records`.
5. Computes the truth independently from the pcaps (tests/support/pcap.py): each IPv4 packet
   that crossed a monitored interface, counted once (IP total length), grouped by subnet pair
   and protocol, by local host and direction, by external peer and direction.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from .errors import FlowCaptureError
from .expectations import check_plan_in_captures
from .pcap import read_ipv4
from .tcpdump import Tcpdump
from .tools import require_root, require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "network.toml"
TRAFFIC = Path(__file__).resolve().parent / "traffic.py"
# How long tcpdump may take, after the traffic, to write what its filter received: libpcap hands a
# partly filled ring block over after its 1 s timer, later when the machine is busy.
DRAIN_TIMEOUT = 30

EXTERNAL = "external"
EXTERNAL_NETWORK = "203.0.113.0/24"  # TEST-NET-3 (RFC 5737): documentation only, never routed
EXTERNAL_GATEWAY = "203.0.113.1"
EXTERNAL_HOST = "203.0.113.10"

# GoFlow2's JSON fields in pb/flow.proto order (FACTS): what `-format=json` prints by default
# (the real GoFlow2 prints exactly these, in this order: tests/test_support_netflow.py).
GOFLOW2_FIELDS = (
    "type", "time_received_ns", "sequence_num", "sampling_rate", "sampler_address",
    "time_flow_start_ns", "time_flow_end_ns", "bytes", "packets", "src_addr", "dst_addr", "etype",
    "proto", "src_port", "dst_port", "in_if", "out_if", "src_mac", "dst_mac", "src_vlan", "dst_vlan",
    "vlan_id", "ip_tos", "forwarding_status", "ip_ttl", "ip_flags", "tcp_flags", "icmp_type",
    "icmp_code", "ipv6_flow_label", "fragment_id", "fragment_offset", "src_as", "dst_as", "next_hop",
    "next_hop_as", "src_net", "dst_net", "bgp_next_hop", "bgp_communities", "as_path", "mpls_ttl",
    "mpls_label", "mpls_ip", "observation_domain_id", "observation_point_id", "layer_stack",
    "layer_size", "ipv6_routing_header_addresses", "ipv6_routing_header_seg_left",
)

# NetFlow v9 field types (RFC 3954) set_interface_indexes touches.
INPUT_SNMP, OUTPUT_SNMP = 10, 14


# ---- NetFlow v9: setting interface indexes in the datagram ----------------------------------


class V9Templates:
    """The NetFlow v9 templates seen so far, per (exporter, source id), and a walker over the
    flowsets of a datagram that knows each data record's fields."""

    def __init__(self):
        # template id -> [(field type, length)], or None for an options template
        self._by_source: dict[tuple, dict[int, Optional[list[tuple[int, int]]]]] = defaultdict(dict)
        self._options_length: dict[int, int] = {}  # options template id -> record length

    def data_sets(self, data: bytes, exporter: str = ""):
        """Learn the datagram's templates, then yield (set offset, set length, fields or None, record
        length) for each data flowset (None: options data)."""
        version = struct.unpack("!H", data[:2])[0]
        if version != 9:
            raise FlowCaptureError(f"expected NetFlow v9, got version {version}")
        source_id = struct.unpack("!I", data[16:20])[0]
        templates = self._by_source[(exporter, source_id)]
        offset, pending = 20, []
        while offset + 4 <= len(data):
            set_id, length = struct.unpack("!HH", data[offset : offset + 4])
            if length < 4 or offset + length > len(data):
                raise FlowCaptureError(f"flowset {set_id} at {offset}: bad length {length} (datagram {len(data)} bytes)")
            body, end = offset + 4, offset + length
            if set_id == 0:  # template flowset
                pos = body
                while pos + 4 <= end:
                    template_id, count = struct.unpack("!HH", data[pos : pos + 4])
                    pos += 4
                    templates[template_id] = [struct.unpack("!HH", data[pos + 4 * i : pos + 4 * i + 4]) for i in range(count)]
                    pos += 4 * count
            elif set_id == 1:  # options template flowset
                pos = body
                while pos + 6 <= end:
                    template_id, scope_len, option_len = struct.unpack("!HHH", data[pos : pos + 6])
                    fields = [struct.unpack("!HH", data[pos + 6 + i : pos + 10 + i]) for i in range(0, scope_len + option_len, 4)]
                    templates[template_id] = None
                    self._options_length[template_id] = sum(n for _, n in fields)
                    pos += 6 + scope_len + option_len
                    if scope_len + option_len == 0:
                        break
            elif set_id >= 256:
                pending.append((set_id, offset, length))
            offset = end
        for set_id, offset, length in pending:  # after every template of the datagram is known
            if set_id not in templates:
                raise FlowCaptureError(f"data flowset {set_id} before its template")
            fields = templates[set_id]
            record_length = sum(n for _, n in fields) if fields is not None else self._options_length[set_id]
            yield offset, length, fields, record_length


def set_interface_indexes(datagram: bytes, index: int, templates: V9Templates, exporter: str = "") -> bytes:
    """The datagram with INPUT_SNMP and OUTPUT_SNMP of every data record set to `index`, in
    place, as softflowd -i index:iface sends them live (FACTS); every other byte unchanged."""
    data = bytearray(datagram)
    for offset, length, fields, record_length in templates.data_sets(datagram, exporter):
        if fields is None:
            continue
        pos = offset + 4
        while pos + record_length <= offset + length:
            field_offset = pos
            for ftype, flen in fields:
                if ftype in (INPUT_SNMP, OUTPUT_SNMP):
                    data[field_offset : field_offset + flen] = index.to_bytes(flen, "big")
                field_offset += flen
            pos += record_length
    return bytes(data)


def record_count(datagram: bytes, templates: V9Templates, exporter: str = "") -> int:
    """Every record of a NetFlow v9 datagram: template records, options template records and data
    records (options data included), as RFC 3954 defines the header's `count`."""
    n = 0
    offset = 20
    while offset + 4 <= len(datagram):
        set_id, length = struct.unpack("!HH", datagram[offset : offset + 4])
        body, end = offset + 4, offset + length
        if set_id == 0:
            while body + 4 <= end:
                n += 1
                body += 4 + 4 * struct.unpack("!H", datagram[body + 2 : body + 4])[0]
        elif set_id == 1:
            while body + 6 <= end:
                scope_len, option_len = struct.unpack("!HH", datagram[body + 2 : body + 6])
                if scope_len + option_len == 0:
                    break
                n += 1
                body += 6 + scope_len + option_len
        offset = end
    return n + sum((length - 4) // record_length for _o, length, _f, record_length in templates.data_sets(datagram, exporter))


def set_record_count(datagram: bytes, templates: V9Templates, exporter: str = "") -> bytes:
    """The datagram with its header `count` set to `record_count`, every other byte unchanged.

    softflowd 1.1.0 (Debian's) writes only its data records there (ipfix.c), although the
    datagrams that carry its templates hold six more records in six more flowsets; 1.0.0 (the
    version pfSense's port builds, net-mgmt/softflowd PORTVERSION) counted the template records
    too, as RFC 3954 says. GoFlow2 v2.2.6 reads at most `count` flowsets of a v9 datagram
    (decoders/netflow/netflow.go, DecodeMessageCommon), so a 1.1.0 datagram with templates and
    fewer than seven records loses its data records there
    (tests/test_support_netflow.py shows it with the real GoFlow2)."""
    return datagram[:2] + struct.pack("!H", record_count(datagram, templates, exporter)) + datagram[4:]


# ---- softflowd ------------------------------------------------------------------------------

_EXPORTED = re.compile(r"Flows exported: (\d+) \((\d+) records\) in (\d+) packets \((\d+) failures\)")


@dataclass
class SoftflowdRun:
    interface: str
    if_index: int
    flows: int  # as softflowd reports them (a bidirectional flow is one flow, two records)
    records: int
    packets: int
    datagrams: list  # (received_ns, patched datagram bytes)
    output: str
    sent: list = field(default_factory=list)  # the datagrams exactly as softflowd sent them


def run_softflowd(pcap: Path, interface: str, if_index: int, timeout: float = 60) -> SoftflowdRun:
    """Run the real softflowd over `pcap` exporting NetFlow v9 to a local UDP socket; return its
    datagrams with INPUT_SNMP/OUTPUT_SNMP set to `if_index` (see the module docstring)."""
    exe = require_tool("softflowd")
    templates = V9Templates()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))  # the kernel's choice: no race with parallel runs
        port = sock.getsockname()[1]
        # `-c none`: no control socket. softflowd 1.1.0 with -r skips its poll() but then reads
        # the control socket's (uninitialised) poll result, and, depending on stack garbage, blocks
        # for ever in accept() (seen here with some -c paths, e.g. /tmp/abcdefgh).
        args = [exe, "-d", "-r", str(pcap), "-v", "9", "-T", "full", "-n", f"127.0.0.1:{port}", "-c", "none"]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise FlowCaptureError(f"softflowd did not finish reading {pcap} in {timeout}s: {e.stdout} {e.stderr}") from None
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise FlowCaptureError(f"softflowd exited {proc.returncode}: {' '.join(args)}\n{output}")
        m = _EXPORTED.search(output)
        if not m:
            raise FlowCaptureError(f"softflowd printed no export statistics:\n{output}")
        flows, records, packets, failures = map(int, m.groups())
        if failures:
            raise FlowCaptureError(f"softflowd reports {failures} failed exports:\n{output}")
        datagrams, sent = [], []
        sock.settimeout(5)
        while len(datagrams) < packets:
            try:
                data, (addr, _port) = sock.recvfrom(65535)
            except socket.timeout:
                raise FlowCaptureError(
                    f"softflowd sent {packets} NetFlow packets, {len(datagrams)} arrived:\n{output}"
                ) from None
            sent.append(data)
            patched = set_interface_indexes(data, if_index, templates, addr)
            datagrams.append((time.time_ns(), set_record_count(patched, templates, addr)))
    return SoftflowdRun(interface, if_index, flows, records, packets, datagrams, output, sent)


# ---- truth from the pcaps -------------------------------------------------------------------

FlowKey = tuple  # (src, dst, proto name, src_port, dst_port)


@dataclass
class Truth:
    """What the capture contains, counted once per packet, from the pcaps alone.

    subnet_bytes / subnet_packets / subnet_flows: {(src_subnet, dst_subnet, proto): n}, subnet
        names from network.toml or "external"; proto an IANA name. subnet_flows counts
        unidirectional 5-tuples (softflowd exports one record per direction).
    host_bytes: {(host_ip, direction): bytes} for local hosts (in a configured subnet), direction
        "sent" | "received".
    external_bytes: {(peer_ip, direction): bytes}, direction "outbound" (local -> peer) | "inbound".
    flow_bytes / flow_packets: {(src, dst, proto, src_port, dst_port): n}.
    flow_interfaces: {flow key: (monitored interface names it crossed, in path order)}; a flow with
        two is exported twice (once per softflowd), i.e. one duplicate record.
    host_subnet / host_name: {ip: subnet name} / {ip: configured name, else the ip}.
    """

    subnet_bytes: dict = field(default_factory=Counter)
    subnet_packets: dict = field(default_factory=Counter)
    subnet_flows: dict = field(default_factory=Counter)
    host_bytes: dict = field(default_factory=Counter)
    external_bytes: dict = field(default_factory=Counter)
    flow_bytes: dict = field(default_factory=Counter)
    flow_packets: dict = field(default_factory=Counter)
    flow_interfaces: dict = field(default_factory=dict)
    host_subnet: dict = field(default_factory=dict)
    host_name: dict = field(default_factory=dict)

    def bytes_between(self, src_subnet: str, dst_subnet: str, proto: Optional[str] = None) -> int:
        return sum(v for (s, d, p), v in self.subnet_bytes.items() if s == src_subnet and d == dst_subnet and proto in (None, p))

    def host(self, ip_or_name: str, direction: str) -> int:
        ip = next((ip for ip, name in self.host_name.items() if name == ip_or_name), ip_or_name)
        return self.host_bytes.get((ip, direction), 0)

    def to_json(self) -> str:
        def rows(d):
            return [[*k, v] if isinstance(k, tuple) else [k, v] for k, v in sorted(d.items())]

        return json.dumps({name: rows(getattr(self, name)) for name in (
            "subnet_bytes", "subnet_packets", "subnet_flows", "host_bytes", "external_bytes", "flow_bytes",
            "flow_packets", "flow_interfaces", "host_subnet", "host_name")}, indent=1)

    @property
    def total_bytes(self) -> int:
        return sum(self.subnet_bytes.values())

    @property
    def duplicate_records(self) -> int:
        """Records the count-once rule must leave out: one per flow seen on two monitored interfaces."""
        return sum(len(ifs) - 1 for ifs in self.flow_interfaces.values())


def compute_truth(pcaps: dict[str, Path], monitored: dict[str, int], cfg) -> Truth:
    """Truth from per-interface pcaps ({network name: pcap}). A packet is counted once, from the
    first monitored interface on its path (the source's network if monitored, else the
    destination's); packets that cross no monitored interface are not in the truth (pfSense
    would not see them)."""
    truth = Truth()
    for entry in (*cfg.hosts, *cfg.kubernetes.nodes):
        truth.host_name.setdefault(entry.address, entry.name)

    def network_of(ip: str) -> str:
        subnet = cfg.subnet_of(ip)
        return subnet.name if subnet else EXTERNAL

    for interface in monitored:
        for p in read_ipv4(str(pcaps[interface])):
            src_net, dst_net = network_of(p.src), network_of(p.dst)
            path = [n for n in (src_net, dst_net) if n in monitored]
            if not path or interface != path[0]:
                continue  # counted from another capture, or on its second interface
            key = (p.src, p.dst, p.proto_name, p.src_port, p.dst_port)
            if key not in truth.flow_interfaces:
                truth.flow_interfaces[key] = tuple(dict.fromkeys(path))
                truth.subnet_flows[(src_net, dst_net, p.proto_name)] += 1
            truth.flow_bytes[key] += p.ip_length
            truth.flow_packets[key] += 1
            truth.subnet_bytes[(src_net, dst_net, p.proto_name)] += p.ip_length
            truth.subnet_packets[(src_net, dst_net, p.proto_name)] += 1
            for ip, net, direction, peer_direction in ((p.src, src_net, "sent", "inbound"), (p.dst, dst_net, "received", "outbound")):
                if net == EXTERNAL:
                    truth.external_bytes[(ip, peer_direction)] += p.ip_length
                else:
                    truth.host_bytes[(ip, direction)] += p.ip_length
                    truth.host_subnet[ip] = net
                    truth.host_name.setdefault(ip, ip)
    return truth


# ---- the whole capture ----------------------------------------------------------------------


@dataclass
class FlowCapture:
    """The result of `build_flow_capture`. See the module docstring.

    records: GoFlow2 records (dicts, all fields), from every softflowd run, in arrival order.
    goflow2_lines: the lines the real GoFlow2 printed for them (all fields, no newline).
    truth: `Truth`, from the pcaps alone.
    pcaps: {network name: pcap path} (every router interface, monitored or not).
    monitored: {network name: netflow_if_index} softflowd ran on.
    softflowd: {network name: SoftflowdRun}.
    hosts: {host name: address} of the lab.
    traffic / plan: the transfers that ran (descriptions / `Transfer`s); networks: {host name: network}.
    """

    directory: Path
    config_path: Path
    pcaps: dict
    monitored: dict
    softflowd: dict
    records: list
    truth: Truth
    hosts: dict
    traffic: list = field(default_factory=list)
    plan: list = field(default_factory=list)  # the Transfers that ran (traffic: their descriptions)
    networks: dict = field(default_factory=dict)  # host role -> the network (router interface) it is on
    output: list = field(default_factory=list)  # GoFlow2's lines, as bytes

    @property
    def goflow2_lines(self) -> list[str]:
        return [line.decode() for line in self.output]

    @property
    def sender(self) -> str:
        """The NetFlow sender GoFlow2 saw (its sampler_address): the loopback socket the datagrams
        were replayed from. Whoever counts these lines must trust it (goflow2.netflow_senders)."""
        (sender,) = {r["sampler_address"] for r in self.records}
        return sender

    def write_jsonl(self, path) -> Path:
        """Write GoFlow2's lines to `path`, one per line, as its file transport did."""
        path = Path(path)
        path.write_bytes(b"".join(line + b"\n" for line in self.output))
        return path

    def datagrams(self) -> list[bytes]:
        """The NetFlow v9 datagrams (interface indexes set), in order, e.g. to replay to a collector."""
        return [d for run in self.softflowd.values() for _, d in run.datagrams]


@dataclass(frozen=True)
class Transfer:
    """One piece of the traffic plan: `client` runs `client_args`, talking to `server` (if any)."""

    description: str
    server: Optional[str]
    server_args: Optional[list]
    client: str
    client_args: list


def traffic_plan(addr: dict, blob_dir: Path) -> list[Transfer]:
    """The traffic between the lab's hosts (`addr`: role -> address). Sizes are a few MB in total."""
    k8s, nas, pve, ext = addr["k8s-node-0"], addr["truenas"], addr["proxmox"], addr["external"]
    blobs = {"3m": 3_000_000, "1m": 1_000_000, "512k": 512_000}
    blob_dir.mkdir(parents=True, exist_ok=True)
    for name, size in blobs.items():
        (blob_dir / name).write_bytes(os.urandom(size))
    d = str(blob_dir)
    return [
        Transfer("k8s-node-0 downloads 3 MB from truenas over HTTP (storage -> kubernetes, both monitored)",
                 "truenas", ["http-serve", nas, "80", d], "k8s-node-0", ["http-get", f"http://{nas}/3m", "3000000"]),
        Transfer("proxmox uploads 2 MB to truenas on TCP 2049 (home -> storage)",
                 "truenas", ["tcp-sink", nas, "2049"], "proxmox", ["tcp-send", nas, "2049", "2000000"]),
        Transfer("k8s-node-0 downloads 1 MB from proxmox on TCP 8006 (home -> kubernetes)",
                 "proxmox", ["http-serve", pve, "8006", d], "k8s-node-0", ["http-get", f"http://{pve}:8006/1m", "1000000"]),
        Transfer("the external host downloads 512 kB from k8s-node-0 on TCP 443 (kubernetes -> external)",
                 "k8s-node-0", ["http-serve", k8s, "443", d], "external", ["http-get", f"http://{k8s}:443/512k", "512000"]),
        Transfer("k8s-node-0 sends 20 UDP datagrams of 200 B to the external host's port 53, echoed back",
                 "external", ["udp-echo", ext, "53", "20"], "k8s-node-0", ["udp-send", ext, "53", "20", "200", "--expect-echo"]),
        Transfer("truenas sends 10 UDP datagrams of 300 B to proxmox's syslog port 514 (storage -> home)",
                 "proxmox", ["udp-sink", pve, "514", "10"], "truenas", ["udp-send", pve, "514", "10", "300"]),
        Transfer("k8s-node-0 sends 4 ICMP echoes of 1000 B to truenas (kubernetes <-> storage, both monitored)",
                 None, None, "k8s-node-0", ["icmp-echo", nas, "4", "1000"]),
    ]


def _gateway(cidr: str, avoid: Iterable[str]) -> str:
    """The router's address on `cidr`: .1 unless a configured host has it, else the last address."""
    net = ipaddress.ip_network(cidr)
    taken = set(avoid)
    for candidate in (net.network_address + 1, net.broadcast_address - 1, net.network_address + 2):
        if str(candidate) not in taken:
            return f"{candidate}/{net.prefixlen}"
    raise FlowCaptureError(f"no free router address in {cidr}")


def build_flow_capture(directory, config_path=None) -> FlowCapture:
    """Build the lab, make the traffic, capture it, run softflowd per monitored interface, decode
    with the real GoFlow2, compute the truth; tear the lab down. Takes a few seconds."""
    import netviz_config

    from .netns import Lab

    require_root("the flow capture")
    tcpdump = require_tool("tcpdump")
    require_tool("softflowd")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config_path = Path(config_path or DEFAULT_CONFIG)
    cfg = netviz_config.load(str(config_path))

    def address(name: str) -> str:
        for entry in (*cfg.hosts, *cfg.kubernetes.nodes):
            if entry.name == name:
                return entry.address
        raise FlowCaptureError(f"{config_path} names no host or node {name!r} (the flow capture needs it)")

    addr = {"truenas": address("truenas"), "proxmox": address("proxmox"), "k8s-node-0": address("k8s-node-0"),
            "external": EXTERNAL_HOST}
    for role in ("truenas", "proxmox", "k8s-node-0"):
        if cfg.subnet_of(addr[role]) is None:
            raise FlowCaptureError(f"{role} ({addr[role]}) is in no configured subnet of {config_path}")
    networks_of_hosts = {role: (cfg.subnet_of(a).name if role != "external" else EXTERNAL) for role, a in addr.items()}
    if len(set(networks_of_hosts.values())) != 4:
        raise FlowCaptureError(f"the capture needs truenas, proxmox and k8s-node-0 in three different subnets: {networks_of_hosts}")
    monitored = {s.name: s.netflow_if_index for s in cfg.subnets if s.netflow_if_index is not None}
    if not monitored:
        raise FlowCaptureError(f"{config_path}: no subnet has a netflow_if_index, softflowd would run nowhere")
    all_addresses = [e.address for e in (*cfg.hosts, *cfg.kubernetes.nodes)]

    pcaps: dict[str, Path] = {}
    executed: list[str] = []
    with Lab() as lab:
        for role, net_name in networks_of_hosts.items():
            if net_name == EXTERNAL:
                lab.add_network(EXTERNAL, f"{EXTERNAL_GATEWAY}/24")
            else:
                cidr = next(s.cidr for s in cfg.subnets if s.name == net_name)
                lab.add_network(net_name, _gateway(cidr, all_addresses), interface=net_name[:15])
            lab.add_host(role, addr[role], net_name)
        lab.assert_isolated()

        # One tcpdump per router interface; each is stopped only once its pcap holds every
        # packet its filter received (tests/support/tcpdump.py says why a pause is not enough).
        dumps = []
        for net_name, net in lab.networks.items():
            pcaps[net_name] = directory / f"{net_name}.pcap"
            dump = Tcpdump(lab, "router", net.interface, pcaps[net_name], directory / f"tcpdump-{net_name}.log",
                           tcpdump, name=net_name)
            dumps.append(dump)
            dump.start()

        plan = traffic_plan(addr, directory / "blobs")
        for transfer in plan:
            server = None
            if transfer.server:
                server = lab.start(transfer.server, [sys.executable, "-P", str(TRAFFIC), *transfer.server_args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                line = server.stdout.readline()
                if line.strip() != "ready":
                    server.kill()
                    raise FlowCaptureError(f"{transfer.description}: server did not start: {line}{server.stderr.read()}")
            lab.run(transfer.client, [sys.executable, "-P", str(TRAFFIC), *transfer.client_args], timeout=60)
            if server is not None:
                if transfer.server_args[0] == "http-serve":
                    os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    raise FlowCaptureError(f"{transfer.description}: server did not finish") from None
                if transfer.server_args[0] != "http-serve" and server.returncode != 0:
                    raise FlowCaptureError(f"{transfer.description}: server failed: {server.stderr.read()}")
            executed.append(transfer.description)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        for dump in dumps:
            dump.wait_written(deadline)
        for dump in dumps:
            dump.stop()

    # Before anything reads the pcaps: they hold what the plan sent, on every interface it crossed.
    check_plan_in_captures(pcaps, plan, addr, networks_of_hosts)
    runs = {name: run_softflowd(pcaps[name], name, index) for name, index in monitored.items()}
    from .goflow2 import decode

    streams = {name: [d for _, d in run.datagrams] for name, run in runs.items()}
    output = decode(streams, directory, records=sum(run.records for run in runs.values()))
    records = [json.loads(line) for line in output]
    truth = compute_truth(pcaps, monitored, cfg)
    capture = FlowCapture(directory, config_path, pcaps, monitored, runs, records, truth, addr, executed,
                          plan, networks_of_hosts, output=output)
    capture.write_jsonl(directory / "goflow2.jsonl")
    (directory / "truth.json").write_text(truth.to_json())  # for a person debugging a failure
    return capture
