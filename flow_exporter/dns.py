"""Reverse DNS (PTR) over UDP: the one question the exporter asks, standard library only.

Why not libc (`socket.getnameinfo`)? The exporter runs on Alpine (musl) in the pod and on glibc
elsewhere, and the two differ where it matters here: musl answers "no name" alike for NXDOMAIN, a
SERVFAIL and a timeout, has no per-call timeout but resolv.conf's (5 s x 2 by default), and hands
back whatever a PTR record holds; glibc filters names but also reports a timeout and a SERVFAIL
alike. This module asks the system's resolver, the `nameserver`s of /etc/resolv.conf (which the
goflow2 pod's dnsConfig sets to `names.dns_server`), itself, so that the same code runs in the pod
and in the tests, with a timeout of its own, and says what happened (`Answer.outcome`).

Everything in a reply is untrusted: its id and question must be ours (an answer to another query,
or a forged one, is ignored), names are read with every label and compression pointer
bounds-checked, and what comes back is the raw name (bytes); names.py decides whether to show it.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import struct
import time
from typing import NamedTuple, Optional, Sequence

RESOLV_CONF = "/etc/resolv.conf"
DNS_PORT = 53
MAX_NAMESERVERS = 3  # libc's MAXNS: later nameserver lines are ignored by every resolver

# Answer.outcome values.
NAME = "name"  # a PTR record answered (its name still to be checked: names.py)
NO_NAME = "no_name"  # NXDOMAIN, or no PTR record for the address
FAILED = "failed"  # SERVFAIL, REFUSED, any other error code, a truncated or malformed reply
TIMEOUT = "timeout"  # no reply in time
UNREACHABLE = "unreachable"  # no nameserver, or it cannot be reached (ICMP port/host unreachable)
OUTCOMES = (NAME, NO_NAME, FAILED, TIMEOUT, UNREACHABLE)

TYPE_PTR, TYPE_CNAME, CLASS_IN = 12, 5, 1
RCODE_NXDOMAIN = 3
_HEADER = struct.Struct("!HHHHHH")
MAX_NAME_WIRE = 255  # RFC 1035: a name is at most 255 octets on the wire
MAX_REPLY = 4096


class Answer(NamedTuple):
    outcome: str
    name: Optional[bytes] = None  # the PTR name, labels joined by ".", no trailing dot (outcome NAME)


def nameservers(path: str = RESOLV_CONF) -> tuple[str, ...]:
    """The `nameserver` addresses of a resolv.conf, in order, at most three, invalid ones skipped."""
    found = []
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "nameserver":
                    try:
                        found.append(str(ipaddress.ip_address(fields[1])))
                    except ValueError:
                        continue
    except OSError:
        return ()
    return tuple(found[:MAX_NAMESERVERS])


def reverse_name(address: str) -> str:
    """`10.0.10.15` -> `15.10.0.10.in-addr.arpa` (IPv6: ip6.arpa nibbles)."""
    return ipaddress.ip_address(address).reverse_pointer


def build_query(query_id: int, qname: str) -> bytes:
    """A standard query, recursion desired, one question: `qname` IN PTR."""
    labels = b"".join(bytes([len(label)]) + label for label in (p.encode("ascii") for p in qname.split(".")) if label)
    return _HEADER.pack(query_id, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", TYPE_PTR, CLASS_IN)


class Malformed(ValueError):
    """A reply that does not parse: counted as FAILED."""


def read_name(message: bytes, offset: int) -> tuple[bytes, int]:
    """The name at `offset` (labels joined by "."), and the offset after it in the message.

    Compression pointers must point backwards (so they cannot loop), labels must fit in the
    message, and the whole name in 255 octets."""
    labels: list[bytes] = []
    length = 0
    end = None  # where the name ends in the message (after the first pointer, if any)
    position = offset
    while True:
        if position >= len(message):
            raise Malformed("name runs past the end of the message")
        size = message[position]
        if size & 0xC0 == 0xC0:
            if position + 1 >= len(message):
                raise Malformed("truncated compression pointer")
            target = ((size & 0x3F) << 8) | message[position + 1]
            if target >= position:
                raise Malformed("compression pointer does not point backwards")
            if end is None:
                end = position + 2
            position = target
            continue
        if size & 0xC0:
            raise Malformed("unknown label type")
        position += 1
        if size == 0:
            break
        if position + size > len(message):
            raise Malformed("label runs past the end of the message")
        length += size + 1
        if length > MAX_NAME_WIRE:
            raise Malformed("name longer than 255 octets")
        labels.append(message[position : position + size])
        position += size
    return b".".join(labels), (end if end is not None else position)


def parse_reply(message: bytes, query_id: int, qname: str) -> Optional[Answer]:
    """The answer a reply gives to our PTR query for `qname`, or None if the reply is not to our
    query (another id, another question, not a response): the caller keeps waiting."""
    if len(message) < _HEADER.size:
        return None
    rid, flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack_from(message)
    if rid != query_id or not flags & 0x8000 or qdcount != 1:
        return None
    try:
        asked, offset = read_name(message, _HEADER.size)
    except Malformed:
        return None
    if offset + 4 > len(message) or asked.lower() != qname.encode("ascii").lower():
        return None
    qtype, qclass = struct.unpack_from("!HH", message, offset)
    if (qtype, qclass) != (TYPE_PTR, CLASS_IN):
        return None
    offset += 4
    rcode = flags & 0x000F
    if rcode == RCODE_NXDOMAIN:
        return Answer(NO_NAME)
    if rcode != 0:
        return Answer(FAILED)
    # Owners a PTR record may have: the question, or a name it is a CNAME of (RFC 2317 delegation).
    owners = {asked.lower()}
    try:
        for _ in range(ancount):
            owner, offset = read_name(message, offset)
            if offset + 10 > len(message):
                raise Malformed("truncated resource record")
            rtype, rclass, _ttl, rdlength = struct.unpack_from("!HHIH", message, offset)
            offset += 10
            if offset + rdlength > len(message):
                raise Malformed("record data runs past the end of the message")
            if rclass == CLASS_IN and owner.lower() in owners:
                if rtype == TYPE_PTR:
                    name, _ = read_name(message, offset)
                    return Answer(NAME, name)
                if rtype == TYPE_CNAME:
                    target, _ = read_name(message, offset)
                    owners.add(target.lower())
            offset += rdlength
    except Malformed:
        return Answer(FAILED)
    if flags & 0x0200:  # truncated, and nothing usable in what came: never retried over TCP
        return Answer(FAILED)
    return Answer(NO_NAME)


def query_ptr(address: str, servers: Sequence[str], timeout: float, clock=time.monotonic) -> Answer:
    """Ask `servers` in turn for the PTR name of `address`; the whole lookup takes at most
    `timeout` seconds (split evenly between the servers that are tried). A server that gives an
    answer (a name, no name, or an error code) ends the lookup; one that times out or cannot be
    reached hands over to the next."""
    if not servers:
        return Answer(UNREACHABLE)
    qname = reverse_name(address)
    outcome = UNREACHABLE
    for i, server in enumerate(servers):
        share = timeout / len(servers)
        answer = _ask(server, qname, clock() + share, clock)
        if answer.outcome not in (TIMEOUT, UNREACHABLE):
            return answer
        outcome = TIMEOUT if TIMEOUT in (outcome, answer.outcome) else answer.outcome
    return Answer(outcome)


def _ask(server: str, qname: str, deadline: float, clock) -> Answer:
    query_id = secrets.randbits(16)  # with the kernel's random source port: not guessable
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            # connect(): only the server's replies reach this socket, and an ICMP "port
            # unreachable" (nothing listens there) comes back as ECONNREFUSED at once.
            sock.connect((server, DNS_PORT))
            sock.send(build_query(query_id, qname))
            while True:
                remaining = deadline - clock()
                if remaining <= 0:
                    return Answer(TIMEOUT)
                sock.settimeout(remaining)
                try:
                    reply = sock.recv(MAX_REPLY)
                except socket.timeout:
                    return Answer(TIMEOUT)
                answer = parse_reply(reply, query_id, qname)
                if answer is not None:
                    return answer
    except (ConnectionRefusedError, ConnectionResetError):
        return Answer(UNREACHABLE)
    except OSError:  # no route, network unreachable, host unreachable ...
        return Answer(UNREACHABLE)
