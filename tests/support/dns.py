"""A real DNS server on a network-namespace host: Debian's dnsmasq, answering reverse lookups.

    with DnsServer({"10.0.10.15": "truenas.home.arpa"}, servfail=["203.0.113.7"]) as server:
        server.address        # where it listens (reachable from this namespace, or `client_namespace`)

The server host is a namespace of its own joined by a veth pair to the client's namespace (the
root namespace by default, where the test process runs; or e.g. a CollectorPod's). dnsmasq listens
on its end of the link and, with `address`, also on that address (a /32 on its loopback, routed
from the client through the link): a stand-in for pfSense's DNS Resolver at pfsense.address.

What it answers, for PTR queries (everything real dnsmasq, nothing faked on the wire):
  * `names`: {address: name}: a PTR record (`--ptr-record`, any printable characters dnsmasq takes);
  * `servfail`: SERVFAIL. dnsmasq forwards those zones to a second dnsmasq, a validating resolver
    (DNSSEC, the root's trust anchor), whose upstream, a third, answers unsigned; the chain of trust
    cannot be built (no DS records anywhere), so validation is abandoned and the answer is
    SERVFAIL, as a validating resolver answers for a broken zone;
  * `silent`: no answer at all (addresses, or IPv4 networks such as `203.0.113.0/24`): those zones are forwarded to an upstream that does not exist
    (nothing listens there), and dnsmasq never replies: the client times out;
  * any other address: NXDOMAIN (`--local=/in-addr.arpa/`: answered from local data only).
`stop()` stops dnsmasq (a resolver that is down: nothing listens, ICMP port unreachable), `start()`
starts it again. `queries()` lists the PTR names it was asked, from its own query log.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Mapping, Optional

from .tools import require_root, require_tool

APT_PACKAGE = "dnsmasq-base"  # the binary alone, no system service (Debian's `dnsmasq` adds one)
# The root zone's KSK-2017 (IANA root-anchors.xml): any real anchor will do, the upstream cannot match it.
ROOT_TRUST_ANCHOR = ".,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
UPSTREAM_PORT = 5454  # dnsmasqs inside the server's namespace: the unsigned "authoritative" one ...
VALIDATOR_PORT = 5455  # ... and the validating resolver the servfail zones are forwarded to
DEAD_PORT = 1  # nothing listens there


class DnsServerError(AssertionError):
    pass


def reverse(address: str) -> str:
    """The reverse zone of an address, or of an IPv4 network on an octet boundary (`203.0.113.0/24`)."""
    if "/" in address:
        net = ipaddress.ip_network(address)
        if net.version != 4 or net.prefixlen % 8:
            raise ValueError(f"only IPv4 networks of /8, /16 or /24 have a zone of their own: {address}")
        octets = str(net.network_address).split(".")[: net.prefixlen // 8]
        return ".".join(reversed(octets)) + ".in-addr.arpa"
    return ipaddress.ip_address(address).reverse_pointer


class DnsServer:
    def __init__(self, names: Optional[Mapping[str, str]] = None, *, servfail: Iterable[str] = (),
                 silent: Iterable[str] = (), client_namespace: Optional[str] = None, address: Optional[str] = None):
        require_root("a DNS server host (network namespace)")
        self._ip = require_tool("ip")
        self._dnsmasq = require_tool("dnsmasq")
        from .netns import LinkedHost

        self.names = dict(names or {})
        self.servfail = list(servfail)
        self.silent = list(silent)
        self.client_namespace = client_namespace
        self._dir = Path(tempfile.mkdtemp(prefix="netviz-dns-"))
        self.log_path = self._dir / "dnsmasq.log"
        self._procs: dict[str, subprocess.Popen] = {}
        self._closed = False
        self.host = None
        try:
            self.host = LinkedHost("dns", client_namespace=client_namespace, address=address, link_prefix="nvd")
            self.namespace, self.link_ip, self.client_ip = self.host.namespace, self.host.link_ip, self.host.client_ip
            self.address = self.host.address
            self.start()
        except BaseException:
            self.close()
            raise

    # ---- dnsmasq ---------------------------------------------------------------------------

    def _command(self) -> list[str]:
        listen = sorted({self.link_ip, self.address})
        args = [self._dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
                "--bind-interfaces", *(f"--listen-address={a}" for a in listen), "--port=53", "--user=root",
                "--pid-file=", "--log-queries", f"--log-facility={self.log_path}",
                "--local=/in-addr.arpa/", "--local=/ip6.arpa/"]
        args += [f"--ptr-record={reverse(a)},{name}" for a, name in self.names.items()]
        args += [f"--server=/{reverse(a)}/127.0.0.1#{VALIDATOR_PORT}" for a in self.servfail]
        args += [f"--server=/{reverse(a)}/127.0.0.1#{DEAD_PORT}" for a in self.silent]
        return args

    def _base(self, port: int) -> list[str]:
        return [self._dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
                "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={port}", "--user=root", "--pid-file=",
                "--log-facility=/dev/null"]

    def _upstream_command(self) -> list[str]:
        # The zones' "authoritative" server: it answers, unsigned, what the validator cannot accept.
        return [*self._base(UPSTREAM_PORT), *(f"--ptr-record={reverse(a)},unsigned.example" for a in self.servfail)]

    def _validator_command(self) -> list[str]:
        # A validating resolver (dnsmasq validates only what it asks its default servers).
        return [*self._base(VALIDATOR_PORT), "--dnssec", f"--trust-anchor={ROOT_TRUST_ANCHOR}", "--dnssec-check-unsigned",
                f"--server=127.0.0.1#{UPSTREAM_PORT}"]

    def _run(self, name: str, args: list[str]) -> None:
        log = open(self._dir / f"{name}.out", "ab")
        try:
            self._procs[name] = self.host.start(args, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

    def start(self) -> "DnsServer":
        if self.servfail and not self._running("upstream"):
            self._run("upstream", self._upstream_command())
            self._run("validator", self._validator_command())
        self._run("dnsmasq", self._command())
        self._wait_answering()
        return self

    def _running(self, name: str) -> bool:
        return name in self._procs and self._procs[name].poll() is None

    def _wait_answering(self, timeout: float = 20) -> None:
        """Until dnsmasq answers a PTR query on its address (an address it has no record for)."""
        from flow_exporter import dns

        probe = "192.0.2.255"  # TEST-NET-1: NXDOMAIN here
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._running("dnsmasq"):
                raise DnsServerError(f"dnsmasq exited {self._procs['dnsmasq'].returncode}: {self.output()}")
            answer = self.ask(probe, timeout=0.5)
            if answer.outcome == dns.NO_NAME:
                return
        raise DnsServerError(f"dnsmasq does not answer on {self.address}: {self.output()}")

    def ask(self, address: str, timeout: float = 2.0):
        """dns.query_ptr to this server, from the client's namespace when that is this process'."""
        from flow_exporter import dns

        if self.client_namespace:
            proc = subprocess.run([self._ip, "netns", "exec", self.client_namespace, "python3", "-c",
                                   "import socket,sys\n"
                                   "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(float(sys.argv[3]))\n"
                                   "s.connect((sys.argv[1],53));s.send(bytes.fromhex(sys.argv[2]))\n"
                                   "try: print(s.recv(4096).hex())\nexcept Exception: print('')\n",
                                   self.address, dns.build_query(4242, reverse(address)).hex(), str(timeout)],
                                  capture_output=True, text=True, timeout=timeout + 10)
            reply = bytes.fromhex(proc.stdout.strip() or "")
            return dns.parse_reply(reply, 4242, reverse(address)) or dns.Answer(dns.TIMEOUT)
        return dns.query_ptr(address, [self.address], timeout)

    def stop(self) -> None:
        """Stop dnsmasq: nothing listens on the address any more."""
        proc = self._procs.get("dnsmasq")
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)

    def queries(self) -> list[str]:
        """The PTR names dnsmasq was asked, in order (its --log-queries lines)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return re.findall(r"query\[PTR\] (\S+) from", text)

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self._dir.glob("*.out"))) + (
            self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else "")

    # ---- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.host is not None:
            self.host.close()  # its processes (dnsmasq's) and the namespace with its veth
        import shutil

        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "DnsServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
