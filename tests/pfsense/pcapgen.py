"""A small, valid pcap of real-looking traffic, written in pure Python (no root, no capture).

Ethernet II / IPv4 frames with correct IP, TCP and UDP checksums: one HTTPS-like TCP conversation
(handshake, data both ways, FIN/ACK close), one DNS query and answer over UDP, and one NTP
exchange. softflowd reads it with `-r` and turns it into flows."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from tests.support.pcap import internet_checksum as _checksum

_ETH_IPV4 = 0x0800
_TCP, _UDP = 6, 17
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10




def _ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + payload


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + struct.pack("!BBH", 0, proto, length)


def _tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    segment = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + data
    csum = _checksum(_pseudo(src, dst, _TCP, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


def _udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    datagram = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    csum = _checksum(_pseudo(src, dst, _UDP, len(datagram)) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", csum) + datagram[8:]


def _ethernet(payload: bytes, src_mac: bytes, dst_mac: bytes) -> bytes:
    return dst_mac + src_mac + struct.pack("!H", _ETH_IPV4) + payload


@dataclass(frozen=True)
class Flow:
    """One conversation direction as a collector should report it."""

    src: str
    dst: str
    proto: int
    sport: int
    dport: int


CLIENT_MAC = bytes.fromhex("020000000064")
ROUTER_MAC = bytes.fromhex("020000000001")


def sample_packets(start: float = 1_700_000_000.0) -> tuple[list[tuple[float, bytes]], list[Flow]]:
    """(timestamp, frame) pairs and the flows they make."""
    frames: list[tuple[float, bytes]] = []
    t = start
    ident = 1

    def add(src, dst, proto, l4, from_client=True):
        nonlocal t, ident
        mac_src, mac_dst = (CLIENT_MAC, ROUTER_MAC) if from_client else (ROUTER_MAC, CLIENT_MAC)
        frames.append((t, _ethernet(_ipv4(src, dst, proto, l4, ident), mac_src, mac_dst)))
        t += 0.01
        ident += 1

    c, s, cp, sp = "10.0.20.100", "10.0.10.15", 43210, 443
    cseq, sseq = 1000, 5000
    add(c, s, _TCP, _tcp(c, s, cp, sp, cseq, 0, SYN))
    add(s, c, _TCP, _tcp(s, c, sp, cp, sseq, cseq + 1, SYN | ACK), False)
    add(c, s, _TCP, _tcp(c, s, cp, sp, cseq + 1, sseq + 1, ACK))
    request = b"\x16\x03\x01" + bytes(200)
    add(c, s, _TCP, _tcp(c, s, cp, sp, cseq + 1, sseq + 1, PSH | ACK, request))
    cseq += 1 + len(request)
    sseq += 1
    for _ in range(5):
        chunk = bytes(range(256)) * 5
        add(s, c, _TCP, _tcp(s, c, sp, cp, sseq, cseq, ACK, chunk), False)
        sseq += len(chunk)
        add(c, s, _TCP, _tcp(c, s, cp, sp, cseq, sseq, ACK))
    add(c, s, _TCP, _tcp(c, s, cp, sp, cseq, sseq, FIN | ACK))
    add(s, c, _TCP, _tcp(s, c, sp, cp, sseq, cseq + 1, FIN | ACK), False)
    add(c, s, _TCP, _tcp(c, s, cp, sp, cseq + 1, sseq + 1, ACK))

    d, r = "10.0.20.101", "192.168.1.1"
    query = bytes.fromhex("abcd01000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
    add(d, r, _UDP, _udp(d, r, 53535, 53, query))
    answer = bytes.fromhex("abcd81800001000100000000") + query[12:] + bytes.fromhex("c00c000100010000012c00045db8d822")
    add(r, d, _UDP, _udp(r, d, 53, 53535, answer), False)

    n, ntp = "10.0.20.102", "192.168.1.127"
    add(n, ntp, _UDP, _udp(n, ntp, 123, 123, b"\x23" + bytes(47)))
    add(ntp, n, _UDP, _udp(ntp, n, 123, 123, b"\x24" + bytes(47)), False)

    flows = [
        Flow(c, s, _TCP, cp, sp), Flow(s, c, _TCP, sp, cp),
        Flow(d, r, _UDP, 53535, 53), Flow(r, d, _UDP, 53, 53535),
        Flow(n, ntp, _UDP, 123, 123), Flow(ntp, n, _UDP, 123, 123),
    ]
    return frames, flows


def write_pcap(path: str, frames: list[tuple[float, bytes]]) -> None:
    """Classic libpcap format, microsecond timestamps, link type 1 (Ethernet)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, frame in frames:
            sec = int(ts)
            usec = int(round((ts - sec) * 1_000_000))
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)
