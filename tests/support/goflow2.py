"""The real GoFlow2, and the goflow2 pod as synthesized, run as processes.

GoFlow2 is the pinned release built from its Go module (go_tools.py; `require_tool("goflow2")`).

`CollectorPod(spec, files)` runs the goflow2 stack's pod as it is synthesized: the init container's
command (makes the FIFO), the collector container's command (the one-line shell wrapper holding the
FIFO open, then GoFlow2 with exactly the synthesized flags and `-mapping` file), and the exporter
container's command and environment, over the ConfigMap's files laid out as the volume mounts say.
Only the pod's folders move (under a temp root: /run/flows, /etc/netviz, /opt/netviz, and the image's
/goflow2 binary); nothing else in a command changes. What cannot exist here is a STAND-IN, and named:
  * the Kubernetes pod: processes sharing a folder (the emptyDir) and a network namespace of their
    own (`PodNetwork`, joined to the root namespace by a veth pair as a CNI joins a pod to its node),
    so `-listen=netflow://:2055`, `-addr=:8080` and `--listen=0.0.0.0:9108` run as synthesized and
    parallel runs never collide; each process runs as the pod's `run_as_user`/`run_as_group` with
    its `fs_group` (setpriv). The read-only root filesystem and dropped capabilities are not
    reproduced.
  * the images: the collector container's `/bin/sh` is this machine's (dash, not alpine's busybox),
    the exporter's `python` is this machine's Python 3.11 (`-s`: no user site).

`NetflowSender` plays pfSense's softflowd instances: one UDP socket per instance, each with its own
source port (GoFlow2 keeps NetFlow templates per source address and port, as per softflowd), sending
from the node's side of the veth to the pod's NetFlow port. By default it waits after each datagram
until GoFlow2 has decoded it (`goflow2_flow_decoding_time_seconds_count`, observed after the decode
and the write to the transport): GoFlow2's two workers would otherwise decode a template's datagram
and the next one at once, and the next one could find no template yet.

`Goflow2` is GoFlow2 alone on loopback (free ports), writing to a regular file: the flow capture's
decoder (`decode`), the benchmark's collector.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from .tools import free_port, require_root, require_tool

DEFAULT_TIMEOUT = 30.0

# The pod's folders (netviz_constructs/flow_collector.py), read back from the spec's mounts; the
# image's binary path is the one fact taken from the image (Dockerfile: COPY ... /goflow2).
IMAGE_BINARY = "/goflow2"


class Goflow2Error(AssertionError):
    """GoFlow2 or the pod did not do what was waited for; carries the logs."""


# ---- /metrics ------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict[tuple[str, frozenset], float]:
    """{(metric name, frozenset((label, value), ...)): value} of a text exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            raise Goflow2Error(f"not a sample line: {line!r}")
        samples[(m.group(1), frozenset(_LABEL.findall(m.group(2) or "")))] = float(m.group(3))
    return samples


def metric_sum(samples: dict, name: str, **labels) -> float:
    """Sum of every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """(status, body); status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def wait_until(what: str, predicate, timeout: float = DEFAULT_TIMEOUT, poll: float = 0.02, logs=lambda: ""):
    """Poll `predicate` until it returns something true (returned) or fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(poll)
    raise Goflow2Error(f"timed out after {timeout}s waiting for {what} (last: {last!r}){logs()}")


# ---- a network namespace standing in for the pod's ----------------------------------------

_NETNS_PREFIX = "netviz-"


class PodNetwork:
    """STAND-IN for a pod's network: a namespace whose `eth0` is one end of a veth pair; the other
    end, in the root namespace, is the node. Both ends get a random /30 of 169.254.0.0/16 no route
    on this machine already covers; the pod has no other route (it reaches nothing but the node)."""

    def __init__(self):
        require_root("a pod network namespace")
        self._ip = require_tool("ip")
        from .netns import remove_stale_namespaces

        remove_stale_namespaces()  # the same naming as netns.Lab: a dead run's leftovers go
        tag = secrets.token_hex(3)
        self.namespace = f"{_NETNS_PREFIX}{os.getpid()}-{tag}-pod"
        self.node_interface = f"nvz{tag}"
        self._procs: list[subprocess.Popen] = []
        self._closed = False
        self._sh("netns", "add", self.namespace)
        try:
            os.makedirs(f"/etc/netns/{self.namespace}", exist_ok=True)
            with open(f"/etc/netns/{self.namespace}/resolv.conf", "w") as f:
                f.write("nameserver 127.0.0.1\n")  # no name lookup ever leaves the pod
            self._sh("-n", self.namespace, "link", "set", "lo", "up")
            net = self._free_network()
            self.node_ip, self.pod_ip = str(net[1]), str(net[2])
            self._sh("link", "add", self.node_interface, "type", "veth", "peer", "name", "eth0", "netns", self.namespace)
            self._sh("addr", "add", f"{self.node_ip}/30", "dev", self.node_interface)
            self._sh("link", "set", self.node_interface, "up")
            self._sh("-n", self.namespace, "addr", "add", f"{self.pod_ip}/30", "dev", "eth0")
            self._sh("-n", self.namespace, "link", "set", "eth0", "up")
        except BaseException:
            self.close()
            raise

    def _sh(self, *args: str) -> str:
        proc = subprocess.run([self._ip, *args], capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise Goflow2Error(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def _free_network(self) -> ipaddress.IPv4Network:
        from .netns import free_link_network

        net = free_link_network([self._sh("-4", "route", "show", "table", "all")])
        if net is None:
            raise Goflow2Error("no free /30 in 169.254.0.0/16 for a pod network")
        return net

    def command(self, args: Sequence[str], user: Optional[tuple[int, int, int]] = None) -> list[str]:
        """`args` run inside the pod's namespace, as (uid, gid, fs_group) if given."""
        prefix = [self._ip, "netns", "exec", self.namespace]
        if user is not None:
            uid, gid, fs_group = user
            prefix += [require_tool("setpriv"), f"--reuid={uid}", f"--regid={gid}", f"--groups={fs_group}", "--"]
        return [*prefix, *args]

    def start(self, args: Sequence[str], user=None, **popen) -> subprocess.Popen:
        popen.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(self.command(args, user), start_new_session=True, **popen)
        self._procs.append(proc)
        return proc

    def run(self, args: Sequence[str], user=None, timeout: float = 30) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.command(args, user), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise Goflow2Error(f"{' '.join(args)} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
        return proc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        from .netns import _delete_namespace, stop_process_groups

        stop_process_groups(self._procs)
        _delete_namespace(self.namespace)  # deleting it deletes the veth pair


# ---- the goflow2 pod as synthesized ---------------------------------------------------------


def pod_from_synth(synthesized) -> tuple[dict, dict]:
    """(the Deployment's pod spec, the ConfigMap's data) of the goflow2 stack, as Terraform reads them."""
    deployment = synthesized.resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")
    files = synthesized.resource("goflow2", "kubernetes_config_map_v1", "goflow2_files")["data"]
    return deployment["spec"]["template"]["spec"], files


def pod_labels_from_synth(synthesized) -> dict:
    deployment = synthesized.resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def collector_scrape_jobs(synthesized, pod: "CollectorPod", directory, scrape_interval: str = "1s",
                          extra_pods: Sequence[tuple[str, str, dict]] = ()) -> list[dict]:
    """The platform stack's scrape jobs for the collector pod (`goflow2`, `flow-exporter`), as
    synthesized, their Kubernetes pod discovery swapped for the targets it would find for `pod`
    (prometheus.swap_kubernetes_sd_for_file_sd: the job's own relabel rules pick the pod's ports).
    The interval is shortened (30 s in the stack) so a test waits seconds, not minutes.
    `extra_pods`: (name, ip, {port name: port}) of more pods with the same labels and containers,
    their ports moved (another GoFlow2 on loopback, say)."""
    import yaml

    from .prometheus import pod as pod_description
    from .prometheus import swap_kubernetes_sd_for_file_sd

    values = synthesized.helm_values("platform", "prometheus_chart_release")
    jobs = yaml.safe_load(synthesized.resolve_cross_stack(values["extraScrapeConfigs"]))
    containers = [{"name": c["name"], "image": c["image"],
                   "ports": [{"name": p["name"], "containerPort": int(p["container_port"]), "protocol": p["protocol"]}
                             for p in c.get("port", [])]} for c in pod.spec["container"]]
    out = []
    for job in jobs:
        if job["job_name"] in ("goflow2", "flow-exporter"):
            # the namespace the job discovers in is the goflow2 stack's (a cross-stack reference)
            (namespace,) = job["kubernetes_sd_configs"][0]["namespaces"]["names"]
            described = [pod_description(name, namespace=namespace, ip=ip, node="k8s-node-0",
                                         labels=pod_labels_from_synth(synthesized),
                                         containers=[{**c, "ports": [{**p, "containerPort": ports.get(p["name"], p["containerPort"])}
                                                                     for p in c["ports"]]} for c in containers],
                                         controller=("ReplicaSet", "goflow2-7c9d8"))
                         for name, ip, ports in [("goflow2-7c9d8-x2x4q", pod.network.pod_ip, {}), *extra_pods]]
            job = swap_kubernetes_sd_for_file_sd(job, described, directory=str(directory))
            job["scrape_interval"] = scrape_interval
            out.append(job)
    if len(out) != 2:
        raise Goflow2Error(f"the platform stack has no goflow2 and flow-exporter jobs: {[j['job_name'] for j in jobs]}")
    return out


def _ports(container: dict) -> dict[str, int]:
    return {p["name"]: int(p["container_port"]) for p in container.get("port", [])}


class CollectorPod:
    """The synthesized goflow2 pod as processes (see the module docstring). Use as a context
    manager. `init()`, then `start_collector()` / `start_exporter()` in any order; each can be
    killed and started again, as Kubernetes restarts a container."""

    def __init__(self, spec: dict, files: dict, *, goflow2: Optional[str] = None, python: Optional[str] = None):
        self.spec = spec
        self.containers = {c["name"]: c for c in spec["container"]}
        self.collector = self.containers["goflow2"]
        self.exporter = next(c for name, c in self.containers.items() if name != "goflow2")
        security = spec.get("security_context") or {}
        self.user = (int(security["run_as_user"]), int(security["run_as_group"]), int(security.get("fs_group") or security["run_as_group"]))
        self._goflow2 = goflow2 or require_tool("goflow2")
        self._python = python or getattr(sys, "_base_executable", None) or sys.executable
        self.root = Path(tempfile.mkdtemp(prefix="netviz-pod-"))
        self.root.chmod(0o755)  # the pod's user must reach its volumes
        self.network: Optional[PodNetwork] = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = {name: self.root / f"{name}.log" for name in self.containers}
        self.collector_starts = 0
        try:
            self._mount_volumes(files)
            self.network = PodNetwork()
        except BaseException:
            self.close()
            raise
        ports = {**_ports(self.collector), **_ports(self.exporter)}
        self.ports = ports
        self.netflow_port = next(int(p["container_port"]) for p in self.collector["port"] if p["protocol"] == "UDP")

    # ---- paths ----------------------------------------------------------------------------

    def _mounts(self) -> dict[str, str]:
        """volume name -> mount path, over every container."""
        out = {}
        for c in [*self.spec.get("init_container", []), *self.spec["container"]]:
            for m in c.get("volume_mount", []):
                out[m["name"]] = m["mount_path"]
        return out

    def path(self, pod_path: str) -> Path:
        return Path(str(self.root) + pod_path)

    def move(self, text: str) -> str:
        """`text` with every pod folder (and the image's binary) moved under the root."""
        for pod_dir in sorted(set(self._mounts().values()), key=len, reverse=True):
            text = re.sub(rf"(?<![\w/]){re.escape(pod_dir)}(?=/|$|\"|\s)", str(self.path(pod_dir)), text)
        return text

    def _mount_volumes(self, files: dict) -> None:
        mounts = self._mounts()
        for volume in self.spec["volume"]:
            target = self.path(mounts[volume["name"]])
            target.mkdir(parents=True, exist_ok=True)
            if "empty_dir" in volume:
                target.chmod(0o777)  # an emptyDir: world-writable, as the kubelet makes it
                continue
            for item in volume["config_map"]["items"]:
                f = target / item["path"]
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(files[item["key"]])
                f.chmod(0o644)  # ConfigMap volumes' default mode
        for d in self.root.rglob("*"):
            if d.is_dir() and not stat.S_IMODE(d.stat().st_mode) == 0o777:
                d.chmod(0o755)
        binary = self.path(IMAGE_BINARY)
        shutil.copy2(self._goflow2, binary)  # where the image has it
        binary.chmod(0o755)

    # ---- containers -----------------------------------------------------------------------

    def init(self) -> None:
        for init in self.spec.get("init_container", []):
            self.network.run([self.move(a) for a in init["command"]], user=self.user)

    def collector_command(self) -> list[str]:
        """The collector container's command as synthesized, its folders and binary moved."""
        command = list(self.collector["command"])
        script = f'exec {IMAGE_BINARY} "$@"'
        if len(command) < 3 or command[:2] != ["/bin/sh", "-c"] or not command[2].endswith(script):
            raise Goflow2Error(f"the collector's command is not the wrapper this harness knows: {command}")
        command[2] = command[2][: -len(script)] + f'exec {self.path(IMAGE_BINARY)} "$@"'
        return [command[0], command[1], self.move(command[2]), *[self.move(a) for a in command[3:]]]

    def exporter_command(self) -> tuple[list[str], dict]:
        command = [self.move(a) for a in self.exporter["command"]]
        if command[0] != "python":
            raise Goflow2Error(f"the exporter's command does not start with python: {command}")
        env = {e["name"]: self.move(e["value"]) for e in self.exporter.get("env", [])}
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        return [self._python, "-s", *command[1:]], env

    def start_collector(self, wait: bool = True) -> subprocess.Popen:
        self._start("goflow2", self.collector_command(), env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
        self.collector_starts += 1
        if wait:
            self.wait_ready("goflow2")
        return self.procs["goflow2"]

    def start_exporter(self, wait: bool = True) -> subprocess.Popen:
        command, env = self.exporter_command()
        self._start(self.exporter["name"], command, env=env, cwd=self.root)
        if wait:
            self.wait_ready(self.exporter["name"])
        return self.procs[self.exporter["name"]]

    def _start(self, name: str, command: list[str], **popen) -> None:
        if name in self.procs and self.procs[name].poll() is None:
            raise Goflow2Error(f"container {name} is already running")
        log = open(self.logs[name], "ab")
        try:
            self.procs[name] = self.network.start(command, user=self.user, stdout=log, stderr=subprocess.STDOUT, **popen)
        finally:
            log.close()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Kill container `name` (SIGKILL by default: no chance to clean up) and reap it."""
        proc = self.procs[name]
        proc.send_signal(sig)
        return proc.wait(timeout=DEFAULT_TIMEOUT)

    def running(self, name: str) -> bool:
        return name in self.procs and self.procs[name].poll() is None

    # ---- probes and metrics ---------------------------------------------------------------

    def probe_url(self, name: str, probe: str = "readiness_probe") -> str:
        container = self.containers[name]
        get = container[probe]["http_get"]
        port = get["port"]
        port = _ports(container)[port] if not str(port).isdigit() else int(port)
        return f"http://{self.network.pod_ip}:{port}{get['path']}"

    def url(self, port_name: str, path: str = "/metrics") -> str:
        return f"http://{self.network.pod_ip}:{self.ports[port_name]}{path}"

    def address(self, port_name: str) -> str:
        return f"{self.network.pod_ip}:{self.ports[port_name]}"

    def wait_ready(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Until the container's readiness probe answers 200 (as the kubelet checks it)."""
        url = self.probe_url(name)

        def ready():
            if not self.running(name):
                raise Goflow2Error(f"container {name} exited {self.procs[name].returncode}{self.log_tail()}")
            return http_get(url, timeout=2)[0] == 200

        wait_until(f"{name}'s readiness probe {url}", ready, timeout, logs=self.log_tail)

    def metrics(self, port_name: str) -> dict:
        status, body = http_get(self.url(port_name))
        if status != 200:
            raise Goflow2Error(f"GET {self.url(port_name)}: HTTP {status}{self.log_tail()}")
        return parse_exposition(body.decode())

    def collector_metrics(self) -> dict:
        return self.metrics(next(n for n in _ports(self.collector) if n != self._netflow_port_name()))

    def _netflow_port_name(self) -> str:
        return next(p["name"] for p in self.collector["port"] if p["protocol"] == "UDP")

    def decoded(self) -> int:
        """Datagrams the running GoFlow2 has finished with (decoded and written to its transport)."""
        return int(metric_sum(self.collector_metrics(), "goflow2_flow_decoding_time_seconds_count"))

    def log(self, name: str) -> str:
        try:
            return self.logs[name].read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "".join(f"\n--- {name} log\n" + "\n".join(self.log(name).splitlines()[-lines:]) for name in self.containers)

    # ---- teardown -------------------------------------------------------------------------

    def close(self) -> None:
        if self.network is not None:
            self.network.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "CollectorPod":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- pfSense's softflowd instances, as senders ----------------------------------------------


class NetflowSender:
    """One UDP socket per softflowd instance (`streams` names them), bound to `source_ip`; made in
    `host`'s network namespace (a netns.LinkedHost, e.g. pfSense at its own address) if given."""

    def __init__(self, streams: Iterable[str], source_ip: str = "127.0.0.1", host=None):
        self.sockets = {}
        for name in streams:
            s = host.socket() if host is not None else socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((source_ip, 0))
            self.sockets[name] = s
        self.sent = 0

    def send(self, stream: str, datagrams: Sequence[bytes], to: tuple[str, int], decoded=None, base: int = 0,
             timeout: float = DEFAULT_TIMEOUT) -> None:
        """Send `datagrams` from `stream`'s socket to `to`. With `decoded` (a callable returning how
        many datagrams the collector has finished with, `base` of them before these), wait after
        each one until it is finished; without, send them all at once."""
        sock = self.sockets[stream]
        for i, datagram in enumerate(datagrams):
            sock.sendto(datagram, to)
            self.sent += 1
            if decoded is not None:
                want = base + i + 1
                wait_until(f"GoFlow2 to finish datagram {want}", lambda: decoded() >= want, timeout)

    def close(self) -> None:
        for s in self.sockets.values():
            s.close()

    def __enter__(self) -> "NetflowSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- GoFlow2 alone, on loopback ------------------------------------------------------------


@dataclass
class Goflow2:
    """GoFlow2 listening on a free loopback port, writing records to `output` (a regular file).

    `args`: extra flags (e.g. `-mapping=...`). `listen_query`: appended to the netflow:// URL
    (e.g. `workers=1`). `cpu`: pin it to that CPU (taskset)."""

    output: Path
    args: Sequence[str] = ()
    listen_query: str = ""
    cpu: Optional[int] = None

    def __post_init__(self):
        self.netflow_port = free_port(kind=socket.SOCK_DGRAM)
        self.http_port = free_port()
        self.log_path = Path(str(self.output) + ".log")
        self.proc: Optional[subprocess.Popen] = None

    @property
    def listen(self) -> str:
        return f"netflow://127.0.0.1:{self.netflow_port}" + (f"?{self.listen_query}" if self.listen_query else "")

    def command(self) -> list[str]:
        prefix = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        return [*prefix, require_tool("goflow2"), f"-listen={self.listen}", f"-addr=127.0.0.1:{self.http_port}",
                "-format=json", *self.args, "-transport=file", f"-transport.file={self.output}"]

    def start(self, wait: bool = True) -> "Goflow2":
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        if wait:
            self.wait_healthy()
        return self

    def healthy(self) -> bool:
        return http_get(f"http://127.0.0.1:{self.http_port}/__health", timeout=2)[0] == 200

    def wait_healthy(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        url = f"http://127.0.0.1:{self.http_port}/__health"

        def up():
            if self.proc.poll() is not None:
                raise Goflow2Error(f"goflow2 exited {self.proc.returncode}: {self.log()}")
            return http_get(url, timeout=2)[0] == 200

        wait_until(f"goflow2 {url}", up, timeout, logs=self.log)

    def metrics(self) -> dict:
        status, body = http_get(f"http://127.0.0.1:{self.http_port}/metrics")
        if status != 200:
            raise Goflow2Error(f"goflow2 /metrics: HTTP {status}: {self.log()}")
        return parse_exposition(body.decode())

    def decoded(self) -> int:
        return int(metric_sum(self.metrics(), "goflow2_flow_decoding_time_seconds_count"))

    def records_decoded(self) -> int:
        return int(metric_sum(self.metrics(), "goflow2_flow_process_nf_flowset_records_total", type="DataFlowSet"))

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> "Goflow2":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def decode(streams: dict[str, Sequence[bytes]], directory: Path, records: Optional[int] = None) -> list[bytes]:
    """The lines the real GoFlow2 prints (`-format=json`, every field) for NetFlow datagrams sent
    from one socket per stream, in order, each waited for. `records`: how many flow records the
    datagrams hold, to check every one came out."""
    output = Path(directory) / "goflow2-decoded.jsonl"
    output.write_bytes(b"")
    with Goflow2(output) as collector, NetflowSender(streams) as sender:
        to = ("127.0.0.1", collector.netflow_port)
        for name, datagrams in streams.items():
            sender.send(name, datagrams, to, decoded=collector.decoded, base=sender.sent)
        errors = metric_sum(collector.metrics(), "goflow2_flow_decoder_error_total")
        if errors:
            raise Goflow2Error(f"goflow2 could not decode {errors:g} of {sender.sent} datagrams: {collector.log()}")
        lines = output.read_bytes().split(b"\n")
    if lines[-1] != b"":
        raise Goflow2Error("goflow2's last line has no newline")
    lines = lines[:-1]
    if records is not None and len(lines) != records:
        raise Goflow2Error(f"the datagrams hold {records} records, goflow2 printed {len(lines)} lines")
    return lines
