"""Traffic generators run inside the lab's host namespaces (`python traffic.py COMMAND ...`).

Standard library only. Servers print `ready` on stdout once they listen, so the caller can start
the client without guessing; every command exits non-zero on failure.

    http-serve ADDR PORT DIR            serve DIR over HTTP (python's http.server)
    http-get URL EXPECTED_BYTES         download URL; fail unless exactly EXPECTED_BYTES arrive
    tcp-sink ADDR PORT                  accept one connection, read it to the end, print the byte count
    tcp-send ADDR PORT NBYTES           connect and send NBYTES
    udp-echo ADDR PORT COUNT            echo COUNT datagrams back to their sender, then exit
    udp-send ADDR PORT COUNT SIZE [--expect-echo]   send COUNT datagrams of SIZE bytes
    udp-sink ADDR PORT COUNT            receive COUNT datagrams, then exit
    icmp-echo ADDR COUNT SIZE           send COUNT ICMP echo requests of SIZE payload bytes; wait for replies
"""

from __future__ import annotations

import functools
import http.server
import os
import socket
import struct
import sys
import time
import urllib.request


def ready() -> None:
    print("ready", flush=True)


def http_serve(addr: str, port: str, directory: str) -> None:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def server_bind(self):
            # HTTPServer.server_bind looks its address up with socket.getfqdn (a DNS query the
            # lab would have to drop): name the server by its address instead.
            http.server.socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = self.server_address[:2]

    handler = functools.partial(Handler, directory=directory)
    with Server((addr, int(port)), handler) as server:
        ready()
        server.serve_forever()


def http_get(url: str, expected: str) -> None:
    with urllib.request.urlopen(url, timeout=30) as r:
        body = r.read()
    if len(body) != int(expected):
        sys.exit(f"{url}: got {len(body)} bytes, expected {expected}")
    print(len(body))


def tcp_sink(addr: str, port: str) -> None:
    with socket.create_server((addr, int(port))) as server:
        ready()
        conn, _ = server.accept()
        total = 0
        with conn:
            while chunk := conn.recv(1 << 16):
                total += len(chunk)
    print(total, flush=True)


def tcp_send(addr: str, port: str, nbytes: str) -> None:
    remaining = int(nbytes)
    block = os.urandom(1 << 16)
    with socket.create_connection((addr, int(port)), timeout=30) as conn:
        while remaining > 0:
            n = min(remaining, len(block))
            conn.sendall(block[:n])
            remaining -= n
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)  # wait for the sink to close: every byte was read


def udp_echo(addr: str, port: str, count: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((addr, int(port)))
        ready()
        for _ in range(int(count)):
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)


def udp_sink(addr: str, port: str, count: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((addr, int(port)))
        s.settimeout(30)
        ready()
        for _ in range(int(count)):
            s.recvfrom(65535)


def udp_send(addr: str, port: str, count: str, size: str, *flags: str) -> None:
    echo = "--expect-echo" in flags
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        for i in range(int(count)):
            s.sendto(os.urandom(int(size)), (addr, int(port)))
            if echo:
                s.recvfrom(65535)
            else:
                time.sleep(0.002)  # let a sink keep up


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def icmp_echo(addr: str, count: str, size: str) -> None:
    ident = os.getpid() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.settimeout(5)
        for seq in range(int(count)):
            payload = os.urandom(int(size))
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            header = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq)
            s.sendto(header + payload, (addr, 0))
            while True:  # the raw socket also sees our own request on some setups: wait for the reply
                reply, _ = s.recvfrom(65535)
                ihl = (reply[0] & 0x0F) * 4
                rtype, _code, _sum, rid, rseq = struct.unpack("!BBHHH", reply[ihl : ihl + 8])
                if rtype == 0 and rid == ident and rseq == seq:
                    break


COMMANDS = {
    "http-serve": http_serve,
    "http-get": http_get,
    "tcp-sink": tcp_sink,
    "tcp-send": tcp_send,
    "udp-echo": udp_echo,
    "udp-send": udp_send,
    "udp-sink": udp_sink,
    "icmp-echo": icmp_echo,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
