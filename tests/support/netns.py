"""Isolated test networks built from Linux network namespaces and veth pairs (needs root).

A `Lab` is one router namespace with one veth per network, and one namespace per host:

    with Lab() as lab:
        lab.add_network("storage", "10.0.10.1/24")        # router side gets 10.0.10.1
        lab.add_host("truenas", "10.0.10.15", network="storage")
        lab.run("truenas", ["python3", "-c", "..."])       # runs inside the host's namespace

Safety:
- Nothing is connected to the root namespace: no veth leaves the lab, the router has no default
  route, hosts route only to the router. Traffic can reach no real address (`assert_isolated`).
- Names carry the creating process id and a random part (`netviz-<pid>-<hex>-<role>`), so parallel
  runs never collide; namespaces left by a dead process are removed by the next `Lab()`.
- Leaving the `with` block (or the interpreter) kills every process started in the lab and deletes
  its namespaces, which deletes their veths.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket as socket_module
import subprocess
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .tools import require_root, require_tool

NETNS_DIR = "/var/run/netns"
_PREFIX = "netviz-"
_NAME = re.compile(r"^netviz-(\d+)-[0-9a-f]+-")


@dataclass
class Network:
    name: str
    interface: str  # the router's interface on it (inside the router namespace)
    gateway: ipaddress.IPv4Interface  # the router's address, with prefix length
    index: int  # the router interface's kernel ifindex (inside the router namespace)


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    network: str


@dataclass
class Lab:
    """See the module docstring. `router` is the router namespace's name."""

    tag: str = field(default_factory=lambda: f"{_PREFIX}{os.getpid()}-{secrets.token_hex(3)}")
    networks: dict = field(default_factory=dict)
    hosts: dict = field(default_factory=dict)
    _procs: list = field(default_factory=list)
    _namespaces: list = field(default_factory=list)
    _closed: bool = False

    def __post_init__(self):
        require_root("a network-namespace lab")
        self._ip = require_tool("ip")
        remove_stale_namespaces()
        self.router = f"{self.tag}-router"
        self._add_namespace(self.router)
        self._sh(["ip", "netns", "exec", self.router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        # No reverse-path filtering surprises between the lab's own networks.
        self._sh(["ip", "netns", "exec", self.router, "sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0"])
        atexit.register(self.close)

    # ---- building --------------------------------------------------------------------------

    def _sh(self, args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
        args = [self._ip if args[0] == "ip" else args[0], *args[1:]]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def _add_namespace(self, ns: str) -> None:
        self._sh(["ip", "netns", "add", ns])
        self._namespaces.append(ns)
        # `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf: any name
        # lookup inside the lab asks the namespace's own loopback, never a real resolver.
        os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
        with open(f"/etc/netns/{ns}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\n")
        # IPv4 only: no IPv6 link-local chatter (neighbour discovery, MLD) in the captures.
        for key in ("all", "default"):
            self._sh(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1"])
        self._sh(["ip", "-n", ns, "link", "set", "lo", "up"])

    def add_network(self, name: str, gateway: str, interface: Optional[str] = None) -> Network:
        """A network the router is on, `gateway` being its address there (CIDR form)."""
        gw = ipaddress.ip_interface(gateway)
        interface = interface or name[:15]
        # The router end is created directly in the router namespace; the far end waits in the
        # router namespace too (named by the network) until a host takes it.
        self._sh(["ip", "-n", self.router, "link", "add", "name", interface, "type", "veth", "peer", "name", f"p-{interface}"[:15]])
        self._sh(["ip", "-n", self.router, "addr", "add", str(gw), "dev", interface])
        self._sh(["ip", "-n", self.router, "link", "set", "dev", interface, "up"])
        index = int(self._sh(["ip", "netns", "exec", self.router, "cat", f"/sys/class/net/{interface}/ifindex"]).stdout)
        net = Network(name, interface, gw, index)
        self.networks[name] = net
        return net

    def add_host(self, name: str, address: str, network: str) -> Host:
        """A host namespace with `address` on `network`, default route via the router. It takes
        the network's far veth end, so each network has one host."""
        net = self.networks[network]
        ns = f"{self.tag}-{re.sub(r'[^a-z0-9]', '', name.lower())[:20]}"
        self._add_namespace(ns)
        ip = ipaddress.ip_address(address)
        if ip not in net.gateway.network:
            raise ValueError(f"host {name} address {address} is not in network {network} ({net.gateway.network})")
        if any(h.network == network for h in self.hosts.values()):
            raise ValueError(f"network {network!r} already has a host: one host per network in this lab")
        peer = f"p-{net.interface}"[:15]
        self._sh(["ip", "-n", self.router, "link", "set", "dev", peer, "netns", ns])
        self._sh(["ip", "-n", ns, "link", "set", "dev", peer, "name", "eth0"])
        self._sh(["ip", "-n", ns, "addr", "add", f"{address}/{net.gateway.network.prefixlen}", "dev", "eth0"])
        self._sh(["ip", "-n", ns, "link", "set", "dev", "eth0", "up"])
        self._sh(["ip", "-n", ns, "route", "add", "default", "via", str(net.gateway.ip)])
        host = Host(name, ns, address, network)
        self.hosts[name] = host
        return host

    # ---- using -----------------------------------------------------------------------------

    def namespace_of(self, host_or_router: str) -> str:
        return self.router if host_or_router == "router" else self.hosts[host_or_router].namespace

    def command(self, where: str, args: Sequence[str]) -> list[str]:
        """`args` wrapped to run inside host `where` (or "router")."""
        return [self._ip, "netns", "exec", self.namespace_of(where), *args]

    def run(self, where: str, args: Sequence[str], timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        """Run `args` inside `where` to completion."""
        proc = subprocess.run(self.command(where, args), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"[{where}] {' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def start(self, where: str, args: Sequence[str], **popen) -> subprocess.Popen:
        """Start `args` inside `where` in the background; killed when the lab closes."""
        popen.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(self.command(where, args), start_new_session=True, **popen)
        self._procs.append(proc)
        return proc

    def assert_isolated(self) -> None:
        """Fail unless no lab namespace has a route to a real address or a link outside the lab."""
        # Hosts send everything to the router; the router must have nowhere to send it.
        for probe in ("1.1.1.1", "8.8.8.8", "192.0.2.1"):
            proc = self._sh(["ip", "-n", self.router, "route", "get", probe], check=False)
            if proc.returncode == 0:
                raise AssertionError(f"lab router has a route to {probe}: {proc.stdout.strip()}")
        router_routes = self._sh(["ip", "-n", self.router, "route", "show"]).stdout
        if "default" in router_routes:
            raise AssertionError(f"lab router has a default route:\n{router_routes}")
        lab_ns = set(self._namespaces)
        for ns in self._namespaces:
            links = self._sh(["ip", "-n", ns, "-o", "link", "show"]).stdout
            for m in re.finditer(r"link-netns (\S+)", links):
                if m.group(1) not in lab_ns:
                    raise AssertionError(f"{ns} has a link into namespace {m.group(1)}, outside the lab")
            for m in re.finditer(r"link-netnsid (\d+)", links):
                # A peer in a namespace with no name (the root namespace) shows as an id only.
                ids = self._sh(["ip", "-n", ns, "netns", "list-id"]).stdout
                peer = re.search(rf"nsid {m.group(1)} \(iproute2 netns name: (\S+)\)", ids)
                if peer is None or peer.group(1) not in lab_ns:
                    raise AssertionError(f"{ns} has a link into a namespace outside the lab (nsid {m.group(1)})")

    # ---- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        stop_process_groups(self._procs, grace=5)
        for ns in reversed(self._namespaces):
            _delete_namespace(ns)
        atexit.unregister(self.close)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stop_process_groups(procs: Sequence[subprocess.Popen], grace: float = 0) -> None:
    """Stop the process group of each of `procs` still running (each started with
    start_new_session): SIGTERM, and SIGKILL for any still running `grace` seconds later; with no
    grace, SIGKILL at once. Waits for each, so none is left a zombie."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        _signal_group(proc, signal.SIGTERM if grace else signal.SIGKILL)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


_ROUTE = re.compile(r"^(\d+\.\d+\.\d+\.\d+(?:/\d+)?) ", re.M)


def free_link_network(route_listings: Sequence[str]) -> Optional[ipaddress.IPv4Network]:
    """A random /30 of 169.254.0.0/16 that no route of `route_listings` (outputs of
    `ip -4 route show table all`, one per namespace that will hold an end) already covers, for a
    veth between a test host and the root (or another) namespace; None if 100 tries find none."""
    routes = [ipaddress.ip_network(m.group(1), strict=False) for text in route_listings for m in _ROUTE.finditer(text)]
    for _ in range(100):
        third = secrets.choice([n for n in range(1, 255) if n != 169])  # 169.254.169.254: cloud metadata
        net = ipaddress.ip_network(f"169.254.{third}.{secrets.randbelow(64) * 4}/30")
        if not any(net.overlaps(r) and r.prefixlen > 16 for r in routes):
            return net
    return None


def _delete_namespace(ns: str) -> None:
    _kill_namespace_processes(ns)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)


def _kill_namespace_processes(ns: str) -> None:
    """Kill whatever still runs in `ns` (by the pids `ip netns pids` lists for it, one by one)."""
    proc = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
    for pid in proc.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def lab_namespaces() -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(_PREFIX))
    except FileNotFoundError:
        return []


def remove_stale_namespaces() -> list[str]:
    """Delete lab namespaces whose creating process is gone (a run killed before cleanup)."""
    removed = []
    for ns in lab_namespaces():
        m = _NAME.match(ns)
        if not m:
            continue
        pid = int(m.group(1))
        try:
            os.kill(pid, 0)
            continue  # its creator still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _delete_namespace(ns)
        removed.append(ns)
    return removed


class LinkedHost:
    """A host of its own (a network namespace) joined by one veth pair to a client namespace (the
    root namespace by default, or e.g. a CollectorPod's): a DNS server, a NetFlow sender.

    Each end gets an address of a free /30 of 169.254.0.0/16 (`client_ip`, `link_ip`). With
    `address`, the host also has that address (a /32 on its loopback) and the client routes it
    through the link: the host answers at, and sends from, e.g. pfSense's address, and packets
    from it pass the client's reverse-path filter. Nothing else is routed: the host reaches only
    the client. `close()` kills what runs in it and deletes it (and the veth)."""

    def __init__(self, role: str, *, client_namespace: Optional[str] = None, address: Optional[str] = None,
                 link_prefix: str = "nvh"):
        require_root(f"a {role} host (network namespace)")
        self._ip = require_tool("ip")
        remove_stale_namespaces()
        tag = secrets.token_hex(3)
        self.namespace = f"{_PREFIX}{os.getpid()}-{tag}-{role}"  # a dead run's leftovers go with remove_stale_namespaces
        self.client_namespace = client_namespace
        self._link = f"{link_prefix}{tag}"
        self._procs: list = []
        self._closed = False
        try:
            self._build(address)
        except BaseException:
            self.close()
            raise

    def sh(self, *args: str, namespace: Optional[str] = None) -> str:
        prefix = [self._ip] + (["-n", namespace] if namespace else [])
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def _build(self, address: Optional[str]) -> None:
        self.sh("netns", "add", self.namespace)
        os.makedirs(f"/etc/netns/{self.namespace}", exist_ok=True)
        with open(f"/etc/netns/{self.namespace}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\n")  # no name lookup ever leaves the host
        self.sh("link", "set", "lo", "up", namespace=self.namespace)
        listings = [self.sh("-4", "route", "show", "table", "all")]
        if self.client_namespace:
            listings.append(self.sh("-4", "route", "show", "table", "all", namespace=self.client_namespace))
        net = free_link_network(listings)
        if net is None:
            raise RuntimeError("no free /30 in 169.254.0.0/16 for a host's link")
        self.client_ip, self.link_ip = str(net[1]), str(net[2])
        client = self.client_namespace
        self.sh("link", "add", self._link, "type", "veth", "peer", "name", "eth0", "netns", self.namespace)
        if client:
            self.sh("link", "set", self._link, "netns", client)
        self.sh("addr", "add", f"{self.client_ip}/30", "dev", self._link, namespace=client)
        self.sh("link", "set", self._link, "up", namespace=client)
        self.sh("addr", "add", f"{self.link_ip}/30", "dev", "eth0", namespace=self.namespace)
        self.sh("link", "set", "eth0", "up", namespace=self.namespace)
        self.address = self.link_ip
        if address:
            self.sh("addr", "add", f"{address}/32", "dev", "lo", namespace=self.namespace)
            self.sh("route", "add", f"{address}/32", "via", self.link_ip, namespace=client)
            self.address = address

    def start(self, args: Sequence[str], **popen) -> subprocess.Popen:
        """`args` running inside the host, in a process group of its own (stopped on close)."""
        popen.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen([self._ip, "netns", "exec", self.namespace, *args], start_new_session=True, **popen)
        self._procs.append(proc)
        return proc

    def socket(self, family: int = socket_module.AF_INET, kind: int = socket_module.SOCK_DGRAM) -> socket_module.socket:
        """A socket of this host's network namespace, usable from this process (sockets stay in
        the namespace they were made in: made on a thread that entered it)."""
        return socket_in_namespace(self.namespace, family, kind)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        stop_process_groups(self._procs)
        _delete_namespace(self.namespace)  # deleting it deletes the veth pair, in whichever namespace

    def __enter__(self) -> "LinkedHost":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_CLONE_NEWNET = 0x40000000


def socket_in_namespace(namespace: str, family: int, kind: int) -> socket_module.socket:
    """A socket made inside network namespace `namespace`, on a short-lived thread that enters it
    (setns affects only the calling thread; the socket keeps the namespace it was made in)."""
    import ctypes
    import threading

    libc = ctypes.CDLL(None, use_errno=True)
    made: list = []

    def make() -> None:
        try:
            with open(f"{NETNS_DIR}/{namespace}") as ns:
                if libc.setns(ns.fileno(), _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {namespace}")
            made.append(socket_module.socket(family, kind))
        except BaseException as e:  # handed to the caller
            made.append(e)

    thread = threading.Thread(target=make)  # a thread of its own: it never goes back, and ends
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]
