"""A small reader of classic pcap files (what `tcpdump -w` writes), standard library only.

It yields the IPv4 packets of a capture as `IPPacket`s: addresses, protocol, ports and the IP
total length, which is what NetFlow counts as a flow's bytes. It is the independent side of the
flow tests: their expected numbers come from here, never from softflowd or the decoder.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Iterator, Optional

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113

_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}

IANA_PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"}


@dataclass(frozen=True)
class IPPacket:
    time: float
    src: str
    dst: str
    proto: int
    src_port: int  # 0 when the protocol has no ports (or for a non-first fragment)
    dst_port: int
    ip_length: int  # IPv4 total length: header + payload, as on the wire
    # What the traffic-plan check needs (tests/support/expectations.py). payload_length: bytes after
    # the TCP/UDP/ICMP header, from the IP total length (so a short snap length does not matter);
    # None for a fragment or when the capture holds too little to read the transport header.
    payload_length: Optional[int] = None
    tcp_seq: int = 0
    tcp_flags: int = 0
    icmp_type: Optional[int] = None

    @property
    def proto_name(self) -> str:
        return IANA_PROTOCOLS.get(self.proto, str(self.proto))


class PcapError(ValueError):
    pass


def read_ipv4(path: str) -> Iterator[IPPacket]:
    """Every IPv4 packet of the capture at `path`, in order. Other frames (ARP, IPv6) are skipped.
    The snap length may be short: only headers are read (the total length comes from the IP header)."""
    with open(path, "rb") as f:
        header = f.read(24)
        if len(header) < 24 or header[:4] not in _MAGIC:
            raise PcapError(f"{path}: not a classic pcap file (pcapng is not read here; use tcpdump -w)")
        endian, unit = _MAGIC[header[:4]]
        linktype = struct.unpack(endian + "I", header[20:24])[0] & 0x0FFFFFFF
        record = struct.Struct(endian + "IIII")
        while True:
            rec = f.read(16)
            if not rec:
                return
            if len(rec) < 16:
                raise PcapError(f"{path}: truncated record header")
            sec, frac, caplen, _wirelen = record.unpack(rec)
            data = f.read(caplen)
            if len(data) < caplen:
                raise PcapError(f"{path}: truncated packet")
            packet = _ipv4(data, linktype, sec + frac * unit)
            if packet is not None:
                yield packet


def count_records(path: str, partial_tail_ok: bool = False) -> int:
    """The number of packet records in the capture at `path` (every link type, IP or not).

    `partial_tail_ok`: a running tcpdump may be writing its last record while this reads; that
    incomplete record is not counted instead of being an error."""
    with open(path, "rb") as f:
        header = f.read(24)
        if len(header) < 24 and partial_tail_ok:
            return 0
        if len(header) < 24 or header[:4] not in _MAGIC:
            raise PcapError(f"{path}: not a classic pcap file (pcapng is not read here; use tcpdump -w)")
        endian, _unit = _MAGIC[header[:4]]
        record = struct.Struct(endian + "IIII")
        count = 0
        while True:
            rec = f.read(16)
            if not rec:
                return count
            if len(rec) < 16:
                if partial_tail_ok:
                    return count
                raise PcapError(f"{path}: truncated record header after {count} records")
            caplen = record.unpack(rec)[2]
            if len(f.read(caplen)) < caplen:
                if partial_tail_ok:
                    return count
                raise PcapError(f"{path}: truncated packet after {count} records")
            count += 1


def _ipv4(frame: bytes, linktype: int, ts: float):
    if linktype == LINKTYPE_ETHERNET:
        offset, ethertype = 14, struct.unpack("!H", frame[12:14])[0] if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= offset + 4:  # VLAN tags
            ethertype = struct.unpack("!H", frame[offset + 2 : offset + 4])[0]
            offset += 4
        if ethertype != 0x0800:
            return None
    elif linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16 or struct.unpack("!H", frame[14:16])[0] != 0x0800:
            return None
        offset = 16
    elif linktype == LINKTYPE_RAW:
        offset = 0
    else:
        raise PcapError(f"link type {linktype} is not read here")
    ip = frame[offset:]
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total_length = struct.unpack("!H", ip[2:4])[0]
    fragment_offset = struct.unpack("!H", ip[6:8])[0] & 0x1FFF
    proto = ip[9]
    src = str(ipaddress.IPv4Address(ip[12:16]))
    dst = str(ipaddress.IPv4Address(ip[16:20]))
    more_fragments = bool(struct.unpack("!H", ip[6:8])[0] & 0x2000)
    sport = dport = 0
    if proto in (6, 17, 132) and fragment_offset == 0 and len(ip) >= ihl + 4:
        sport, dport = struct.unpack("!HH", ip[ihl : ihl + 4])
    payload_length, seq, flags, icmp_type = None, 0, 0, None
    whole = fragment_offset == 0 and not more_fragments
    l4 = ip[ihl:]
    if proto == 6 and len(l4) >= 14:
        seq = struct.unpack("!I", l4[4:8])[0]
        flags = l4[13]
        if whole:
            payload_length = total_length - ihl - (l4[12] >> 4) * 4
    elif proto == 17 and whole and len(l4) >= 8:
        payload_length = total_length - ihl - 8
    elif proto == 1 and len(l4) >= 1:
        icmp_type = l4[0]
        if whole:
            payload_length = total_length - ihl - 8
    return IPPacket(ts, src, dst, proto, sport, dport, total_length, payload_length, seq, flags, icmp_type)


def internet_checksum(data: bytes) -> int:
    """The IP/TCP/UDP header checksum (RFC 1071), for the tests that write packets."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
