"""What each transfer of the traffic plan must have left in the router's captures, and the check.

The truth of the flow tests (compute_truth) comes from the pcaps, and softflowd reads the same
pcaps: a capture that lost packets would still "equal" itself. This is the independent side: it
reads the traffic plan's own commands (the arguments tests/support/traffic.py runs with, never
retyped numbers) and says what they put on the wire, then looks for it in the pcap of every
router interface the traffic crossed (the client's network and the server's).

    http-get URL N              TCP payload from the URL's host:port to the client: at least N bytes
                                of sequence space covered on one connection (headers add to it)
    tcp-send ADDR PORT N        TCP payload from the client to ADDR:PORT: at least N bytes, likewise
    udp-send ADDR PORT C S      exactly C UDP datagrams of S payload bytes to ADDR:PORT; with
      [--expect-echo]           --expect-echo also exactly C of S bytes back from ADDR:PORT
    icmp-echo ADDR C S          exactly C echo requests of S payload bytes to ADDR, C replies back

TCP counts covered sequence space, not bytes: a retransmission covers nothing new, so a segment
missing from a capture leaves a hole that retransmissions elsewhere cannot hide.
"""

from __future__ import annotations

import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import FlowCaptureError
from .pcap import read_ipv4

TCP, UDP, ICMP = 6, 17, 1
SYN = 0x02
ECHO_REQUEST, ECHO_REPLY = 8, 0


@dataclass(frozen=True)
class Expectation:
    """Packets from src[:src_port] to dst[:dst_port] (None: any port) that one transfer sent.

    TCP: `size` is the least payload one connection must carry. UDP and ICMP: exactly `count`
    packets of `size` payload bytes (for ICMP, of type `icmp_type`)."""

    transfer: str  # the transfer's description
    proto: int
    src: str
    dst: str
    size: int
    src_port: Optional[int] = None
    dst_port: Optional[int] = None
    count: Optional[int] = None
    icmp_type: Optional[int] = None

    def __str__(self) -> str:
        def end(ip, port):
            return f"{ip}:{port}" if port is not None else ip

        name = {TCP: "TCP payload", UDP: "UDP datagrams"}.get(self.proto) or (
            "ICMP echo requests" if self.icmp_type == ECHO_REQUEST else "ICMP echo replies")
        return f"{name} from {end(self.src, self.src_port)} to {end(self.dst, self.dst_port)}"

    def matches(self, p) -> bool:
        return (p.proto == self.proto and p.src == self.src and p.dst == self.dst
                and self.src_port in (None, p.src_port) and self.dst_port in (None, p.dst_port)
                and self.icmp_type in (None, p.icmp_type))


def expectations_of(transfer, client_ip: str) -> list[Expectation]:
    """What `transfer` (a netflow.Transfer) puts on the wire, read from its client's command."""
    command, *args = transfer.client_args
    d = transfer.description
    try:
        if command == "http-get":
            url, size = args
            u = urllib.parse.urlsplit(url)
            port = u.port or {"http": 80, "https": 443}[u.scheme]
            return [Expectation(d, TCP, u.hostname, client_ip, int(size), src_port=port)]
        if command == "tcp-send":
            server, port, size = args
            return [Expectation(d, TCP, client_ip, server, int(size), dst_port=int(port))]
        if command == "udp-send":
            server, port, count, size, *flags = args
            sent = Expectation(d, UDP, client_ip, server, int(size), dst_port=int(port), count=int(count))
            if "--expect-echo" not in flags:
                return [sent]
            return [sent, Expectation(d, UDP, server, client_ip, int(size), src_port=int(port), count=int(count))]
        if command == "icmp-echo":
            target, count, size = args
            return [Expectation(d, ICMP, client_ip, target, int(size), count=int(count), icmp_type=ECHO_REQUEST),
                    Expectation(d, ICMP, target, client_ip, int(size), count=int(count), icmp_type=ECHO_REPLY)]
    except (ValueError, KeyError) as e:
        raise FlowCaptureError(f"{d}: cannot read the command {transfer.client_args}: {e!r}") from None
    raise FlowCaptureError(
        f"{d}: traffic command {command!r} has no expectation: say in tests/support/expectations.py "
        "what it puts on the wire, or the capture cannot be checked against it")


def plan_expectations(plan, address: dict, network: dict) -> list[tuple[Expectation, tuple[str, ...]]]:
    """Each expectation of the plan with the router interfaces (network names) it must be seen on.
    `address`: host role -> IP; `network`: host role -> the network the host is on."""
    network_of_ip = {address[role]: net for role, net in network.items()}
    out = []
    for transfer in plan:
        for e in expectations_of(transfer, address[transfer.client]):
            for ip in (e.src, e.dst):
                if ip not in network_of_ip:
                    raise FlowCaptureError(f"{transfer.description}: {ip} is no host of the lab ({network_of_ip})")
            out.append((e, tuple(dict.fromkeys((network_of_ip[e.src], network_of_ip[e.dst])))))
    return out


def tcp_payload_covered(packets, e: Expectation) -> dict[int, Optional[int]]:
    """{connection: bytes of sequence space its payload covers, or None when its SYN is missing}
    for the packets of `e`, one direction of each connection. A connection is named by the port
    `e` leaves open (the client's ephemeral port)."""
    by_connection = defaultdict(list)
    for p in packets:
        by_connection[p.dst_port if e.src_port is not None else p.src_port].append(p)
    covered = {}
    for conn, ps in by_connection.items():
        syn = next((p for p in ps if p.tcp_flags & SYN), None)
        if syn is None:
            covered[conn] = None  # the start of the connection is missing: the offsets are unknown
            continue
        base = (syn.tcp_seq + 1) & 0xFFFFFFFF
        spans = sorted(((p.tcp_seq - base) & 0xFFFFFFFF, p.payload_length) for p in ps
                       if not p.tcp_flags & SYN and p.payload_length)
        total, reach = 0, 0
        for start, length in spans:
            end = start + length
            if end > reach:
                total += end - max(start, reach)
                reach = end
        covered[conn] = total
    return covered


def problems_in(packets: list, e: Expectation) -> Optional[str]:
    """What `packets` (one capture's IPPackets) lack of `e`, or None."""
    mine = [p for p in packets if e.matches(p)]
    if e.proto == TCP:
        covered = tcp_payload_covered(mine, e)
        best = max((n for n in covered.values() if n is not None), default=0)
        if best >= e.size:
            return None
        no_syn = [c for c, n in covered.items() if n is None]
        return (f"expected at least {e.size} bytes on one connection, the most is {best}"
                f" ({len(mine)} packets on {len(covered)} connection(s)"
                + (f"; no SYN for port(s) {no_syn}" if no_syn else "") + ")")
    sizes = Counter(p.payload_length for p in mine)
    if sizes == Counter({e.size: e.count}):
        return None
    found = ", ".join(f"{n} of {size} B" for size, n in sorted(sizes.items(), key=lambda kv: str(kv[0]))) or "none"
    return f"expected exactly {e.count} of {e.size} B payload, found {found}"


def check_plan_in_captures(pcaps: dict, plan, address: dict, network: dict) -> None:
    """Raise FlowCaptureError listing every transfer and interface whose pcap lacks what the plan
    sent. `pcaps`: network name -> pcap of the router's interface on it."""
    packets = {}
    problems = []
    for e, interfaces in plan_expectations(plan, address, network):
        for net in interfaces:
            if net not in pcaps:
                problems.append(f"{net}: no capture of the router's interface (needed for: {e.transfer})")
                continue
            if net not in packets:
                packets[net] = list(read_ipv4(str(pcaps[net])))
            problem = problems_in(packets[net], e)
            if problem:
                problems.append(f"{net} ({Path(pcaps[net]).name}): transfer '{e.transfer}': {e}: {problem}")
    if problems:
        raise FlowCaptureError("the captures lack traffic the plan sent:\n  - " + "\n  - ".join(problems))
