"""A long NetFlow v9 stream from the real softflowd: many one-packet UDP flows in a pcap written here,
read by softflowd (`-r`) and exported as pfSense's softflowd would (tests/support/netflow.py
`run_softflowd`: interface index and record count set as on pfSense).

softflowd 1.1.0 repeats its templates every 16 datagrams (ipfix.c IPFIX_DEFAULT_TEMPLATE_INTERVAL),
so a collector that restarts mid-stream can decode again from the next datagram that carries them:
`Stream.template_datagrams` says which those are, `Stream.records` how many flow records each holds.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path

from .netflow import SoftflowdRun, V9Templates, run_softflowd
from .pcap import internet_checksum as _checksum




def _udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int) -> bytes:
    s, d = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    csum = _checksum(s + d + struct.pack("!BBH", 0, 17, len(udp)) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, 64, 17, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return bytes.fromhex("020000000001") + bytes.fromhex("020000000064") + b"\x08\x00" + ip + udp


def write_udp_flows_pcap(path: Path, flows: int, src_net: str = "10.0.20.0/24", dst_net: str = "203.0.113.0/24",
                         payload: int = 40) -> int:
    """`flows` one-packet UDP flows from hosts of `src_net` to hosts of `dst_net`, each its own
    5-tuple; returns the IP bytes of each packet."""
    srcs = list(ipaddress.ip_network(src_net).hosts())[99:149]
    dsts = list(ipaddress.ip_network(dst_net).hosts())
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t = 1_700_000_000.0
        for i in range(flows):
            frame = _udp_frame(str(srcs[i % len(srcs)]), str(dsts[(i // len(srcs)) % len(dsts)]),
                               10000 + i // (len(srcs) * len(dsts)), 53, b"x" * payload, i)
            sec, usec = int(t), int(round((t - int(t)) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
            t += 0.0001
    return 20 + 8 + payload


@dataclass
class Stream:
    run: SoftflowdRun
    datagrams: list  # bytes, in the order softflowd sent them
    records: list  # flow records in each datagram
    template_datagrams: list  # indexes of the datagrams that carry the templates
    packet_bytes: int

    def records_in(self, start: int, stop: int) -> int:
        return sum(self.records[start:stop])

    def next_template(self, index: int) -> int:
        """The first datagram at or after `index` that carries the templates."""
        return next(i for i in self.template_datagrams if i >= index)


def softflowd_stream(directory: Path, flows: int, if_index: int = 1, interface: str = "kubernetes") -> Stream:
    directory = Path(directory)
    pcap = directory / f"{flows}-udp-flows.pcap"
    packet_bytes = write_udp_flows_pcap(pcap, flows)
    run = run_softflowd(pcap, interface, if_index)
    datagrams = [d for _, d in run.datagrams]
    templates = V9Templates()
    records, with_templates = [], []
    for i, d in enumerate(datagrams):
        records.append(sum((length - 4) // record_length
                           for _o, length, fields, record_length in templates.data_sets(d) if fields is not None))
        if _has_template_flowset(d):
            with_templates.append(i)
    if sum(records) != run.records or sum(records) != flows:
        raise AssertionError(f"softflowd exported {run.records} records for {flows} flows; the datagrams hold {sum(records)}")
    return Stream(run, datagrams, records, with_templates, packet_bytes)


def _has_template_flowset(datagram: bytes) -> bool:
    offset = 20
    while offset + 4 <= len(datagram):
        set_id, length = struct.unpack("!HH", datagram[offset : offset + 4])
        if set_id == 0:
            return True
        offset += length
    return False
